"""Frames from any format ASE reads (extxyz, ``.traj``, CASTEP, FHI-aims, ...), through ``ase.io.iread``."""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..frame import Frame
from .damage import warn_truncated


def ase_frames(path: str, fmt: str, start: int, stop, stride: int) -> Iterator[Frame]:
    """Frames ``start:stop:stride`` of ``path`` read by ASE as format ``fmt``, in ASE units.

    A failure before the first frame is an :class:`InputError`; after it, the
    truncation warning ends the stream.
    """
    import ase.io

    cut_at = _last_complete_xyz_frame(path) if fmt in ("extxyz", "xyz") else None
    if cut_at is not None:
        # the last line has no newline: the file may end inside a number, so its last frame is not read
        if cut_at == 0:
            raise InputError(f"{path}: no complete {fmt} frame (the file ends inside frame 0, "
                             f"without a final newline)")
        cut_reached = stop is None or stop > cut_at
        stop = cut_at if stop is None else min(stop, cut_at)
    index = slice(start, stop, stride)
    frames = ase.io.iread(path, index=index, format=fmt)
    k = 0
    while True:
        file_index = start + k * stride
        try:
            atoms = next(frames)
            frame = frame_from_atoms(atoms, file_index)
        except StopIteration:
            if cut_at is not None and cut_reached:
                warn_truncated(path, k, cut_at, "the file ends without a final newline, inside this frame")
            return
        except Exception as err:  # noqa: BLE001 - ASE raises many types for bad files
            reason = f"{type(err).__name__}: {err}"
            if k == 0:
                raise InputError(f"{path}: cannot read {fmt} file: {reason}") from None
            warn_truncated(path, k, file_index, reason)
            return
        yield frame
        k += 1


def frame_from_atoms(atoms, index: int) -> Frame:
    """A :class:`Frame` from ``ase.Atoms`` (energy, forces, velocities and masses where present)."""
    results = atoms.calc.results if atoms.calc is not None else {}
    energy = results.get("energy", results.get("free_energy"))
    cell = np.array(atoms.cell, dtype=np.float64)
    time = atoms.info.get("time")
    return Frame(
        numbers=atoms.numbers,
        positions=atoms.positions,
        cell=cell if cell.any() else None,
        pbc=atoms.pbc,
        time=None if time is None else float(time),
        index=index,
        energy=energy,
        forces=results.get("forces"),
        velocities=atoms.get_velocities() if "momenta" in atoms.arrays else None,
        masses=atoms.arrays["masses"] if "masses" in atoms.arrays else None,
    )


def count_xyz_frames(path: str) -> int:
    """Count complete (ext)xyz frames by skipping atom lines (a blank line or the end of the file stops).

    A frame is complete when all its lines end with a newline: a file cut inside its last line does not
    count that frame. A frame that does not start with an atom count is an :class:`InputError`.
    """
    n = 0
    with open(path, "rb") as fh:
        while True:
            line = fh.readline()
            if not line or not line.strip():
                return n
            try:
                n_atoms = int(line)
            except ValueError:
                raise InputError(f"{path}: frame {n} does not start with an atom count (got {line[:40]!r})") from None
            if n_atoms < 0:
                raise InputError(f"{path}: frame {n} has a negative atom count ({n_atoms})")
            for _ in range(n_atoms + 1):
                if not fh.readline().endswith(b"\n"):
                    return n
            n += 1


def _last_complete_xyz_frame(path: str):
    """None for a file ending with a newline; else the number of complete frames before the cut last line
    (None as well when the frames cannot be counted: the reader then reports the damage itself)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return None
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return None
    try:
        return count_xyz_frames(path)
    except InputError:
        return None
