"""XTC files: the frame headers walked and checked, then frames decoded by :mod:`systems.xtc_codec`.

MDTraj 1.11's own XTC decoder crashes the interpreter on damaged frames, so
XTC never goes through it: :func:`scan_xtc` checks every size field of every
header before a frame is decoded, and the Numba decoder is bounds-checked.
"""

from __future__ import annotations

import array
import os
import struct
from typing import Iterator, Optional

import numpy as np

from ..errors import InputError
from ..frame import Frame
from . import formats
from .damage import warn_truncated
from .nm_frame import frame_from_nm_ps
from .topology import atomic_numbers, check_atom_count

XTC_MAGIC = 1995
XTC_HEADER = struct.Struct(">iiif9fi")  # magic, natoms, step, time, box[9], natoms again: 56 bytes
XTC_COMPRESSED = struct.Struct(">f3i3iii")  # precision, minint[3], maxint[3], smallidx, byte count: 36 bytes
_XTC_N_MAGICINTS = 73  # length of xdrfile's magicints table; smallidx indexes it


class XTCScan:
    """Byte offsets of the complete, well-formed frames of an XTC file."""

    def __init__(self, offsets: np.ndarray, end: int, n_atoms: int, truncated: Optional[str]):
        self.offsets = offsets  # int64 [n_frames], byte offset of each complete frame
        self.end = end  # byte just after the last complete frame
        self.n_atoms = n_atoms
        self.truncated = truncated  # why the tail is incomplete, or None

    def frame_bytes(self, first: int, last: int) -> tuple:
        """Byte range [lo, hi) holding frames first..last-1."""
        hi = int(self.offsets[last]) if last < len(self.offsets) else self.end
        return int(self.offsets[first]), hi


def scan_xtc(path: str, limit: Optional[int] = None) -> XTCScan:
    """Walk the XTC frame headers (the first ``limit`` frames, or all), checking every size field.

    Only headers are read (about 100 bytes per frame); offsets take 8 bytes
    per frame. A damaged header raises InputError naming frame and byte; a
    file whose first bytes are not the XDR magic number is "not an XTC file".
    """
    size = os.path.getsize(path)
    offsets = array.array("q")
    n_atoms = None
    pos = 0
    truncated = None
    with open(path, "rb") as fh:
        while pos < size and (limit is None or len(offsets) < limit):
            frame = len(offsets)
            fh.seek(pos)
            head = fh.read(XTC_HEADER.size)
            if frame == 0 and head[:4] != XTC_MAGIC.to_bytes(4, "big"):
                raise InputError(f"{path} is not an XTC file: it starts with {head[:8]!r}, not the XDR magic "
                                 f"number {XTC_MAGIC}")
            if len(head) < XTC_HEADER.size:
                truncated = f"frame header cut after {len(head)} bytes"
                break
            magic, natoms, _step, _time, *_box, natoms2 = XTC_HEADER.unpack(head)
            problem = None
            if magic != XTC_MAGIC:
                problem = f"bad magic number {magic} (an XTC frame starts with {XTC_MAGIC})"
            elif natoms <= 0 or natoms2 != natoms or (n_atoms is not None and natoms != n_atoms):
                problem = f"inconsistent atom count {natoms}/{natoms2} (file has {n_atoms or natoms})"
            length = XTC_HEADER.size
            if problem is None and natoms <= 9:
                length += 12 * natoms  # small frames are stored uncompressed
            elif problem is None:
                comp = fh.read(XTC_COMPRESSED.size)
                if len(comp) < XTC_COMPRESSED.size:
                    truncated = "frame cut inside its compression header"
                    break
                precision, *ints, smallidx, n_bytes = XTC_COMPRESSED.unpack(comp)
                minint, maxint = ints[:3], ints[3:]
                if not (np.isfinite(precision) and precision > 0):
                    problem = f"invalid precision {precision}"
                elif any(lo > hi for lo, hi in zip(minint, maxint)):
                    problem = f"invalid coordinate range {minint}..{maxint}"
                elif not 0 <= smallidx < _XTC_N_MAGICINTS:
                    problem = f"invalid size index {smallidx}"
                elif not 0 <= n_bytes <= 14 * natoms:
                    # xdrfile's buffer holds 1.2 ints per coordinate (14.4 bytes per atom)
                    problem = f"invalid compressed size {n_bytes} bytes for {natoms} atoms"
                length += XTC_COMPRESSED.size + (n_bytes + 3) // 4 * 4
            if problem is not None:
                raise InputError(f"{path}: XTC frame {frame} at byte {pos} is corrupt: {problem}")
            if pos + length > size:
                truncated = f"last frame needs {length} bytes but only {size - pos} remain"
                break
            n_atoms = natoms
            offsets.append(pos)
            pos += length
    if not offsets and truncated is not None:
        raise InputError(f"{path}: no complete XTC frame ({truncated})")
    return XTCScan(np.frombuffer(offsets, dtype=np.int64) if offsets else np.zeros(0, np.int64), pos,
                   n_atoms or 0, truncated)


