"""The ``surrogate`` command line: ``generate``, ``train egnn|lstm``, ``run``, ``compare``, ``demo``.

Every command takes ``--config FILE.yaml`` (flags override the file) and writes
its resolved options as ``config.yaml`` next to its outputs. Exit status: 0 on
success (``compare``: every distance within tolerance), 1 when ``compare``
finds a distance out of tolerance or a simulation runs away (the frames
written before are kept), 2 for bad arguments or input files.
"""

from __future__ import annotations

import argparse
import sys

from integrators.runaway import RunawayError
from systems.errors import InputError

from ..config import parse_args
from . import compare, demo, generate, run, train

#: Subcommand modules; each has ``add_parser(subparsers)`` and ``main(args) -> int``.
COMMANDS = (generate, train, run, compare, demo)

EPILOG = """\
typical session:
  surrogate generate --n-atoms 256 --potential lj-argon --integrator verlet --time-ps 20 --out ref
  surrogate train egnn ref/trajectory.extxyz --stride 5 --out egnn-model
  surrogate run --system ref/trajectory.extxyz --model egnn-model/best.pt --integrator verlet --time-ps 20 --out egnn
  surrogate compare ref/trajectory.extxyz egnn/trajectory.extxyz --force-model egnn-model/best.pt --out comparison
  surrogate demo            # all of the above on liquid argon, with no input files

every command accepts --config FILE.yaml (keys are the long flag names; flags override the file)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surrogate",
        description="Learned surrogates for molecular simulation: generate classical reference trajectories, "
                    "train EGNN force models and LSTM large-timestep operators, run surrogate MD, and compare "
                    "the result with classical MD.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("surrogate-md")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv=None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    User errors (bad flags, missing or malformed files) print one message to
    stderr and return 2, with no traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    leaf = getattr(args, "_parser", parser)
    args._argv = argv  # for run metadata: the command as typed
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"{leaf.prog}: error: {exc}", file=sys.stderr)
        return 2
    except RunawayError as exc:  # the dynamics blew up: not a usage error, but no traceback either
        out = getattr(args, "out", None)
        kept = f"; the frames before it are in {out}" if out else ""
        print(f"{leaf.prog}: simulation failed: {exc}{kept}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{leaf.prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
