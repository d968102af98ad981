"""Numba iterations of SHAKE (positions) and RATTLE (velocities) for rigid bonds.

H. C. Andersen, "Rattle: a velocity version of the Shake algorithm for
molecular dynamics calculations", J. Comput. Phys. 52, 24 (1983). Both sweep
the bonds one at a time (Gauss–Seidel) until every bond meets the relative
tolerance, with inverse masses ``inv_mass`` [n] (1/amu; 0 for a fixed atom, which
then never moves). Bond vectors are minimum images through the cell ``basis``
[3, 3] (rows, Å) and its ``inverse`` along ``periodic`` [3] axes
(:func:`systems.boundary.wrap_fractional`; bonds are shorter than half a plane
spacing, checked when the constraints are built).

Each kernel returns ``(iterations, worst)``: ``worst`` is −1 on convergence,
else the index of the bond furthest from its constraint after
``max_iterations`` sweeps.
"""

from __future__ import annotations

import numba
import numpy as np

from systems.boundary import wrap_fractional


@numba.njit(cache=True)
def _bond_vector(x, i, j, basis, inverse, periodic, out):
    for c in range(3):
        out[c] = x[i, c] - x[j, c]
    wrap_fractional(out, basis, inverse, periodic)


@numba.njit(cache=True)
def shake(positions, reference, inv_mass, pairs, lengths_sq, basis, inverse, periodic, tolerance, max_iterations):
    """SHAKE in place on positions [n, 3] (Å): |x_i − x_j|² = lengths_sq [m] (Å²) to ``tolerance`` (relative).

    ``reference`` [n, 3] (Å): positions at the start of the drift, which meet
    the constraints; the correction of bond k moves along its old vector
    r_ij(reference), as in SHAKE (Ryckaert, Ciccotti, Berendsen 1977).
    """
    m = pairs.shape[0]
    r = np.empty(3)
    r_old = np.empty(3)
    for it in range(1, max_iterations + 1):
        done = True
        for k in range(m):
            i = pairs[k, 0]
            j = pairs[k, 1]
            _bond_vector(positions, i, j, basis, inverse, periodic, r)
            diff = lengths_sq[k] - (r[0] * r[0] + r[1] * r[1] + r[2] * r[2])
            if abs(diff) <= tolerance * lengths_sq[k]:
                continue
            done = False
            _bond_vector(reference, i, j, basis, inverse, periodic, r_old)
            w = inv_mass[i] + inv_mass[j]
            dot = r[0] * r_old[0] + r[1] * r_old[1] + r[2] * r_old[2]
            if w == 0.0 or dot <= 0.0:
                return it, k  # both atoms fixed, or the bond turned by 90° or more in one step
            g = diff / (2.0 * w * dot)
            for c in range(3):
                positions[i, c] += g * inv_mass[i] * r_old[c]
                positions[j, c] -= g * inv_mass[j] * r_old[c]
        if done:
            return it, -1
    return max_iterations, _worst_position(positions, pairs, lengths_sq, basis, inverse, periodic)


@numba.njit(cache=True)
def _worst_position(positions, pairs, lengths_sq, basis, inverse, periodic):
    r = np.empty(3)
    worst = 0
    worst_err = -1.0
    for k in range(pairs.shape[0]):
        _bond_vector(positions, pairs[k, 0], pairs[k, 1], basis, inverse, periodic, r)
        err = abs(lengths_sq[k] - (r[0] * r[0] + r[1] * r[1] + r[2] * r[2])) / lengths_sq[k]
        if err > worst_err:
            worst_err = err
            worst = k
    return worst


@numba.njit(cache=True)
def rattle(velocities, positions, inv_mass, pairs, lengths_sq, basis, inverse, periodic, tolerance, max_iterations):
    """RATTLE in place on velocities [n, 3] (Å/time): (v_i − v_j)·r_ij = 0 for every bond.

    Converged when |(v_i − v_j)·r_ij| ≤ tolerance · |r_ij| · |v_i − v_j| for
    every bond (the relative tangential error), or the pair is at rest.
    """
    m = pairs.shape[0]
    r = np.empty(3)
    for it in range(1, max_iterations + 1):
        done = True
        for k in range(m):
            i = pairs[k, 0]
            j = pairs[k, 1]
            _bond_vector(positions, i, j, basis, inverse, periodic, r)
            v0 = velocities[i, 0] - velocities[j, 0]
            v1 = velocities[i, 1] - velocities[j, 1]
            v2 = velocities[i, 2] - velocities[j, 2]
            dot = r[0] * v0 + r[1] * v1 + r[2] * v2
            speed = np.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
            if abs(dot) <= tolerance * np.sqrt(lengths_sq[k]) * speed:
                continue
            done = False
            w = inv_mass[i] + inv_mass[j]
            if w == 0.0:
                return it, k
            g = dot / (w * (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]))
            for c in range(3):
                velocities[i, c] -= g * inv_mass[i] * r[c]
                velocities[j, c] += g * inv_mass[j] * r[c]
        if done:
            return it, -1
    worst = 0
    worst_err = -1.0
    for k in range(m):
        _bond_vector(positions, pairs[k, 0], pairs[k, 1], basis, inverse, periodic, r)
        err = 0.0
        for c in range(3):
            err += r[c] * (velocities[pairs[k, 0], c] - velocities[pairs[k, 1], c])
        if abs(err) > worst_err:
            worst_err = abs(err)
            worst = k
    return max_iterations, worst
