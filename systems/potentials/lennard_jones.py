"""Lennard-Jones, cut and shifted: U(r) = 4ε[(σ/r)¹² − (σ/r)⁶] − U(r_c) for r < r_c.

The energy shift matches ASE's ``LennardJones(smooth=False)``; forces are the
unshifted LJ forces (they jump at r_c, as in ASE).
"""

from __future__ import annotations

from .pair_kernels import LENNARD_JONES
from .pair_potential import PairPotential

#: Argon: σ = 3.405 Å, ε = 0.0103 eV (≈ 119.8 K), mass 39.948 amu.
ARGON_SIGMA = 3.405
ARGON_EPSILON = 0.0103


class LennardJones(PairPotential):
    """Single-species Lennard-Jones, cut at ``cutoff`` and energy-shifted to zero there.

    sigma Å, epsilon eV, cutoff Å (default 3σ as in ASE), skin Å.
    """

    name = "LennardJones"
    kind = LENNARD_JONES

    def __init__(self, sigma: float = 1.0, epsilon: float = 1.0, cutoff: float | None = None, skin: float = 1.0,
                 shift_energy: bool = True, min_distance: float = 0.1):
        cutoff = 3.0 * sigma if cutoff is None else cutoff
        shift = 4.0 * epsilon * ((sigma / cutoff) ** 12 - (sigma / cutoff) ** 6) if shift_energy else 0.0
        self.sigma, self.epsilon = float(sigma), float(epsilon)
        super().__init__([sigma, epsilon, shift], cutoff, skin, min_distance)

    @classmethod
    def argon(cls, cutoff: float = 8.5, skin: float = 1.0) -> "LennardJones":
        """Argon parameters (σ 3.405 Å, ε 0.0103 eV), default cutoff 8.5 Å."""
        return cls(ARGON_SIGMA, ARGON_EPSILON, cutoff, skin)
