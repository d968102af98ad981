"""``surrogate run --model COMMITTEE --reference NAME --max-force-std X [--retrain-every M]``: the options of
the on-the-fly fallback (:mod:`surrogate.fallback`) and the provider they build.

Files in ``--out``: ``labelled.extxyz`` (every reference frame), ``committee/v<k>.pt`` (the committee file after the k-th retraining)
 and ``fallback.json`` (the counts); the thermo log gets the
columns ``reference_calls`` and ``reference_fraction``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from systems.errors import InputError

from .options import positive_float

LABELLED = "labelled.extxyz"
SUMMARY = "fallback.json"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text}")
    return value


def add_fallback_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("on-the-fly fallback (--model COMMITTEE --reference NAME --max-force-std X)")
    g.add_argument("--max-force-std", type=positive_float, default=None, metavar="EV_PER_A",
                   help="a step whose committee max force std (eV/Å) exceeds this is evaluated with --reference "
                        "instead and labelled into OUT/labelled.extxyz; --model is then a committee: a committee file "
                        "(surrogate train egnn --committee K), a folder of EGNN member files or comma-separated files")
    g.add_argument("--retrain-every", type=positive_int, default=None, metavar="M",
                   help="fine-tune the committee after every M new labelled frames and continue with it")
    g.add_argument("--training-data", default=None, metavar="FILE",
                   help="the committee's original training frames (energies, forces), trained on again with the "
                        "labelled frames at each retraining (default: the labelled frames only)")
    g.add_argument("--retrain-epochs", type=positive_int, default=5, help="epochs per retraining")
    g.add_argument("--retrain-lr", type=positive_float, default=1e-3, help="learning rate of the retraining")
    g.add_argument("--retrain-batch-size", type=positive_int, default=4, help="structures per retraining step")
    g.add_argument("--retrain-time-s", type=positive_float, default=300.0,
                   help="time cap per member and retraining, s (a cut-short retraining is reported; a resumed "
                        "run repeats the uninterrupted one exactly only when the cap is not reached)")
    g.add_argument("--label-stress", action="store_true",
                   help="also store the reference's stress with each labelled frame (periodic cells)")


def fallback_requested(args) -> bool:
    return getattr(args, "max_force_std", None) is not None


def build_fallback(args, system):
    """``(FallbackProvider, description, supports_stress)`` from the options; checks them first."""
    import numpy as np

    from surrogate.fallback import CommitteeRetrainer, FallbackProvider
    from surrogate.labelled_set import LabelledSet
    from surrogate.member_committee import committee_provider
    from surrogate.reference import reference_provider
    from surrogate.retrain import RetrainSettings

    if not args.model or not args.reference:
        raise InputError("--max-force-std needs --model (a committee) and --reference (the fallback's calculator)")
    for flag, value in (("--potential", args.potential), ("--ase-calculator", args.ase_calculator),
                        ("--forcefield", args.forcefield)):
        if value:
            raise InputError(f"--max-force-std: {flag} is not a fallback source; give --reference")
    if args.integrator == "lstm":
        raise InputError("--max-force-std works with MD and MC integrators, not --integrator lstm")
    surrogate = committee_provider(args.model, device=args.device, dtype=args.dtype)
    try:
        surrogate.model.species_index(system.numbers)
    except InputError as err:
        raise InputError(f"--model {args.model} cannot simulate this system: {err}") from None
    reference, text, stress = reference_provider(args.reference, args.calculator_args, numbers=system.numbers)
    out = Path(args.out)
    labelled = LabelledSet(out / LABELLED, append=bool(args.resume))
    retrainer = None
    if args.retrain_every is not None:
        base = []
        if args.training_data:
            from systems.trajectory_reader import read_frames

            base = list(read_frames(args.training_data))
        settings = RetrainSettings(epochs=args.retrain_epochs, lr=args.retrain_lr,
                                   batch_size=args.retrain_batch_size, seed=args.seed,
                                   time_budget_s=args.retrain_time_s, device=args.device)
        retrainer = CommitteeRetrainer(args.model, base, out / "committee", settings, device=args.device,
                                       dtype=args.dtype)
    provider = FallbackProvider(surrogate, reference, args.max_force_std, labelled=labelled,
                                reference_stress=args.label_stress, retrain_every=args.retrain_every,
                                retrainer=retrainer, name=f"fallback to {text}")
    periodic = bool(np.all(system.pbc))
    description = (f"{surrogate.name} with fallback to {text} (--reference {args.reference}) above "
                   f"{args.max_force_std:g} eV/Å")
    return provider, description, periodic and stress


def attach_thermo_fields(integrator, provider) -> None:
    """Add the fallback's counts to the integrator's thermo-log columns."""
    own = integrator.thermo_fields
    integrator.thermo_fields = lambda: {**own(), **provider.thermo_fields()}


def report(args, provider) -> None:
    """Print the counts and write ``fallback.json`` in ``--out`` (atomically)."""
    from systems.atomic_file import atomic_write_text

    print(provider.summary_line(), file=sys.stderr)
    atomic_write_text(Path(args.out) / SUMMARY, json.dumps(provider.summary(), indent=1) + "\n")
