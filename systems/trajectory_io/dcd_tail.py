"""The partial last frame of a DCD file, which MDTraj's DCD plugin skips without a word."""

from __future__ import annotations

import os
import struct


def dcd_layout(path: str):
    """``(endian, header bytes, frame bytes, control ints)`` of a DCD file as MDTraj and CHARMM write it,
    or None when the header is not that layout.

    Layout (Fortran records): [84] 'CORD' 20 control ints [84] · [L] titles [L] ·
    [4] n_atoms [4] · then per frame an optional unit-cell record of 6 doubles
    (control int 10) and x, y, z records of n_atoms float32 (plus a 4th when
    control int 11 is set).
    """
    with open(path, "rb") as fh:
        head = fh.read(8192)
    for endian in ("<", ">"):
        if len(head) >= 96 and struct.unpack_from(endian + "i", head, 0)[0] == 84:
            break
    else:
        return None
    control = struct.unpack_from(endian + "20i", head, 8)
    title_len = struct.unpack_from(endian + "i", head, 92)[0]
    atoms_at = 92 + 4 + title_len + 4
    if title_len < 0 or atoms_at + 12 > len(head):
        return None
    n_atoms = struct.unpack_from(endian + "i", head, atoms_at + 4)[0]
    frame = 3 * (8 + 4 * n_atoms) + (8 + 48 if control[10] else 0) + ((8 + 4 * n_atoms) if control[11] else 0)
    return endian, atoms_at + 12, frame, control


def dcd_partial_tail(path: str) -> int:
    """Bytes after the last complete DCD frame (0 for an intact file or a layout not recognised)."""
    layout = dcd_layout(path)
    if layout is None:
        return 0  # not a layout we know; MDTraj already read what it could
    _endian, header, frame, _control = layout
    return (os.path.getsize(path) - header) % frame if frame > 0 else 0
