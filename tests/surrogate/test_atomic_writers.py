"""Files the surrogate package writes whole go through systems.atomic_file: ordinary permissions, no scratch left."""

from __future__ import annotations

import argparse
import os
import stat

import numpy as np
import pytest

from surrogate.config import write_resolved_config
from surrogate.lstm.data import generate_oscillator_data, load_operator_data, save_operator_data


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_config_and_operator_data_are_written_0644_without_scratch(tmp_path, umask_022):
    args = argparse.Namespace(steps=10, out=tmp_path, _section="run")
    config = write_resolved_config(args, tmp_path / "c")
    assert config.read_text().startswith("# surrogate run: resolved options") and "steps: 10" in config.read_text()

    data = generate_oscillator_data(n_trajectories=3, t_max=0.5, save_every=50, seed=1)
    npz = save_operator_data(data, tmp_path / "d" / "osc")
    back = load_operator_data(npz)
    np.testing.assert_array_equal(back.positions, data.positions)
    xyz = npz.with_suffix(".extxyz")
    assert xyz.read_text().count("Properties=") == data.n_frames  # one frame per saved time
    for path in (config, npz, xyz):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not the temporary file's 0600
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["osc.extxyz", "osc.npz"]  # no scratch left
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["config.yaml"]
