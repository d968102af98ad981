"""Reproduce the EGNN paper's charged N-body experiment (Satorras et al. 2021, Table 2).

Data: 5 charged particles, frame 30 (positions, velocities, charges) → positions at
frame 40 (1000 leapfrog steps later); 3000/2000/2000 seeded trajectories generated
with the Numba kernel in ``surrogate.nbody.data`` (protocol in ../shared/anchors.md).
Model: the authors' direct-prediction EGNN_vel (4 layers, 64 features; dense batched
implementation in ``surrogate.nbody.model``), Adam lr 5e-4, weight decay 1e-12, batch 100,
constant LR, validation every 5 epochs, up to 10000 epochs with early stopping on the
validation MSE (``surrogate.nbody.train``). Reported: test MSE of the best-validation
model beside the paper's table, the x + v·Δt baseline on the same test set, the
learning curve, and the forward time per batch of 100.

One thread by default. The run stops at ``--max-minutes`` (default 75) and writes
``OUT_DIR/checkpoint.pt`` every few minutes; ``--resume`` continues it exactly.

    python benchmarks/egnn_nbody.py --log runs/egnn_nbody.log       # full protocol, ≤ 75 min of training
    python benchmarks/egnn_nbody.py --resume --max-minutes 120      # continue it
    python benchmarks/egnn_nbody.py --quick                         # short honest run on fewer samples, < 2 min
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import median_time, target, write_result  # noqa: E402
from surrogate.model_file import data_hash  # noqa: E402
from surrogate.nbody import FRAME_IN, FRAME_OUT, ChargedNBodySetup, NBodyDataset, NBodyEGNN  # noqa: E402
from surrogate.nbody import save_nbody_model, simulate_charged_nbody  # noqa: E402
from surrogate.nbody.train import NBodyTrainConfig, dataset_mse, train_nbody  # noqa: E402

PAPER_TEST_MSE = {"Linear": 0.0819, "SE(3)-Transformer": 0.0244, "Tensor Field Network": 0.0155, "GNN": 0.0107,
                  "Radial Field": 0.0104, "EGNN": 0.0071}
PAPER_FORWARD_S = {"EGNN": 0.0062, "GNN": 0.0032, "Tensor Field Network": 0.0343, "SE(3)-Transformer": 0.1346}
TARGET_MSE = PAPER_TEST_MSE["EGNN"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short honest run: 1000/500/1000 samples, about 1 min of training")
    parser.add_argument("--epochs", type=int, default=10000, help="max epochs (paper: 10000)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock limit on this call's training (default 75; quick 1.0)")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-val", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--eval-every", type=int, default=None, help="validate every this many epochs (reference: 5; quick: 2)")
    parser.add_argument("--patience", type=int, default=1000, help="early-stopping patience in epochs")
    parser.add_argument("--checkpoint-minutes", type=float, default=2.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: batches of 100 graphs gain little from threads, "
                             "and an oversubscribed machine slows them down 10-50x)")
    parser.add_argument("--out-dir", default="runs/egnn_nbody")
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pt")
    parser.add_argument("--data", default=None, help=".npz cache of the samples (read if present, else written)")
    parser.add_argument("--log", default=None, help="also append the progress lines to this file")
    parser.add_argument("--note", default=None, help="free text stored in the result's figures (e.g. how the run was stopped)")
    parser.add_argument("--result-name", default=None,
                        help="benchmarks/results/NAME.json (default egnn_nbody; --quick: egnn_nbody_quick, so a quick "
                             "run never replaces the full-protocol result)")
    args = parser.parse_args(argv)
    quick_defaults = dict(n_train=1000, n_val=500, n_test=1000, max_minutes=1.0, eval_every=2, result_name="egnn_nbody_quick")
    full_defaults = dict(n_train=3000, n_val=2000, n_test=2000, max_minutes=75.0, eval_every=5, result_name="egnn_nbody")
    for key, value in (quick_defaults if args.quick else full_defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def generate(args) -> tuple[dict[str, NBodyDataset], dict]:
    """Seeded train/val/test trajectories (distinct seeds) → frame-30 → frame-40 datasets.

    With ``--data PATH`` the samples are read from / written to an ``.npz`` cache
    (frames 30 and 40 only), so a later run or another machine reuses the same set.
    """
    dtype = getattr(torch, args.dtype)
    setup = ChargedNBodySetup()
    lead_time = setup.frame_time(FRAME_OUT) - setup.frame_time(FRAME_IN)
    sizes = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
    cache = pathlib.Path(args.data) if args.data else None
    start = time.perf_counter()
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        if int(stored["seed"]) != args.seed or any(len(stored[f"{k}_charges"]) < n for k, n in sizes.items()):
            raise SystemExit(f"--data {cache}: holds seed {int(stored['seed'])} and sizes "
                             f"{[len(stored[f'{k}_charges']) for k in sizes]}; asked for seed {args.seed}, {list(sizes.values())}")
        arrays = {f"{k}_{f}": stored[f"{k}_{f}"][:n] for k, n in sizes.items()
                  for f in ("positions", "velocities", "charges", "targets")}
        source = f"cache {cache}"
    else:
        arrays = {}
        for offset, (name, n) in enumerate(sizes.items()):
            traj = simulate_charged_nbody(n, seed=1000 * args.seed + offset + 1, setup=setup)
            arrays.update({f"{name}_positions": traj.positions[:, FRAME_IN], f"{name}_velocities": traj.velocities[:, FRAME_IN],
                           f"{name}_charges": traj.charges, f"{name}_targets": traj.positions[:, FRAME_OUT]})
        source = "generated (Numba leapfrog)"
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + ".tmp.npz")
            np.savez(tmp, seed=args.seed, **arrays)
            tmp.replace(cache)
    sets = {k: NBodyDataset(arrays[f"{k}_positions"], arrays[f"{k}_velocities"], arrays[f"{k}_charges"],
                            arrays[f"{k}_targets"], dtype=dtype) for k in sizes}
    train_hash = data_hash(*(arrays[f"train_{f}"] for f in ("positions", "velocities", "charges", "targets")))
    return sets, {"generation_s": time.perf_counter() - start, "train_data_hash": train_hash,
                  "lead_time": lead_time, "data_source": source}


def linear_baseline_mse(dataset: NBodyDataset, lead_time: float) -> float:
    """MSE of x(t + Δt) ≈ x + v Δt (ballistic extrapolation) on the same set."""
    x, v, _, y = (t.double() for t in dataset.tensors())
    return float(((x + v * lead_time - y) ** 2).mean())


def make_logger(path):
    """print, and append to ``path`` (flushed per line) when given."""
    handle = None
    if path:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a", buffering=1)

    def log(line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        print(stamped, flush=True)
        if handle is not None:
            handle.write(stamped + "\n")

    return log


def main(argv=None) -> dict:
    args = parse_args(argv)
    out_dir = pathlib.Path(args.out_dir + ("_quick" if args.quick else ""))
    log = make_logger(args.log)
    log(f"mode: {'QUICK (fewer samples, time-limited)' if args.quick else 'full protocol'}; "
        f"{args.n_train}/{args.n_val}/{args.n_test} trajectories, device {args.device}, {args.dtype}, "
        f"{args.threads} threads, max {args.max_minutes} min")
    sets, info = generate(args)
    # After data generation: Numba's parallel kernel resets the shared OpenMP thread count.
    torch.set_num_threads(args.threads)
    log(f"{args.n_train + args.n_val + args.n_test} samples from {info['data_source']} in {info['generation_s']:.1f} s")
    device = torch.device(args.device)
    for dataset in sets.values():
        for name in ("positions", "velocities", "charges", "targets"):
            setattr(dataset, name, getattr(dataset, name).to(device))

    torch.manual_seed(args.seed)
    model = NBodyEGNN(hidden=64, n_layers=4).to(device=device, dtype=getattr(torch, args.dtype))
    config = NBodyTrainConfig(max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=1e-12,
                              eval_every=args.eval_every, patience=args.patience, max_minutes=args.max_minutes,
                              checkpoint_minutes=args.checkpoint_minutes, seed=args.seed)
    history = train_nbody(model, sets["train"], sets["val"], config, out_dir, resume=args.resume, log=log)
    save_nbody_model(model, out_dir / "best.pt", task={"frame_in": FRAME_IN, "frame_out": FRAME_OUT,
                                                       "lead_time": info["lead_time"]},
                     training_data_hash=info["train_data_hash"], n_train=args.n_train, best_epoch=history["best_epoch"])

    test_mse = dataset_mse(model, sets["test"])
    val_mse = dataset_mse(model, sets["val"])
    linear_mse = linear_baseline_mse(sets["test"], info["lead_time"])
    x, v, q, _ = (t[:100] for t in sets["test"].tensors())

    def forward():
        with torch.no_grad():
            model(x, v, q)
        if device.type == "cuda":
            torch.cuda.synchronize()

    forward_s = median_time(forward, repeats=20, warmup=3)

    log("Test MSE, charged N-body (frame 30 → 40)")
    for name, value in PAPER_TEST_MSE.items():
        log(f"{'paper: ' + name:<32} {value:>10.4f}")
    log(f"{'ours: x + v·Δt (same test set)':<32} {linear_mse:>10.4f}")
    log(f"{'ours: EGNN' + (' (QUICK run)' if args.quick else ''):<32} {test_mse:>10.4f}")
    log(f"ratio ours/paper EGNN: {test_mse / TARGET_MSE:.2f}; ours vs ballistic baseline: {test_mse / linear_mse:.3f}")
    log(f"forward time per batch of 100: {forward_s * 1e3:.2f} ms ({args.device}); paper EGNN {PAPER_FORWARD_S['EGNN'] * 1e3:.1f} ms (GPU)")

    curve = history["curve"]
    step = max(1, len(curve) // 60)  # at most ~60 rows of the learning curve in the JSON
    figures = {
        "mode": "quick (fewer samples, time-limited; not the paper protocol)" if args.quick else "full protocol",
        "n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test,
        "device": args.device, "dtype": args.dtype, "data_source": info["data_source"],
        "torch_threads": torch.get_num_threads(), "machine_load_note": "2 shared CPU cores, ~1 core or less for this run",
        "test_mse": test_mse, "val_mse": val_mse,
        "linear_extrapolation_test_mse": linear_mse,
        "paper_test_mse": PAPER_TEST_MSE,
        "ratio_to_paper_egnn": test_mse / TARGET_MSE,
        "forward_s_per_batch_100": forward_s,
        "paper_forward_s_per_batch_100": PAPER_FORWARD_S,
        "epochs_run": history["epochs_run"], "best_epoch": history["best_epoch"],
        "stop_reason": history["stop_reason"], "train_minutes": history["train_s"] / 60,
        "seconds_per_epoch": history["train_s"] / max(history["epochs_run"], 1),
        "load_average_1_5_15_min_at_end": list(os.getloadavg()),
        "data_generation_s": info["generation_s"],
        "training": {"batch_size": args.batch_size, "lr": args.lr, "weight_decay": 1e-12, "lr_schedule": "constant",
                     "eval_every": args.eval_every, "early_stopping_patience": args.patience,
                     "max_epochs": args.epochs, "max_minutes_this_call": args.max_minutes,
                     "resumed": args.resume},
        "curve": [curve[k] for k in range(0, len(curve), step)] + ([curve[-1]] if curve and (len(curve) - 1) % step else []),
        "model_file": str(out_dir / "best.pt"),
    }
    if args.note:
        figures["note"] = args.note
    name = ("N-body test MSE, QUICK run (paper EGNN 0.0071)" if args.quick
            else "N-body test MSE, full protocol (paper EGNN 0.0071)")
    targets = [
        target(name, test_mse, TARGET_MSE, "lower"),
        target("N-body test MSE below ballistic x + v·Δt on the same set", test_mse, linear_mse, "lower"),
    ]
    write_result(args.result_name, figures, targets)
    return figures


if __name__ == "__main__":
    main()
