"""Numba kernel for single-particle Metropolis moves under a pair potential.

The energy change of moving atom i is Σ_j [u(|r_ij'|) − u(|r_ij|)] over i's
neighbors in a full (cutoff + skin) list stored as CSR, so a sweep of N moves
costs O(N · neighbors) instead of N full energy evaluations. The pair function
is :func:`systems.potentials.pair_kernels.pair_terms` (same ``kind``/``params``
as the potential), so ΔE matches the potential's total energy exactly.
"""

from __future__ import annotations

import numba
import numpy as np

from systems.boundary import lattice_vector
from systems.potentials.pair_kernels import pair_terms


@numba.njit(cache=True, inline="always", error_model="numpy")
def _atom_energy(positions, cell, i, xi, yi, zi, offsets, neighbors, shifts, cut2, kind, params):
    """Σ_j u(r_ij) for atom i placed at (xi, yi, zi) Å; self-images (j == i) move with i."""
    e = 0.0
    for p in range(offsets[i], offsets[i + 1]):
        j = neighbors[p]
        sx = shifts[p, 0]
        sy = shifts[p, 1]
        sz = shifts[p, 2]
        ox, oy, oz = lattice_vector(cell, sx, sy, sz)
        if j == i:
            rx, ry, rz = ox, oy, oz
        else:
            rx = positions[j, 0] - xi + ox
            ry = positions[j, 1] - yi + oy
            rz = positions[j, 2] - zi + oz
        r2 = rx * rx + ry * ry + rz * rz
        if r2 < cut2:
            u, _ = pair_terms(kind, r2, params)  # works from r² (Å²)
            e += u
    return e


@numba.njit(cache=True, error_model="numpy")
def single_particle_sweep(positions, cell, offsets, neighbors, shifts, reference, half_skin, cutoff, kind, params,
                          atoms, displacements, uniforms, beta, start):
    """Metropolis moves ``start..len(atoms)-1``, in place on ``positions`` [n,3] Å.

    Move k proposes ``positions[atoms[k]] + displacements[k]`` (Å) and accepts
    it if ``uniforms[k] < exp(−β ΔE)`` (β in 1/eV). The CSR list (offsets [n+1],
    neighbors [p], shifts [p,3]) was built at ``reference`` [n,3] with a skin;
    a move that would take an atom more than ``half_skin`` Å from its reference
    is not evaluated: the kernel returns its index so the caller can rebuild
    the list and resume there. Returns (next move index, accepted, ΔE total eV).
    """
    cut2 = cutoff * cutoff
    limit2 = half_skin * half_skin
    accepted = 0
    delta_total = 0.0
    for k in range(start, atoms.shape[0]):
        i = atoms[k]
        nx = positions[i, 0] + displacements[k, 0]
        ny = positions[i, 1] + displacements[k, 1]
        nz = positions[i, 2] + displacements[k, 2]
        dx = nx - reference[i, 0]
        dy = ny - reference[i, 1]
        dz = nz - reference[i, 2]
        if dx * dx + dy * dy + dz * dz > limit2:
            return k, accepted, delta_total
        old = _atom_energy(positions, cell, i, positions[i, 0], positions[i, 1], positions[i, 2], offsets, neighbors,
                           shifts, cut2, kind, params)
        new = _atom_energy(positions, cell, i, nx, ny, nz, offsets, neighbors, shifts, cut2, kind, params)
        delta = new - old
        if delta <= 0.0 or uniforms[k] < np.exp(-beta * delta):
            positions[i, 0] = nx
            positions[i, 1] = ny
            positions[i, 2] = nz
            accepted += 1
            delta_total += delta
    return atoms.shape[0], accepted, delta_total
