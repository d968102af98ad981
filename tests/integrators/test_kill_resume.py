"""kill -9 and --resume: a real `surrogate run` subprocess is killed at seeded random points, resumed, and
must end with the trajectory and thermo.csv of an uninterrupted run, byte for byte (Verlet, Langevin, an
EGNN model and an LSTM operator; extxyz and xtc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from surrogate.cli import main as cli_main
from systems.trajectory_reader import read_frames

ROOT = Path(__file__).resolve().parents[2]
# Unequilibrated on purpose (fast): its lattice start heats the Langevin run to ~2000 K for about 1 ps before the
# thermostat brings it back, so the runaway monitor's temperature check is given that long.
ARGON = ["--system", "liquid-argon", "--n-atoms", "32", "--equilibrate-ps", "0", "--no-progress", "--seed", "3",
         "--runaway-temperature-patience-fs", "2000"]


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """A tiny EGNN and a tiny many-body LSTM operator (Δ_R = 50 fs), one epoch each on 1 ps of 32 argon
    atoms, trained in-process with the CLI."""
    root = tmp_path_factory.mktemp("kill_resume_models")
    ref = root / "ref" / "trajectory.extxyz"
    assert cli_main(["generate", *ARGON, "--integrator", "verlet", "--time-ps", "1", "--out", str(ref.parent)]) == 0
    assert cli_main(["train", "egnn", str(ref), "--stride", "10", "--max-epochs", "1", "--hidden", "8", "--layers",
                     "1", "--cutoff", "4.0", "--no-progress", "--out", str(root / "egnn")]) == 0
    assert cli_main(["train", "lstm", str(ref), "--stride-fs", "50", "--max-epochs", "1", "--hidden", "8",
                     "--layers", "1", "--no-progress", "--out", str(root / "lstm")]) == 0
    return root


def _cases(models):
    """name -> (run arguments, trajectory format, seed of the kill points, kills, tear the tail by hand?)"""
    return {
        "verlet": ([*ARGON, "--integrator", "verlet", "--steps", "150"], "xtc", 1, 1, True),
        "langevin": ([*ARGON, "--integrator", "langevin", "--steps", "150"], "extxyz", 2, 2, True),
        "egnn": ([*ARGON, "--integrator", "verlet", "--model", str(models / "egnn" / "best.pt"), "--steps", "60"],
                 "extxyz", 3, 1, False),
        # NPT: the cell and the barostat's state (RNG, counters) are in the checkpoint and the trajectory's frames
        "npt": ([*ARGON, "--integrator", "langevin", "--ensemble", "npt", "--barostat", "crescale",
                 "--compressibility", "4.5e-4", "--barostat-interval", "5", "--steps", "150"], "extxyz", 5, 1, True),
        # constraints are configuration, rebuilt on resume; fixed atoms stay bit-fixed across the kill
        "constrained": ([*ARGON, "--integrator", "bussi", "--fix-atoms", "0,5", "--steps", "150"], "xtc", 6, 1, True),
        # A one-epoch operator brings atoms closer than any bond: the runaway monitor would rightly stop it.
        # What is tested here is the files, so its check is off.
        "lstm": ([*ARGON, "--integrator", "lstm", "--model", str(models / "lstm" / "best.pt"), "--steps", "24",
                  "--no-runaway-check"], "xtc", 4, 1, False),
    }


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _command(args, fmt, out, resume=False):
    traj, checkpoint = ("2", "6") if "lstm" in args else ("10", "30")  # LSTM steps are 50 fs strides
    return [sys.executable, "-m", "surrogate.cli", "run", *args, "--format", fmt, "--traj-interval", traj,
            "--checkpoint-interval", checkpoint, "--out", str(out)] + (
        ["--resume"] if resume else [])


def _run(cmd):
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


def _run_and_kill(cmd, traj: Path, checkpoint: Path, at_bytes: int) -> None:
    """Start ``cmd``; SIGKILL it once a checkpoint exists and the trajectory holds ``at_bytes``."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None:
            if checkpoint.exists() and traj.exists() and traj.stat().st_size >= at_bytes:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill point:\n{err}"


