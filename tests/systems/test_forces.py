"""check_finite / NonFiniteError, and every classical potential's provider path refusing non-finite results."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from systems.errors import InputError
from systems.forces import ForceResult, NonFiniteError, check_finite
from systems.potentials import ChargedNBody, Harmonic1D, HarmonicBonds, LennardJones, Morse
from systems.state import System


def test_finite_result_passes_unchanged():
    result = ForceResult(-1.5, np.ones((4, 3)), np.eye(3), np.full(4, -0.375))
    assert check_finite(result, "x") is result


@pytest.mark.parametrize("field, quantity, atoms", [
    ("forces", "forces", (2, 7)), ("energy", "energy", ()), ("energies", "energies", (5,)),
    ("stress", "stress", ()), ("energy+energies", "energy", (1,)),
])
def test_names_source_quantity_and_first_atoms(field, quantity, atoms):
    forces, energies, stress, energy = np.zeros((12, 3)), np.zeros(12), np.zeros((3, 3)), 0.0
    if field == "forces":
        forces[2, 1] = np.nan
        forces[7, 0] = -np.inf
    elif field == "energy":
        energy = np.inf
    elif field == "energies":
        energies[5] = np.nan
    elif field == "stress":
        stress[0, 2] = np.nan
    else:
        energy, energies[1] = np.nan, np.nan
    with pytest.raises(NonFiniteError, match=f"my model: .*{quantity.rstrip('s')}") as info:
        check_finite(ForceResult(energy, forces, stress, energies), "my model")
    err = info.value
    assert (err.source, err.quantity, err.atoms) == ("my model", quantity, atoms)
    assert isinstance(err, InputError) and isinstance(err, FloatingPointError)
    for a in atoms:
        assert str(a) in str(err)


def test_many_bad_atoms_are_counted_and_the_first_ten_named():
    forces = np.zeros((50, 3))
    forces[10:40] = np.nan
    with pytest.raises(NonFiniteError, match=r"on 30 atoms \(first: 10, 11, .*, 19, \.\.\.\)") as info:
        check_finite(ForceResult(0.0, forces), "p")
    assert info.value.atoms == tuple(range(10, 20))


def argon(periodic=True):
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    system = System.from_atoms(atoms)
    if not periodic:
        system = System(system.numbers, system.masses, system.positions, None, np.zeros((3, 3)), [False] * 3)
    return system


@pytest.mark.parametrize("make, periodic", [
    (lambda s: LennardJones.argon(), True),
    (lambda s: Morse(D_e=0.01, a=1.0, r0=3.8, cutoff=8.0), True),
    (lambda s: HarmonicBonds([[0, 1], [1, 2], [2, 3]], k=1.0, r0=3.7), True),
    (lambda s: ChargedNBody(np.tile([1.0, -1.0], s.n_atoms // 2)), False),
    (lambda s: Harmonic1D(k=0.5), False),
])
def test_classical_providers_refuse_a_nan_position(make, periodic):
    system = argon(periodic)
    provider = make(system)
    assert np.isfinite(provider.compute(system).forces).all()  # finite input: a finite result
    system.positions[2] = np.nan
    with pytest.raises(NonFiniteError) as info:
        provider.compute(system)
    assert 2 in info.value.atoms and "2" in str(info.value)
