"""Periodic checkpoints, written atomically."""

from __future__ import annotations

from pathlib import Path

from .base import IntervalReporter, Snapshot


class CheckpointReporter(IntervalReporter):
    """Write ``simulation.save_checkpoint(path)`` every ``interval`` steps.

    Each write replaces the file atomically (temporary file, fsync, rename),
    so ``path`` always holds the last complete checkpoint; the runaway guard
    runs before it, so a blown-up state never overwrites a good one.
    """

    def __init__(self, path, interval: int):
        super().__init__(interval)
        self.path = Path(path)
        self.n_written = 0

    def report(self, simulation, snapshot: Snapshot) -> None:
        simulation.save_checkpoint(self.path)
        self.n_written += 1
