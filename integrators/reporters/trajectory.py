"""Trajectory reporter: streams frames through :class:`systems.trajectory_writer.TrajectoryWriter`."""

from __future__ import annotations

from pathlib import Path

from .base import IntervalReporter, Snapshot

#: Formats that store energies, forces and velocities next to positions (ASE).
_RICH_FORMATS = {"extxyz", "xyz", "traj"}


class TrajectoryReporter(IntervalReporter):
    """Write a frame every ``interval`` steps to ``path`` (format from the suffix unless given).

    Formats are those of ``TrajectoryWriter``: dcd, xtc, trr, nc, pdb (MDTraj,
    positions in nm on disk) and extxyz, traj (ASE, which also store velocities,
    energy and forces). Every frame is flushed, so a killed run leaves a file
    readable up to the last frame. ``append=True`` continues an existing file
    (after a restart).
    """

    def __init__(self, path, interval: int, format: str | None = None, topology=None, append: bool = False):
        super().__init__(interval)
        self.path = Path(path)
        self.format = (format or self.path.suffix.lstrip(".")).lower()
        self.topology = topology
        self.append = append
        self.fields = frozenset({"positions", "velocities", "energy", "forces"} if self.format in _RICH_FORMATS
                                else {"positions"})
        self._writer = None

    @property
    def n_written(self) -> int:
        return 0 if self._writer is None else self._writer.n_written

    def report(self, simulation, snapshot: Snapshot) -> None:
        if self._writer is None:  # opened at the first frame, when the atoms are known
            from systems.trajectory_writer import TrajectoryWriter

            self._writer = TrajectoryWriter(self.path, numbers=snapshot.system.numbers, topology=self.topology,
                                            format=self.format, append=self.append, overwrite=not self.append)
        self._writer.write(snapshot.system, snapshot.result)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        super().close()
