"""Trajectory reporter: streams frames through :class:`systems.trajectory_writer.TrajectoryWriter`."""

from __future__ import annotations

from pathlib import Path

from systems.atomic_file import atomic_write_text

from .base import IntervalReporter, Snapshot

#: Formats that store energies, forces and velocities next to positions (ASE).
_RICH_FORMATS = {"extxyz", "xyz", "traj"}
#: MDTraj formats without a topology: a PDB of the first frame is written beside them.
_BARE_FORMATS = {"xtc", "trr", "dcd", "nc"}


class TrajectoryReporter(IntervalReporter):
    """Write a frame every ``interval`` steps to ``path`` (format from the suffix unless given).

    Formats are those of ``TrajectoryWriter``: dcd, xtc, trr, nc, pdb (MDTraj,
    positions in nm on disk) and extxyz, traj (ASE, which also store velocities,
    energy and forces). Every frame is flushed, so a killed run leaves a file
    readable up to the last frame. ``append=True`` continues an existing file
    (after a restart).

    For xtc, trr, dcd and nc, which hold no atom names, ``write_topology``
    saves the first frame as ``<path>.pdb`` (unless it exists when appending),
    so ``mdtraj.load(path, top=path.with_suffix('.pdb'))`` opens the run.
    """

    def __init__(self, path, interval: int, format: str | None = None, topology=None, append: bool = False,
                 write_topology: bool = True):
        super().__init__(interval)
        self.path = Path(path)
        self.format = (format or self.path.suffix.lstrip(".")).lower()
        self.topology = topology
        self.append = append
        self.topology_path = self.path.with_suffix(".pdb") if write_topology and self.format in _BARE_FORMATS else None
        self.fields = frozenset({"positions", "velocities", "energy", "forces"} if self.format in _RICH_FORMATS
                                else {"positions"})
        self._writer = None

    def resume(self, simulation) -> str | None:
        """Cut the file back to the frames at or before ``simulation``'s step (a killed run may have
        written more after its last checkpoint, and an incomplete last frame); returns what was done.

        Formats with frame times (extxyz, traj, xtc, trr, nc, h5) are cut by time, with half a timestep of
        slack for float32 times; the others (dcd, pdb), and Monte Carlo runs whose time does not
        advance, by count: the frames of steps 0, interval, 2·interval, … up to the checkpoint's step.
        """
        if not self.append or not self.path.exists():
            return None
        from systems.trajectory_reader import detect_format
        from systems.trajectory_truncate import TIMED_FORMATS, truncate_trajectory

        timestep = float(simulation.integrator.timestep)
        if timestep > 0 and detect_format(self.path, self.format)[1] in TIMED_FORMATS:
            cut = truncate_trajectory(self.path, after_time=simulation.time, time_tolerance=0.5 * timestep,
                                      format=self.format)
        else:
            cut = truncate_trajectory(self.path, max_frames=simulation.step // self.interval + 1,
                                      format=self.format)
        torn = " and an incomplete last frame" if cut.torn else ""
        return (f"{self.path.name}: kept {cut.kept} frames, dropped {cut.dropped} written after step "
                f"{simulation.step}{torn}")

    @property
    def n_written(self) -> int:
        return 0 if self._writer is None else self._writer.n_written

    def report(self, simulation, snapshot: Snapshot) -> None:
        if self._writer is None:  # opened at the first frame, when the atoms are known
            from systems.trajectory_writer import TrajectoryWriter

            self._writer = TrajectoryWriter(self.path, numbers=snapshot.system.numbers, topology=self.topology,
                                            format=self.format, append=self.append, overwrite=not self.append)
            if self.topology_path is not None and not (self.append and self.topology_path.exists()):
                self._write_topology(snapshot.system)
        self._writer.write(snapshot.system, snapshot.result)

    def _write_topology(self, system) -> None:
        """The first frame as PDB (atom names for MDTraj), written atomically."""
        from systems.trajectory_writer import pdb_text

        topology = self.topology
        if isinstance(topology, (str, Path)):
            import mdtraj

            topology = mdtraj.load_topology(str(topology))
        atomic_write_text(self.topology_path, pdb_text(system.to_mdtraj(topology)))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        super().close()

