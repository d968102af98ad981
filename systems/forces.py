"""What a force evaluation returns, and the check that it is finite."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .errors import InputError


class ForceResult(NamedTuple):
    """Energy, forces and optionally stress of one configuration.

    energy : float, eV
    forces : float64 [n_atoms, 3], eV/Å
    stress : float64 [3, 3], eV/Å³, or None. ASE's sign convention: the strain
        derivative of the energy divided by the volume (negative when compressed).
    energies : float64 [n_atoms], eV, or None; per-atom energies that sum to ``energy``.
    uncertainty : dict or None; a committee's spread around the mean it returns:
        ``"energy_std"`` (float, eV), ``"forces_std"`` (float64 [n_atoms], eV/Å, the per-atom
        norm of the force standard deviation) and ``"max_force_std"`` (float, eV/Å).
    """

    energy: float
    forces: np.ndarray
    stress: Optional[np.ndarray] = None
    energies: Optional[np.ndarray] = None
    uncertainty: Optional[dict] = None


class NonFiniteError(InputError, FloatingPointError):
    """A force provider or calculator returned a non-finite energy, forces, stress or per-atom energies.

    ``source`` names the provider (e.g. "EGNN model runs/ar/best.pt"), ``quantity`` the
    field ("energy", "forces", "stress", "energies", "positions") and ``atoms`` the first offending
    atom indices (at most 10; empty when no atom can be named).

    It is an :class:`~systems.errors.InputError` (outside a run the CLI reports it with
    exit status 2: a model or calculator that gives NaN for the input is bad input), and
    a ``FloatingPointError``, which the simulation driver treats as a blow-up mid-run: it
    becomes a :class:`~integrators.runaway.RunawayError` naming the step and these atoms
    (the CLI then exits 1, as for any runaway).
    """

    def __init__(self, message: str, source: str, quantity: str, atoms=()):
        super().__init__(message)
        self.source = str(source)
        self.quantity = str(quantity)
        self.atoms = tuple(int(a) for a in atoms)


def _first_atoms(bad: np.ndarray) -> tuple[np.ndarray, str]:
    """The first ten atoms where ``bad`` [n] is set, and a text such as "3 atoms (first: 0, 4, 9)"."""
    atoms = np.flatnonzero(bad)
    shown = ", ".join(str(int(a)) for a in atoms[:10]) + (", ..." if len(atoms) > 10 else "")
    return atoms[:10], f"{len(atoms)} atom{'s' if len(atoms) != 1 else ''} (first: {shown})"


def check_finite(result: ForceResult, source: str) -> ForceResult:
    """``result`` unchanged if its energy (eV), forces [n, 3] (eV/Å), stress [3, 3] (eV/Å³) and
    per-atom energies [n] (eV), where present, are all finite; otherwise raise
    :class:`NonFiniteError` naming ``source``, the quantity and the first offending atoms.

    Cost: one ``np.isfinite`` over the forces (and the small stress / energies arrays); the
    per-atom search runs only when something is not finite.
    """
    forces = result.forces
    if forces is not None and not np.isfinite(forces).all():
        forces = np.asarray(forces)
        atoms, text = _first_atoms(~np.isfinite(forces.reshape(len(forces), -1)).all(axis=1))
        raise NonFiniteError(f"{source}: non-finite forces on {text}", source, "forces", atoms)
    energy = result.energy
    energies = result.energies
    if not np.isfinite(energy):
        if energies is not None and not np.isfinite(energies).all():
            atoms, text = _first_atoms(~np.isfinite(np.asarray(energies)))
            raise NonFiniteError(f"{source}: the potential energy is {energy}; per-atom energies are not finite "
                                 f"on {text}", source, "energy", atoms)
        raise NonFiniteError(f"{source}: the potential energy is {energy}", source, "energy")
    if energies is not None and not np.isfinite(energies).all():
        atoms, text = _first_atoms(~np.isfinite(np.asarray(energies)))
        raise NonFiniteError(f"{source}: non-finite per-atom energies on {text}", source, "energies", atoms)
    if result.stress is not None and not np.isfinite(result.stress).all():
        raise NonFiniteError(f"{source}: the stress is not finite: {np.asarray(result.stress).tolist()}",
                             source, "stress")
    return result


def check_finite_positions(positions, source: str) -> None:
    """Raise :class:`NonFiniteError` (quantity "positions") naming ``source`` and the first atoms whose
    position [n, 3] (Å) is not finite; for providers that would otherwise fail inside a library."""
    positions = np.asarray(positions)
    if not np.isfinite(positions).all():
        atoms, text = _first_atoms(~np.isfinite(positions).all(axis=1))
        raise NonFiniteError(f"{source}: non-finite positions of {text}", source, "positions", atoms)
