"""The `surrogate` command line: help, argument errors, YAML config merging, and the commands end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from surrogate.cli import main
from systems.trajectory_reader import read_frames


def run_cli(argv, capsys):
    """Exit status, stdout and stderr of ``surrogate ARGV`` run in-process."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


SHORT_ARGON = ["--n-atoms", 108, "--integrator", "verlet", "--equilibrate-ps", 1.0, "--time-ps", 2.0, "--no-progress"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two independent classical liquid-argon runs made by `surrogate generate` (seeds 1 and 2)."""
    root = tmp_path_factory.mktemp("cli_runs")
    for seed in (1, 2):
        assert main(["generate", *map(str, SHORT_ARGON), "--seed", str(seed), "--out", str(root / f"r{seed}")]) == 0
    return root


# ---------------------------------------------------------------- help
@pytest.mark.parametrize("argv, phrase", [
    ([], "Learned surrogates for molecular simulation"),
    (["generate"], "reference trajectory"),
    (["train"], "Train a surrogate"),
    (["train", "egnn"], "EGNN energy model"),
    (["run"], "Run molecular dynamics or Monte Carlo"),
    (["compare"], "Exit status: 0"),
    (["demo"], "liquid argon"),
])
def test_every_command_explains_itself(argv, phrase, capsys):
    status, out, _ = run_cli([*argv, "--help"], capsys)
    assert status == 0
    assert phrase in out
    assert "usage: surrogate" in out


def console_script(name: str) -> str | None:
    """The installed console script ``name`` of the interpreter running the tests, or None.

    Looked for beside ``sys.executable`` first (the venv's bin folder, found without activating the venv,
    as under ``.venv/bin/python -m pytest``), then on PATH.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def test_console_script_is_installed():
    exe = console_script("surrogate")
    if exe is None:
        pytest.skip("package not installed with its console script (none beside sys.executable nor on PATH)")
    done = subprocess.run([exe, "compare"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "give a reference trajectory REF" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, message", [
    (["generate", "--n-atoms", "-3"], "--n-atoms: must be at least 1"),
    (["generate", "--integrator", "euler"], "invalid choice: 'euler'"),
    (["generate", "--time-ps", "1", "--steps", "5"], "not allowed with argument"),
    (["generate", "--system", "no-such-system"], "neither a ready-made system"),
    (["generate", "--potential", "lj-argon", "--ase-calculator", "emt"], "choose one source of forces"),
    (["generate", "--ase-calculator", "nosuchcalc"], "cannot import ase.calculators.nosuchcalc"),
    (["generate", "--forcefield", "amber14-all.xml"], "--forcefield needs --pdb"),
    (["run", "--model", "missing.pt"], "model file 'missing.pt' does not exist"),
    (["run", "--integrator", "lstm"], "--integrator lstm needs --model"),
    (["train", "egnn"], "give the training data"),
    (["demo", "--device", "gpu7"], "--device 'gpu7' is not a torch device name"),
    (["train", "egnn", "missing.extxyz"], "'missing.extxyz' does not exist"),
    (["compare"], "give a reference trajectory REF"),
    (["compare", "a.xtc", "b.xtc"], "trajectory file 'a.xtc' does not exist"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_give_a_message_and_exit_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(argv, capsys)
    assert status == 2
    assert message in err
    assert "Traceback" not in err


def test_bad_tolerance_and_label_count_are_usage_errors(two_runs, capsys):
    ref, other = two_runs / "r1" / "trajectory.extxyz", two_runs / "r2" / "trajectory.extxyz"
    status, _, err = run_cli(["compare", ref, other, "--tol-rdf", "nope"], capsys)
    assert status == 2 and "--tol-rdf must be a non-negative number or 'off'" in err
    status, _, err = run_cli(["compare", ref, other, "--labels", "only-one"], capsys)
    assert status == 2 and "--labels needs 2 names" in err


# ---------------------------------------------------------------- config
def test_config_file_values_are_used_and_flags_override_them(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"n-atoms": 108, "integrator": "verlet", "equilibrate_ps": 0.0,
                                      "time-ps": 0.05, "traj-interval": 2, "seed": 3, "no-progress": True,
                                      "out": str(tmp_path / "from-file")}))
    status, _, err = run_cli(["generate", "--config", config, "--time-ps", 0.1], capsys)
    assert status == 0, err
    out = tmp_path / "from-file"
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["time-ps"] == 0.1  # the flag wins
    assert resolved["n-atoms"] == 108 and resolved["integrator"] == "verlet" and resolved["seed"] == 3  # the file
    info = json.loads((out / "run_info.json").read_text())
    assert info["n_steps"] == 20 and info["n_atoms"] == 108  # 0.1 ps at 5 fs
    assert len(list(read_frames(out / "trajectory.extxyz"))) == 11

    # The resolved config reproduces the run exactly.
    status, _, err = run_cli(["generate", "--config", out / "config.yaml", "--out", tmp_path / "again"], capsys)
    assert status == 0, err
    first = [f.positions for f in read_frames(out / "trajectory.extxyz")]
    again = [f.positions for f in read_frames(tmp_path / "again" / "trajectory.extxyz")]
    np.testing.assert_array_equal(np.array(first), np.array(again))


@pytest.mark.parametrize("content, message", [
    ({"n-atom": 10}, "unknown option 'n-atom'"),
    ({"n-atoms": "many"}, "option 'n-atoms': expected a whole number"),
    ({"integrator": "euler"}, "option 'integrator' must be one of"),
    ({"resume": "yes"}, "option 'resume' must be true or false"),
    (["not", "a", "mapping"], "must hold a mapping"),
])
def test_bad_config_files_are_rejected_by_name(content, message, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(content))
    status, _, err = run_cli(["generate", "--config", config], capsys)
    assert status == 2
    assert message in err and "bad.yaml" in err


# ---------------------------------------------------------------- end to end
def test_generate_then_compare_exit_status_follows_tolerances(two_runs, tmp_path, capsys):
    ref, other = two_runs / "r1" / "trajectory.extxyz", two_runs / "r2" / "trajectory.extxyz"
    # 2 ps NVE runs of 108 atoms are noisier than the defaults are calibrated for: loosen the tolerances.
    argv = ["compare", ref, other, "--labels", "classical", "again", "--tol-rdf", 0.1, "--tol-diffusion", 0.6,
            "--tol-temperature", 0.15,
            "--out", tmp_path / "pass"]
    status, out, err = run_cli(argv, capsys)
    assert status == 0, out + err
    assert "PASS" in out and "speedup of again over classical" in out
    payload = json.loads((tmp_path / "pass" / "comparison.json").read_text())
    assert payload["passed"] is True
    assert payload["runs"]["classical"]["cost"]["ns_per_day"] > 0  # read from run_info.json
    assert payload["runs"]["classical"]["thermo"]["source"] == "log"  # read from thermo.csv
    assert (tmp_path / "pass" / "report.html").exists() and (tmp_path / "pass" / "config.yaml").exists()

    strict = tmp_path / "strict.yaml"
    strict.write_text("vacf: 0\n")
    # --no-noise: judged by the tolerance alone (the two runs' VACFs differ, but within the reference's noise)
    status, out, _ = run_cli([*argv[:-1], tmp_path / "fail", "--tolerances", strict, "--no-noise"], capsys)
    assert status == 1
    assert "FAIL" in out and "vacf" in out


def test_tolerance_precedence_defaults_then_file_then_flags(tmp_path):
    import argparse

    from surrogate.cli.compare import tolerances_from_args
    from surrogate.compare import Tolerances
    from systems.errors import InputError

    path = tmp_path / "tol.yaml"
    path.write_text("vacf: 0.0\nrdf: 0.2\ndrift: 0.01\n")
    flags = {f"tol_{name}": None for name in Tolerances.names()}
    args = argparse.Namespace(tolerances=str(path), **{**flags, "tol_vacf": "0.3", "tol_drift": "off"})
    tol = tolerances_from_args(args)
    assert (tol.vacf, tol.rdf, tol.drift, tol.diffusion) == (0.3, 0.2, None, Tolerances().diffusion)
    path.write_text("vacf: lots\n")
    with pytest.raises(InputError, match="tolerance 'vacf' must be a non-negative number"):
        tolerances_from_args(args)


def test_generate_with_an_ase_calculator_stores_its_energies_and_forces(tmp_path, capsys):
    from ase.calculators.emt import EMT

    out = tmp_path / "cu"
    status, _, err = run_cli(["generate", "--system", "bulk:Cu", "--repeat", 2, "--ase-calculator", "emt",
                              "--temperature-K", 500, "--equilibrate-ps", 0, "--steps", 10, "--traj-interval", 5,
                              "--no-progress", "--out", out], capsys)
    assert status == 0, err
    frames = list(read_frames(out / "trajectory.extxyz"))
    assert len(frames) == 3 and frames[0].n_atoms == 32
    atoms = frames[-1].to_system().to_atoms()
    atoms.calc = EMT()
    assert frames[-1].energy == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(frames[-1].forces, atoms.get_forces(), atol=1e-8)


def test_monte_carlo_run_logs_its_acceptance(tmp_path, capsys):
    out = tmp_path / "mc"
    status, _, err = run_cli(["run", "--integrator", "mc", "--steps", 130, "--n-atoms", 108, "--traj-interval", 10,
                              "--no-progress", "--out", out], capsys)
    assert status == 0, err
    header = (out / "thermo.csv").read_text().splitlines()[0]
    assert "mc_acceptance" in header
    info = json.loads((out / "run_info.json").read_text())
    # 100 adaptation sweeps aim the acceptance at 0.5; the 30 production sweeps measure it.
    assert info["integrator"] == "MetropolisMC" and 0.3 < info["mc_acceptance_rate"] < 0.7


def test_train_egnn_then_run_surrogate_md_with_the_model(two_runs, tmp_path, capsys):
    data = two_runs / "r1" / "trajectory.extxyz"
    model_dir = tmp_path / "model"
    status, out, err = run_cli(["train", "egnn", data, "--stride", 40, "--max-epochs", 1, "--hidden", 8,
                                "--layers", 1, "--cutoff", 4.0, "--no-progress", "--out", model_dir], capsys)
    assert status == 0, err
    model = model_dir / "best.pt"
    assert model.exists() and out.strip().endswith("best.pt")
    assert yaml.safe_load((model_dir / "config.yaml").read_text())["max-epochs"] == 1
    md = tmp_path / "egnn"
    status, _, err = run_cli(["run", "--system", data, "--frame", -1, "--model", model, "--integrator", "verlet",
                              "--steps", 4, "--traj-interval", 2, "--no-progress", "--out", md], capsys)
    assert status == 0, err
    frames = list(read_frames(md / "trajectory.extxyz"))
    assert len(frames) == 3 and frames[0].forces is not None
    info = json.loads((md / "run_info.json").read_text())
    assert info["kind"] == "egnn" and info["force_provider"].startswith("EGNN")


def test_flat_lstm_trains_on_generated_data_and_refuses_another_system(tmp_path, capsys):
    model_dir = tmp_path / "lstm8"
    status, _, err = run_cli(["train", "lstm", "--generate", "lj-cluster", "--n-particles", 8, "--n-trajectories", 4,
                              "--t-max", 3, "--stride-steps", 100, "--max-epochs", 1, "--no-progress",
                              "--out", model_dir], capsys)
    assert status == 0, err
    from surrogate.model_file import load_model_file

    header, _ = load_model_file(model_dir / "best.pt")
    assert header["kind"] == "lstm" and header["stride_steps"] == 100
    assert (model_dir / "data.npz").exists()
    status, _, err = run_cli(["run", "--integrator", "lstm", "--model", model_dir / "best.pt", "--system",
                              "lj-cluster", "--n-atoms", 5, "--steps", 2, "--no-progress", "--out", tmp_path / "r"],
                             capsys)
    assert status == 2
    assert "trained on exactly 8" in err and "Traceback" not in err
    status, _, err = run_cli(["run", "--model", model_dir / "best.pt", "--out", tmp_path / "r"], capsys)
    assert status == 2 and "use --integrator lstm" in err


def test_xtc_output_is_compared_through_the_pdb_written_beside_it(tmp_path, capsys):
    out = tmp_path / "x"
    status, _, err = run_cli(["generate", "--n-atoms", 108, "--integrator", "verlet", "--equilibrate-ps", 0,
                              "--time-ps", 0.3, "--format", "xtc", "--no-progress", "--out", out], capsys)
    assert status == 0, err
    traj = out / "trajectory.xtc"
    status, stdout, err = run_cli(["compare", traj, traj, "--labels", "a", "b", "--out", tmp_path / "cmp"], capsys)
    assert status == 0, stdout + err
    payload = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert payload["distances"]["b"]["rdf"]["value"] == 0.0
    # xtc keeps no velocities: the VACF comes from finite differences of positions, and says so.
    assert payload["runs"]["a"]["vacf"]["velocity_source"] == "finite differences"
    assert payload["runs"]["a"]["frame_interval_ps"] == pytest.approx(0.01, rel=1e-4)


def test_manybody_lstm_with_force_input_trains_and_runs(two_runs, tmp_path, capsys):
    from surrogate.model_file import load_model_file

    traj = two_runs / "r1" / "trajectory.extxyz"
    model_dir = tmp_path / "mb"
    status, _, err = run_cli(["train", "lstm", traj, "--stride-fs", 50, "--force-input", "--max-epochs", 1,
                              "--hidden", 8, "--layers", 1, "--no-progress", "--out", model_dir], capsys)
    assert status == 0, err
    header, _ = load_model_file(model_dir / "best.pt")
    assert header["architecture"]["force_input"] is True
    assert header["system"]["forces"].startswith("read from")  # generate's extxyz keeps the LJ forces
    status, _, err = run_cli(["run", "--integrator", "lstm", "--model", model_dir / "best.pt", "--system", traj,
                              "--frame", -1, "--time-ps", 0.5, "--no-progress", "--out", tmp_path / "run"], capsys)
    assert status == 0, err
    assert "one evaluation per stride" in err
    frames = list(read_frames(tmp_path / "run" / "trajectory.extxyz"))
    assert len(frames) >= 2 and np.isfinite(frames[-1].positions).all()
    status, _, err = run_cli(["train", "lstm", traj, "--stride-fs", 50, "--force-potential", "lj-argon",
                              "--out", tmp_path / "bad"], capsys)
    assert status == 2 and "only matters with --force-input" in err
