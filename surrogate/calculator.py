"""``SurrogateCalculator``: a trained EGNN energy model as an ASE calculator.

>>> atoms.calc = SurrogateCalculator("runs/cu/best.pt")
>>> atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()

Works with ASE's MD (``VelocityVerlet``, ``Langevin``), optimisers (``BFGS``)
and ``ase.io``. Energies eV, forces eV/Å, stress eV/Å³ (Voigt order, ASE's
sign), per-atom energies eV. Stress is available for cells periodic along all
three axes; a model whose training never saw a stress (header ``trained_on_stress``
false or absent) warns once, naming its file, the first time stress is asked of it.

A committee file (``surrogate train egnn --committee K``) or a list of models gives the
member mean of every property plus the committee's spread (population std over members,
ddof=0): ``energy_std`` (eV), ``forces_std`` (per atom [n], eV/Å, the norm of each atom's
force std vector) and ``max_force_std`` (eV/Å), readable with
``calc.get_property("forces_std", atoms)`` or from ``calc.results`` after any calculation.
"""

from __future__ import annotations

import difflib

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from systems.errors import InputError


#: Every keyword SurrogateCalculator takes (ASE's Calculator: label, atoms, directory).
KEYWORDS = ("model", "device", "dtype", "skin", "label", "atoms", "directory")


def _unknown_keywords(unknown: dict) -> str:
    """One message naming each unknown keyword, with the nearest accepted one where there is one."""
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), KEYWORDS, n=1)
        parts.append(f"`{name}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
    return (f"SurrogateCalculator: unknown keyword{'s' if len(parts) > 1 else ''} {', '.join(parts)}; "
            f"it takes {', '.join(KEYWORDS)}")


class SurrogateCalculator(Calculator):
    """ASE calculator backed by an :class:`surrogate.egnn.model.EGNNEnergyModel`.

    Parameters
    ----------
    model : path to an EGNN model file or a committee file, an ``EGNNEnergyModel``, or a list of them
    device : "cpu", "cuda", ...
    dtype : "float32" / "float64", or None to keep the model's dtype
    skin : Verlet skin (Å) of the calculator's neighbor list
    label, atoms, directory : as for ASE's ``Calculator`` (no file is written or read)

    Any other keyword is refused with an :class:`~systems.errors.InputError` that names
    it and suggests the nearest accepted one (``devcie="cuda"`` would otherwise be
    swallowed by ASE's parameter dictionary and the model would run on the CPU).
    A non-finite energy, force or stress (e.g. NaN weights) raises
    :class:`~systems.forces.NonFiniteError` naming the model.
    """

    # Class-level and immutable: ASE's base-class list is shared by every calculator.
    implemented_properties = ("energy", "free_energy", "forces", "stress", "energies")
    #: What a committee adds (an instance-level ``implemented_properties`` then lists them too).
    committee_properties = ("energy_std", "forces_std", "max_force_std")

    def __init__(self, model, device="cpu", dtype=None, skin: float = 1.0, *, label=None, atoms=None,
                 directory=".", **unknown):
        if unknown:
            raise InputError(_unknown_keywords(unknown))
        super().__init__(label=label, atoms=atoms, directory=directory)
        from surrogate.egnn.provider import EGNNForceProvider

        self.provider = EGNNForceProvider(model, device=device, dtype=dtype, skin=skin)
        self.provider.name = f"SurrogateCalculator ({self.provider.name})"
        self.model = self.provider.model
        if self.provider.committee:
            self.implemented_properties = type(self).implemented_properties + self.committee_properties

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Fill ``self.results`` with energy, free_energy, forces, energies (and stress if periodic)."""
        Calculator.calculate(self, atoms, properties, system_changes)
        atoms = self.atoms
        try:
            self.model.species_index(atoms.numbers)
        except InputError as exc:
            raise InputError(f"SurrogateCalculator: {exc}") from None
        want_stress = "stress" in properties
        if want_stress and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                f"stress needs a cell periodic along all three axes, got pbc={atoms.pbc.tolist()}"
            )
        result = self.provider.evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc,
                                        stress=want_stress)
        self.results = {
            "energy": result.energy,
            "free_energy": result.energy,
            "forces": result.forces,
            "energies": result.energies,
        }
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(result.stress)
        if result.uncertainty is not None:
            self.results.update({name: result.uncertainty[name] for name in self.committee_properties})
