"""``surrogate demo``: the main job on liquid argon with no input files.

Generates a classical reference, trains a small EGNN on it, runs surrogate MD
with the EGNN from the same starting state, compares it with the classical run
and prints the path of the report. Every step is an ordinary ``surrogate``
command (printed as it runs), so a user can repeat or change any of them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from systems.errors import InputError

from .options import HelpFormatter, add_config_option

#: Sizes of the full demo (about 10 minutes on 2 CPU cores) and of --quick (the test suite's).
SETTINGS = {
    False: {"n_atoms": 108, "equilibrate_ps": 5.0, "time_ps": 10.0, "max_epochs": 60, "train_stride": 2},
    True: {"n_atoms": 108, "equilibrate_ps": 1.0, "time_ps": 1.0, "max_epochs": 2, "train_stride": 5},
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="the whole pipeline on liquid argon, no input files needed",
                              description=__doc__, formatter_class=HelpFormatter)
    add_config_option(p)
    p.add_argument("--out", default="surrogate-demo", metavar="DIR", help="directory for every step's outputs")
    p.add_argument("--quick", action="store_true", help="a tiny version (seconds to a minute) that checks the pipeline")
    p.add_argument("--seed", type=int, default=0, help="seed of every step")
    p.add_argument("--device", default="cpu", help="torch device for training and surrogate MD")
    p.set_defaults(func=main, _parser=p, _section="demo")
    return p


def _step(argv: list[str], allowed_exit=(0,)) -> int:
    from . import main as cli_main

    print("\n$ surrogate " + " ".join(shlex.quote(str(a)) for a in argv), file=sys.stderr, flush=True)
    status = cli_main([str(a) for a in argv])
    if status not in allowed_exit:
        raise InputError(f"demo step `surrogate {argv[0]}` failed with exit status {status}")
    return status


def run_demo(out_dir="surrogate-demo", quick: bool = False, seed: int = 0, device: str = "cpu") -> Path:
    """Run the demo pipeline into ``out_dir``; returns the path of ``report.html``."""
    s = SETTINGS[bool(quick)]
    out = Path(out_dir)
    ref, model, egnn, report = out / "reference", out / "egnn-model", out / "egnn", out / "report"
    common = ["--seed", seed, "--no-progress"] if quick else ["--seed", seed]
    start = time.perf_counter()
    _step(["generate", "--system", "liquid-argon", "--n-atoms", s["n_atoms"], "--potential", "lj-argon",
           "--integrator", "verlet", "--equilibrate-ps", s["equilibrate_ps"], "--time-ps", s["time_ps"],
           "--out", ref, *common])
    _step(["train", "egnn", ref / "trajectory.extxyz", "--stride", s["train_stride"], "--max-epochs", s["max_epochs"],
           "--cutoff", 5.0, "--hidden", 32, "--layers", 3, "--device", device, "--out", model, *common])
    _step(["run", "--system", ref / "trajectory.extxyz", "--frame", 0, "--model", model / "best.pt",
           "--integrator", "verlet", "--time-ps", s["time_ps"], "--device", device, "--out", egnn, *common])
    _step(["compare", ref / "trajectory.extxyz", egnn / "trajectory.extxyz", "--labels", "classical", "egnn",
           "--out", report], allowed_exit=(0, 1))
    html = report / "report.html"
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s; report: {html}", file=sys.stderr)
    return html


def main(args) -> int:
    html = run_demo(args.out, quick=args.quick, seed=args.seed, device=args.device)
    print(html)
    return 0
