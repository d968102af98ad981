"""``surrogate demo``: the main job, with no input files.

Default (``--system water``): periodic water (24 atoms) with GFN2-xTB as the expensive reference, whose frames ship
with the package. Trains an EGNN and a force-input LSTM operator, runs both (the operator on EGNN forces, and on
xTB forces at one xTB call per 10 fs stride), times xTB Verlet live, compares every run with the reference and
writes a cost table: per simulated ps, each method's wall time, speedup over xTB, training cost and break-even
simulated time. About 10 minutes on 2 CPU cores; --quick is a pipeline check of about a minute.

``--system argon``: the same pipeline on liquid argon with a Lennard-Jones reference that it generates (a
fidelity check: LJ costs microseconds, so there the surrogates are not faster).

Every step is an ordinary ``surrogate`` command (printed as it runs), so a user can repeat or change any of them.
"""

from __future__ import annotations

import argparse

from systems.output_lock import holds_output_lock

from .options import HelpFormatter, add_config_option


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="the whole pipeline on GFN2-xTB water (or liquid argon), no input files",
                              description=__doc__, formatter_class=HelpFormatter)
    add_config_option(p)
    p.add_argument("--system", choices=("water", "argon"), default="water",
                   help="water: GFN2-xTB periodic water, shipped reference, cost table; argon: Lennard-Jones argon")
    p.add_argument("--out", default="surrogate-demo", metavar="DIR", help="directory for every step's outputs")
    p.add_argument("--quick", action="store_true", help="a tiny version (about a minute) that checks the pipeline")
    p.add_argument("--seed", type=int, default=0, help="seed of every step")
    p.add_argument("--device", default="cpu", help="torch device for training and surrogate MD")
    p.add_argument("--reference-dir", default=None, metavar="DIR",
                   help="water: a folder with the reference trajectory.extxyz (and run_info.json) to use instead "
                        "of the shipped GFN2-xTB set")
    p.set_defaults(func=main, _parser=p, _section="demo")
    return p


def run_demo(out_dir="surrogate-demo", quick: bool = False, seed: int = 0, device: str = "cpu",
             system: str = "water", reference_dir=None, threads: int | None = None):
    """Run the demo of ``system`` ("water" or "argon") into ``out_dir``; returns the path of ``report.html``.

    threads : CPU threads every step runs on (``--threads`` of each command), or None for each command's default."""
    if system == "argon":
        from surrogate.demo.argon import run_argon_demo

        return run_argon_demo(out_dir, quick=quick, seed=seed, device=device, threads=threads)
    from surrogate.demo.water import run_water_demo

    return run_water_demo(out_dir, quick=quick, seed=seed, device=device, reference_dir=reference_dir,
                          threads=threads)


@holds_output_lock
def main(args) -> int:
    from systems.errors import InputError

    from .builders import check_device

    check_device(args.device)
    if args.reference_dir is not None and args.system != "water":
        raise InputError("--reference-dir is for --system water")
    html = run_demo(args.out, quick=args.quick, seed=args.seed, device=args.device, system=args.system,
                    reference_dir=args.reference_dir, threads=getattr(args, "threads", None))
    print(html)
    return 0
