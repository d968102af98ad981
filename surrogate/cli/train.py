"""``surrogate train egnn|lstm``: fit a surrogate to reference trajectories."""

from __future__ import annotations

import argparse
import os
import sys

from systems.errors import InputError

from ..config import write_resolved_config
from .options import (HelpFormatter, add_config_option, non_negative_float, positive_float, positive_int)

DESCRIPTION = """\
Train a surrogate on reference data:
  egnn  an E(n)-equivariant graph network energy model (forces by autograd)
        from frames with energies and forces (extxyz, ASE .traj, ...)
  lstm  a large-timestep LSTM operator (positions and velocities in, the state
        one stride later out) from MD trajectories
"""

EGNN_DESCRIPTION = """\
Train an EGNN energy model (Satorras, Hoogeboom, Welling 2021) on frames with
energies (eV) and forces (eV/Å), e.g. the extxyz of surrogate generate. The
loss weighs the per-atom energy error and the force error. The best model (by
validation loss) is written to OUT/best.pt, with metrics.csv and a checkpoint
for --resume; use it with surrogate run --model OUT/best.pt or ASE's
SurrogateCalculator.
"""

EGNN_EPILOG = """\
examples:
  surrogate train egnn reference/trajectory.extxyz --out egnn-model
  surrogate train egnn cu.extxyz --cutoff 5 --hidden 64 --layers 4 --max-epochs 300 --device cuda --out cu-model
  torchrun --nproc-per-node 4 -m surrogate.cli train egnn data.extxyz --device cuda --out big-model
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train an EGNN force model or an LSTM large-timestep operator",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    kinds = p.add_subparsers(dest="model_kind", metavar="MODEL", title="models")
    kinds.required = True
    _add_egnn(kinds)
    _add_lstm(kinds)
    return p


def _add_common(p) -> None:
    add_config_option(p)
    p.add_argument("data", nargs="*", metavar="DATA",
                   help="training trajectories (any format surrogate reads; several files are concatenated)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (model file, metrics, config.yaml)")
    p.add_argument("--stride", type=positive_int, default=1, help="use every STRIDE-th frame of DATA")
    p.add_argument("--max-epochs", type=positive_int, default=200, help="training epochs at most")
    p.add_argument("--batch-size", type=positive_int, default=None, help="samples per optimisation step")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    p.add_argument("--val-fraction", type=non_negative_float, default=0.1, help="share of the data held out")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and shuffling")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="model precision")
    p.add_argument("--resume", action="store_true", help="continue an interrupted training from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="draw no progress bar")


def _add_egnn(kinds) -> None:
    p = kinds.add_parser("egnn", help="EGNN energy/force model", description=EGNN_DESCRIPTION, epilog=EGNN_EPILOG,
                         formatter_class=HelpFormatter)
    _add_common(p)
    g = p.add_argument_group("EGNN model")
    g.add_argument("--cutoff", type=positive_float, default=5.0, help="graph cutoff (Å)")
    g.add_argument("--hidden", type=positive_int, default=64, help="features per node")
    g.add_argument("--layers", type=positive_int, default=4, help="EGNN layers")
    g.add_argument("--energy-weight", type=non_negative_float, default=1.0, help="loss weight of the energy term")
    g.add_argument("--force-weight", type=non_negative_float, default=10.0, help="loss weight of the force term")
    p.set_defaults(func=main_egnn, _parser=p, _section="train-egnn", out="egnn-model")


def _add_lstm(kinds) -> None:
    p = kinds.add_parser("lstm", help="LSTM large-timestep operator",
                         description="Train an LSTM large-timestep operator (Kadupitiya, Fox, Jadhao 2020).",
                         formatter_class=HelpFormatter)
    _add_common(p)
    p.set_defaults(func=main_lstm, _parser=p, _section="train-lstm", out="lstm-model")


def _data(args) -> object:
    """One path as is (the trainer streams it), or frames read from several files / with a stride."""
    if not args.data:
        raise InputError("give the training data: one or more trajectory files (DATA)")
    for path in args.data:
        if not os.path.exists(path):
            raise InputError(f"training data {path!r} does not exist")
    if len(args.data) == 1 and args.stride == 1:
        return args.data[0]
    from systems.trajectory_reader import read_frames

    frames = []
    for path in args.data:
        frames.extend(read_frames(path, stride=args.stride))
    return frames


def main_egnn(args) -> int:
    from surrogate.egnn.train import train_egnn

    if not 0.0 <= args.val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    write_resolved_config(args, args.out)
    kwargs = {k: getattr(args, k) for k in ("batch_size", "lr") if getattr(args, k) is not None}
    path = train_egnn(_data(args), args.out, cutoff=args.cutoff, hidden=args.hidden, layers=args.layers,
                      energy_weight=args.energy_weight, force_weight=args.force_weight, max_epochs=args.max_epochs,
                      val_fraction=args.val_fraction, seed=args.seed, device=args.device, dtype=args.dtype,
                      resume=args.resume, progress=not args.no_progress, **kwargs)
    print(f"model written to {path}", file=sys.stderr)
    print(path)
    return 0


def main_lstm(args) -> int:
    try:
        from surrogate.lstm import train_lstm
    except ImportError:
        raise InputError("the LSTM operator trainer (surrogate.lstm.train_lstm) is not available in this "
                         "installation") from None
    write_resolved_config(args, args.out)
    kwargs = {k: getattr(args, k) for k in ("batch_size", "lr") if getattr(args, k) is not None}
    path = train_lstm(_data(args), args.out, max_epochs=args.max_epochs, val_fraction=args.val_fraction,
                      seed=args.seed, device=args.device, dtype=args.dtype, resume=args.resume, **kwargs)
    print(f"model written to {path}", file=sys.stderr)
    print(path)
    return 0