@pytest.mark.parametrize("name", ["verlet", "langevin", "npt", "constrained", "egnn", "lstm"])
def test_resume_after_kill_equals_the_uninterrupted_run(models, tmp_path, name):
    args, fmt, seed, kills, tear = _cases(models)[name]
    reference = tmp_path / "reference"
    _run(_command(args, fmt, reference))
    ref_traj = (reference / f"trajectory.{fmt}").read_bytes()
    ref_log = (reference / "thermo.csv").read_bytes()

    out = tmp_path / "killed"
    traj, log, checkpoint = out / f"trajectory.{fmt}", out / "thermo.csv", out / "checkpoint.npz"
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.uniform(0.2, 0.6, size=kills))  # at least 40 % of the run left to kill
    for k, fraction in enumerate(cuts):
        _run_and_kill(_command(args, fmt, out, resume=k > 0), traj, checkpoint, int(fraction * len(ref_traj)))
        # what the killed run left is a prefix of the uninterrupted run's files (same bits, fewer frames)
        assert ref_traj.startswith(traj.read_bytes()) and ref_log.startswith(log.read_bytes())
        if tear:  # a kill inside a write: part of the next frame and of the next log row
            size, rows = traj.stat().st_size, log.stat().st_size
            with open(traj, "ab") as fh:
                fh.write(ref_traj[size:size + 300])
            with open(log, "ab") as fh:
                fh.write(ref_log[rows:rows + 20].split(b"\n")[0])
    stderr = _run(_command(args, fmt, out, resume=True))
    assert "resuming at step" in stderr and f"trajectory.{fmt}: kept" in stderr and "thermo.csv: kept" in stderr

    assert traj.read_bytes() == ref_traj  # frame for frame, bit for bit
    assert log.read_bytes() == ref_log
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn tail left behind
        frames = list(read_frames(traj, out / "trajectory.pdb" if fmt == "xtc" else None))
    times = np.array([f.time for f in frames])
    assert np.all(np.diff(times) > 0)
    positions = np.array([f.positions for f in frames])
    assert len({p.tobytes() for p in positions}) == len(frames)  # no frame twice
    steps = np.loadtxt(log, delimiter=",", skiprows=1, usecols=0)
    assert np.all(np.diff(steps) > 0)


def test_resume_message_counts_what_was_dropped(tmp_path, capsys):
    """A run whose checkpoint is at step 30 but whose files reach step 60 (and a torn frame after step 50):
    the resume keeps 4 frames and 4 rows, says how many it dropped, and ends equal to the full run."""
    from systems.trajectory_truncate import _scan_extxyz

    def run(out, steps, *extra):
        return cli_main(["run", *ARGON, "--integrator", "verlet", "--steps", str(steps), "--traj-interval", "10",
                         "--checkpoint-interval", "30", "--out", str(out), *extra])

    full, part = tmp_path / "full", tmp_path / "part"
    assert run(full, 60) == 0 and run(part, 30) == 0
    full_traj, full_log = (full / "trajectory.extxyz").read_bytes(), (full / "thermo.csv").read_bytes()
    ends = [end for _, end in _scan_extxyz(str(full / "trajectory.extxyz"))[0]]
    assert len(ends) == 7  # steps 0, 10, ..., 60
    (part / "trajectory.extxyz").write_bytes(full_traj[:ends[5] + 100])  # steps 0..50 and part of 60
    (part / "thermo.csv").write_bytes(full_log)  # rows of steps 0..60
    capsys.readouterr()
    assert run(part, 60, "--resume") == 0
    err = capsys.readouterr().err
    assert "trajectory.extxyz: kept 4 frames, dropped 2 written after step 30 and an incomplete last frame" in err
    assert "thermo.csv: kept 4 rows, dropped 3 written after step 30" in err
    assert (part / "trajectory.extxyz").read_bytes() == full_traj
    assert (part / "thermo.csv").read_bytes() == full_log
