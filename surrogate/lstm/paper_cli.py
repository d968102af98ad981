"""``surrogate train lstm --preset paper``: generate the paper's data for one potential and stride, then train."""

from __future__ import annotations

import sys
from pathlib import Path

from systems.errors import InputError

from .data import save_operator_data
from .paper import paper_data, paper_model_options, paper_potential
from .position_train import train_position_operator


def train_paper_preset(args) -> Path:
    """The CLI's paper preset (see ``surrogate train lstm --help``); returns the best model file."""
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
    options = paper_model_options(args.stride)
    options.update(arch=args.arch, head=args.head, unroll=args.unroll,
                   conditions=("mass", "k") if potential == "harmonic" else ("mass",))
    if not args.condition_on_parameters:
        options["conditions"] = ()
    # The paper's models are float64, whatever --dtype says (its float32 default is the other models').
    return train_position_operator(data, args.out, max_epochs=args.max_epochs, batch_size=args.batch_size or 256,
                                   lr=args.lr or 2e-3, seed=args.seed, device=args.device, resume=args.resume,
                                   val_fraction=args.val_fraction, max_sequences=args.max_windows or 50_000,
                                   input_noise=args.unroll_noise, progress=not args.no_progress,
                                   time_budget_s=None if args.time_budget is None else 60.0 * args.time_budget,
                                   **options)
