"""Reproduce the EGNN paper's charged N-body experiment (Satorras et al. 2021, Table 2).

Data: 5 charged particles, frame 30 (positions, velocities, charges) → positions at
frame 40 (1000 leapfrog steps later); 3000/2000/2000 seeded trajectories generated
with the Numba kernel in ``surrogate.nbody.data`` (protocol in ../shared/anchors.md).
Model: the direct-prediction EGNN (4 layers, 64 features), Adam lr 5e-4, batch 100,
up to 10000 epochs with early stopping on the validation MSE. Reported: test MSE of
the best-validation model beside the paper's table, the x + v·Δt baseline on the
same test set, and the forward time per batch of 100.

    python benchmarks/egnn_nbody.py            # full protocol (hours on 2 CPU cores)
    python benchmarks/egnn_nbody.py --quick    # honest short run on fewer samples, < 2 min
    python benchmarks/egnn_nbody.py --device cuda --max-minutes 60
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import median_time, target, write_result  # noqa: E402
from surrogate.model_file import data_hash  # noqa: E402
from surrogate.nbody import (  # noqa: E402
    FRAME_IN,
    FRAME_OUT,
    ChargedNBodySetup,
    NBodyDataset,
    NBodyEGNN,
    nbody_mse_loss,
    save_nbody_model,
    simulate_charged_nbody,
)
from surrogate.training import TrainConfig, Trainer  # noqa: E402

PAPER_TEST_MSE = {"Linear": 0.0819, "SE(3)-Transformer": 0.0244, "Tensor Field Network": 0.0155, "GNN": 0.0107,
                  "Radial Field": 0.0104, "EGNN": 0.0071}
PAPER_FORWARD_S = {"EGNN": 0.0062, "GNN": 0.0032, "Tensor Field Network": 0.0343, "SE(3)-Transformer": 0.1346}
TARGET_MSE = PAPER_TEST_MSE["EGNN"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short honest run: 1000/500/1000 samples, about 1 min of training")
    parser.add_argument("--epochs", type=int, default=None, help="max epochs (default 10000; quick: 10000 but time-limited)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock limit on training (default none; quick 1.0)")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-val", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--lr-patience", type=int, default=100, help="epochs without val improvement before halving the LR")
    parser.add_argument("--patience", type=int, default=400, help="early-stopping patience in epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default 1 on CPU: batches of 500 nodes gain little from "
                             "threads, and an oversubscribed machine slows them down 10-50x)")
    parser.add_argument("--out-dir", default="runs/egnn_nbody")
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pt")
    parser.add_argument("--data", default=None, help=".npz cache of the samples (read if present, else written)")
    parser.add_argument("--tanh-coords", action="store_true", help="bound φ_x with tanh (off in the paper's N-body model)")
    parser.add_argument("--coord-mlp", action="store_true", help="φ_x as the authors' 2-layer MLP (default: EGNNLayer's linear map)")
    parser.add_argument("--radial-filter", action="store_true", help="keep EGNNLayer's radial filter (not in the paper)")
    parser.add_argument("--length-scale", type=float, default=1.0, help="squared distances enter as r²/ℓ² (paper: raw, 1.0)")
    parser.add_argument("--result-name", default="egnn_nbody", help="benchmarks/results/NAME.json")
    args = parser.parse_args(argv)
    quick_defaults = dict(n_train=1000, n_val=500, n_test=1000, epochs=10000, max_minutes=1.0, threads=1)
    full_defaults = dict(n_train=3000, n_val=2000, n_test=2000, epochs=10000, max_minutes=None, threads=1)
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


def mse_on(model, dataset: NBodyDataset, device, batch_size=100) -> float:
    """Mean squared position error over the whole set (particles × coordinates), float64 sum."""
    model.eval()
    total, count = 0.0, 0
    x, v, q, y = dataset.tensors()
    with torch.no_grad():
        for s in range(0, len(dataset), batch_size):
            sl = slice(s, s + batch_size)
            pred = model(x[sl].to(device), v[sl].to(device), q[sl].to(device))
            total += float(((pred - y[sl].to(device)).double() ** 2).sum())
            count += y[sl].numel()
    return total / count


def linear_baseline_mse(dataset: NBodyDataset, lead_time: float) -> float:
    """MSE of x(t + Δt) ≈ x + v Δt (ballistic extrapolation) on the same set."""
    x, v, _, y = (t.double() for t in dataset.tensors())
    return float(((x + v * lead_time - y) ** 2).mean())


def train(model, sets, args, out_dir: pathlib.Path, header_extra: dict) -> tuple[dict, float, str]:
    """Train in chunks of epochs (exact resume between chunks) until done or out of time."""
    config = TrainConfig(max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_factor=0.5,
                         lr_patience=args.lr_patience, min_lr=1e-6, early_stopping_patience=args.patience,
                         grad_clip=10.0, weight_decay=1e-12, seed=args.seed, device=args.device,
                         out_dir=str(out_dir), progress=True)

    def save_fn(m, path):
        save_nbody_model(m, path, **header_extra)

    trainer = Trainer(model, nbody_mse_loss, sets["train"], sets["val"], config, save_fn=save_fn)
    deadline = None if args.max_minutes is None else time.perf_counter() + 60 * args.max_minutes
    start = time.perf_counter()
    resume, done = args.resume, 0
    reason = "max_epochs"
    while True:
        # Under a time limit, one epoch per call (resume is exact and costs a checkpoint read);
        # otherwise chunks of 50 epochs.
        trainer.config.max_epochs = min(args.epochs, done + (1 if deadline is not None else 50))
        history = trainer.fit(resume=resume)
        resume = True
        done = history["epochs_run"]
        if history["stopped_early"]:
            reason = "early_stopping"
            break
        if done >= args.epochs:
            break
        # Stop when the next epoch (as long as the slowest of the last three) would overrun.
        next_epoch = max(row["time_s"] for row in history["epochs"][-3:])
        if deadline is not None and time.perf_counter() + next_epoch > deadline:
            reason = "max_minutes"
            break
    trainer.close()
    return history, time.perf_counter() - start, reason


def main(argv=None) -> dict:
    args = parse_args(argv)
    out_dir = pathlib.Path(args.out_dir + ("_quick" if args.quick else ""))
    print(f"mode: {'QUICK (fewer samples, time-limited)' if args.quick else 'full protocol'}; "
          f"{args.n_train}/{args.n_val}/{args.n_test} trajectories, device {args.device}, {args.dtype}, "
          f"{args.threads or torch.get_num_threads()} threads")
    sets, info = generate(args)
    if args.threads:
        # After data generation: Numba's parallel kernel resets the shared OpenMP thread count.
        torch.set_num_threads(args.threads)
    print(f"{args.n_train + args.n_val + args.n_test} samples from {info['data_source']} in {info['generation_s']:.1f} s")

    torch.manual_seed(args.seed)
    model = NBodyEGNN(hidden=64, n_layers=4, tanh_coords=args.tanh_coords, coord_mlp=args.coord_mlp,
                      radial_filter=args.radial_filter, length_scale=args.length_scale).to(getattr(torch, args.dtype))
    header_extra = {"task": {"frame_in": FRAME_IN, "frame_out": FRAME_OUT, "lead_time": info["lead_time"]},
                    "training_data_hash": info["train_data_hash"], "n_train": args.n_train}
    history, train_s, reason = train(model, sets, args, out_dir, header_extra)
    device = torch.device(args.device)
    model.to(device)

    test_mse = mse_on(model, sets["test"], device)
    val_mse = mse_on(model, sets["val"], device)
    linear_mse = linear_baseline_mse(sets["test"], info["lead_time"])
    x, v, q, _ = (t[:100].to(device) for t in sets["test"].tensors())

    def forward():
        with torch.no_grad():
            model(x, v, q)
        if device.type == "cuda":
            torch.cuda.synchronize()

    forward_s = median_time(forward, repeats=20, warmup=3)

    print("\nTest MSE, charged N-body (frame 30 → 40)")
    print(f"{'method':<32} {'test MSE':>10}")
    for name, value in PAPER_TEST_MSE.items():
        print(f"{'paper: ' + name:<32} {value:>10.4f}")
    print(f"{'ours: x + v·Δt (same test set)':<32} {linear_mse:>10.4f}")
    print(f"{'ours: EGNN' + (' (QUICK run)' if args.quick else ''):<32} {test_mse:>10.4f}")
    print(f"ratio ours/paper EGNN: {test_mse / TARGET_MSE:.2f}; ours vs ballistic baseline: {test_mse / linear_mse:.3f}")
    print(f"forward time per batch of 100: {forward_s * 1e3:.2f} ms ({args.device}); paper EGNN {PAPER_FORWARD_S['EGNN'] * 1e3:.1f} ms (GPU)")

    figures = {
        "mode": "quick (fewer samples, time-limited; not the paper protocol)" if args.quick else "full protocol",
        "n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test,
        "device": args.device, "dtype": args.dtype, "tanh_coords": args.tanh_coords, "coord_mlp": args.coord_mlp,
        "radial_filter": args.radial_filter, "length_scale": args.length_scale, "data_source": info["data_source"], "torch_threads": torch.get_num_threads(),
        "test_mse": test_mse, "val_mse": val_mse,
        "linear_extrapolation_test_mse": linear_mse,
        "paper_test_mse": PAPER_TEST_MSE,
        "ratio_to_paper_egnn": test_mse / TARGET_MSE,
        "forward_s_per_batch_100": forward_s,
        "paper_forward_s_per_batch_100": PAPER_FORWARD_S,
        "epochs_run": history["epochs_run"], "best_epoch": history["best_epoch"],
        "stop_reason": reason, "train_s": train_s, "data_generation_s": info["generation_s"],
        "lr_final": history["epochs"][-1]["lr"] if history["epochs"] else args.lr,
        "training": {"batch_size": args.batch_size, "lr": args.lr, "lr_patience": args.lr_patience,
                     "early_stopping_patience": args.patience, "max_epochs": args.epochs,
                     "max_minutes": args.max_minutes},
        "model_file": str(out_dir / "best.pt"),
    }
    targets = [
        target("test MSE ≤ paper EGNN 0.0071" + (" (QUICK run)" if args.quick else ""), test_mse, TARGET_MSE, "lower"),
        target("test MSE below ballistic x + v·Δt on the same set", test_mse, linear_mse, "lower"),
    ]
    write_result(args.result_name, figures, targets)
    return figures


if __name__ == "__main__":
    main()
