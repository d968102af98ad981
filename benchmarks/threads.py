"""One EGNN training epoch, quiet and beside a busy process: torch's default threads against the default rule.

The issue: with torch's default threads (one per core) on a busy 2-core machine, one training epoch
took 15-100x longer than quiet (OpenMP threads spin-wait for a core another process holds).
``surrogate.threads`` chooses the usable CPUs minus the load of the other processes (at least 1).

The script builds a small EMT copper set (2x2x2 fcc Cu, 32 atoms, rattled, seeded; 50 frames, --quick 20),
then times one epoch of ``surrogate.egnn.train.train_egnn`` (hidden 32, 2 layers, 4 Å cutoff, batch 8) in
fresh worker processes (so each starts with torch's own settings), four ways:

* thread setting: ``torch`` (torch's default; OMP_NUM_THREADS and friends removed from the worker's
  environment) or ``rule`` (``surrogate.threads.apply_threads(None)``, the rule every command uses);
* machine: ``quiet`` (no process of ours besides the worker) or ``busy`` (a second process spinning
  ``while True: pass``, started 2 s before the worker and stopped after it).

The epoch time is the trainer's own (``metrics.csv`` time_s), the least of the epochs run (the first
one pays for warm-up). The target row: busy / quiet with the default rule ≤ 2. "quiet" means no
extra process of ours: other users' load is recorded (load average before each run) and cannot be
removed; on a machine that is already busy the rule picks 1 thread in both cases.

Usage: ``python benchmarks/threads.py [--quick]`` (--quick: 20 frames, 1 epoch, workers stopped
after 60 s, those with torch's default threads after 30 s: under 2 minutes even on a loaded machine,
where a stopped run counts as its limit, a lower bound of its time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import target, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def make_data(path: Path, n_frames: int, seed: int = 0) -> None:
    """``n_frames`` rattled 32-atom fcc Cu cells (a = 3.61 Å ± 2 %) with EMT energies and forces, as extxyz."""
    import numpy as np
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.61 * (1 + 0.02 * rng.uniform(-1, 1)), cubic=True).repeat(2)
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    write(path, frames, format="extxyz")


def worker(mode: str, data: str, epochs: int) -> dict:
    """Train ``epochs`` epochs in this process; ``mode`` "rule" applies the default thread rule first."""
    chosen = None
    if mode == "rule":
        from surrogate.threads import apply_threads

        chosen = apply_threads(None)
    import csv

    import torch

    from surrogate.egnn.train import train_egnn

    with tempfile.TemporaryDirectory() as out:
        train_egnn(data, out, cutoff=4.0, hidden=32, layers=2, max_epochs=epochs, batch_size=8, val_fraction=0.1,
                   seed=0, progress=False)
        with open(Path(out) / "metrics.csv") as fh:
            times = [float(row["time_s"]) for row in csv.DictReader(fh)]
    return {"epoch_s": min(times), "epoch_times_s": times, "torch_threads": torch.get_num_threads(),
            "rule": chosen["rule"] if chosen else "torch default"}


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_worker(mode: str, busy: bool, data: Path, epochs: int, timeout_s: float) -> dict:
    """One measurement in a fresh process, with a spinning second process when ``busy``."""
    env = _clean_env()
    spinner = None
    load_before = os.getloadavg()[0]
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"], env=env)
        time.sleep(2.0)
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", mode, "--data", str(data),
                               "--epochs", str(epochs)], env=env, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"worker {mode} failed:\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        result = {"epoch_s": float(timeout_s), "timed_out": True, "note": f"stopped after {timeout_s:.0f} s"}
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    result["load_average_before"] = round(load_before, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="20 frames, 1 epoch, workers stopped after 60 s (torch's default: 30 s)")
    parser.add_argument("--worker", choices=("torch", "rule"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.epochs)))
        return

    n_frames, epochs, timeout_s = (20, 1, 60.0) if args.quick else (50, 2, 600.0)
    from surrogate.threads import default_thread_count, usable_cpus

    figures = {"frames": n_frames, "atoms": 32, "hidden": 32, "layers": 2, "cutoff_A": 4.0, "epochs_run": epochs,
               "usable_cpus": usable_cpus(), "load_average_at_start": round(os.getloadavg()[0], 2),
               "rule_at_start": default_thread_count(env_omp=None)[1]}
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cu_emt.extxyz"
        make_data(data, n_frames)
        for mode in ("rule", "torch"):
            for busy in (False, True):
                key = f"{mode}_{'busy' if busy else 'quiet'}"
                limit = timeout_s / 2 if (args.quick and mode == "torch") else timeout_s
                runs[key] = run_worker(mode, busy, data, epochs, limit)
                print(f"{key:12s} epoch {runs[key]['epoch_s']:.2f} s  threads {runs[key].get('torch_threads')}  "
                      f"({runs[key].get('rule', runs[key].get('note'))}; load before "
                      f"{runs[key]['load_average_before']})", flush=True)
    figures["runs"] = runs
    rule_ratio = runs["rule_busy"]["epoch_s"] / runs["rule_quiet"]["epoch_s"]
    torch_ratio = runs["torch_busy"]["epoch_s"] / runs["torch_quiet"]["epoch_s"]
    figures["busy_over_quiet_rule"] = rule_ratio
    figures["busy_over_quiet_torch_default"] = torch_ratio
    figures["busy_torch_default_over_busy_rule"] = runs["torch_busy"]["epoch_s"] / runs["rule_busy"]["epoch_s"]
    figures["note"] = ("'quiet' = no extra process of ours; the load of other users is in load_average_before. "
                       "A timed-out run counts as its time limit (a lower bound).")
    print(f"busy/quiet: default rule {rule_ratio:.2f}x, torch default {torch_ratio:.2f}x; busy torch-default / "
          f"busy rule {figures['busy_torch_default_over_busy_rule']:.2f}x")
    write_result("threads", figures,
                 [target("epoch with a second busy process ≤ 2× quiet", rule_ratio, 2.0, "lower")])


if __name__ == "__main__":
    main()