def xtc_frames(path, topology, top, start, stop, stride) -> Iterator[Frame]:
    """XTC frames ``start:stop:stride`` in ASE units, decoded by :mod:`systems.xtc_codec` (bit-identical to
    MDTraj, bounds-checked), in blocks of ``formats.CHUNK_FRAMES`` frames."""
    scan = scan_xtc(path, limit=stop)  # with `stop`, the headers after it are never read
    check_atom_count(path, topology, top, scan.n_atoms)
    numbers = atomic_numbers(topology)
    n_frames = len(scan.offsets)
    end = n_frames if stop is None else min(stop, n_frames)
    wanted = range(start, end, stride)
    chunk = formats.CHUNK_FRAMES
    if stride == 1:
        blocks = [(i, min(chunk, end - i)) for i in range(start, end, chunk)]
    else:
        blocks = [(i, 1) for i in wanted]
    with open(path, "rb") as fh:
        for first, count in blocks:
            lo, hi = scan.frame_bytes(first, first + count)
            fh.seek(lo)
            data = fh.read(hi - lo)
            for index in range(first, first + count):
                yield decode_xtc_frame(path, data, int(scan.offsets[index]) - lo, lo, numbers, index)
    if scan.truncated is not None and end == n_frames:
        warn_truncated(path, len(wanted), n_frames, scan.truncated)


def decode_xtc_frame(path: str, data: bytes, rel: int, base: int, numbers, index: int) -> Frame:
    """One XTC frame from ``data[rel:]`` (a header already checked by :func:`scan_xtc`; ``base`` is the file
    offset of ``data``); nm and ps in the file, ASE units in the frame."""
    from ..xtc_codec import MESSAGES, OK, decode_xtc_coordinates

    _magic, n_atoms, _step, time_ps, *box, _ = XTC_HEADER.unpack_from(data, rel)
    if n_atoms <= 9:
        xyz = np.frombuffer(data, dtype=">f4", count=3 * n_atoms, offset=rel + XTC_HEADER.size).reshape(n_atoms, 3)
    else:
        precision, *ints, smallidx, n_bytes = XTC_COMPRESSED.unpack_from(data, rel + XTC_HEADER.size)
        xyz = np.empty((n_atoms, 3), dtype=np.float32)
        status = decode_xtc_coordinates(
            np.frombuffer(data, dtype=np.uint8), rel + XTC_HEADER.size + XTC_COMPRESSED.size, n_bytes, n_atoms,
            precision, np.array(ints[:3], dtype=np.int64), np.array(ints[3:], dtype=np.int64), smallidx, xyz,
        )
        if status != OK:
            raise InputError(f"{path}: XTC frame {index} at byte {base + rel} is corrupt: {MESSAGES[status]}")
    box_nm = np.array(box, dtype=np.float32).reshape(3, 3)
    return frame_from_nm_ps(numbers, xyz.astype(np.float32), box_nm, np.float32(time_ps), index)
