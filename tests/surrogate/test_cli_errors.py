"""No traceback reaches a CLI user: every fault of issue 10 gives exit status 2 (1 for a runaway) and a
message naming the file, field or flag at fault, before anything is written where that is possible."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from surrogate.cli import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(argv, capsys):
    """Exit status and stderr of ``surrogate ARGV`` run in-process."""
    status = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, err


QUICK = ["--steps", 4, "--equilibrate-ps", 0, "--no-progress"]


# ------------------------------------------------------------ checkpoints
@pytest.fixture
def verlet_checkpoint(tmp_path, capsys):
    """``surrogate run`` output folder with a 32-atom Verlet checkpoint (step 4)."""
    out = tmp_path / "run"
    status, err = run_cli(["run", "--n-atoms", 32, "--integrator", "verlet", "--checkpoint-interval", 2,
                           *QUICK, "--out", out], capsys)
    assert status == 0, err
    return out


def _rewrite(path: Path, meta=None, drop=()):
    """Rewrite checkpoint ``path`` with metadata ``meta`` (a string, or an edit of the parsed document)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if callable(meta):
        document = json.loads(str(arrays["__meta__"]))
        meta(document)
        meta = json.dumps(document)
    if meta is not None:
        arrays["__meta__"] = np.array(meta)
    for key in drop:
        del arrays[key]
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("edit, field", [
    (dict(meta="{not json"), "__meta__ is not valid JSON"),
    (dict(meta="[1, 2, 3]"), "__meta__ must be a JSON object, got list"),
    (dict(meta=lambda d: d.update(step="abc")), "step must be a whole number ≥ 0, got 'abc'"),
    (dict(meta=lambda d: d.pop("integrator")), "integrator (the integrator state) is missing"),
    (dict(drop=("positions",)), "positions is missing"),
])
def test_a_damaged_checkpoint_is_named_with_its_field(verlet_checkpoint, edit, field, capsys):
    checkpoint = verlet_checkpoint / "checkpoint.npz"
    _rewrite(checkpoint, **edit)
    status, err = run_cli(["run", "--n-atoms", 32, "--integrator", "verlet", "--resume", *QUICK,
                           "--out", verlet_checkpoint], capsys)
    assert status == 2
    assert str(checkpoint) in err and field in err


