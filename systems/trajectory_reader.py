"""Stream frames from any trajectory file that MDTraj or ASE reads, in ASE units.

Formats
-------
MDTraj (nm and ps are converted to Å and ASE time here, at the edge):
    xtc, trr (with velocities and forces when present), dcd, nc/netcdf/ncdf
    (AMBER), lammpstrj/dump, pdb, gro, h5 (PyTables, a dependency) and any other
    extension MDTraj registers except xyz. Formats without atom types (xtc,
    trr, dcd, nc, lammpstrj, ...) need ``top``: a PDB path, an
    ``mdtraj.Topology`` or an ``mdtraj.Trajectory``.
ASE:
    extxyz/xyz, traj, castep (``castep-castep``), FHI-aims output
    (``aims-output``, recognised from ``.out`` files that mention FHI-aims or
    control.in in their first 64 kB) and
    anything else ``ase.io.iread`` knows. Energies, forces, velocities and
    masses come through when the file has them.

Streaming: xtc, trr, dcd, nc and lammpstrj are read in chunks of
``systems.trajectory_io.formats.CHUNK_FRAMES`` frames; ASE formats through ``ase.io.iread``. PDB and GRO are
read whole by MDTraj (they are text files with topology, rarely large).

Damaged files (policy)
----------------------
- A file that *ends inside a frame* (a writer killed mid-frame, a copy cut
  short) yields all complete frames, then issues a
  :class:`TruncatedTrajectoryWarning` naming the file and the number of frames
  read. This keeps the output of a killed simulation usable.
- XTC: damage before the end (bad magic number, inconsistent atom count or
  sizes in a frame header) raises :class:`InputError` naming the file, the
  frame and its byte offset *before any frame is yielded*. Damage inside the
  compressed coordinates is found when that frame is decoded (a run past the
  atom count, a stream that ends early or does not fill its byte count): the
  frames before it are yielded, then :class:`InputError` names the frame.
  XTC has no checksums, so a few flipped coordinate bits that still decode
  consistently cannot be detected.
  XTC frames are decoded by :mod:`systems.xtc_codec`, a bounds-checked Numba
  transcription of xdrfile (bit-identical output): MDTraj 1.11's own decoder
  crashes the interpreter on damaged frames (segfault, heap corruption).
- For the other formats, the underlying reader's error is turned into
  :class:`InputError` when no frame could be read, and into the warning above
  (naming the frame where reading stopped and the reason) after frames were
  read: from the outside, a truncated tail and a damaged tail look alike.
- A frame with NaN or inf positions, cell, velocities, forces, energy or time
  raises :class:`InputError` naming the file, frame and atom.
- extxyz/xyz: a file that does not end with a newline may end inside a
  number, so its last frame is not read (the warning above says so).
- A non-empty file in which the reader finds no frame at all is an
  :class:`InputError` (its content is not the format its suffix names).
- A file whose bytes cannot be its format (a directory, an empty file, a text
  file renamed ``.xtc``, a binary file under a text suffix, a PDB without
  atoms) raises :class:`InputError` naming the file before any reader sees it
  (:func:`systems.trajectory_io.formats.check_content`).

Modules
-------
This module is the public face; the work is done in :mod:`systems.trajectory_io`
(format detection and content checks, the damaged-file policy, the ASE reader,
the MDTraj readers, the XTC header scan and decoder, the DCD tail check).
"""

from __future__ import annotations

import os
import warnings
from typing import Iterator, Optional

from .errors import InputError
from .frame import Frame
from .state import System
from .trajectory_io.ase_reader import ase_frames, count_xyz_frames
from .trajectory_io.damage import TruncatedTrajectoryWarning, check_finite, check_slice
from .trajectory_io.formats import check_content, detect_format
from .trajectory_io.mdtraj_reader import count_fileobject_frames, mdtraj_frames
from .trajectory_io.topology import load_topology
from .trajectory_io.xtc_scan import scan_xtc as _scan_xtc

__all__ = [
    "read_frames", "read_systems", "count_frames", "detect_format", "load_topology", "TruncatedTrajectoryWarning",
]


def _open_checked(path, format: Optional[str]) -> tuple:
    """(path, library, format) of an existing file whose bytes match its format; InputError naming it otherwise."""
    path = os.fspath(path)
    library, fmt = detect_format(path, format)
    if not os.path.exists(path):
        raise InputError(f"trajectory file {path} does not exist")
    check_content(path, library, fmt)
    return path, library, fmt


def read_frames(path, top=None, *, start: int = 0, stop: Optional[int] = None, stride: int = 1,
                format: Optional[str] = None) -> Iterator[Frame]:
    """Stream frames ``start:stop:stride`` of a trajectory file, in ASE units.

    path : trajectory file.
    top : topology for formats without atom types (xtc, trr, dcd, nc, lammpstrj):
        a PDB path, ``mdtraj.Topology`` or ``mdtraj.Trajectory``. Ignored by ASE formats.
    start, stop, stride : frame selection, as a Python slice (non-negative).
    format : override the format guessed from the extension (see :func:`detect_format`).

    Yields :class:`Frame` objects: positions Å, cell Å, time in ASE units
    (None where the format stores none), and energy eV, forces eV/Å,
    velocities Å/ASE-time, masses amu where the file has them. Damaged files:
    see the module docstring.
    """
    check_slice(start, stop, stride)
    path, library, fmt = _open_checked(path, format)
    if library == "ase":
        frames = ase_frames(path, fmt, start, stop, stride)
    else:
        frames = mdtraj_frames(path, fmt, top, start, stop, stride)
    n = 0
    for frame in frames:
        check_finite(path, frame)
        n += 1
        yield frame
    if n == 0 and start == 0 and stop != 0:
        raise _no_frames(path, fmt)


def _no_frames(path: str, fmt: str) -> InputError:
    # a non-empty file in which the reader found nothing: its content is not what the format name says
    return InputError(f"{path}: no frame found in its {os.path.getsize(path)} bytes read as {fmt}: "
                      f"the content does not match the format (pass format= if the suffix is wrong)")


def read_systems(path, top=None, **kw) -> Iterator[System]:
    """Like :func:`read_frames`, yielding ``frame.to_system()`` (default masses; zero velocities if absent)."""
    for frame in read_frames(path, top, **kw):
        yield frame.to_system()


def count_frames(path, top=None, format: Optional[str] = None) -> int:
    """Number of frames in ``path``.

    Cheap for xtc (header scan), trr, dcd and nc (MDTraj's index), traj (its
    index) and extxyz (a line scan); other formats are read through once.
    """
    path, library, fmt = _open_checked(path, format)
    n = _cheap_count(path, library, fmt)
    if n is None:
        n = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedTrajectoryWarning)
            for _ in read_frames(path, top, format=format):
                n += 1
    if n == 0:
        raise _no_frames(path, fmt)
    return n


def _cheap_count(path: str, library: str, fmt: str) -> Optional[int]:
    """Frame count from an index or header scan, or None where the format has no cheap count."""
    try:
        if library == "mdtraj" and fmt == "xtc":
            return len(_scan_xtc(path).offsets)
        if library == "mdtraj" and fmt in ("trr", "dcd", "nc"):
            return count_fileobject_frames(path, fmt)
        if library == "ase" and fmt == "traj":
            from ase.io.trajectory import Trajectory

            with Trajectory(path) as traj:
                return len(traj)
        if library == "ase" and fmt == "extxyz":
            return count_xyz_frames(path)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure becomes a named input error
        raise InputError(f"{path}: cannot read {fmt} file: {type(err).__name__}: {err}") from None
    return None
