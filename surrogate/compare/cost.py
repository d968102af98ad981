"""Cost of a run: wall time per simulated ns, ns/day, and the speedup of one run over another.

Read from the run's metadata (``run_info.json`` that ``surrogate generate`` and
``surrogate run`` write: ``wall_time_s`` and ``simulated_ps``), or from a
``wall_s`` column of its thermo log (cumulative wall seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .run_data import RunData


@dataclass
class Cost:
    """wall_time_s : s; simulated_ps : ps; n_atoms. Derived: s per simulated ns, ns per day."""

    wall_time_s: float
    simulated_ps: float
    n_atoms: int

    @property
    def wall_s_per_ns(self) -> float:
        return self.wall_time_s / (self.simulated_ps / 1000.0) if self.simulated_ps > 0 else float("nan")

    @property
    def ns_per_day(self) -> float:
        return 86400.0 / self.wall_s_per_ns if self.wall_time_s > 0 else float("nan")

    def to_json(self) -> dict:
        return {"wall_time_s": self.wall_time_s, "simulated_ps": self.simulated_ps, "n_atoms": self.n_atoms,
                "wall_s_per_ns": self.wall_s_per_ns, "ns_per_day": self.ns_per_day}


def run_cost(run: RunData) -> Cost | None:
    """The run's cost, or None when neither metadata nor log records wall time."""
    info = run.info or {}
    if info.get("wall_time_s") is not None and info.get("simulated_ps") is not None:
        return Cost(float(info["wall_time_s"]), float(info["simulated_ps"]), int(info.get("n_atoms", run.n_atoms)))
    if run.log is not None and run.log.get("wall_s") is not None:
        wall, t = run.log.get("wall_s"), run.log.get("time_ps")
        ok = np.isfinite(wall) & np.isfinite(t)
        if ok.sum() >= 2:
            return Cost(float(np.ptp(wall[ok])), float(np.ptp(t[ok])), run.n_atoms)
    return None


def speedup(reference: Cost | None, other: Cost | None) -> float | None:
    """How many times faster ``other`` simulates a ns than ``reference`` (per atom when sizes differ)."""
    if reference is None or other is None:
        return None
    ref = reference.wall_s_per_ns / max(reference.n_atoms, 1)
    oth = other.wall_s_per_ns / max(other.n_atoms, 1)
    if not (np.isfinite(ref) and np.isfinite(oth)) or oth <= 0:
        return None
    return float(ref / oth)
