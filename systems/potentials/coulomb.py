"""The charged N-body interaction of the EGNN benchmark (Satorras et al. 2021).

U = Σ_{i<j} q_i q_j / r_ij with interaction strength 1 and no box, so that

    F_i = Σ_j q_i q_j (x_i − x_j) / r_ij³,

exactly the force of the benchmark's data generator (the charged-particle
simulation of Kipf et al.'s NRI code, reused by the EGNN authors). Reduced
units: charges are dimensionless, the energy comes out in eV when positions are
in Å.

Optionally each force component is clipped to ±``force_clip`` as that
generator's leapfrog does (it clips at 0.1/dt = 100). Clipped forces are no
longer −∇E: the benchmark trajectories are then not energy-conserving, and
finite-difference or energy checks only hold where no component was clipped.
"""

from __future__ import annotations

import numba
import numpy as np

from ..boundary import free_displacement
from ..errors import InputError
from ..forces import ForceResult, check_finite
from .pair_kernels import check_contact


@numba.njit(cache=True)
def charged_nbody_energy_forces(positions, charges):
    """All-pairs (O(N²)) Coulomb energy and forces in free space.

    positions [n,3] Å; charges [n]. Returns energy eV, forces [n,3] eV/Å,
    per-atom energies [n] eV (half of each pair energy to each atom), and the
    closest pair (distance Å, i, j) for the close-contact guard.
    """
    n = positions.shape[0]
    forces = np.zeros((n, 3))
    energies = np.zeros(n)
    closest = np.inf
    ci = 0
    cj = 0
    for i in range(n):
        for j in range(i + 1, n):
            rx, ry, rz = free_displacement(positions, i, j)  # r_ij = x_j − x_i
            r2 = rx * rx + ry * ry + rz * rz
            r = np.sqrt(r2)
            if r < closest:
                closest = r
                ci = i
                cj = j
            qq = charges[i] * charges[j]
            u = qq / r
            energies[i] += 0.5 * u
            energies[j] += 0.5 * u
            g = qq / (r2 * r)  # F_i = −g r_ij, F_j = +g r_ij
            forces[i, 0] -= g * rx
            forces[i, 1] -= g * ry
            forces[i, 2] -= g * rz
            forces[j, 0] += g * rx
            forces[j, 1] += g * ry
            forces[j, 2] += g * rz
    return energies.sum(), forces, energies, closest, ci, cj


class ChargedNBody:
    """Free-space Coulomb interaction between charged particles (EGNN N-body benchmark).

    Parameters
    ----------
    charges : float [n_atoms]
        One charge per particle (±1 in the benchmark).
    force_clip : float, eV/Å, optional
        Clip each force component to ±force_clip (the benchmark uses 100).
        Clipped forces are not −∇E.
    min_distance : float, Å
        Closer pairs raise :class:`~systems.errors.CloseContactError`; 0
        disables the guard (the benchmark generator has none).

    Periodic systems are refused (the interaction has no box), and so is a
    stress request.
    """

    name = "ChargedNBody"

    def __init__(self, charges, force_clip: float | None = None, min_distance: float = 0.1):
        charges = np.array(charges, dtype=np.float64).reshape(-1)
        bad = ~np.isfinite(charges)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{self.name}: charge of particle {i} is {charges[i]!r}")
        if force_clip is not None and not (np.isfinite(force_clip) and force_clip > 0):
            raise InputError(f"{self.name}: `force_clip` must be a positive force in eV/Å or None, got {force_clip!r}")
        if not (np.isfinite(min_distance) and min_distance >= 0):
            raise InputError(f"{self.name}: `min_distance` must be a non-negative distance in Å, got {min_distance!r}")
        self.charges = charges
        self.force_clip = None if force_clip is None else float(force_clip)
        self.min_distance = float(min_distance)

    def compute_arrays(self, positions, stress: bool = False) -> ForceResult:
        """Energy (eV), forces [n,3] (eV/Å), per-atom energies [n] for positions [n,3] (Å)."""
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        if len(positions) != len(self.charges):
            raise InputError(
                f"{self.name}: {len(self.charges)} charges were given but the system has {len(positions)} particles"
            )
        if stress:
            raise InputError(f"{self.name}: the charged N-body interaction has no box, so no stress")
        energy, forces, energies, closest, ci, cj = charged_nbody_energy_forces(positions, self.charges)
        check_contact(closest, ci, cj, self.min_distance, self.name)
        if self.force_clip is not None:
            np.clip(forces, -self.force_clip, self.force_clip, out=forces)
        return ForceResult(float(energy), forces, None, energies)

    def compute(self, system, stress: bool = False) -> ForceResult:
        """Energy and forces of a non-periodic :class:`~systems.state.System`."""
        if np.any(system.pbc):
            raise InputError(
                f"{self.name}: the charged N-body interaction is in free space, but the system is periodic "
                f"(pbc={np.asarray(system.pbc).tolist()})"
            )
        return check_finite(self.compute_arrays(system.positions, stress), self.name)
