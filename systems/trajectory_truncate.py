"""Cut a trajectory file back to its leading frames, in place, so a run resumed from a checkpoint can append
to it: :func:`truncate_trajectory` for every format :class:`~systems.trajectory_writer.TrajectoryWriter`
writes. An incomplete last frame (a write cut off by ``kill -9``) is always removed.

Per format: extxyz, xtc, trr and pdb are cut at a frame's byte offset (found by walking the frame headers
or lines; only headers are read for xtc/trr); dcd likewise, with the frame count in its header corrected;
h5 arrays are shortened in place; ASE ``.traj`` and NetCDF are rewritten (atomically) with the frames kept.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import NamedTuple, Optional

import numpy as np

from .errors import InputError
from .trajectory_io.xtc_scan import XTC_HEADER, scan_xtc
from .trajectory_reader import detect_format
from .units import TIME_PER_PS

class Truncation(NamedTuple):
    """What :func:`truncate_trajectory` did to a file.

    kept : complete frames left in the file; dropped : complete frames removed;
    torn : True if an incomplete last frame (a write cut off by a kill) was removed too.
    """

    kept: int
    dropped: int
    torn: bool


#: formats whose frames carry a time (the others are cut by frame count only)
TIMED_FORMATS = frozenset({"extxyz", "traj", "xtc", "trr", "nc", "h5"})


def truncate_trajectory(path, *, after_time: Optional[float] = None, max_frames: Optional[int] = None,
                        time_tolerance: float = 0.0, format: Optional[str] = None) -> Truncation:
    """Cut a trajectory back to its leading frames, in place; an incomplete last frame is always removed.

    Keeps the frames, from the first, while their time is ≤ ``after_time +
    time_tolerance`` (ASE time units; only formats in :data:`TIMED_FORMATS`
    store times) and their number is ≤ ``max_frames``; everything from the
    first frame that fails either test is removed. Use it to bring a file back
    to a checkpoint before appending (e.g. after the writing process was
    killed): pass ``time_tolerance`` of about half a timestep, since xtc, trr
    and nc store times as float32 ps.

    How each format is cut: extxyz, xtc, trr, pdb at a frame's byte offset;
    dcd likewise, with the frame count in its header corrected; h5 arrays are
    shortened in place; traj and nc are rewritten (atomically) with the frames kept. Returns a
    :class:`Truncation`. A missing file is an :class:`InputError`.
    """
    path = os.fspath(path)
    if after_time is None and max_frames is None:
        raise InputError(f"{path}: truncate_trajectory needs `after_time` or `max_frames`")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 0):
        raise InputError(f"{path}: `max_frames` must be a whole number ≥ 0, got {max_frames!r}")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no trajectory file to truncate")
    library, fmt = detect_format(path, format)
    if fmt not in _TRUNCATORS:
        raise InputError(f"{path}: cannot truncate {fmt} trajectories")
    if after_time is not None and fmt not in TIMED_FORMATS:
        if max_frames is None:
            raise InputError(f"{path}: {fmt} files store no frame times; give `max_frames`")
        after_time = None
    scan, cut = _TRUNCATORS[fmt]
    frames, torn = scan(path)  # frames: [(time in ASE units or None, end byte or None)] of the complete frames
    keep = len(frames)
    if max_frames is not None:
        keep = min(keep, int(max_frames))
    if after_time is not None:
        limit = after_time + time_tolerance
        for k in range(keep):
            if frames[k][0] is not None and frames[k][0] > limit:
                keep = k
                break
    if keep < len(frames) or torn:
        cut(path, frames, keep)
    return Truncation(keep, len(frames) - keep, bool(torn))


def _cut_bytes(path: str, frames, keep: int) -> None:
    """Truncate ``path`` just after frame ``keep - 1`` (to nothing if no frame is kept)."""
    os.truncate(path, frames[keep - 1][1] if keep > 0 else 0)


def _scan_extxyz(path: str):
    """Complete extxyz frames: a count line, a comment line and that many atom lines, each ended by a newline."""
    import re

    time_re = re.compile(rb"(?:^|\s)time=([^\s\"]+)")
    frames, torn = [], False
    with open(path, "rb") as fh:
        pos = 0
        while True:
            first = fh.readline()
            if not first:
                break
            if not first.endswith(b"\n") or not first.strip().isdigit():
                torn = True  # a cut count line (or garbage after the last frame)
                break
            n = int(first)
            comment = fh.readline()
            complete = comment.endswith(b"\n")
            for _ in range(n):
                if not complete:
                    break
                complete = fh.readline().endswith(b"\n")
            if not complete:
                torn = True
                break
            match = time_re.search(comment)
            time = None
            if match is not None:
                try:
                    time = float(match.group(1))
                except ValueError:
                    time = None
            pos = fh.tell()
            frames.append((time, pos))
    return frames, torn


def _scan_xtc_frames(path: str):
    """Complete XTC frames (time, end byte) from the header walk of
    :func:`~systems.trajectory_io.xtc_scan.scan_xtc`, and whether a torn one follows."""

    if os.path.getsize(path) == 0:
        return [], False
    try:
        scan = scan_xtc(path)
    except InputError:
        with open(path, "rb") as fh:  # only part of a first frame, written by a killed process?
            head = fh.read(4)
        if len(head) < 4 or int.from_bytes(head, "big") == 1995:
            return [], True
        raise

    frames = []
    with open(path, "rb") as fh:
        ends = list(scan.offsets[1:]) + [scan.end]
        for offset, end in zip(scan.offsets, ends):
            fh.seek(int(offset))
            time_ps = XTC_HEADER.unpack(fh.read(XTC_HEADER.size))[3]
            frames.append((float(time_ps) * TIME_PER_PS, int(end)))
    return frames, scan.truncated is not None


_TRR_MAGIC = 1993


def _scan_trr(path: str):
    """TRR frames from their headers (GROMACS layout: magic, version string, 13 size/count ints, t, lambda)."""
    import struct

    size = os.path.getsize(path)
    frames, torn, pos = [], False, 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            head = fh.read(24)
            if len(head) < 24:
                torn = True
                break
            magic, _slen, strlen = struct.unpack(">iii", head[:12])
            if magic != _TRR_MAGIC or not 0 <= strlen <= 1024:
                raise InputError(f"{path}: TRR frame {len(frames)} at byte {pos} is corrupt (bad magic {magic})")
            fh.seek(pos + 12 + (strlen + 3) // 4 * 4)
            ints = fh.read(13 * 4)
            if len(ints) < 13 * 4:
                torn = True
                break
            (ir, e, box, vir, pres, top, sym, x, v, f, natoms, _step, _nre) = struct.unpack(">13i", ints)
            blocks = (ir, e, box, vir, pres, top, sym, x, v, f)
            if natoms <= 0 or any(b < 0 for b in blocks):
                raise InputError(f"{path}: TRR frame {len(frames)} at byte {pos} is corrupt (sizes {blocks})")
            real = box // 9 if box else (x or v or f) // (3 * natoms)
            if real not in (4, 8):
                raise InputError(f"{path}: TRR frame {len(frames)} at byte {pos} is corrupt (precision {real})")
            scalars = fh.read(2 * real)
            if len(scalars) < 2 * real:
                torn = True
                break
            time_ps = struct.unpack(">d" if real == 8 else ">f", scalars[:real])[0]
            end = pos + 12 + (strlen + 3) // 4 * 4 + 13 * 4 + 2 * real + sum(blocks)
            if end > size:
                torn = True
                break
            frames.append((float(time_ps) * TIME_PER_PS, end))
            pos = end
    return frames, torn


def _dcd_layout(path: str):
    """(endian, header bytes, frame bytes, control ints) of a DCD file written by MDTraj/CHARMM."""
    from .trajectory_io.dcd_tail import dcd_layout

    layout = dcd_layout(path)
    if layout is None:
        raise InputError(f"{path}: not a DCD file this package can truncate (no 84-byte header record, "
                         "or a corrupt title block)")
    return layout


def _scan_dcd(path: str):
    _endian, header, frame, _control = _dcd_layout(path)
    n, partial = divmod(os.path.getsize(path) - header, frame)
    return [(None, header + (k + 1) * frame) for k in range(n)], partial > 0


def _cut_dcd(path: str, frames, keep: int) -> None:
    """Cut after ``keep`` frames and write that count (NSET) and the last step (NSTEP) into the header."""
    import struct

    endian, header, _frame, control = _dcd_layout(path)
    os.truncate(path, frames[keep - 1][1] if keep > 0 else header)
    istart, nsavc = control[1], control[2]
    with open(path, "r+b") as fh:
        fh.seek(8)
        fh.write(struct.pack(endian + "i", keep))
        fh.seek(20)
        fh.write(struct.pack(endian + "i", istart + keep * nsavc if nsavc else keep))


def _scan_pdb(path: str):
    """One frame per MODEL … ENDMDL block; the byte after each ENDMDL line ends a frame."""
    frames, in_model = [], False
    with open(path, "rb") as fh:
        for line in iter(fh.readline, b""):
            if line.startswith(b"MODEL"):
                in_model = True
            elif line.startswith(b"ENDMDL") and line.endswith(b"\n"):
                in_model = False
                frames.append((None, fh.tell()))
    return frames, in_model


def _cut_pdb(path: str, frames, keep: int) -> None:
    """Cut after the ``keep``-th ENDMDL (dropping the END/CONECT footer); nothing kept: an empty file."""
    os.truncate(path, frames[keep - 1][1] if keep > 0 else 0)


def _scan_traj(path: str):
    """ASE ``.traj`` (ulm) frames. A ulm file's header is updated only after an item is complete, so the
    bytes of a frame cut off by a kill are invisible here (and harmless to a later append)."""
    from ase.io.trajectory import Trajectory

    try:
        with Trajectory(path, "r") as traj:
            frames = [(traj[k].info.get("time"), None) for k in range(len(traj))]
    except (OSError, ValueError, KeyError) as err:  # JSONDecodeError is a ValueError
        raise InputError(f"{path}: cannot read this ASE trajectory to truncate it ({err})") from None
    return frames, False


@contextlib.contextmanager
def _replaced_through_scratch(path: str, suffix: str):
    """Yield a scratch file beside ``path``; when the block ends without error, its bytes replace ``path``
    atomically (:func:`~systems.atomic_file.atomic_write`). The scratch file is always removed."""
    from .atomic_file import atomic_write

    fd, scratch = tempfile.mkstemp(suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        yield scratch
        with open(scratch, "rb") as fh:
            data = fh.read()
        atomic_write(path, lambda handle: handle.write(data))
    finally:
        os.remove(scratch)


def _rewrite_traj(path: str, frames, keep: int) -> None:
    from ase.io.trajectory import Trajectory

    with _replaced_through_scratch(path, ".traj") as scratch:
        with Trajectory(path, "r") as src, Trajectory(scratch, "w") as dst:
            for k in range(keep):
                dst.write(src[k])  # with its info (time) and SinglePointCalculator results


def _scan_nc(path: str):
    from scipy.io import netcdf_file

    try:
        with netcdf_file(path, "r", mmap=False) as nc:
            times = np.array(nc.variables["time"][:], dtype=np.float64) if "time" in nc.variables else None
            n = nc.variables["coordinates"].shape[0]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: cannot read this NetCDF trajectory to truncate it ({err})") from None
    return [(None if times is None else float(times[k]) * TIME_PER_PS, None) for k in range(n)], False


def _rewrite_nc(path: str, frames, keep: int) -> None:
    """Copy the first ``keep`` frames of every per-frame variable into a new file, then replace ``path``."""
    from scipy.io import netcdf_file

    with _replaced_through_scratch(path, ".nc") as scratch:
        with netcdf_file(path, "r", mmap=False) as src, netcdf_file(scratch, "w", version=2) as dst:
            dst._attributes.update(src._attributes)
            for name, length in src.dimensions.items():
                dst.createDimension(name, length)
            for name, var in src.variables.items():
                new = dst.createVariable(name, var.data.dtype, var.dimensions)
                new._attributes.update(var._attributes)
                if var.dimensions and var.dimensions[0] == "frame":
                    new[:keep] = var.data[:keep]
                else:
                    new[...] = var.data


def _scan_h5(path: str):
    import tables

    try:
        with tables.open_file(path, "r") as h5:
            times = h5.root.time[:] if "/time" in h5 else None
            n = h5.root.coordinates.shape[0]
    except (OSError, tables.NoSuchNodeError, tables.HDF5ExtError) as err:
        raise InputError(f"{path}: cannot read this HDF5 trajectory to truncate it ({err})") from None
    return [(None if times is None else float(times[k]) * TIME_PER_PS, None) for k in range(n)], False


def _cut_h5(path: str, frames, keep: int) -> None:
    """Shorten every per-frame array (coordinates, time, cell, velocities, energies) in place."""
    import tables

    n = len(frames)
    with tables.open_file(path, "a") as h5:
        for node in h5.walk_nodes("/", classname="EArray"):
            if node.shape and node.shape[0] == n:
                node.truncate(keep)


#: format -> (scan(path) -> (frames, torn), cut(path, frames, keep))
_TRUNCATORS = {
    "extxyz": (_scan_extxyz, _cut_bytes),
    "xtc": (_scan_xtc_frames, _cut_bytes),
    "trr": (_scan_trr, _cut_bytes),
    "dcd": (_scan_dcd, _cut_dcd),
    "pdb": (_scan_pdb, _cut_pdb),
    "traj": (_scan_traj, _rewrite_traj),
    "nc": (_scan_nc, _rewrite_nc),
    "h5": (_scan_h5, _cut_h5),
}
