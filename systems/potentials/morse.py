"""Morse pair potential, cut and shifted: U(r) = D_e[(1 − e^{−a(r−r0)})² − 1] − U(r_c) for r < r_c.

Unshifted, the well depth is D_e at r0 and U → 0 at large r, so this is a
non-bonded pair potential (for bonds with U(r0) = 0 see
:class:`~systems.potentials.bonded.MorseBonds`). Forces are the unshifted Morse
forces; they jump at r_c like the Lennard-Jones ones.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .pair_kernels import MORSE
from .pair_potential import PairPotential


def morse_pair_energy(r, D_e: float, a: float, r0: float):
    """Unshifted Morse pair energy D_e[(1 − e^{−a(r−r0)})² − 1] in eV at distance r (Å)."""
    x = np.exp(-a * (np.asarray(r, dtype=np.float64) - r0))
    return D_e * ((1.0 - x) ** 2 - 1.0)


class Morse(PairPotential):
    """Single-species Morse pair potential over a skin neighbor list.

    Parameters
    ----------
    D_e : float, eV
        Well depth (> 0).
    a : float, 1/Å
        Inverse width (> 0).
    r0 : float, Å
        Equilibrium distance (> 0).
    cutoff : float, Å, optional
        Default r0 + 6/a, where the unshifted energy is −2e⁻⁶·D_e ≈ −0.005·D_e.
    skin : float, Å
        Neighbor-list skin.
    shift_energy : bool
        Subtract U(r_c) so the energy is continuous at the cutoff.
    min_distance : float, Å
        Closer pairs raise :class:`~systems.errors.CloseContactError`.
    """

    name = "Morse"
    kind = MORSE

    def __init__(self, D_e: float, a: float, r0: float, cutoff: float | None = None, skin: float = 1.0,
                 shift_energy: bool = True, min_distance: float = 0.1):
        for label, value in (("D_e", D_e), ("a", a), ("r0", r0)):
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"Morse: `{label}` must be positive and finite, got {value!r}")
        cutoff = r0 + 6.0 / a if cutoff is None else cutoff
        self.D_e, self.a, self.r0 = float(D_e), float(a), float(r0)
        shift = float(morse_pair_energy(cutoff, D_e, a, r0)) if shift_energy else 0.0
        super().__init__([D_e, a, r0, shift], cutoff, skin, min_distance)
