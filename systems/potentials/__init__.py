"""Classical reference potentials (Numba). Each one is a force provider:
``compute(system, stress=False) -> ForceResult``."""

from .lennard_jones import ARGON_EPSILON, ARGON_SIGMA, LennardJones
from .pair_potential import PairPotential

__all__ = ["LennardJones", "PairPotential", "ARGON_SIGMA", "ARGON_EPSILON"]
