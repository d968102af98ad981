"""Running one ``surrogate`` command as a step of a demo: printed as typed, its exit status checked, timed."""

from __future__ import annotations

import shlex
import sys
import time

from systems.errors import InputError


def command_text(argv) -> str:
    """``surrogate ARGS`` as a user would type it (shell-quoted)."""
    return "surrogate " + " ".join(shlex.quote(str(a)) for a in argv)


def step(argv: list, allowed_exit=(0,)) -> tuple[int, float]:
    """Run ``surrogate ARGV`` in this process; returns ``(exit status, wall seconds)``.

    The command is printed to stderr first, so a user can repeat or change it. An exit status outside
    ``allowed_exit`` raises :class:`InputError` naming the command.
    """
    from surrogate.cli import main as cli_main

    print("\n$ " + command_text(argv), file=sys.stderr, flush=True)
    start = time.perf_counter()
    status = cli_main([str(a) for a in argv])
    wall = time.perf_counter() - start
    if status not in allowed_exit:
        raise InputError(f"demo step `surrogate {argv[0]}` failed with exit status {status}")
    return status, wall
