"""Bonds to hydrogen for RATTLE: from covalent radii and from an MDTraj topology."""

import mdtraj
import numpy as np
import pytest

from systems.constraint_bonds import bond_lengths, hydrogen_bonds_from_radii, hydrogen_bonds_from_topology
from systems.errors import InputError
from systems.state import System
from systems.toy_water import OH_LENGTH, water_box


def test_covalent_radii_find_exactly_the_oh_bonds_of_a_periodic_water_box():
    system, molecules = water_box(3, seed=2)
    pairs = hydrogen_bonds_from_radii(system)
    expected = np.sort(np.concatenate([molecules[:, [0, 1]], molecules[:, [0, 2]]]), axis=1)
    assert np.array_equal(pairs, np.unique(expected, axis=0))
    lengths = bond_lengths(system, pairs)
    # minimum image: molecules straddle the periodic faces, yet every bond is ~1 Å, not ~box length
    raw = np.linalg.norm(system.positions[pairs[:, 0]] - system.positions[pairs[:, 1]], axis=1)
    assert raw.max() > 5.0
    assert np.all(np.abs(lengths - OH_LENGTH) < 0.25)


def test_a_tighter_tolerance_loses_bonds_and_names_the_lone_hydrogen():
    system, _ = water_box(2, seed=1)
    with pytest.raises(InputError, match=r"hydrogen atom \d+ has no partner"):
        hydrogen_bonds_from_radii(system, tolerance=0.5)


def test_no_hydrogen_is_refused():
    argon = System([18, 18], [39.9, 39.9], [[0, 0, 0], [3.8, 0, 0]])
    with pytest.raises(InputError, match="no hydrogen"):
        hydrogen_bonds_from_radii(argon)


def _methanol_topology():
    top = mdtraj.Topology()
    res = top.add_residue("MOH", top.add_chain())
    el = mdtraj.element
    atoms = [top.add_atom(n, e, res) for n, e in
             [("C", el.carbon), ("O", el.oxygen), ("H1", el.hydrogen), ("H2", el.hydrogen), ("H3", el.hydrogen),
              ("HO", el.hydrogen)]]
    for a, b in [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5)]:
        top.add_bond(atoms[a], atoms[b])
    return top


def test_topology_gives_only_the_bonds_with_hydrogen():
    pairs = hydrogen_bonds_from_topology(_methanol_topology(), numbers=[6, 8, 1, 1, 1, 1])
    assert pairs.tolist() == [[0, 2], [0, 3], [0, 4], [1, 5]]  # C–O is not constrained


def test_topology_of_another_system_is_refused_naming_the_atom():
    with pytest.raises(InputError, match="atom 1 is element 8"):
        hydrogen_bonds_from_topology(_methanol_topology(), numbers=[6, 6, 1, 1, 1, 1])


def test_bond_lengths_refuse_bad_indices_and_bonds_as_long_as_half_the_box():
    system, _ = water_box(1, spacing=6.5)
    with pytest.raises(InputError, match=r"bond \(0, 7\)"):
        bond_lengths(system, [[0, 7]])
    far = System([8, 1], [16.0, 1.0], [[0, 0, 0], [3.0, 0, 0]], cell=np.eye(3) * 6.0, pbc=True)
    with pytest.raises(InputError, match="smallest plane spacing"):
        bond_lengths(far, [[0, 1]])


def test_toy_water_forces_are_minus_the_energy_gradient():
    from systems.toy_water import ToyWaterPotential

    system, molecules = water_box(2, seed=3)
    potential = ToyWaterPotential(molecules)
    forces = potential.compute(system).forces
    h = 1e-5
    for atom in (0, 1, 13):  # an O, an H across a periodic face, another H
        for axis in range(3):
            plus, minus = system.copy(), system.copy()
            plus.positions[atom, axis] += h
            minus.positions[atom, axis] -= h
            fd = -(potential.compute(plus).energy - potential.compute(minus).energy) / (2 * h)
            assert abs(fd - forces[atom, axis]) < 1e-6 * max(1.0, abs(fd))


def test_cli_default_bond_tolerance_is_the_library_default():
    from surrogate.cli.constraint_options import DEFAULT_BOND_TOLERANCE
    from systems.constraint_bonds import COVALENT_TOLERANCE

    assert DEFAULT_BOND_TOLERANCE == COVALENT_TOLERANCE
