"""One Numba kernel for every isotropic pair potential.

A pair potential is a ``kind`` code plus a float64 ``params`` array;
:func:`pair_terms` maps them to ``(U eV, dU/dr eV/Å)``. (A switch rather than
a function argument, because Numba cannot cache a kernel that takes a
function.) :func:`pair_energy_forces` loops over a half neighbor list
(i, j, shift) and takes each pair vector from
:func:`systems.boundary.shifted_displacement`.

Each thread owns a contiguous chunk of pairs and its own force buffer, so there
are no write races and no atomics; the buffers are summed at the end. On 2
cores this beats a full list (which does every pair twice).
"""

from __future__ import annotations

import numba
import numpy as np

from ..boundary import shifted_displacement
from ..errors import CloseContactError
from ..numba_twins import parallel_and_serial

#: Pair-potential kinds understood by :func:`pair_terms`.
LENNARD_JONES = 0
MORSE = 1


@numba.njit(cache=True, inline="always")
def pair_terms(kind, r2, params):
    """(U eV, (dU/dr)/r eV/Å²) at squared distance r2 (Å²).

    Working from r² spares LJ a square root and a pow() per pair.
    LENNARD_JONES: params = [σ Å, ε eV, U(r_c) eV];
    MORSE: params = [D_e eV, a 1/Å, r0 Å, U(r_c) eV].
    """
    if kind == LENNARD_JONES:
        s2 = params[0] * params[0] / r2
        s6 = s2 * s2 * s2
        s12 = s6 * s6
        return 4.0 * params[1] * (s12 - s6) - params[2], -24.0 * params[1] * (2.0 * s12 - s6) / r2
    # MORSE: U = D (1 − e^{−a(r−r0)})² − D
    r = np.sqrt(r2)
    x = np.exp(-params[1] * (r - params[2]))
    return params[0] * ((1.0 - x) ** 2 - 1.0) - params[3], 2.0 * params[0] * params[1] * x * (1.0 - x) / r


def pair_energy_forces(positions, cell, first, second, shifts, cutoff, kind, params, want_virial, want_energies,
                       n_threads):
    """Energy, forces, virial and per-atom energies over a half list.

    positions [n,3] Å; cell [3,3] Å; first/second [p] int; shifts [p,3] int;
    cutoff Å (pairs at or beyond are skipped, so a skin list is fine);
    kind and params [k] float64 select the pair function (:func:`pair_terms`);
    n_threads is the number of per-thread force buffers (``numba.get_num_threads()``).
    Returns energy eV, forces [n,3] eV/Å, strain derivative [3,3] eV
    (Σ du/dr · r_a r_b / r), per-atom energies [n] eV (length 0 unless
    ``want_energies``: the two extra scatters cost ~15% per pair), and the
    closest pair (distance Å, i, j) for the close-contact guard.
    """
    n = positions.shape[0]
    n_pairs = first.shape[0]
    n_chunks = n_threads if n_pairs > 4096 else 1
    forces_t = np.zeros((n_chunks, n, 3))
    energies_t = np.zeros((n_chunks, n if want_energies else 0))
    energy_t = np.zeros(n_chunks)
    virial_t = np.zeros((n_chunks, 3, 3))
    closest_t = np.full(n_chunks, np.inf)
    closest_pair_t = np.zeros((n_chunks, 2), np.int64)
    cut2 = cutoff * cutoff
    for c in numba.prange(n_chunks):
        start = (n_pairs * c) // n_chunks
        stop = (n_pairs * (c + 1)) // n_chunks
        f = forces_t[c]
        e = energies_t[c]
        w = virial_t[c]
        total = 0.0
        best = np.inf
        bi = 0
        bj = 0
        for p in range(start, stop):
            i = first[p]
            j = second[p]
            rx, ry, rz = shifted_displacement(positions, cell, i, j, shifts[p, 0], shifts[p, 1], shifts[p, 2])
            r2 = rx * rx + ry * ry + rz * rz
            if r2 >= cut2:
                continue
            if r2 < best:
                best = r2
                bi = i
                bj = j
            u, g = pair_terms(kind, r2, params)  # g = (dU/dr)/r: force on i is +g·r_ij, on j −g·r_ij
            total += u
            if want_energies:
                e[i] += 0.5 * u
                e[j] += 0.5 * u
            f[i, 0] += g * rx
            f[i, 1] += g * ry
            f[i, 2] += g * rz
            f[j, 0] -= g * rx
            f[j, 1] -= g * ry
            f[j, 2] -= g * rz
            if want_virial:
                w[0, 0] += g * rx * rx
                w[0, 1] += g * rx * ry
                w[0, 2] += g * rx * rz
                w[1, 1] += g * ry * ry
                w[1, 2] += g * ry * rz
                w[2, 2] += g * rz * rz
        energy_t[c] = total
        closest_t[c] = best
        closest_pair_t[c, 0] = bi
        closest_pair_t[c, 1] = bj
    forces = forces_t[0]
    energies = energies_t[0]
    if n_chunks > 1:
        forces = np.zeros((n, 3))
        energies = np.zeros(n if want_energies else 0)
        for i in numba.prange(n):
            for c in range(n_chunks):
                forces[i, 0] += forces_t[c, i, 0]
                forces[i, 1] += forces_t[c, i, 1]
                forces[i, 2] += forces_t[c, i, 2]
                if want_energies:
                    energies[i] += energies_t[c, i]
    virial = np.zeros((3, 3))
    for c in range(n_chunks):
        virial += virial_t[c]
    virial[1, 0] = virial[0, 1]
    virial[2, 0] = virial[0, 2]
    virial[2, 1] = virial[1, 2]
    k = np.argmin(closest_t)
    return energy_t.sum(), forces, virial, energies, np.sqrt(closest_t[k]), closest_pair_t[k, 0], closest_pair_t[k, 1]


pair_energy_forces_parallel, pair_energy_forces_serial = parallel_and_serial(pair_energy_forces)


def check_contact(closest: float, i: int, j: int, min_distance: float, name: str) -> None:
    """Raise :class:`CloseContactError` naming atoms ``i`` and ``j`` if ``closest`` < ``min_distance`` (Å)."""
    if closest < min_distance:
        raise CloseContactError(
            f"{name}: atoms {i} and {j} are {closest:.4g} Å apart, closer than the {min_distance} Å "
            "this potential accepts (overlapping atoms or a blown-up simulation)"
        )
