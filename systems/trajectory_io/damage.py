"""The damaged-file policy shared by every reader (see :mod:`systems.trajectory_reader`).

A file that ends or breaks after some complete frames gives those frames and
then a :class:`TruncatedTrajectoryWarning`; one that breaks before any frame is
an :class:`InputError`; a frame with non-finite values is an :class:`InputError`.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from ..errors import InputError
from ..frame import Frame


class TruncatedTrajectoryWarning(UserWarning):
    """A trajectory file ends inside a frame; the complete frames before it were read."""


def check_slice(start, stop, stride) -> None:
    """Refuse a negative ``start``/``stop`` or a ``stride`` below 1, naming the argument."""
    if int(start) < 0:
        raise InputError(f"`start` must be >= 0, got {start}")
    if stop is not None and int(stop) < 0:
        raise InputError(f"`stop` must be >= 0 or None, got {stop}")
    if int(stride) < 1:
        raise InputError(f"`stride` must be >= 1, got {stride}")


def check_finite(path: str, frame: Frame) -> None:
    """Raise :class:`InputError` naming file, frame and atom if positions, velocities, forces, cell,
    energy or time of ``frame`` hold NaN or inf."""
    for name in ("positions", "velocities", "forces"):
        arr = getattr(frame, name)
        if arr is None:
            continue
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            atom = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: frame {frame.index}: {name} of atom {atom} are not finite ({arr[atom].tolist()}); "
                f"{int(bad.sum())} atoms affected"
            )
    if frame.cell is not None and not np.isfinite(frame.cell).all():
        raise InputError(f"{path}: frame {frame.index}: cell is not finite ({frame.cell.tolist()})")
    for name in ("time", "energy"):
        value = getattr(frame, name, None)
        if value is not None and not math.isfinite(value):
            raise InputError(f"{path}: frame {frame.index}: {name} is not finite ({value})")


def warn_truncated(path: str, n_read: int, index: int, reason: str) -> None:
    """Issue the :class:`TruncatedTrajectoryWarning`: reading stopped at frame ``index`` after ``n_read`` frames."""
    warnings.warn(
        TruncatedTrajectoryWarning(
            f"{path}: reading stopped at frame {index} ({reason}); the file is truncated or damaged from there. "
            f"{n_read} complete frames were read."
        ),
        stacklevel=4,
    )


def raise_or_warn(path, fmt, n_read, index, err, topology=None, top=None) -> None:
    """A reader failed at frame ``index``: :class:`InputError` if no frame was read (or the atom count does
    not match the topology), else the truncation warning."""
    message = str(err)
    if topology is not None and "must be shape" in message:
        # mdtraj's message for an atom-count mismatch between file and topology
        name = top if isinstance(top, (str, os.PathLike)) else "the topology"
        raise InputError(f"{path}: the frames' atom count does not match {name} ({topology.n_atoms} atoms): "
                         f"{message}") from None
    reason = f"{type(err).__name__}: {message}"
    if n_read == 0:
        raise InputError(f"{path}: cannot read {fmt} frame {index}: {reason}") from None
    warn_truncated(path, n_read, index, reason)
