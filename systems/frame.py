"""One trajectory frame as read from or written to a file, in ASE units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError
from .forces import ForceResult
from .state import System


@dataclass
class Frame:
    """One trajectory frame in ASE units.

    Attributes
    ----------
    numbers : int64 [n]
        Atomic numbers (0 for a pseudo-particle or unknown element).
    positions : float64 [n, 3], Å
    cell : float64 [3, 3], Å (rows are lattice vectors), or None if the file has no box.
    pbc : bool [3]
        True along the axes of the box (all False when ``cell`` is None).
    time : float, ASE time units, or None when the file stores no time.
    index : int
        Index of this frame in the file (before any stride).
    energy : float, eV, or None
    forces : float64 [n, 3], eV/Å, or None
    velocities : float64 [n, 3], Å per ASE time unit, or None
    masses : float64 [n], amu, or None when the file stores none.
    stress : float64 [3, 3], eV/Å³ (ASE's sign), or None; a Voigt 6-vector
        (xx, yy, zz, yz, xz, xy, as ASE stores it) is accepted and expanded.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: Optional[np.ndarray]
    pbc: np.ndarray
    time: Optional[float]
    index: int
    energy: Optional[float] = None
    forces: Optional[np.ndarray] = None
    velocities: Optional[np.ndarray] = None
    masses: Optional[np.ndarray] = None
    stress: Optional[np.ndarray] = None

    def __post_init__(self):
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        n = len(self.numbers)
        self.positions = _float_array("positions", self.positions, (n, 3))
        self.cell = None if self.cell is None else _float_array("cell", self.cell, (3, 3))
        pbc = np.asarray(self.pbc, dtype=bool)
        self.pbc = np.repeat(pbc, 3) if pbc.shape == () else pbc.reshape(3)
        self.time = None if self.time is None else float(self.time)
        self.index = int(self.index)
        self.energy = None if self.energy is None else float(self.energy)
        self.forces = None if self.forces is None else _float_array("forces", self.forces, (n, 3))
        self.velocities = None if self.velocities is None else _float_array("velocities", self.velocities, (n, 3))
        self.masses = None if self.masses is None else _float_array("masses", self.masses, (n,))
        self.stress = None if self.stress is None else _stress_array(self.stress)

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    def to_system(self, masses=None) -> System:
        """This frame as a :class:`System`.

        masses : float64 [n], amu, optional. Default: the file's masses, else
            ``ase.data.atomic_masses`` by atomic number.
        Velocities are zero when the file has none; time 0 when unknown. The
        frame index, energy (eV) and forces (eV/Å) go into ``system.info`` as
        ``"frame"``, ``"energy"`` and ``"forces"`` when present.
        """
        if masses is None:
            masses = self.masses
        if masses is None:
            from ase.data import atomic_masses

            masses = atomic_masses[self.numbers]
        info = {"frame": self.index}
        if self.energy is not None:
            info["energy"] = self.energy
        if self.forces is not None:
            info["forces"] = self.forces.copy()
        return System(
            numbers=self.numbers,
            masses=masses,
            positions=self.positions,
            velocities=self.velocities,
            cell=self.cell,
            pbc=self.pbc,
            time=0.0 if self.time is None else self.time,
            info=info,
        )

    @classmethod
    def from_system(cls, system: System, result: Optional[ForceResult] = None, index: int = 0) -> "Frame":
        """A frame holding ``system``'s state and, if given, ``result``'s energy (eV), forces (eV/Å) and stress (eV/Å³).

        The cell is None when ``system.cell`` is all zeros.
        """
        return cls(
            numbers=system.numbers.copy(),
            positions=system.positions.copy(),
            cell=system.cell.copy() if system.cell.any() else None,
            pbc=system.pbc.copy(),
            time=system.time,
            index=index,
            energy=None if result is None else result.energy,
            forces=None if result is None or result.forces is None else np.array(result.forces, dtype=np.float64),
            velocities=system.velocities.copy(),
            masses=system.masses.copy(),
            stress=None if result is None or result.stress is None else np.array(result.stress, dtype=np.float64),
        )


def _float_array(name: str, value, shape: tuple) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.shape != shape:
        raise InputError(f"Frame `{name}` must have shape {shape}, got {arr.shape}")
    return arr


def _stress_array(value) -> np.ndarray:
    """A stress as float64 [3, 3] eV/Å³, from [3, 3] or ASE's Voigt [6] (xx, yy, zz, yz, xz, xy)."""
    arr = np.array(value, dtype=np.float64)
    if arr.shape == (6,):
        xx, yy, zz, yz, xz, xy = arr
        arr = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    if arr.shape != (3, 3):
        raise InputError(f"Frame `stress` must have shape (3, 3) or Voigt (6,), got {arr.shape}")
    return arr
