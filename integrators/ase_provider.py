"""Any ASE calculator as a force provider."""

from __future__ import annotations

import numpy as np

from systems.forces import ForceResult, check_finite
from systems.state import System


class AseCalculatorProvider:
    """Wrap an ASE calculator (EMT, LennardJones, xTB, an ML model, ...) as a force provider.

    Keeps one ``ase.Atoms`` bound to ``calc`` and updates its positions, cell
    and pbc from the System on each :meth:`compute` (rebuilt when the atoms
    change), so the calculator's own caching and neighbor lists keep working.
    Returns energy (eV), forces [n,3] (eV/Å), stress [3,3] (eV/Å³, from ASE's
    Voigt order xx yy zz yz xz xy; None if the calculator has no stress) and
    per-atom energies when the calculator implements ``energies``. A non-finite
    result raises :class:`~systems.forces.NonFiniteError` naming the calculator.
    """

    def __init__(self, calc):
        if not callable(getattr(calc, "get_property", None)):
            raise TypeError(f"`calc` must be an ASE calculator, got {type(calc).__name__}")
        self.calc = calc
        #: how errors name this provider, e.g. "ASE calculator EMT"
        self.name = f"ASE calculator {type(calc).__name__}"
        self.atoms = None
        self.n_calls = 0

    def _sync(self, system: System):
        atoms = self.atoms
        if atoms is None or len(atoms) != system.n_atoms or not np.array_equal(atoms.numbers, system.numbers):
            atoms = system.to_atoms()
            atoms.calc = self.calc
            self.atoms = atoms
            return atoms
        atoms.set_positions(system.positions, apply_constraint=False)
        if not np.array_equal(atoms.cell.array, system.cell):
            atoms.set_cell(system.cell)
        if not np.array_equal(atoms.pbc, system.pbc):
            atoms.pbc = system.pbc
        return atoms

    def compute(self, system: System, stress: bool = False) -> ForceResult:
        """Energy, forces and (if ``stress``) the 3x3 stress of ``system`` from the wrapped calculator."""
        from ase.stress import voigt_6_to_full_3x3_stress

        atoms = self._sync(system)
        self.n_calls += 1
        energy = float(atoms.get_potential_energy())
        forces = np.array(atoms.get_forces(), dtype=np.float64)  # [n, 3]
        sigma = None
        if stress and "stress" in getattr(self.calc, "implemented_properties", ("stress",)):
            sigma = voigt_6_to_full_3x3_stress(np.array(atoms.get_stress(voigt=True)))  # [3, 3] eV/Å³
        energies = None
        if "energies" in getattr(self.calc, "implemented_properties", ()):
            energies = np.array(atoms.get_potential_energies(), dtype=np.float64)
        return check_finite(ForceResult(energy, forces, sigma, energies), self.name)
