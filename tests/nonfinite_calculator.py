"""A real ASE calculator that turns non-finite: the fault the NonFiniteError tests need.

``--ase-calculator tests.nonfinite_calculator:GoesNonFinite`` loads it in the CLI (the
repository root is on the path when the tests run).
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones


class GoesNonFinite(Calculator):
    """ASE's Lennard-Jones argon for the first ``finite_calls`` evaluations, then NaN: the energy
    and the forces on atom ``atom`` (every later call as well)."""

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, finite_calls: int = 0, atom: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.finite_calls = int(finite_calls)
        self.atom = int(atom)
        self.n_calls = 0
        self.lj = LennardJones(sigma=3.405, epsilon=0.0104, rc=7.0, smooth=True)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        self.n_calls += 1
        probe = self.atoms.copy()
        probe.calc = self.lj
        energy, forces = probe.get_potential_energy(), probe.get_forces()
        if self.n_calls > self.finite_calls:
            energy = np.nan
            forces[self.atom] = np.nan
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
