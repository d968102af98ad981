"""An exclusive lock on an output directory, so two processes never write into the same folder.

The lock is ``fcntl.flock`` on ``<dir>/.lock``, which holds the holder's PID and
command for the message a second process gets. The kernel drops a flock when
its process dies, however it dies, so the lock left by a ``kill -9`` is simply
taken over by the next process (with a note naming the dead holder). The file
is removed on release; the directory too, if the lock created it and nothing
else was written there.

Locks are re-entrant per process and per directory (the same process may lock
a folder it already holds, e.g. a pipeline that runs steps in-process), and
locks on different folders are independent, so nested steps writing into
sub-folders cannot deadlock. Nothing ever waits for a lock: a held lock is an
:class:`~systems.errors.InputError` at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from pathlib import Path
from typing import Iterator, Optional

from .errors import InputError

#: Name of the lock file inside the locked directory.
LOCK_NAME = ".lock"

#: realpath of each directory this process holds -> [file descriptor, depth]
_HELD: dict = {}


@contextlib.contextmanager
def output_lock(directory, command: Optional[str] = None) -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` (created if missing) for the ``with`` block.

    directory : the output folder; command : what the holder runs, shown to a
        second process (default: this process's command line).
    Yields the directory as a Path. A directory locked by another live process
    raises :class:`InputError` naming the directory and that process's PID.
    """
    path = Path(directory)
    created = [p for p in [path, *path.parents] if not p.exists()]  # made here: removed again if left empty
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"output directory {path}: cannot create it ({err.strerror or err})") from None
    key = os.path.realpath(path)
    if key in _HELD:  # this process holds it already: re-enter
        _HELD[key][1] += 1
        try:
            yield path
        finally:
            _HELD[key][1] -= 1
        return
    fd = _acquire(path, command if command is not None else " ".join(sys.argv))
    _HELD[key] = [fd, 1]
    try:
        yield path
    finally:
        del _HELD[key]
        _release(path, fd, created)


def holds_output_lock(func):
    """Decorate a CLI command ``main(args)`` so it runs holding :func:`output_lock` on ``args.out``.

    Under ``torchrun`` only rank 0 writes the output directory, so only it takes the lock (the
    other ranks, started together with it, would otherwise refuse themselves).
    """

    @functools.wraps(func)
    def wrapper(args, *rest, **kw):
        out = getattr(args, "out", None)
        if out is None or os.environ.get("RANK", "0") != "0":
            return func(args, *rest, **kw)
        argv = getattr(args, "_argv", None)
        command = "surrogate " + " ".join(map(str, argv)) if argv is not None else None
        with output_lock(out, command):
            return func(args, *rest, **kw)

    return wrapper


# ----------------------------------------------------------------------------------- private
def _acquire(path: Path, command: str) -> int:
    import fcntl

    lock_file = path / LOCK_NAME
    for _attempt in range(100):
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:  # the directory was removed by a releasing holder: make it again
            path.mkdir(parents=True, exist_ok=True)
            continue
        except OSError as err:
            raise InputError(f"output directory {path}: cannot create the lock file {LOCK_NAME} "
                             f"({err.strerror or err})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = _read_fd(fd)
            os.close(fd)
            holder = _describe(text) if text else "another process"
            raise InputError(f"output directory {path} is in use by {holder}; wait for it to finish or "
                             f"choose another --out") from None
        # A holder releasing at this moment unlinks the file it locked: ours must still be the one named.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_file))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        stale = _read_fd(fd)
        if stale and not stale.startswith(f"{os.getpid()}\n"):
            print(f"note: taking over the lock of {path} left by {_describe(stale)}, which is no longer "
                  "running", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{command}\n".encode(), 0)
        return fd
    raise InputError(f"output directory {path}: could not take its lock (it kept being replaced)")


def _release(path: Path, fd: int, created: list) -> None:
    try:
        os.unlink(path / LOCK_NAME)  # while still holding it, so nobody locks a file about to vanish
    except OSError:
        pass
    os.close(fd)
    for folder in created:  # deepest first; only if empty: the command failed before writing anything
        try:
            folder.rmdir()
        except OSError:
            break


def _read_fd(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors="replace")


def _describe(text: str) -> str:
    pid, _, command = text.partition("\n")
    command = command.strip()
    return f"PID {pid.strip()}" + (f" ({command})" if command else "")
