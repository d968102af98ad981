"""A growing set of reference-labelled frames on disk (extxyz, full float64 precision).

Each frame is appended with one ``write`` system call on a file opened with ``O_APPEND`` and then
fsynced, so a process killed at any moment leaves complete frames plus at most one torn frame at the
end; :meth:`LabelledSet.frames` reads the complete ones and :meth:`LabelledSet.truncate` (used on
``--resume``) cuts the file back to the checkpoint's count, torn tail included
(:func:`systems.trajectory_truncate.truncate_trajectory`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from systems.forces import ForceResult
from systems.frame import Frame


class LabelledSet:
    """Reference frames appended one by one to ``path`` (extxyz: positions Å, cell Å, numbers, energy eV,
    forces eV/Å, stress eV/Å³ where the reference gave one)."""

    def __init__(self, path, *, append: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not append or not self.path.exists():
            self.path.write_bytes(b"")
        self.count = self._scan_count()

    def _scan_count(self) -> int:
        from systems.trajectory_truncate import _scan_extxyz

        frames, _torn = _scan_extxyz(os.fspath(self.path))
        return len(frames)

    def append(self, system, result: ForceResult) -> int:
        """Write ``system`` with the reference ``result``; returns the new frame count."""
        from systems.trajectory_writer import _extxyz_text

        frame = Frame(numbers=np.asarray(system.numbers), positions=np.asarray(system.positions, dtype=np.float64),
                      cell=np.asarray(system.cell, dtype=np.float64), pbc=np.asarray(system.pbc, dtype=bool),
                      time=float(system.time), index=self.count, energy=float(result.energy),
                      forces=np.asarray(result.forces, dtype=np.float64), masses=np.asarray(system.masses))
        data = _extxyz_text(frame, result).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)  # one call: a kill leaves the frame whole or torn at the end, never mixed
            if written != len(data):
                os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        self.count += 1
        return self.count

    def truncate(self, count: int) -> None:
        """Cut the file back to its first ``count`` frames (and any torn frame), e.g. to a checkpoint's."""
        from systems.trajectory_truncate import truncate_trajectory

        truncate_trajectory(self.path, max_frames=int(count), format="extxyz")
        self.count = self._scan_count()
        if self.count != count:
            raise ValueError(f"{self.path} holds {self.count} complete labelled frames, the checkpoint expects "
                             f"{count}")

    def frames(self) -> list[Frame]:
        """The complete frames, read back with their energies, forces and stresses."""
        from systems.trajectory_reader import read_frames

        if self.count == 0:
            return []
        return list(read_frames(self.path, stop=self.count))
