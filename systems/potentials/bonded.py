"""Bond potentials over an explicit bond list: harmonic and Morse.

Each bond (i, j) contributes U(r) with r = |r_ij| and ``r_ij = x_j − x_i``
taken to its minimum image along periodic axes. The minimum image is found by
rounding fractional coordinates, which is exact whenever the bond is shorter
than half of every periodic plane spacing; longer bonds are refused
(:meth:`systems.boundary.Box.require_minimum_image`), since which image is
bonded would then be ambiguous.

Parameters may be one value for all bonds or one per bond ([m] arrays).
"""

from __future__ import annotations

import numba
import numpy as np

from ..boundary import Box, wrap_fractional
from ..errors import InputError
from ..forces import ForceResult, check_finite
from .pair_kernels import check_contact

#: Bond kinds understood by :func:`bond_energy_forces`.
HARMONIC_BOND = 0
MORSE_BOND = 1


@numba.njit(cache=True)
def bond_energy_forces(positions, basis, inverse, periodic, first, second, kind, params, want_virial):
    """Energy, forces, virial and per-atom energies of a bond list.

    positions [n,3] Å; basis [3,3] Å (cell rows, made invertible on open axes)
    and its inverse [3,3]; periodic [3] bool; first/second [m] int; kind HARMONIC_BOND or MORSE_BOND;
    params [m, p] float64: HARMONIC_BOND [k eV/Å², r0 Å], MORSE_BOND [D_e eV, a 1/Å, r0 Å].
    Returns energy eV, forces [n,3] eV/Å, strain derivative [3,3] eV
    (Σ dU/dr · r_a r_b / r), per-atom energies [n] eV, and the shortest and
    longest bonds as (length Å, bond index).
    """
    n = positions.shape[0]
    m = first.shape[0]
    forces = np.zeros((n, 3))
    energies = np.zeros(n)
    virial = np.zeros((3, 3))
    any_periodic = periodic[0] or periodic[1] or periodic[2]
    d = np.empty(3)
    shortest = np.inf
    b_short = -1
    longest = 0.0
    b_long = -1
    for b in range(m):
        i = first[b]
        j = second[b]
        for c in range(3):
            d[c] = positions[j, c] - positions[i, c]
        if any_periodic:
            wrap_fractional(d, basis, inverse, periodic)  # the minimum image: bonds are < half a plane spacing
        r = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        if r < shortest:
            shortest = r
            b_short = b
        if r > longest:
            longest = r
            b_long = b
        if kind == HARMONIC_BOND:
            dr = r - params[b, 1]
            u = 0.5 * params[b, 0] * dr * dr
            du = params[b, 0] * dr
        else:  # MORSE_BOND: U = D (1 − e^{−a(r−r0)})²
            x = np.exp(-params[b, 1] * (r - params[b, 2]))
            u = params[b, 0] * (1.0 - x) * (1.0 - x)
            du = 2.0 * params[b, 0] * params[b, 1] * x * (1.0 - x)
        energies[i] += 0.5 * u
        energies[j] += 0.5 * u
        g = du / r  # force on i is +g·r_ij, on j is −g·r_ij
        for c in range(3):
            forces[i, c] += g * d[c]
            forces[j, c] -= g * d[c]
        if want_virial:
            for a in range(3):
                for c in range(3):
                    virial[a, c] += g * d[a] * d[c]
    return energies.sum(), forces, virial, energies, shortest, b_short, longest, b_long


def _bond_array(bonds, owner: str) -> np.ndarray:
    arr = np.asarray(bonds)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"{owner}: `bonds` must have shape [n_bonds, 2], got {arr.shape}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr).all(axis=1) | (arr != np.round(arr)).any(axis=1)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            raise InputError(f"{owner}: bond {b} has non-integer atom indices {arr[b].tolist()}")
    elif arr.dtype.kind not in "iu":
        raise InputError(f"{owner}: `bonds` must hold integer atom indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    negative = (arr < 0).any(axis=1)
    if negative.any():
        b = int(np.flatnonzero(negative)[0])
        raise InputError(f"{owner}: bond {b} has a negative atom index {arr[b].tolist()}")
    self_bond = arr[:, 0] == arr[:, 1]
    if self_bond.any():
        b = int(np.flatnonzero(self_bond)[0])
        raise InputError(f"{owner}: bond {b} joins atom {arr[b, 0]} to itself")
    return np.ascontiguousarray(arr)


def _per_bond(name: str, value, n_bonds: int, owner: str, allow_zero: bool = False) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_bonds, float(arr))
    if arr.shape != (n_bonds,):
        raise InputError(f"{owner}: `{name}` must be one value or one per bond ({n_bonds}), got shape {arr.shape}")
    bad = ~np.isfinite(arr) | ((arr < 0) if allow_zero else (arr <= 0))
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        kind = "non-negative" if allow_zero else "positive"
        raise InputError(f"{owner}: `{name}` of bond {b} is {arr[b]!r}; it must be {kind} and finite")
    return arr


