"""Initial velocities."""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .units import kB


def maxwell_boltzmann(masses, temperature_K: float, seed_or_rng, remove_com: bool = True) -> np.ndarray:
    """Velocities drawn from the Maxwell–Boltzmann distribution at ``temperature_K``.

    masses [n] amu (positive); temperature_K ≥ 0; ``seed_or_rng`` an int seed or
    a ``numpy.random.Generator``. Each component is normal with variance
    kB·T/m. With ``remove_com`` the centre-of-mass velocity is subtracted, which
    leaves 3n − 3 degrees of freedom with ⟨K⟩ = (3n − 3)·kB·T/2 (a single
    particle is then at rest). Not rescaled to the exact temperature.

    Returns [n, 3] velocities in Å per ASE time unit.
    """
    masses = np.asarray(masses, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(masses) | (masses <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"mass of atom {i} is {masses[i]!r} amu; masses must be positive and finite")
    if not (np.isfinite(temperature_K) and temperature_K >= 0):
        raise InputError(f"`temperature_K` must be a non-negative temperature in K, got {temperature_K!r}")
    rng = np.random.default_rng(seed_or_rng)
    velocities = rng.standard_normal((len(masses), 3)) * np.sqrt(kB * temperature_K / masses)[:, None]
    if remove_com and len(masses):
        velocities -= (masses @ velocities) / masses.sum()
    return velocities
