"""``surrogate learn``: active learning of an EGNN committee against a reference (:mod:`surrogate.learn`)."""

from __future__ import annotations

import argparse
import sys

from systems.errors import InputError

from .options import HelpFormatter, add_config_option, add_system_options, positive_float, positive_int

DESCRIPTION = """\
Active learning: label a small seed set with the reference (--seed-frames FILE, or
--n-seed frames sampled here), train a committee of EGNNs, then repeat: MD with the
committee, pick the frames whose committee max force std exceeds --max-force-std
(largest first, at least --min-separation steps apart), label them with the
reference, fine-tune the committee. Stops when a whole MD round stays below the
threshold, or after --max-rounds. Writes OUT/committee.pt (a committee file for
surrogate run --model), OUT/labelled.extxyz, OUT/learning_curve.png
and .json (held-out force MAE with --heldout, and reference calls per round).
--resume continues a killed run at the round it was in.
"""

EPILOG = """\
example (EMT copper, 32 atoms):
  surrogate learn --system bulk:Cu --repeat 2 --reference emt --temperature-K 600 --max-force-std 0.05 \\
      --md-steps 200 --max-rounds 6 --heldout cu-test.extxyz --out learn-cu
  surrogate run --system bulk:Cu --repeat 2 --model learn-cu/committee.pt --reference emt --max-force-std 0.05 \\
      --out cu-fallback
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from surrogate.learn import LearnSettings

    d = LearnSettings()
    p = subparsers.add_parser("learn", help="active learning of an EGNN committee against a reference",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_config_option(p)
    add_system_options(p)
    g = p.add_argument_group("reference and data")
    g.add_argument("--reference", required=False, default=None, metavar="NAME",
                   help="the labelling calculator: xtb, gfn1, emt or ase:module:Class (see surrogate run)")
    g.add_argument("--calculator-args", default=None, metavar="YAML", help="keyword arguments of --reference")
    g.add_argument("--seed-frames", default=None, metavar="FILE",
                   help="seed set with energies and forces (default: --n-seed frames labelled here)")
    g.add_argument("--n-seed", type=positive_int, default=d.n_seed, help="seed frames to label when none are given")
    g.add_argument("--seed-method", choices=("rattle", "md"), default=d.seed_method,
                   help="rattle: the start structure with random displacements (one reference call per frame); "
                        "md: reference Langevin MD (every step is a reference call)")
    g.add_argument("--seed-rattle", type=positive_float, default=d.seed_rattle,
                   help="largest rattle amplitude (Å, Gaussian std) of the seed frames")
    g.add_argument("--heldout", default=None, metavar="FILE",
                   help="independent reference frames for the learning curve's force MAE")
    g = p.add_argument_group("active learning")
    g.add_argument("--max-force-std", type=positive_float, default=d.threshold, metavar="EV_PER_A",
                   help="committee max force std above which a frame is labelled")
    g.add_argument("--md-steps", type=positive_int, default=d.md_steps, help="MD steps per round")
    g.add_argument("--timestep-fs", type=positive_float, default=d.timestep_fs, help="MD timestep (fs)")
    g.add_argument("--friction-per-ps", type=positive_float, default=d.friction_per_ps, help="Langevin friction")
    g.add_argument("--picks-per-round", type=positive_int, default=d.picks_per_round,
                   help="most frames labelled per round")
    g.add_argument("--min-separation", type=positive_int, default=d.min_separation,
                   help="least MD steps between two picked frames")
    g.add_argument("--max-rounds", type=positive_int, default=d.max_rounds, help="rounds after the seed round")
    g = p.add_argument_group("committee")
    g.add_argument("--committee-size", type=positive_int, default=d.committee_size, help="members (≥ 2)")
    g.add_argument("--cutoff", type=positive_float, default=d.cutoff, help="EGNN cutoff (Å)")
    g.add_argument("--hidden", type=positive_int, default=d.hidden, help="EGNN width")
    g.add_argument("--layers", type=positive_int, default=d.layers, help="EGNN layers")
    g.add_argument("--epochs", type=positive_int, default=d.epochs, help="epochs of the first committee")
    g.add_argument("--lr", type=positive_float, default=d.lr, help="learning rate of the first committee")
    g.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="structures per step")
    g.add_argument("--retrain-epochs", type=positive_int, default=d.retrain_epochs, help="epochs per fine-tuning")
    g.add_argument("--retrain-lr", type=positive_float, default=d.retrain_lr, help="learning rate of fine-tuning")
    g.add_argument("--retrain-time-s", type=positive_float, default=None,
                   help="time cap per member and fine-tuning (s; default none, so a resume repeats exactly)")
    g = p.add_argument_group("output")
    g.add_argument("--out", default="learn", metavar="DIR", help="output folder")
    g.add_argument("--resume", action="store_true", help="continue a killed run from OUT/learn_state.json")
    from .dask_options import add_dask_options

    add_dask_options(p)  # --scheduler / --workers: reference labels fan out on Dask
    p.set_defaults(func=main, _parser=p, _section="learn")
    return p


def main(args) -> int:
    from pathlib import Path

    from surrogate.learn import LearnSettings, active_learning
    from surrogate.reference import reference_provider
    from systems.output_lock import output_lock
    from systems.trajectory_reader import read_frames

    from ..config import write_resolved_config
    from .builders import build_system

    if not args.reference:
        raise InputError("surrogate learn needs --reference (the calculator that labels frames)")
    system, _topology = build_system(args)
    reference, text, _stress = reference_provider(args.reference, args.calculator_args, numbers=system.numbers)
    seed_set = list(read_frames(args.seed_frames)) if args.seed_frames else None
    heldout = list(read_frames(args.heldout)) if args.heldout else None
    for name, frames in (("--seed-frames", seed_set), ("--heldout", heldout)):
        if frames is not None and any(f.energy is None or f.forces is None for f in frames):
            raise InputError(f"{name}: every frame needs a reference energy and forces")
    settings = LearnSettings(threshold=args.max_force_std, temperature_K=args.temperature_K,
                             timestep_fs=args.timestep_fs, friction_per_ps=args.friction_per_ps,
                             md_steps=args.md_steps, picks_per_round=args.picks_per_round,
                             min_separation=args.min_separation, max_rounds=args.max_rounds, n_seed=args.n_seed,
                             seed_method=args.seed_method, seed_rattle=args.seed_rattle,
                             committee_size=args.committee_size, cutoff=args.cutoff, hidden=args.hidden,
                             layers=args.layers, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             retrain_epochs=args.retrain_epochs, retrain_lr=args.retrain_lr,
                             retrain_time_s=args.retrain_time_s, seed=args.seed).check()
    out = Path(args.out)
    command = "surrogate " + " ".join(map(str, getattr(args, "_argv", [])))
    with output_lock(out, command):
        out.mkdir(parents=True, exist_ok=True)
        write_resolved_config(args, out)
        print(f"learn: {system.n_atoms} atoms, reference {text}, threshold {settings.threshold:g} eV/Å",
              file=sys.stderr)
        labeller = None
        if args.scheduler or args.workers:
            from surrogate.learn import dask_labeller

            labeller = dask_labeller(args.reference, out / "labels", calculator_args=args.calculator_args,
                                     scheduler=args.scheduler, n_workers=args.workers)
        active_learning(system, reference, out, settings, seed_set=seed_set, heldout=heldout, resume=args.resume,
                        log=lambda line: print(line, file=sys.stderr), labeller=labeller)
    return 0
