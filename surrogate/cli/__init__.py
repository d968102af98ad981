"""The ``surrogate`` command line: ``generate``, ``train egnn|lstm``, ``run``, ``learn``, ``compare``, ``demo``,
``export``.

Every command takes ``--config FILE.yaml`` (flags override the file) and writes
its resolved options as ``config.yaml`` next to its outputs, and ``--threads N``
(:mod:`surrogate.threads`: applied once at the start, before the command imports
torch or Numba; without it, the usable CPUs minus the load of other processes;
the count chosen is the second line of ``config.yaml``). Exit status: 0 on
success (``compare``: every distance within tolerance), 1 when ``compare``
finds a distance out of tolerance or a simulation runs away (the frames
written before are kept), 2 for bad arguments or input files.
"""

from __future__ import annotations

import argparse
import errno
import sys

from integrators.runaway import RunawayError
from systems.errors import InputError

from ..config import parse_args
from . import compare, demo, export, generate, learn, run, train
from .options import add_threads_option

#: Subcommand modules; each has ``add_parser(subparsers)`` and ``main(args) -> int``.
COMMANDS = (generate, train, run, learn, compare, demo, export)

EPILOG = """\
typical session:
  surrogate generate --n-atoms 256 --potential lj-argon --integrator verlet --time-ps 20 --out ref
  surrogate train egnn ref/trajectory.extxyz --stride 5 --out egnn-model
  surrogate run --system ref/trajectory.extxyz --model egnn-model/best.pt --integrator verlet --time-ps 20 --out egnn
  surrogate compare ref/trajectory.extxyz egnn/trajectory.extxyz --force-model egnn-model/best.pt --out comparison
  surrogate demo            # all of the above on liquid argon, with no input files

every command accepts --config FILE.yaml (keys are the long flag names; flags override the file)
and --threads N (CPU threads of torch, Numba, BLAS; default: the usable CPUs minus the load of other
processes, at least 1, or OMP_NUM_THREADS when set: more threads than free cores can make work 10-100x slower)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surrogate",
        description="Learned surrogates for molecular simulation: generate classical reference trajectories, "
                    "train EGNN force models and LSTM large-timestep operators, run surrogate MD, and compare "
                    "the result with classical MD.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for module in COMMANDS:
        module.add_parser(sub)
    for leaf in leaf_parsers(parser):  # one --threads rule for every command
        if not any("--threads" in action.option_strings for action in leaf._actions):
            add_threads_option(leaf)
    return parser


def leaf_parsers(parser: argparse.ArgumentParser) -> list:
    """The parsers that run a command (those without subcommands of their own), e.g. ``train egnn``."""
    children = [choice for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                for choice in dict.fromkeys(action.choices.values())]
    if not children:
        return [parser]
    return [leaf for child in children for leaf in leaf_parsers(child)]


class _VersionAction(argparse.Action):
    """``--version``: the package version, looked up only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show the program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(message=f"{parser.prog} {_version()}\n")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("surrogate-md")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv=None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    User errors (bad flags, missing or malformed files) print one message to
    stderr and return 2, with no traceback; so do the errors of the machine a
    user can act on: a path that cannot be written (permission, a read-only or
    full disk: the message names the path) and running out of memory.
    Heavy libraries (torch, Numba, ASE, MDTraj) are imported by the command
    that needs them, so ``--help`` answers at once.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    leaf = getattr(args, "_parser", parser)
    args._argv = argv  # for run metadata: the command as typed
    global _depth
    try:
        args._threads = _apply_threads(getattr(args, "threads", None))
        _depth += 1
        try:
            return int(args.func(args) or 0)
        finally:
            _depth -= 1
    except InputError as exc:
        print(f"{leaf.prog}: error: {exc}", file=sys.stderr)
        return 2
    except RunawayError as exc:  # the dynamics blew up: not a usage error, but no traceback either
        out = getattr(args, "out", None)
        kept = f"; the frames before it are in {out}" if out else ""
        print(f"{leaf.prog}: simulation failed: {exc}{kept}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{leaf.prog}: error: out of memory; make the job smaller (fewer atoms, frames or a smaller batch) "
              "or run it on a machine with more memory", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system said no: name the path and the reason, not a traceback
        print(f"{leaf.prog}: error: {_os_error_text(exc, getattr(args, 'out', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{leaf.prog}: interrupted", file=sys.stderr)
        return 130


#: How many commands are running in this process (the demo runs its steps through :func:`main`).
_depth = 0


def _apply_threads(n):
    """Apply --threads (or the default rule) once at the start of a command; a step the demo runs in the same
    process without --threads keeps the demo's count. Returns what :func:`surrogate.threads.apply_threads` set."""
    from .. import threads

    if n is None and _depth > 0 and threads.applied() is not None:
        return threads.applied()
    return threads.apply_threads(n)


def _os_error_text(exc: OSError, out) -> str:
    """``cannot write PATH: reason`` for an OSError, naming the file (or the output folder when the error has none)."""
    path = exc.filename if exc.filename is not None else out
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = {errno.ENOSPC: " (the disk is full: free space or choose another --out)",
            errno.EDQUOT: " (disk quota exceeded: free space or choose another --out)",
            errno.EACCES: " (choose a folder you may write to with --out)",
            errno.EPERM: " (choose a folder you may write to with --out)",
            errno.EROFS: " (a read-only file system: choose another --out)"}.get(exc.errno, "")
    where = f"{path}" + (f" → {exc.filename2}" if exc.filename2 is not None else "")
    return f"{where}: {reason}{hint}" if path is not None else f"{reason}{hint}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