def test_a_checkpoint_array_of_another_shape_is_named(verlet_checkpoint, capsys):
    checkpoint = verlet_checkpoint / "checkpoint.npz"
    with np.load(checkpoint, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["velocities"] = arrays["velocities"][:-1]
    with open(checkpoint, "wb") as handle:
        np.savez(handle, **arrays)
    status, err = run_cli(["run", "--n-atoms", 32, "--integrator", "verlet", "--resume", *QUICK,
                           "--out", verlet_checkpoint], capsys)
    assert status == 2
    assert "velocities has shape (31, 3); expected (32, 3)" in err


def test_resume_with_another_integrator_or_size_is_refused_by_name(verlet_checkpoint, capsys):
    before = (verlet_checkpoint / "thermo.csv").read_text()
    status, err = run_cli(["run", "--n-atoms", 32, "--integrator", "langevin", "--resume", *QUICK,
                           "--out", verlet_checkpoint], capsys)
    assert status == 2
    assert "'VelocityVerlet' (--integrator verlet), not of LangevinBAOAB (--integrator langevin)" in err
    status, err = run_cli(["run", "--n-atoms", 108, "--integrator", "verlet", "--resume", *QUICK,
                           "--out", verlet_checkpoint], capsys)
    assert status == 2
    assert "holds 32 atoms" in err and "108 (--n-atoms 108)" in err
    status, err = run_cli(["run", "--n-atoms", 32, "--integrator", "verlet", "--timestep-fs", 2, "--resume", *QUICK,
                           "--out", verlet_checkpoint], capsys)
    assert status == 2 and "timestep" in err
    assert (verlet_checkpoint / "thermo.csv").read_text() == before  # nothing appended by the refused runs
    # the same options resume
    status, err = run_cli(["run", "--n-atoms", 32, "--integrator", "verlet", "--resume", "--steps", 8,
                           "--no-progress", "--out", verlet_checkpoint], capsys)
    assert status == 0, err


# ------------------------------------------------------------------ inputs
def test_two_atoms_at_one_position_are_named(tmp_path, capsys):
    from ase.build import bulk
    import ase.io

    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    atoms.positions[7] = atoms.positions[3]
    ase.io.write(tmp_path / "dup.extxyz", atoms)
    status, err = run_cli(["run", "--system", tmp_path / "dup.extxyz", *QUICK, "--out", tmp_path / "o"], capsys)
    assert status == 2
    assert "atoms 3 and 7 are at one position" in err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_a_flat_cell_in_compare_is_named(tmp_path, capsys):
    from ase.build import bulk
    import ase.io

    frames = []
    for k in range(4):
        atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
        atoms.rattle(0.05, seed=k)
        cell = atoms.cell.array.copy()
        cell[2] = cell[0] + cell[1]  # three vectors in one plane: zero volume
        atoms.set_cell(cell)
        atoms.pbc = True
        frames.append(atoms)
    path = tmp_path / "flat.extxyz"
    ase.io.write(path, frames)
    status, err = run_cli(["compare", path, path, "--dt-ps", 0.01, "--out", tmp_path / "cmp"], capsys)
    assert status == 2
    assert str(path) in err and "frame 0 has a periodic cell with no volume" in err


@pytest.mark.parametrize("out, named, reason", [
    ("/proc/surrogate-test/out", "/proc/surrogate-test", "No such file or directory"),
    ("FILE/sub", "FILE", "Not a directory"),  # a file where a folder should be (refused even to root)
])
def test_an_output_folder_that_cannot_be_made_is_named(out, named, reason, tmp_path, capsys):
    if out.startswith("FILE"):
        (tmp_path / "FILE").write_text("a file, not a folder\n")
        out, named = str(tmp_path / out), str(tmp_path / named)
    status, err = run_cli(["generate", "--n-atoms", 32, *QUICK, "--out", out], capsys)
    assert status == 2
    assert err.startswith("surrogate generate: error: ") and named in err and reason in err


def test_a_full_disk_is_named(tmp_path, capsys, monkeypatch):
    import surrogate.cli.simulate as simulate

    def full(args, out):
        path = Path(out) / "config.yaml"
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(simulate, "write_resolved_config", full)
    out = tmp_path / "o"
    status, err = run_cli(["generate", "--n-atoms", 32, *QUICK, "--out", out], capsys)
    assert status == 2
    assert f"{out / 'config.yaml'}: No space left on device (the disk is full" in err


def test_running_out_of_memory_is_a_message(tmp_path, capsys, monkeypatch):
    import surrogate.cli.builders as builders

    def no_memory(args):
        raise MemoryError()

    monkeypatch.setattr(builders, "build_system", no_memory)
    status, err = run_cli(["generate", *QUICK, "--out", tmp_path / "o"], capsys)
    assert status == 2 and "out of memory" in err


def test_an_element_the_model_does_not_know_is_refused_before_anything_is_written(tmp_path, capsys):
    from surrogate.egnn.model import EGNNEnergyModel
    from surrogate.egnn.train import save_egnn

    model = tmp_path / "argon.pt"
    save_egnn(EGNNEnergyModel(species=[18], cutoff=4.0, hidden=4, layers=1), model)
    out = tmp_path / "cu"
    status, err = run_cli(["run", "--system", "bulk:Cu", "--repeat", 1, "--model", model, *QUICK, "--out", out],
                          capsys)
    assert status == 2
    assert f"--model {model}" in err and "Cu" in err and "Ar" in err
    assert not out.exists()


# ------------------------------------------------------------------ --top
def test_top_reads_a_trajectory_without_atom_names(tmp_path, capsys):
    ref = tmp_path / "ref"
    status, err = run_cli(["generate", "--n-atoms", 32, "--format", "xtc", *QUICK, "--traj-interval", 2,
                           "--out", ref], capsys)
    assert status == 0, err
    xtc, pdb = ref / "trajectory.xtc", ref / "trajectory.pdb"
    status, err = run_cli(["run", "--system", xtc, *QUICK, "--out", tmp_path / "no-top"], capsys)
    assert status == 2 and "--top FILE.pdb" in err
    status, err = run_cli(["train", "egnn", xtc, "--out", tmp_path / "m0"], capsys)
    assert status == 2 and "--top FILE.pdb" in err
    status, err = run_cli(["run", "--system", xtc, "--top", pdb, "--frame", -1, *QUICK, "--out", tmp_path / "md"],
                          capsys)
    assert status == 0, err
    # train egnn passes it to the reader: the frames are read, then refused for what they lack
    status, err = run_cli(["train", "egnn", xtc, "--top", pdb, "--max-epochs", 1, "--no-progress",
                           "--out", tmp_path / "m"], capsys)
    assert status == 2 and "no energy and forces" in err


# ------------------------------------------------------------- size checks
def test_a_system_too_large_for_memory_is_refused_at_once(tmp_path, capsys):
    out = tmp_path / "big"
    status, err = run_cli(["generate", "--n-atoms", 10_000_000, "--max-memory-gb", 4, "--out", out], capsys)
    assert status == 2
    assert "--n-atoms 10000000" in err and "GB of memory" in err and "--max-memory-gb" in err
    assert not out.exists()


def test_a_trajectory_too_large_for_its_limit_is_refused(tmp_path, capsys):
    out = tmp_path / "long"
    argv = ["generate", "--n-atoms", 32, "--steps", 100_000, "--traj-interval", 1, "--equilibrate-ps", 0,
            "--no-progress", "--out", out]
    status, err = run_cli([*argv, "--max-output-gb", 0.1], capsys)
    assert status == 2
    assert "100001 frames" in err and "--max-output-gb" in err
    assert not out.exists()


def test_training_too_large_for_memory_is_refused(tmp_path, capsys):
    ref = tmp_path / "ref"
    assert run_cli(["generate", "--n-atoms", 32, *QUICK, "--out", ref], capsys)[0] == 0
    status, err = run_cli(["train", "egnn", ref / "trajectory.extxyz", "--max-memory-gb", 1e-5,
                           "--out", tmp_path / "m"], capsys)
    assert status == 2 and "training on 3 frames" in err and "--max-memory-gb" in err


def test_generated_lstm_data_too_large_for_memory_is_refused(tmp_path, capsys):
    out = tmp_path / "lstm"
    status, err = run_cli(["train", "lstm", "--generate", "lj-cluster", "--stride-steps", 100, "--n-trajectories",
                           10_000_000, "--max-memory-gb", 1, "--out", out], capsys)
    assert status == 2 and "--n-trajectories 10000000" in err and "--max-memory-gb" in err
    assert not out.exists()


# ------------------------------------------------------------- runaway
def test_a_thermostatted_run_far_above_its_target_is_stopped(tmp_path, capsys):
    # ε 100 times argon's: the liquid's potential energy turns into heat the thermostat cannot remove
    out = tmp_path / "hot"
    status, err = run_cli(["run", "--n-atoms", 32, "--potential", "lj", "--epsilon", 1.0, "--steps", 100,
                           "--equilibrate-ps", 0, "--no-progress", "--out", out], capsys)
    assert status == 1
    assert "runaway at step" in err and "exceeds the limit 594.4 K" in err
    assert json.loads((out / "run_info.json").read_text())["failed"].startswith("runaway at step")


def test_atoms_closer_than_any_bond_are_stopped_and_the_check_can_be_switched_off(tmp_path, capsys):
    # σ 0.8 Å instead of 3.4: hot argon atoms run into each other
    argv = ["run", "--n-atoms", 32, "--potential", "lj", "--sigma", 0.8, "--temperature-K", 2000,
            "--integrator", "verlet", "--steps", 400, "--equilibrate-ps", 0, "--no-progress"]
    status, err = run_cli([*argv, "--out", tmp_path / "a"], capsys)
    assert status == 1
    assert "(Ar–Ar) are" in err and "closer than any physical bond (limit 1.06 Å)" in err
    status, err = run_cli([*argv, "--no-runaway-check", "--out", tmp_path / "b"], capsys)
    assert status == 0, err


def test_contact_distances_follow_the_covalent_radii():
    from integrators.runaway import contact_distances

    d = contact_distances([1, 8, 18, 1])
    assert d[(1, 1)] == pytest.approx(0.31)  # above the 0.3 Å floor; H2 is 0.74 Å
    assert d[(1, 8)] == pytest.approx(0.5 * (0.31 + 0.66))
    assert d[(18, 18)] == pytest.approx(1.06)
    assert contact_distances([0])[(0, 0)] == 0.3  # reduced-unit particles: the floor


# -------------------------------------------------------------- start-up
def test_help_imports_no_heavy_library():
    code = ("import sys\nimport surrogate.cli as cli\n"
            "for argv in ([], ['run'], ['generate'], ['train', 'egnn'], ['compare']):\n"
            "    assert cli.main([*argv, '--help']) == 0\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numba', 'mdtraj', 'scipy', "
            "'matplotlib', 'openmm', 'ase'})\n"
            "print('HEAVY', heavy)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
