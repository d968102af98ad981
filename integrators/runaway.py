"""Runaway detection: stop a blown-up run with an error that names the step and atoms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

from systems.errors import InputError

if TYPE_CHECKING:  # annotations only: the CLI imports RunawayError before any command runs
    from systems.state import System

#: Closest approach allowed by :func:`contact_distances`, Å, whatever the covalent radii say.
CONTACT_FLOOR = 0.3


class RunawayError(RuntimeError):
    """The simulation blew up. ``step`` is the step; ``atoms`` the atom indices involved (may be empty)."""

    def __init__(self, message: str, step: int, atoms=()):
        super().__init__(message)
        self.step = int(step)
        self.atoms = tuple(int(a) for a in atoms)


def contact_distances(numbers, fraction: float = 0.5, floor: float = CONTACT_FLOOR) -> dict[tuple[int, int], float]:
    """Closest physical approach of each pair of elements in ``numbers``, Å.

    ``fraction`` × (r_cov(Z1) + r_cov(Z2)) with ASE's covalent radii
    (``ase.data.covalent_radii``; 0.2 Å for the pseudo-element 0), and at least
    ``floor``. No bond is shorter than about 0.75 of the radii sum (H₂: 0.74 Å
    against 0.62), so two atoms closer than half of it have run into each other.
    Keys are ``(Z1, Z2)`` with ``Z1 <= Z2``.
    """
    from ase.data import covalent_radii

    if not (np.isfinite(fraction) and fraction > 0):
        raise InputError(f"contact_distances: `fraction` must be a positive number, got {fraction!r}")
    if not (np.isfinite(floor) and floor >= 0):
        raise InputError(f"contact_distances: `floor` must be zero or a positive distance in Å, got {floor!r}")
    species = sorted(set(int(z) for z in np.asarray(numbers).reshape(-1)))
    return {(a, b): max(float(floor), fraction * float(covalent_radii[a] + covalent_radii[b]))
            for k, a in enumerate(species) for b in species[k:]}


class RunawayGuard:
    """Checks every ``interval`` steps and before every report (so no bad state is ever checkpointed).

    Always: positions, velocities, energy and forces finite.
    ``max_temperature_K``: stop above this instantaneous temperature (K) once it
    has stayed above it for ``temperature_patience`` steps (0: at the first check
    above it). A patience of a few thermostat relaxation times lets a run that
    starts away from equilibrium (a lattice start, a strained cell) release its
    potential energy without being stopped, while a run whose surrogate keeps
    heating against the thermostat is still stopped.
    ``min_distance``: stop when two atoms are closer than this, Å: one distance
    for every pair, or a mapping ``{(Z1, Z2): Å}`` per pair of elements (see
    :func:`contact_distances`; a pair of elements it does not list is not
    checked). The error names the step, both atoms, their elements, the
    distance and the limit.
    """

    def __init__(self, max_temperature_K: float | None = None,
                 min_distance: float | Mapping[tuple[int, int], float] | None = None, interval: int = 10,
                 temperature_patience: int = 0):
        if max_temperature_K is not None and not (np.isfinite(max_temperature_K) and max_temperature_K > 0):
            raise InputError(f"RunawayGuard: `max_temperature_K` must be positive and finite or None, "
                             f"got {max_temperature_K!r}")
        if isinstance(min_distance, Mapping):
            table = {}
            for key, value in min_distance.items():
                if len(key) != 2 or not (np.isfinite(value) and value > 0):
                    raise InputError(f"RunawayGuard: `min_distance` entries must be (Z1, Z2): positive Å, "
                                     f"got {key!r}: {value!r}")
                a, b = sorted(int(z) for z in key)
                table[(a, b)] = float(value)
            min_distance = table or None
        elif min_distance is not None and not (np.isfinite(min_distance) and min_distance > 0):
            raise InputError(f"RunawayGuard: `min_distance` must be positive and finite, a mapping or None, "
                             f"got {min_distance!r}")
        if int(interval) != interval or interval < 1:
            raise InputError(f"RunawayGuard: `interval` must be a positive whole number of steps, got {interval!r}")
        if int(temperature_patience) != temperature_patience or temperature_patience < 0:
            raise InputError(f"RunawayGuard: `temperature_patience` must be a non-negative whole number of steps, "
                             f"got {temperature_patience!r}")
        self.max_temperature_K = max_temperature_K
        self.min_distance = min_distance
        self.interval = int(interval)
        self.temperature_patience = int(temperature_patience)
        self._hot_since: int | None = None  # first checked step of the current run of checks above the limit

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
        if self.max_temperature_K is not None:
            self._check_temperature(system, step, temperature_K)
        if self.min_distance is not None and system.n_atoms > 1:
            self._check_contacts(system, step)

    def _check_temperature(self, system: System, step: int, temperature_K: float) -> None:
        if not temperature_K > self.max_temperature_K:
            self._hot_since = None
            return
        if self._hot_since is None or step < self._hot_since:  # a new streak (or a resumed run)
            self._hot_since = step
        if step - self._hot_since < self.temperature_patience:
            return
        hottest = int(np.argmax(system.masses * (system.velocities**2).sum(axis=1)))
        held = f" since step {self._hot_since}" if self.temperature_patience else ""
        raise RunawayError(f"runaway at step {step}: temperature {temperature_K:.4g} K exceeds the limit "
                           f"{self.max_temperature_K:.4g} K{held} (fastest atom {hottest}; a start far from "
                           "equilibrium heats too: equilibrate it first, or give the check a temperature patience)",
                           step, [hottest])

    def _check_contacts(self, system: System, step: int) -> None:
        from systems.neighbor_list import build_pairs

        per_pair = isinstance(self.min_distance, dict)
        cutoff = max(self.min_distance.values()) if per_pair else self.min_distance
        pairs = build_pairs(system.positions, system.cell, system.pbc, cutoff, full=False)
        if not len(pairs.distances):
            return
        if per_pair:
            z = system.numbers
            za, zb = np.minimum(z[pairs.i], z[pairs.j]), np.maximum(z[pairs.i], z[pairs.j])
            limits = np.array([self.min_distance.get((int(a), int(b)), 0.0) for a, b in zip(za, zb)])
        else:
            limits = np.full(len(pairs.distances), float(self.min_distance))
        ratio = pairs.distances / np.where(limits > 0, limits, np.inf)
        k = int(np.argmin(ratio))
        if not ratio[k] < 1.0:
            return
        i, j = int(pairs.i[k]), int(pairs.j[k])
        n_close = int(np.count_nonzero(ratio < 1.0))
        others = f"; {n_close - 1} other pair(s) too close" if n_close > 1 else ""
        if per_pair:
            what = (f" ({_symbol(system.numbers[i])}–{_symbol(system.numbers[j])})", "closer than any physical bond "
                    f"(limit {limits[k]:.3g} Å)")
        else:
            what = ("", f"closer than {self.min_distance} Å")
        raise RunawayError(f"runaway at step {step}: atoms {i} and {j}{what[0]} are {pairs.distances[k]:.4g} Å apart, "
                           f"{what[1]}{others}", step, [i, j])


def _symbol(z) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[int(z)] if 0 <= int(z) < len(chemical_symbols) else f"Z={int(z)}"
