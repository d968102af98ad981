"""Numba loops for the velocity and position updates shared by the MD integrators.

One pass over the atoms, no temporary arrays (the numpy form allocates three
[n, 3] temporaries per update, a few percent of a 4000-atom step).
"""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def kick(velocities, forces, masses, dt):
    """B: v ← v + dt·F/m in place. velocities [n,3] Å/time, forces [n,3] eV/Å, masses [n] amu, dt ASE time."""
    for i in range(velocities.shape[0]):
        scale = dt / masses[i]
        for k in range(3):
            velocities[i, k] += forces[i, k] * scale


@numba.njit(cache=True)
def drift(positions, velocities, dt):
    """A: x ← x + dt·v in place. positions [n,3] Å."""
    for i in range(positions.shape[0]):
        for k in range(3):
            positions[i, k] += dt * velocities[i, k]


@numba.njit(cache=True)
def kick_drift(positions, velocities, forces, masses, kick_dt, drift_dt):
    """B then A in one pass: v ← v + kick_dt·F/m; x ← x + drift_dt·v."""
    for i in range(velocities.shape[0]):
        scale = kick_dt / masses[i]
        for k in range(3):
            velocities[i, k] += forces[i, k] * scale
            positions[i, k] += drift_dt * velocities[i, k]
