"""Frames from any format ASE reads (extxyz, ``.traj``, CASTEP, FHI-aims, ...), through ``ase.io.iread``."""

from __future__ import annotations

import io
from typing import Iterator, NamedTuple, Optional

import numpy as np

from ..errors import InputError
from ..frame import Frame
from .damage import warn_truncated


def ase_frames(path: str, fmt: str, start: int, stop, stride: int) -> Iterator[Frame]:
    """Frames ``start:stop:stride`` of ``path`` read by ASE as format ``fmt``, in ASE units.

    A failure before the first frame is an :class:`InputError`; after it, the
    truncation warning ends the stream. (ext)xyz files are walked first
    (:func:`scan_xyz`): ASE would trust a damaged atom count (one of 10^11 reads
    that many lines, forever) and stop silently at a blank line.
    """
    damage = None
    source = path
    if fmt in ("extxyz", "xyz"):
        scan = scan_xyz(path)
        damage = scan.damage
        if damage is not None:
            if scan.n_complete == 0:
                raise InputError(f"{path}: no complete {fmt} frame ({damage})")
            if stop is not None and stop <= scan.n_complete:
                damage = None  # the slice ends before the damage
            stop = scan.n_complete if stop is None else min(stop, scan.n_complete)
            # ASE reads the header of the frame after `stop` too: it sees only the complete frames
            source = io.TextIOWrapper(io.BufferedReader(_FilePrefix(path, scan.end)), encoding="utf-8")
    try:
        yield from _iread(path, source, fmt, start, stop, stride, damage)
    finally:
        if source is not path:
            source.close()


def _iread(path, source, fmt, start, stop, stride, damage) -> Iterator[Frame]:
    import ase.io

    frames = ase.io.iread(source, index=slice(start, stop, stride), format=fmt)
    k = 0
    while True:
        file_index = start + k * stride
        try:
            atoms = next(frames)
            frame = frame_from_atoms(atoms, file_index)
        except StopIteration:
            if damage is not None:
                warn_truncated(path, k, stop, damage)
            return
        except Exception as err:  # noqa: BLE001 - ASE raises many types for bad files
            reason = f"{type(err).__name__}: {err}"
            if k == 0:
                raise InputError(f"{path}: cannot read {fmt} file: {reason}") from None
            warn_truncated(path, k, file_index, reason)
            return
        yield frame
        k += 1


class _FilePrefix(io.RawIOBase):
    """The first ``size`` bytes of a file, as a seekable read-only raw stream."""

    def __init__(self, path: str, size: int):
        super().__init__()
        self._fh = open(path, "rb")
        self._size = size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self._size - self._fh.tell()))
        data = self._fh.read(n)
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            offset, whence = self._size + offset, io.SEEK_SET
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()
        super().close()


def frame_from_atoms(atoms, index: int) -> Frame:
    """A :class:`Frame` from ``ase.Atoms`` (energy, forces, stress, velocities and masses where present)."""
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
        stress=results.get("stress"),
    )


def count_xyz_frames(path: str) -> int:
    """Number of complete (ext)xyz frames (see :func:`scan_xyz`); :class:`InputError` if there is none."""
    scan = scan_xyz(path)
    if scan.n_complete == 0 and scan.damage is not None:
        raise InputError(f"{path}: no complete xyz frame ({scan.damage})")
    return scan.n_complete


class XYZScan(NamedTuple):
    """What :func:`scan_xyz` found."""

    n_complete: int  # complete frames from the start of the file
    damage: Optional[str]  # why the walk stopped at frame n_complete, or None for a whole file
    end: int  # byte just after the last complete frame


def scan_xyz(path: str) -> XYZScan:
    """Walk the frames of an (ext)xyz file by their atom counts.

    A frame is complete when its count line is a non-negative integer and its
    comment and atom lines all end with a newline (a file cut inside its last
    line may end inside a number). The walk stops cleanly at the end of the
    file (trailing blank lines allowed), and with ``damage`` at: a count line
    that is not a count, the end of the file inside a frame, or a blank line
    with frames after it. Reads lines only, never more than the file holds.
    """
    n = 0
    with open(path, "rb") as fh:
        while True:
            at = fh.tell()
            line = fh.readline()
            if not line:
                return XYZScan(n, None, at)
            if not line.strip():
                rest = fh.read()
                if rest.strip():
                    return XYZScan(n, f"a blank line at byte {at} is followed by {len(rest)} more bytes", at)
                return XYZScan(n, None, at)
            try:
                n_atoms = int(line)
            except ValueError:
                return XYZScan(n, f"frame {n} at byte {at} does not start with an atom count (got {line[:40]!r})", at)
            if n_atoms < 0:
                return XYZScan(n, f"frame {n} at byte {at} has a negative atom count ({n_atoms})", at)
            for _ in range(n_atoms + 1):
                if not line.endswith(b"\n"):
                    return XYZScan(n, f"the file ends inside frame {n} (at byte {at}, {n_atoms} atoms)", at)
                line = fh.readline()
            if not line.endswith(b"\n"):
                return XYZScan(n, f"the file ends inside frame {n} (at byte {at}, {n_atoms} atoms)", at)
            n += 1
