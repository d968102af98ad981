"""Classical reference potentials (Numba). Each one is a force provider:
``compute(system, stress=False) -> ForceResult``."""

from .lennard_jones import ARGON_EPSILON, ARGON_SIGMA, LennardJones
from .pair_potential import PairPotential

__all__ = ["LennardJones", "PairPotential", "ARGON_SIGMA", "ARGON_EPSILON"]
from .bonded import HarmonicBonds, MorseBonds
from .coulomb import ChargedNBody
from .external_1d import DoubleWell1D, Harmonic1D, LennardJones1D, Rugged1D, harmonic_exact
from .morse import Morse

__all__ += ["Morse", "HarmonicBonds", "MorseBonds", "ChargedNBody", "Harmonic1D", "DoubleWell1D", "LennardJones1D",
            "Rugged1D", "harmonic_exact"]
