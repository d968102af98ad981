"""Runaway detection: stop a blown-up run with an error that names the step and atoms."""

from __future__ import annotations

import numpy as np

from systems.errors import InputError
from systems.neighbor_list import build_pairs
from systems.state import System


class RunawayError(RuntimeError):
    """The simulation blew up. ``step`` is the step; ``atoms`` the atom indices involved (may be empty)."""

    def __init__(self, message: str, step: int, atoms=()):
        super().__init__(message)
        self.step = int(step)
        self.atoms = tuple(int(a) for a in atoms)


class RunawayGuard:
    """Checks every ``interval`` steps and before every report (so no bad state is ever checkpointed).

    Always: positions, velocities, energy and forces finite.
    ``max_temperature_K``: stop above this instantaneous temperature (K).
    ``min_distance``: stop when two atoms are closer than this (Å; a neighbor
    search with this tiny cutoff).
    """

    def __init__(self, max_temperature_K: float | None = None, min_distance: float | None = None, interval: int = 10):
        for name, value in (("max_temperature_K", max_temperature_K), ("min_distance", min_distance)):
            if value is not None and not (np.isfinite(value) and value > 0):
                raise InputError(f"RunawayGuard: `{name}` must be positive and finite or None, got {value!r}")
        if int(interval) != interval or interval < 1:
            raise InputError(f"RunawayGuard: `interval` must be a positive whole number of steps, got {interval!r}")
        self.max_temperature_K = max_temperature_K
        self.min_distance = min_distance
        self.interval = int(interval)

    def check(self, system: System, step: int, temperature_K: float, result=None) -> None:
        """Raise :class:`RunawayError` if the state at ``step`` has run away."""
        for name, arr in (("positions", system.positions), ("velocities", system.velocities)):
            bad = ~np.isfinite(arr).all(axis=1)
            if bad.any():
                atoms = np.flatnonzero(bad)
                raise RunawayError(f"runaway at step {step}: {name} of {len(atoms)} atoms are not finite "
                                   f"(first: atom {atoms[0]})", step, atoms[:10])
        if result is not None:
            if not np.isfinite(result.energy):
                raise RunawayError(f"runaway at step {step}: potential energy is {result.energy}", step)
            if result.forces is not None:
                bad = ~np.isfinite(result.forces).all(axis=1)
                if bad.any():
                    atoms = np.flatnonzero(bad)
                    raise RunawayError(f"runaway at step {step}: forces on {len(atoms)} atoms are not finite "
                                       f"(first: atom {atoms[0]})", step, atoms[:10])
        if self.max_temperature_K is not None and temperature_K > self.max_temperature_K:
            hottest = int(np.argmax(system.masses * (system.velocities**2).sum(axis=1)))
            raise RunawayError(f"runaway at step {step}: temperature {temperature_K:.4g} K exceeds the limit "
                               f"{self.max_temperature_K} K (fastest atom {hottest})", step, [hottest])
        if self.min_distance is not None and system.n_atoms > 1:
            pairs = build_pairs(system.positions, system.cell, system.pbc, self.min_distance, full=False)
            if len(pairs.distances):
                k = int(np.argmin(pairs.distances))
                i, j = int(pairs.i[k]), int(pairs.j[k])
                raise RunawayError(f"runaway at step {step}: atoms {i} and {j} are {pairs.distances[k]:.4g} Å apart, "
                                   f"closer than {self.min_distance} Å", step, [i, j])
