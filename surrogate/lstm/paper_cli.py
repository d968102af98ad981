"""``surrogate train lstm --preset paper``: generate the paper's data for one potential and stride, then train."""

from __future__ import annotations

import sys
from pathlib import Path

from systems.errors import InputError

from .data import save_operator_data
from .paper import PAPER_RECIPE, paper_data, paper_potential, train_paper_model


def train_paper_preset(args) -> Path:
    """The CLI's paper preset (see ``surrogate train lstm --help``); returns the model file.

    Trains with the preset's recipe (:func:`~surrogate.lstm.paper.train_paper_model`: Adam with a cosine
    schedule, then an L-BFGS polish, written as OUT/polished.pt, the file returned; OUT/best.pt is Adam's).
    """
    if args.potential is None or args.stride is None:
        raise InputError("--preset paper needs --potential (harmonic, lj, double-well, rugged) and --stride "
                         "(100, 400, 1000 or 4000 Verlet steps)")
    if args.data or args.generate:
        raise InputError("--preset paper generates its own data; give neither DATA nor --generate")
    potential = paper_potential(args.potential)
    from surrogate.config import write_resolved_config

    write_resolved_config(args, args.out)
    n = args.n_trajectories or 500
    print(f"generating {n} Verlet trajectories of t = {args.t_max:g} ({potential}, paper ranges)", file=sys.stderr)
    data = paper_data(potential, args.stride, n_trajectories=n, t_max=args.t_max, seed=args.seed)
    save_operator_data(data, Path(args.out) / "data.npz", trajectory=False)
    # The recipe of the preset (paper.PAPER_RECIPE) unless the command line sets a value: --max-epochs caps
    # its epochs (the parser's default, 200, is above them); the paper's models are float64, whatever --dtype says.
    overrides = {"max_epochs": min(PAPER_RECIPE["max_epochs"], args.max_epochs), "head": args.head,
                 "unroll": args.unroll, "input_noise": args.unroll_noise, "resume": args.resume,
                 "val_fraction": args.val_fraction,
                 "conditions": (("mass", "k") if potential == "harmonic" else ("mass",))
                 if args.condition_on_parameters else ()}
    for key, value in (("batch_size", args.batch_size), ("lr", args.lr), ("max_sequences", args.max_windows)):
        if value:
            overrides[key] = value
    if args.conditions:
        overrides["conditions"] = _names(args.conditions, "--conditions")
    if args.widths:
        overrides["hidden"] = tuple(_positive(w, "--widths") for w in _names(args.widths, "--widths"))
    if args.polish_steps is not None:
        overrides["polish_steps"] = args.polish_steps
    # The polish has no noise injection: on an unrolled model it would undo what the noisy unrolls taught.
    if args.unroll > 1:
        overrides["polish_steps"] = 0
    best, info = train_paper_model(data, args.out, args.stride, arch=args.arch, seed=args.seed, device=args.device,
                                   progress=not args.no_progress,
                                   time_budget_s=None if args.time_budget is None else 60.0 * args.time_budget,
                                   log=lambda msg: print(msg, file=sys.stderr), **overrides)
    return best


def _names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in str(text).split(",") if part.strip())
    if not names:
        raise InputError(f"{option}: give a comma-separated list, got {text!r}")
    return names


def _positive(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{option}: widths must be positive integers, got {text!r}")
    return value
