"""MDTraj's nm / ps / kJ mol⁻¹ arrays turned into a :class:`Frame` in ASE units, at the file boundary."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..frame import Frame
from ..units import ANGSTROM_PER_NM, TIME_PER_PS


def box_to_cell(box_nm) -> Optional[np.ndarray]:
    """float64 [3, 3] cell in Å from box vectors in nm; None for a missing or all-zero box."""
    if box_nm is None:
        return None
    box = np.asarray(box_nm, dtype=np.float64)
    return box * ANGSTROM_PER_NM if box.any() else None


def frame_from_nm_ps(numbers, xyz_nm, box_nm, time_ps, index, velocities_nm_ps=None,
                     forces_kj_mol_nm=None) -> Frame:
    """A :class:`Frame` (Å, ASE time, Å/ASE time, eV/Å) from one frame's arrays in MDTraj units.

    numbers : int [n] atomic numbers. xyz_nm : [n, 3] nm. box_nm : [3, 3] nm or None.
    time_ps : ps or None. velocities_nm_ps : [n, 3] nm/ps or None. forces_kj_mol_nm : [n, 3] kJ/(mol nm) or None.
    """
    cell = box_to_cell(box_nm)
    return Frame(
        numbers=numbers,
        positions=np.asarray(xyz_nm, dtype=np.float64) * ANGSTROM_PER_NM,
        cell=cell,
        pbc=np.full(3, cell is not None),
        time=None if time_ps is None else float(time_ps) * TIME_PER_PS,
        index=index,
        velocities=None if velocities_nm_ps is None
        else np.asarray(velocities_nm_ps, dtype=np.float64) * (ANGSTROM_PER_NM / TIME_PER_PS),
        forces=None if forces_kj_mol_nm is None
        else np.asarray(forces_kj_mol_nm, dtype=np.float64) * _ev_per_a_per_kj_mol_nm(),
    )


def _ev_per_a_per_kj_mol_nm() -> float:
    from ase import units

    return units.kJ / units.mol / ANGSTROM_PER_NM