class BondPotential:
    """Base class: a bond list, per-bond parameters [m, p] and one kernel call.

    Subclasses set ``name`` and ``kind`` and fill ``self.params``.
    Satisfies the force-provider protocol of ``integrators``.
    """

    name = "bonds"
    kind = -1

    def __init__(self, bonds, min_distance: float = 0.1):
        self.bonds = _bond_array(bonds, self.name)
        self._first = np.ascontiguousarray(self.bonds[:, 0])
        self._second = np.ascontiguousarray(self.bonds[:, 1])
        self.min_distance = float(min_distance)
        self.params = np.zeros((len(self.bonds), 0))

    @property
    def n_bonds(self) -> int:
        return len(self.bonds)

    def _check_indices(self, n_atoms: int) -> None:
        if self.n_bonds and self.bonds.max() >= n_atoms:
            b = int(np.flatnonzero((self.bonds >= n_atoms).any(axis=1))[0])
            raise InputError(
                f"{self.name}: bond {b} (atoms {self.bonds[b].tolist()}) refers to an atom index out of range "
                f"for a system of {n_atoms} atoms"
            )

    def compute_arrays(self, positions, cell, pbc, stress: bool = False) -> ForceResult:
        """Energy (eV), forces [n,3] (eV/Å), stress [3,3] (eV/Å³), per-atom energies [n] for raw arrays (Å)."""
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        self._check_indices(len(positions))
        box = Box(cell, pbc) if pbc.any() else None
        basis, inverse = (box.basis, box.inverse) if box is not None else (np.eye(3), np.eye(3))
        energy, forces, strain_derivative, energies, shortest, bs, longest, bl = bond_energy_forces(
            positions, basis, inverse, pbc, self._first, self._second, self.kind, self.params, bool(stress)
        )
        if self.n_bonds:
            check_contact(shortest, int(self.bonds[bs, 0]), int(self.bonds[bs, 1]), self.min_distance,
                          f"{self.name} (bond {bs})")
            if box is not None:
                try:
                    box.require_minimum_image(longest)
                except InputError as err:
                    raise InputError(
                        f"{self.name}: bond {bl} (atoms {self.bonds[bl].tolist()}) is {longest:.4g} Å long, so its "
                        f"periodic image is ambiguous: {err}"
                    ) from None
        sigma = None
        if stress:
            volume = abs(np.linalg.det(cell))
            if not pbc.all() or volume == 0.0:
                raise InputError(f"{self.name}: stress needs a periodic cell with non-zero volume (pbc={pbc.tolist()})")
            sigma = strain_derivative / volume
        return ForceResult(float(energy), forces, sigma, energies)

    def compute(self, system, stress: bool = False) -> ForceResult:
        """Energy, forces and (if ``stress``) stress of a :class:`~systems.state.System`."""
        return check_finite(self.compute_arrays(system.positions, system.cell, system.pbc, stress), self.name)


class HarmonicBonds(BondPotential):
    """U = Σ_bonds ½ k (r − r0)².

    bonds : int [m, 2] atom indices; k : eV/Å², one or [m] (> 0); r0 : Å, one or [m] (≥ 0);
    min_distance : Å, shorter bonds raise :class:`~systems.errors.CloseContactError`
    (the force direction is undefined at r = 0).
    """

    name = "HarmonicBonds"
    kind = HARMONIC_BOND

    def __init__(self, bonds, k, r0, min_distance: float = 0.1):
        super().__init__(bonds, min_distance)
        m = self.n_bonds
        self.params = np.ascontiguousarray(
            np.column_stack([_per_bond("k", k, m, self.name), _per_bond("r0", r0, m, self.name, allow_zero=True)])
        ).reshape(m, 2)


class MorseBonds(BondPotential):
    """U = Σ_bonds D_e (1 − e^{−a(r − r0)})²: zero at r0, D_e at dissociation.

    bonds : int [m, 2]; D_e : eV, a : 1/Å, r0 : Å, each one value or [m] (> 0);
    min_distance : Å (close-contact guard).
    """

    name = "MorseBonds"
    kind = MORSE_BOND

    def __init__(self, bonds, D_e, a, r0, min_distance: float = 0.1):
        super().__init__(bonds, min_distance)
        m = self.n_bonds
        self.params = np.ascontiguousarray(
            np.column_stack([
                _per_bond("D_e", D_e, m, self.name),
                _per_bond("a", a, m, self.name),
                _per_bond("r0", r0, m, self.name),
            ])
        ).reshape(m, 3)
