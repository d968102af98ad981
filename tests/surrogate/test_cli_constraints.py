"""``surrogate run --constraints h-bonds --fix-atoms --fix-com``: the run holds them, resumes exactly, and bad
options name the atom or the missing hydrogen."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from integrators.checkpoint import load_checkpoint
from surrogate.cli import main
from systems.boundary import Box
from systems.toy_water import water_box

LJ = ["--ase-calculator", "lj", "--calculator-args", "{sigma: 1.0, epsilon: 0.005, rc: 3.0}"]
BASE = ["--integrator", "langevin", "--temperature-K", "300", "--timestep-fs", "1", "--no-progress",
        "--equilibrate-ps", "0"]


@pytest.fixture
def water_file(tmp_path):
    system, _ = water_box(2, seed=0)
    path = tmp_path / "water.extxyz"
    ase.io.write(path, system.to_atoms())
    return path


def _run(argv, capsys):
    status = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, err


def _lengths(positions, cell, pairs):
    return np.linalg.norm(Box(cell, [True] * 3).minimum_image(positions[pairs[:, 0]] - positions[pairs[:, 1]]), axis=1)


def test_run_holds_bonds_fixed_atoms_and_com_and_resumes_bit_for_bit(tmp_path, water_file, capsys):
    start = ase.io.read(water_file)
    pairs = np.array([[m, m + h] for m in range(0, len(start), 3) for h in (1, 2)])
    flags = [*LJ, *BASE, "--system", water_file, "--constraints", "h-bonds", "--fix-atoms", "0,3",
             "--checkpoint-interval", "20"]
    status, err = _run(["run", *flags, "--steps", "40", "--out", tmp_path / "full"], capsys)
    assert status == 0, err
    full = load_checkpoint(tmp_path / "full" / "checkpoint.npz").system
    error = _lengths(full.positions, full.cell, pairs) - _lengths(start.positions, start.cell, pairs)
    assert np.abs(error).max() < 1e-10
    assert np.array_equal(full.positions[[0, 3]], start.positions[[0, 3]])

    status, err = _run(["run", *flags, "--steps", "20", "--out", tmp_path / "part"], capsys)
    assert status == 0, err
    status, err = _run(["run", *flags, "--steps", "40", "--resume", "--out", tmp_path / "part"], capsys)
    assert status == 0, err
    resumed = load_checkpoint(tmp_path / "part" / "checkpoint.npz").system
    assert np.array_equal(resumed.positions, full.positions) and np.array_equal(resumed.velocities, full.velocities)
    # a resume with other constraints is refused, naming the difference
    status, err = _run(["run", *flags[:-4], "--fix-atoms", "0", "--checkpoint-interval", "20",
                        "--steps", "60", "--resume", "--out", tmp_path / "part"], capsys)
    assert status == 2 and "fixes atoms" in err


@pytest.mark.parametrize("extra, message", [
    (["--constraints", "h-bonds", "--fix-atoms", "0,99"], "atom index 99 is outside 0..23"),
    (["--fix-com", "--integrator", "mc", "--steps", "2"], "--integrator mc takes no constraints"),
    (["--constraints", "h-bonds", "--fix-atoms", "3", "--fix-com"], "bond of atoms 3 and 4 joins a fixed atom"),
])
def test_bad_constraint_options_name_the_fault(tmp_path, water_file, capsys, extra, message):
    status, err = _run(["run", *LJ, *BASE, "--system", water_file, "--steps", "2", *extra, "--out", tmp_path / "x"],
                       capsys)
    assert status == 2 and message in err, err


def test_h_bonds_on_argon_say_there_is_no_hydrogen(tmp_path, capsys):
    status, err = _run(["run", "--n-atoms", "8", *BASE, "--steps", "2", "--constraints", "h-bonds",
                        "--out", tmp_path / "ar"], capsys)
    assert status == 2 and "no hydrogen" in err, err
