"""truncate_trajectory: every format TrajectoryWriter writes is cut back to a time or a frame count,
an incomplete last frame (a write cut off by kill -9) is removed, and the file stays appendable."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System, topology_from_numbers
from systems.trajectory_reader import read_frames
from systems.trajectory_truncate import TIMED_FORMATS, truncate_trajectory
from systems.trajectory_writer import TrajectoryWriter
from systems.units import fs

pytestmark = pytest.mark.filterwarnings("ignore:.*netCDF4.*")

FORMATS = ["extxyz", "traj", "xtc", "trr", "dcd", "nc", "pdb"] + (
    ["h5"] if importlib.util.find_spec("tables") is not None else [])
N_ATOMS = 12
DT = 10.0 * fs  # time between frames
ATOL = {"xtc": 6e-3, "pdb": 1e-3}  # XTC keeps 0.001 nm, PDB 0.001 Å; the others float32 or better


def _states(n_frames, seed=0):
    """Argon-like frames in a cubic box (lower-triangular cell), one every DT."""
    rng = np.random.default_rng(seed)
    cell = np.diag([12.0, 12.0, 12.0])
    out = []
    for k in range(n_frames):
        system = System([18] * N_ATOMS, [39.948] * N_ATOMS, rng.uniform(0, 12, (N_ATOMS, 3)),
                        rng.normal(scale=0.01, size=(N_ATOMS, 3)), cell, [True] * 3, time=k * DT)
        out.append((system, ForceResult(energy=float(rng.normal()), forces=rng.normal(size=(N_ATOMS, 3)))))
    return out


def _write(path, states, append=False):
    with TrajectoryWriter(path, append=append) as writer:
        for system, result in states:
            writer.write(system, result)


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn tail left behind would warn
        return list(read_frames(path, topology_from_numbers(np.full(N_ATOMS, 18))))


def _check(frames, states, fmt):
    assert len(frames) == len(states)
    atol = ATOL.get(fmt, 1e-4)
    for frame, (system, _) in zip(frames, states):
        np.testing.assert_allclose(frame.positions, system.positions, rtol=0, atol=atol)
        if fmt in TIMED_FORMATS:
            assert frame.time == pytest.approx(system.time, rel=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncate_keeps_leading_frames(tmp_path, fmt):
    states = _states(6)
    path = tmp_path / f"t.{fmt}"
    _write(path, states)
    if fmt in TIMED_FORMATS:  # frames at t ≤ 2 DT stay (half a frame of slack for float32 times)
        result = truncate_trajectory(path, after_time=2 * DT, time_tolerance=0.5 * DT)
    else:
        result = truncate_trajectory(path, max_frames=3)
    assert tuple(result) == (3, 3, False)
    _check(_read(path), states[:3], fmt)
    # nothing after the cut: a second call changes nothing
    assert tuple(truncate_trajectory(path, max_frames=10)) == (3, 0, False)
    _check(_read(path), states[:3], fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncate_then_append_continues_in_order(tmp_path, fmt):
    states = _states(6)
    path = tmp_path / f"t.{fmt}"
    _write(path, states[:5])
    truncate_trajectory(path, max_frames=2)
    _write(path, states[2:], append=True)
    frames = _read(path)
    _check(frames, states, fmt)
    if fmt in TIMED_FORMATS:
        assert np.all(np.diff([f.time for f in frames]) > 0)


@pytest.mark.parametrize("fmt", ["extxyz", "xtc", "trr", "dcd", "pdb"])
@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.97])
def test_torn_last_frame_is_removed(tmp_path, fmt, fraction):
    """A process killed inside a frame's write leaves part of it: cut back to the last whole frame."""
    states = _states(5)
    whole, four = tmp_path / f"whole.{fmt}", tmp_path / f"four.{fmt}"
    _write(whole, states)
    _write(four, states[:4])
    data, n4 = whole.read_bytes(), four.stat().st_size
    torn = tmp_path / f"torn.{fmt}"
    if fmt == "pdb":  # the footer (CONECT, END) comes at close: four whole MODELs, then part of the fifth
        torn.write_bytes(_pdb_torn(data, fraction))
    else:  # the four-frame file (its DCD header counts 4), then part of the fifth frame's bytes
        torn.write_bytes(four.read_bytes() + data[n4:n4 + max(1, int(fraction * (len(data) - n4)))])
    result = truncate_trajectory(torn, after_time=1e9, max_frames=None if fmt in TIMED_FORMATS else 10)
    assert result.kept == 4 and result.dropped == 0 and result.torn
    _check(_read(torn), states[:4], fmt)


def test_torn_ase_traj_frame_is_invisible_and_appending_continues(tmp_path):
    """ulm updates its header after each complete item: the bytes of a frame being written when the process
    died are not counted, and the next append continues after the frames the header lists."""
    states = _states(4)
    whole, torn = tmp_path / "whole.traj", tmp_path / "torn.traj"
    _write(whole, states[:3])
    _write(torn, states[:2])
    data = whole.read_bytes()
    torn.write_bytes(torn.read_bytes() + data[torn.stat().st_size:][:700])
    assert tuple(truncate_trajectory(torn, after_time=1e9)) == (2, 0, False)
    _write(torn, states[2:], append=True)
    _check(_read(torn), states, "traj")


def _pdb_torn(data: bytes, fraction: float) -> bytes:
    """The first four MODEL blocks whole, then part of the fifth."""
    starts = [i for i in range(len(data)) if data.startswith(b"MODEL", i)]
    end = data.index(b"ENDMDL", starts[4])
    return data[:starts[4] + max(1, int(fraction * (end - starts[4])))]


def test_truncate_refuses_bad_requests(tmp_path):
    with pytest.raises(InputError, match="no trajectory file"):
        truncate_trajectory(tmp_path / "missing.xtc", max_frames=1)
    path = tmp_path / "t.dcd"
    _write(path, _states(2))
    with pytest.raises(InputError, match="store no frame times"):
        truncate_trajectory(path, after_time=DT)
    with pytest.raises(InputError, match="max_frames"):
        truncate_trajectory(path, max_frames=-1)
