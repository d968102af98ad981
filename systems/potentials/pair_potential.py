"""Base class of the isotropic pair potentials: neighbor list, kernel, result."""

from __future__ import annotations

import numba
import numpy as np

from ..errors import CloseContactError, InputError
from ..forces import ForceResult, check_finite
from ..neighbor_list import NeighborList
from ..numba_twins import SERIAL_BELOW
from .pair_kernels import check_contact, pair_energy_forces_parallel, pair_energy_forces_serial


class PairPotential:
    """An isotropic pair potential over a half neighbor list with a Verlet skin.

    Subclasses set ``name`` and ``kind`` (a code of
    :mod:`~systems.potentials.pair_kernels`) and pass ``params``.
    The potential owns its neighbor list and rebuilds it only when the skin is
    exhausted. Satisfies the force-provider protocol of ``integrators``.

    Parameters
    ----------
    cutoff : float, Å
    skin : float, Å
        Neighbor-list skin.
    min_distance : float, Å
        Closer pairs raise :class:`~systems.errors.CloseContactError`.
    """

    name = "pair potential"
    kind = -1

    def __init__(self, params, cutoff: float, skin: float = 1.0, min_distance: float = 0.1):
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise InputError(f"{self.name}: `cutoff` must be a positive distance in Å, got {cutoff!r}")
        self.params = np.asarray(params, dtype=np.float64)
        self.cutoff = float(cutoff)
        self.min_distance = float(min_distance)
        self.neighbor_list = NeighborList(self.cutoff, skin=skin, full=False)

    def compute_arrays(self, positions, cell, pbc, stress: bool = False, energies: bool = False) -> ForceResult:
        """Energy (eV), forces [n,3] (eV/Å), stress [3,3] (eV/Å³) and, if ``energies``,
        per-atom energies [n] (eV) for raw arrays (Å)."""
        nl = self.neighbor_list
        nl.update(positions, cell, pbc)
        i, j, shifts = nl.candidate_pairs
        kernel = pair_energy_forces_parallel if len(i) >= SERIAL_BELOW else pair_energy_forces_serial
        try:
            energy, forces, strain_derivative, atom_energies, closest, ci, cj = kernel(
                positions, np.asarray(cell, dtype=np.float64), i, j, shifts, self.cutoff, self.kind, self.params,
                bool(stress), bool(energies), numba.get_num_threads() if len(i) >= SERIAL_BELOW else 1
            )
        except ZeroDivisionError:  # two atoms at one position (r = 0): name them, outside the hot loop
            from ..neighbor_list import build_pairs

            pairs = build_pairs(positions, cell, pbc, max(self.min_distance, 1e-6), full=False)
            if not len(pairs.distances):
                raise
            k = int(np.argmin(pairs.distances))
            raise CloseContactError(f"{self.name}: atoms {int(pairs.i[k])} and {int(pairs.j[k])} are at one "
                                    f"position ({float(pairs.distances[k]):.3g} Å apart); the potential is "
                                    "infinite there (duplicated atoms in the input?)") from None
        check_contact(closest, ci, cj, self.min_distance, self.name)
        sigma = None
        if stress:
            volume = abs(np.linalg.det(cell))
            if not np.all(pbc) or volume == 0.0:
                raise InputError(f"{self.name}: stress needs a periodic cell with non-zero volume (pbc={list(pbc)})")
            sigma = strain_derivative / volume
        return ForceResult(float(energy), forces, sigma, atom_energies if energies else None)

    def compute(self, system, stress: bool = False, energies: bool = False) -> ForceResult:
        """Energy, forces and, on request, stress and per-atom energies of a :class:`~systems.state.System`."""
        return check_finite(self.compute_arrays(system.positions, system.cell, system.pbc, stress, energies), self.name)

