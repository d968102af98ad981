"""Write a file atomically: into a temporary file beside it, fsync, then rename.

A crash or kill at any point leaves either the old file or the new one, never a
half-written one. Every file the package writes whole (checkpoints, model files,
training checkpoints, JSON, YAML, CSV, Markdown and HTML reports) goes through
:func:`atomic_write`, :func:`atomic_write_text` or :func:`atomic_copy`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, then atomically replace ``path``.

    The temporary file is removed if ``write`` raises; the directory entry is
    fsynced after the rename so the rename itself survives a power cut. The file
    gets the permissions an ordinary ``open(path, "w")`` would give (0666 less the
    umask), not the 0600 of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename is still atomic
        pass
    return path


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    data = text.encode(encoding)
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_copy(source, path) -> Path:
    """Copy the file ``source`` to ``path`` atomically (see :func:`atomic_write`): a killed copy leaves no
    truncated file behind for a later run to mistake for a finished one."""
    with open(source, "rb") as handle_in:
        return atomic_write(path, lambda handle: shutil.copyfileobj(handle_in, handle))
