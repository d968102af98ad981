"""What a force evaluation returns."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


class ForceResult(NamedTuple):
    """Energy, forces and optionally stress of one configuration.

    energy : float, eV
    forces : float64 [n_atoms, 3], eV/Å
    stress : float64 [3, 3], eV/Å³, or None. ASE's sign convention: the strain
        derivative of the energy divided by the volume (negative when compressed).
    energies : float64 [n_atoms], eV, or None; per-atom energies that sum to ``energy``.
    """

    energy: float
    forces: np.ndarray
    stress: Optional[np.ndarray] = None
    energies: Optional[np.ndarray] = None
