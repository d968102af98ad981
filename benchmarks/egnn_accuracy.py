"""EGNN accuracy on a real many-body potential: ASE's EMT for FCC copper (108 atoms).

Training frames come from Langevin MD (BAOAB, our integrators) with EMT at 300,
600, 900 and 1200 K; held-out test frames come from independent trajectories
(other seeds) at the same temperatures. The model is trained with
:func:`surrogate.egnn.train.train_egnn`, and the energy and force MAE on the
test frames are reported beside the trivial baseline (predicting zero force).

Target: force MAE ≤ 10 meV/Å.

Usage: ``python benchmarks/egnn_accuracy.py [--quick] [--device cuda] [--epochs N]``
The full mode (48 training frames, 16 test frames, 3 layers x 32 features, up
to 200 epochs) takes about 30 min on 2 cores; ``--quick`` (16 frames, 2 layers,
8 epochs, < 2 min) is an honest but unconverged number. ``--train-per-t``,
``--hidden``, ``--layers``... override the sizes, ``--time-budget-s`` stops
training cleanly between resumable chunks, ``--device cuda`` trains on a GPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import target, write_result  # noqa: E402
from surrogate.egnn.data import generate_frames, graphs_from_frames  # noqa: E402
from surrogate.egnn.train import evaluate_errors, load_egnn, train_egnn  # noqa: E402

TEMPERATURES_K = (300.0, 600.0, 900.0, 1200.0)
TARGET_FORCE_MAE_MEV = 10.0

# Sized for 2 CPU cores (about 30 min): 48 training frames, 3 layers x 32 features.
FULL = dict(train_per_t=12, test_per_t=4, interval=25, equilibration=200, hidden=32, layers=3, epochs=200, batch=2,
            lr=2e-3)
QUICK = dict(train_per_t=4, test_per_t=2, interval=10, equilibration=50, hidden=32, layers=2, epochs=8, batch=2,
             lr=3e-3)


def copper_108():
    from ase.build import bulk

    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)


def make_frames(per_t: int, interval: int, equilibration: int, seed: int, cache: Path | None = None):
    """EMT frames from Langevin MD; with ``cache`` (an extxyz path) they are read back if present, else written."""
    from ase.calculators.emt import EMT

    from systems.forces import ForceResult
    from systems.trajectory_reader import read_frames
    from systems.trajectory_writer import TrajectoryWriter

    if cache is not None and cache.exists():
        return list(read_frames(cache))
    frames = generate_frames(copper_108(), EMT(), temperatures_K=TEMPERATURES_K, frames_per_temperature=per_t,
                             interval_steps=interval, equilibration_steps=equilibration, timestep_fs=2.0,
                             friction_per_fs=0.01, seed=seed)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with TrajectoryWriter(cache) as writer:
            for frame in frames:
                writer.write(frame.to_system(), ForceResult(frame.energy, frame.forces))
    return frames


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cutoff", type=float, default=5.0, help="Å")
    for key in ("train_per_t", "test_per_t", "hidden", "layers", "batch"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None, help=f"override {key}")
    parser.add_argument("--out", default=None, help="training directory (default: a temporary one)")
    parser.add_argument("--time-budget-s", type=float, default=0.0,
                        help="stop training (between chunks) before this many seconds; 0: no limit")
    parser.add_argument("--chunk-epochs", type=int, default=10, help="epochs per resumable training chunk")
    parser.add_argument("--cache", default=None, help="directory for the generated EMT frames (reused when present)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = dict(QUICK if args.quick else FULL)
    for key in ("epochs", "train_per_t", "test_per_t", "hidden", "layers", "batch"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)

    t0 = time.perf_counter()
    mode = "quick" if args.quick else "full"
    if any(getattr(args, k) is not None for k in ("train_per_t", "test_per_t", "hidden", "layers", "batch", "epochs")):
        mode += "-custom"
    cache = Path(args.cache) if args.cache else None
    tag = f"{cfg['interval']}x{cfg['equilibration']}"
    train_frames = make_frames(cfg["train_per_t"], cfg["interval"], cfg["equilibration"], seed=0,
                               cache=cache / f"cu108_train_{cfg['train_per_t']}_{tag}.extxyz" if cache else None)
    test_frames = make_frames(cfg["test_per_t"], cfg["interval"], cfg["equilibration"], seed=1000,
                              cache=cache / f"cu108_test_{cfg['test_per_t']}_{tag}.extxyz" if cache else None)
    t_data = time.perf_counter() - t0
    print(f"EMT Cu108: {len(train_frames)} training and {len(test_frames)} test frames at {TEMPERATURES_K} K "
          f"({t_data:.1f} s)", flush=True)

    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="egnn_accuracy_"))
    t0 = time.perf_counter()
    train_kw = dict(cutoff=args.cutoff, hidden=cfg["hidden"], layers=cfg["layers"], batch_size=cfg["batch"],
                    lr=cfg["lr"], lr_patience=8, early_stopping_patience=40, energy_weight=1.0, force_weight=10.0,
                    val_fraction=0.1, device=args.device, dtype="float32", progress=False)
    # Train in chunks of epochs, resuming from the checkpoint, so a wall-clock budget can stop it cleanly.
    epochs_done = 0
    while epochs_done < cfg["epochs"]:
        upto = min(cfg["epochs"], epochs_done + args.chunk_epochs)
        best = train_egnn(train_frames, out_dir, max_epochs=upto, resume=epochs_done > 0, **train_kw)
        rows = len(np.atleast_1d(np.genfromtxt(out_dir / "metrics.csv", delimiter=",", names=True)))
        stopped = rows == epochs_done  # early stopping: no new epoch ran
        epochs_done = rows
        elapsed = time.perf_counter() - t0
        print(f"  {epochs_done} epochs, {elapsed:.0f} s", flush=True)
        if stopped or (args.time_budget_s and elapsed * (1 + args.chunk_epochs / max(epochs_done, 1))
                       > args.time_budget_s):
            break
    t_train = time.perf_counter() - t0
    model = load_egnn(best, device=args.device)
    test_graphs = graphs_from_frames(test_frames, args.cutoff, "test frames")
    errors = evaluate_errors(model, test_graphs)
    per_t = {}
    n = cfg["test_per_t"]
    for k, temperature in enumerate(TEMPERATURES_K):
        e = evaluate_errors(model, test_graphs[k * n : (k + 1) * n])
        per_t[f"{temperature:.0f}K"] = {"force_mae_meV_per_A": 1e3 * e["force_mae_eV_per_A"],
                                        "energy_mae_meV_per_atom": 1e3 * e["energy_mae_eV_per_atom"]}
    zero_force_mae = float(np.mean([np.abs(f.forces).mean() for f in test_frames]))
    force_mae_mev = 1e3 * errors["force_mae_eV_per_A"]
    figures = {
        "mode": mode,
        "device": args.device,
        "n_train_frames": len(train_frames),
        "n_test_frames": len(test_frames),
        "model": {"cutoff_A": args.cutoff, "hidden": cfg["hidden"], "layers": cfg["layers"],
                  "epochs_planned": cfg["epochs"], "epochs_run": epochs_done},
        "energy_mae_meV_per_atom": 1e3 * errors["energy_mae_eV_per_atom"],
        "force_mae_meV_per_A": force_mae_mev,
        "force_rmse_meV_per_A": 1e3 * errors["force_rmse_eV_per_A"],
        "zero_force_baseline_mae_meV_per_A": 1e3 * zero_force_mae,
        "per_temperature": per_t,
        "data_seconds": t_data,
        "train_seconds": t_train,
    }
    print(f"test energy MAE {figures['energy_mae_meV_per_atom']:.2f} meV/atom, force MAE {force_mae_mev:.1f} meV/Å "
          f"(zero-force baseline {1e3 * zero_force_mae:.0f} meV/Å); training {t_train:.0f} s")
    write_result("egnn_accuracy", figures,
                 [target("EMT Cu108 held-out force MAE [meV/Å]", force_mae_mev, TARGET_FORCE_MAE_MEV, "lower")])


if __name__ == "__main__":
    main()
