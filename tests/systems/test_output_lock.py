"""The output-directory lock: a second process is refused with the holder's PID, a killed holder's lock is
taken over, the same process may re-enter, nested folders do not deadlock, and two `surrogate run`s on one
--out leave the first run intact."""

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

from systems.errors import InputError
from systems.output_lock import LOCK_NAME, output_lock

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from systems.output_lock import output_lock
with output_lock(sys.argv[1], "holder test"):
    print("locked", flush=True)
    sys.stdin.readline()  # hold until told (or killed)
"""

TAKER = """
import sys
from systems.errors import InputError
from systems.output_lock import output_lock
try:
    with output_lock(sys.argv[1]):
        print("acquired")
except InputError as err:
    print(err)
    sys.exit(2)
"""


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _holder(directory):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], env=_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked", proc.stderr.read()
    return proc


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "out"
    with output_lock(out, "surrogate run --out out"):
        taker = subprocess.run([sys.executable, "-c", TAKER, str(out)], env=_env(), capture_output=True, text=True)
        assert taker.returncode == 2, taker.stdout + taker.stderr
        assert f"output directory {out} is in use by PID {os.getpid()} (surrogate run --out out)" in taker.stdout
        assert (out / LOCK_NAME).read_text().startswith(f"{os.getpid()}\n")
    # released: the lock file is gone and the (empty, newly made) directory too
    assert not out.exists()
    # and the other way round: a live holder process refuses this one
    holder = _holder(out)
    try:
        with pytest.raises(InputError, match=rf"{out} is in use by PID {holder.pid} \(holder test\)"):
            with output_lock(out):
                pass
    finally:
        holder.communicate("\n")
    assert holder.returncode == 0
    with output_lock(out):  # free again
        pass


def test_a_killed_holders_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("earlier output")
    holder = _holder(out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdin.close(), holder.stdout.close(), holder.stderr.close()
    assert (out / LOCK_NAME).read_text().startswith(f"{holder.pid}\n")  # stale: its process is gone
    with output_lock(out):
        assert (out / LOCK_NAME).read_text().startswith(f"{os.getpid()}\n")
    assert f"taking over the lock of {out} left by PID {holder.pid}" in capsys.readouterr().err
    assert not (out / LOCK_NAME).exists() and (out / "kept.txt").exists()  # an existing folder stays


def test_same_process_re_enters_and_nested_folders_do_not_deadlock(tmp_path):
    out = tmp_path / "demo"
    with output_lock(out):
        with output_lock(out / "reference"), output_lock(out / "egnn-model"):
            with output_lock(tmp_path / "demo" / ".." / "demo"):  # the same folder by another path
                (out / "reference" / "trajectory.extxyz").write_text("x")
        # the inner locks are released, the outer one still held
        assert not (out / "reference" / LOCK_NAME).exists() and (out / LOCK_NAME).exists()
        assert not (out / "egnn-model").exists()  # made for the lock, left empty: removed
        taker = subprocess.run([sys.executable, "-c", TAKER, str(out)], env=_env(), capture_output=True, text=True)
        assert taker.returncode == 2 and f"PID {os.getpid()}" in taker.stdout
    assert not (out / LOCK_NAME).exists() and (out / "reference" / "trajectory.extxyz").exists()


def test_an_unusable_directory_is_a_named_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match=f"output directory {blocker / 'out'}: cannot create it"):
        with output_lock(blocker / "out"):
            pass


def test_two_runs_on_one_out_the_second_exits_2_and_the_first_is_intact(tmp_path):
    """The issue's repro in small: a second `surrogate run` on a busy --out is refused (exit 2, the first's PID
    named) and writes nothing; the first run completes with every frame, in order. The first is stopped
    (SIGSTOP) while the second tries, so the overlap does not depend on the machine's speed."""
    from systems.trajectory_reader import read_frames

    out = tmp_path / "K"
    argv = ["run", "--system", "liquid-argon", "--n-atoms", "32", "--integrator", "langevin", "--equilibrate-ps",
            "0", "--traj-interval", "10", "--no-progress", "--out", str(out),
            "--runaway-temperature-patience-fs", "2000"]  # the unequilibrated lattice start heats for ~1 ps
    first = subprocess.Popen([sys.executable, "-m", "surrogate.cli", *argv, "--seed", "1", "--steps", "400"],
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        traj = out / "trajectory.extxyz"
        while first.poll() is None and not (traj.exists() and traj.stat().st_size > 0):
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)
        assert first.poll() is None, "the first run ended before the second started"
        second = subprocess.run([sys.executable, "-m", "surrogate.cli", *argv, "--seed", "2", "--steps", "100"],
                                env=_env(), capture_output=True, text=True, timeout=300)
        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode == 2, second.stderr
    assert f"is in use by PID {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = list(read_frames(out / "trajectory.extxyz"))
    assert len(frames) == 41
    assert np.all(np.diff([f.time for f in frames]) > 0)
    steps = np.loadtxt(out / "thermo.csv", delimiter=",", skiprows=1, usecols=0)
    np.testing.assert_array_equal(steps, np.arange(0, 401, 10))
    assert not (out / LOCK_NAME).exists()
