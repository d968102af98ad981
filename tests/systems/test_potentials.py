"""Classical potentials: F = −∇E and stress = (1/V) ∂E/∂ε by finite differences,
per-atom energies, invariances, parity with ASE's Lennard-Jones, skin reuse,
the charged N-body benchmark's own force formula, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones as AseLennardJones
from ase.stress import full_3x3_to_voigt_6_stress

from systems.errors import CloseContactError, InputError
from systems.potentials import (
    ChargedNBody,
    DoubleWell1D,
    Harmonic1D,
    HarmonicBonds,
    LennardJones,
    LennardJones1D,
    Morse,
    MorseBonds,
    Rugged1D,
)
from systems.state import System

H = 1e-5  # Å, central finite-difference step


# ----------------------------------------------------------------- helpers
def fd_forces(energy, positions, h=H):
    """−∂E/∂x by central differences; ``energy(positions) -> float``."""
    grad = np.zeros_like(positions)
    for a in range(positions.shape[0]):
        for c in range(3):
            plus, minus = positions.copy(), positions.copy()
            plus[a, c] += h
            minus[a, c] -= h
            grad[a, c] = (energy(plus) - energy(minus)) / (2 * h)
    return -grad


def fd_stress(energy, positions, cell, h=1e-6):
    """(1/V) ∂E/∂ε for a small symmetric strain of cell and positions; ``energy(positions, cell)``."""
    volume = abs(np.linalg.det(cell))
    sigma = np.zeros((3, 3))
    for a in range(3):
        for b in range(a, 3):
            eps = np.zeros((3, 3))
            eps[a, b] += 0.5 * h
            eps[b, a] += 0.5 * h
            e = []
            for sign in (1, -1):
                deform = np.eye(3) + sign * eps
                e.append(energy(positions @ deform, cell @ deform))
            sigma[a, b] = sigma[b, a] = (e[0] - e[1]) / (2 * h) / volume
    return sigma


def assert_forces_match(forces, reference, rtol=1e-6):
    scale = np.abs(reference).max()
    np.testing.assert_allclose(forces, reference, rtol=rtol, atol=rtol * scale)


def rattled_argon(repeat=(2, 2, 2), rattle=0.15, seed=1, cubic=True):
    atoms = bulk("Ar", "fcc", a=5.26, cubic=cubic).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    return atoms


def triclinic_bonded_box(seed=3, scatter=True):
    """Four bonded triangles (12 atoms) in a triclinic box, atoms scattered over periodic images.

    Returns positions [12,3] Å, cell [3,3] Å and bonds [12,2]. Atoms are moved
    by whole lattice vectors along axes 0 and 2 only, so the bonds are intact
    through the minimum image whenever those axes are periodic.
    """
    rng = np.random.default_rng(seed)
    cell = np.array([[9.0, 0.0, 0.0], [2.0, 8.5, 0.0], [1.0, -1.5, 9.5]])
    centres = rng.uniform(0, 1, size=(4, 3)) @ cell
    arms = rng.normal(size=(4, 2, 3))
    arms *= (1.3 + 0.4 * rng.uniform(size=(4, 2, 1))) / np.linalg.norm(arms, axis=-1, keepdims=True)
    positions = np.concatenate([centres[:, None], centres[:, None] + arms], axis=1).reshape(12, 3)
    images = rng.integers(-1, 2, size=(12, 3))
    images[:, 1] = 0
    if scatter:
        positions += images @ cell
    bonds = np.array([[3 * m + a, 3 * m + b] for m in range(4) for a, b in ((0, 1), (0, 2), (1, 2))])
    return positions, cell, bonds


PAIR_POTENTIALS = {
    "lj": lambda: LennardJones.argon(cutoff=8.5, skin=0.5),
    "morse": lambda: Morse(D_e=0.0103, a=1.3, r0=3.8, cutoff=8.0, skin=0.5),
}


# ------------------------------------------------------ pair potentials
@pytest.mark.parametrize("name", sorted(PAIR_POTENTIALS))
def test_pair_forces_are_minus_energy_gradient(name):
    atoms = rattled_argon((1, 2, 2))  # cell thinner than twice the cutoff: several images per neighbor
    pot = PAIR_POTENTIALS[name]()
    cell, pbc = atoms.cell.array, atoms.pbc
    res = pot.compute_arrays(atoms.positions, cell, pbc, energies=True)
    ref = fd_forces(lambda x: pot.compute_arrays(x, cell, pbc).energy, atoms.positions)
    assert_forces_match(res.forces, ref)
    assert res.energies.sum() == pytest.approx(res.energy, rel=1e-12)
    assert np.abs(res.forces.sum(axis=0)).max() < 1e-12 * len(atoms)  # Newton's third law


@pytest.mark.parametrize("name", sorted(PAIR_POTENTIALS))
def test_pair_stress_is_strain_derivative(name):
    atoms = rattled_argon((2, 2, 2))
    atoms.set_cell(atoms.cell.array + np.array([[0, 0, 0], [0.8, 0, 0], [0.3, -0.5, 0]]), scale_atoms=True)
    pot = PAIR_POTENTIALS[name]()
    res = pot.compute_arrays(atoms.positions, atoms.cell.array, atoms.pbc, stress=True)
    ref = fd_stress(lambda x, c: PAIR_POTENTIALS[name]().compute_arrays(x, c, atoms.pbc).energy,
                    atoms.positions, atoms.cell.array)
    np.testing.assert_allclose(res.stress, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("name", sorted(PAIR_POTENTIALS))
def test_pair_translation_invariance(name):
    atoms = rattled_argon((2, 2, 2))
    pot = PAIR_POTENTIALS[name]()
    a = pot.compute_arrays(atoms.positions, atoms.cell.array, atoms.pbc)
    b = PAIR_POTENTIALS[name]().compute_arrays(atoms.positions + np.array([3.3, -7.1, 12.9]), atoms.cell.array,
                                                atoms.pbc)
    assert b.energy == pytest.approx(a.energy, rel=1e-11)
    np.testing.assert_allclose(b.forces, a.forces, atol=1e-11)


def test_morse_pair_minimum_and_shift():
    pot = Morse(D_e=0.5, a=2.0, r0=1.5, cutoff=5.0)
    open_box = (np.zeros((3, 3)), [False] * 3)
    at_r0 = pot.compute_arrays(np.array([[0.0, 0, 0], [1.5, 0, 0]]), *open_box)
    shift = 0.5 * ((1 - np.exp(-2.0 * 3.5)) ** 2 - 1)  # U(r_c), subtracted so U(r_c) = 0
    assert at_r0.energy == pytest.approx(-0.5 - shift, rel=1e-12)  # well depth D_e at r0
    assert np.abs(at_r0.forces).max() < 1e-12
    beyond = pot.compute_arrays(np.array([[0.0, 0, 0], [5.01, 0, 0]]), *open_box)
    assert beyond.energy == 0.0


# --------------------------------------------------- parity with ASE's LJ
def _ase_cases():
    tri = bulk("Ar", "fcc", a=5.26).repeat((4, 4, 4))  # primitive FCC cell: triclinic
    tri.rattle(0.1, seed=4)
    thin = rattled_argon((1, 1, 3), seed=5)  # 5.26 Å thick, cutoff 8.5 Å
    return {"rattled_box": (rattled_argon((3, 3, 3), seed=2), 7.0), "triclinic": (tri, 8.5), "thin": (thin, 8.5)}


@pytest.mark.parametrize("case", ["rattled_box", "triclinic", "thin"])
def test_lennard_jones_matches_ase(case):
    atoms, cutoff = _ase_cases()[case]
    sigma, epsilon = 3.405, 0.0103
    ours = LennardJones(sigma, epsilon, cutoff=cutoff, skin=0.5).compute(System.from_atoms(atoms), stress=True, energies=True)
    atoms.calc = AseLennardJones(sigma=sigma, epsilon=epsilon, rc=cutoff, smooth=False)
    assert ours.energy == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
    np.testing.assert_allclose(ours.forces, atoms.get_forces(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(full_3x3_to_voigt_6_stress(ours.stress), atoms.get_stress(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.energies, atoms.get_potential_energies(), rtol=1e-9, atol=1e-13)


def test_lennard_jones_matches_ase_partly_periodic():
    atoms = rattled_argon((2, 2, 2), seed=6)
    atoms.pbc = [True, False, True]
    ours = LennardJones.argon(cutoff=8.0).compute(System.from_atoms(atoms))
    atoms.calc = AseLennardJones(sigma=3.405, epsilon=0.0103, rc=8.0)
    assert ours.energy == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
    np.testing.assert_allclose(ours.forces, atoms.get_forces(), rtol=1e-9, atol=1e-12)


def test_skin_list_reused_over_small_moves_matches_fresh_list():
    rng = np.random.default_rng(7)
    atoms = rattled_argon((3, 3, 3))
    pot = LennardJones.argon(cutoff=8.5, skin=1.0)
    positions = atoms.positions.copy()
    for _ in range(5):
        positions += rng.uniform(-0.03, 0.03, size=positions.shape)  # ≤ 0.26 Å in total: inside skin/2
        reused = pot.compute_arrays(positions, atoms.cell.array, atoms.pbc, stress=True)
        fresh = LennardJones.argon(cutoff=8.5, skin=0.0).compute_arrays(positions, atoms.cell.array, atoms.pbc,
                                                                        stress=True)
        assert reused.energy == pytest.approx(fresh.energy, rel=1e-12)
        np.testing.assert_allclose(reused.forces, fresh.forces, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(reused.stress, fresh.stress, rtol=1e-10, atol=1e-16)
    assert pot.neighbor_list.n_builds == 1
    positions += 0.6  # a rigid shift beyond skin/2 forces a rebuild, and the answer stays right
    moved = pot.compute_arrays(positions, atoms.cell.array, atoms.pbc)
    assert pot.neighbor_list.n_builds == 2
    assert moved.energy == pytest.approx(fresh.energy, rel=1e-10)


# ------------------------------------------------------------------ bonds
BOND_POTENTIALS = {
    "harmonic": lambda bonds: HarmonicBonds(bonds, k=np.linspace(2.0, 9.0, len(bonds)), r0=1.6),
    "morse": lambda bonds: MorseBonds(bonds, D_e=np.linspace(1.0, 4.0, len(bonds)), a=1.7, r0=1.4),
}


@pytest.mark.parametrize("name", sorted(BOND_POTENTIALS))
@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
def test_bond_forces_are_minus_energy_gradient(name, pbc):
    positions, cell, bonds = triclinic_bonded_box(scatter=any(pbc))  # without pbc the triangles must be whole
    pot = BOND_POTENTIALS[name](bonds)
    res = pot.compute_arrays(positions, cell, pbc)
    ref = fd_forces(lambda x: pot.compute_arrays(x, cell, pbc).energy, positions)
    assert_forces_match(res.forces, ref)
    assert res.energies.sum() == pytest.approx(res.energy, rel=1e-12)
    shifted = pot.compute_arrays(positions + np.array([4.4, -2.0, 17.0]), cell, pbc)
    assert shifted.energy == pytest.approx(res.energy, rel=1e-11)
    np.testing.assert_allclose(shifted.forces, res.forces, atol=1e-10)


def test_bonds_use_the_minimum_image():
    cell = np.eye(3) * 10.0
    positions = np.array([[0.2, 5.0, 5.0], [9.7, 5.0, 5.0]])  # 0.5 Å apart through the x face
    res = HarmonicBonds([[0, 1]], k=2.0, r0=1.0).compute_arrays(positions, cell, [True] * 3)
    assert res.energy == pytest.approx(0.5 * 2.0 * 0.5**2)
    # atom 0 sees atom 1's image 0.5 Å away along −x; the bond is compressed (0.5 < 1.0 Å), so atom 0 is pushed to +x
    np.testing.assert_allclose(res.forces, [[1.0, 0, 0], [-1.0, 0, 0]], atol=1e-12)


@pytest.mark.parametrize("name", sorted(BOND_POTENTIALS))
def test_bond_stress_is_strain_derivative(name):
    positions, cell, bonds = triclinic_bonded_box()
    pot = BOND_POTENTIALS[name](bonds)
    res = pot.compute_arrays(positions, cell, [True] * 3, stress=True)
    ref = fd_stress(lambda x, c: pot.compute_arrays(x, c, [True] * 3).energy, positions, cell)
    np.testing.assert_allclose(res.stress, ref, rtol=1e-5, atol=1e-7 * np.abs(ref).max())


def test_bad_bonds_are_refused_naming_the_bond():
    with pytest.raises(InputError, match="bond 1 joins atom 2 to itself"):
        HarmonicBonds([[0, 1], [2, 2]], k=1.0, r0=1.0)
    with pytest.raises(InputError, match="bond 0 has a negative"):
        HarmonicBonds([[-1, 1]], k=1.0, r0=1.0)
    with pytest.raises(InputError, match="shape"):
        HarmonicBonds([0, 1, 2], k=1.0, r0=1.0)
    with pytest.raises(InputError, match="bond 1 .*non-integer"):
        HarmonicBonds([[0, 1], [1.5, 2]], k=1.0, r0=1.0)
    with pytest.raises(InputError, match="`k` of bond 1"):
        HarmonicBonds([[0, 1], [1, 2]], k=[1.0, -2.0], r0=1.0)
    with pytest.raises(InputError, match="one per bond"):
        MorseBonds([[0, 1], [1, 2]], D_e=[1.0, 2.0, 3.0], a=1.0, r0=1.0)
    pot = HarmonicBonds([[0, 1], [1, 7]], k=1.0, r0=1.0)
    with pytest.raises(InputError, match=r"bond 1 \(atoms \[1, 7\]\) refers to an atom index out of range"):
        pot.compute_arrays(np.zeros((3, 3)) + np.arange(3)[:, None], np.zeros((3, 3)), [False] * 3)
    # a bond longer than half the box has no unambiguous image
    far = np.array([[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [6.5, 5.5, 1.0]])  # bond 1 is 6.4 Å in a 10 Å box
    with pytest.raises(InputError, match="bond 1 .*ambiguous"):
        HarmonicBonds([[0, 1], [1, 2]], k=1.0, r0=1.0).compute_arrays(far, np.eye(3) * 10.0, [True] * 3)


# ---------------------------------------------------------- charged N-body
def benchmark_charged_forces(positions, charges):
    """The charged-particle generator's numpy formula (Kipf et al.'s NRI code, reused by EGNN)."""
    loc = positions.T  # [3, n]
    edges = np.outer(charges, charges)
    l2 = ((loc[:, :, None] - loc[:, None, :]) ** 2).sum(axis=0)
    with np.errstate(divide="ignore"):
        size = edges / l2**1.5
        energy = 0.5 * np.where(l2 > 0, edges / np.sqrt(l2), 0.0).sum()
    np.fill_diagonal(size, 0.0)
    diff = np.stack([np.subtract.outer(loc[d], loc[d]) for d in range(3)])  # [3, n, n]: x_i − x_j
    return energy, (size[None] * diff).sum(axis=-1).T


def test_charged_nbody_matches_benchmark_formula_and_gradient():
    rng = np.random.default_rng(11)
    positions = rng.standard_normal((7, 3)) * 1.5
    charges = rng.choice([-1.0, 1.0], size=7)
    pot = ChargedNBody(charges)
    res = pot.compute_arrays(positions)
    energy, forces = benchmark_charged_forces(positions, charges)
    assert res.energy == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(res.forces, forces, rtol=1e-12, atol=1e-12)
    assert_forces_match(res.forces, fd_forces(lambda x: pot.compute_arrays(x).energy, positions))
    assert res.energies.sum() == pytest.approx(res.energy, rel=1e-12)
    # invariant under translation and rotation (forces rotate with the frame)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    moved = pot.compute_arrays(positions @ q.T + np.array([2.0, -1.0, 0.5]))
    assert moved.energy == pytest.approx(res.energy, rel=1e-12)
    np.testing.assert_allclose(moved.forces, res.forces @ q.T, atol=1e-12)


def test_charged_nbody_force_clip_matches_benchmark_clipping():
    positions = np.array([[0.0, 0, 0], [0.08, 0.01, 0], [2.0, 1.0, -1.0]])
    charges = np.array([1.0, 1.0, -1.0])
    _, forces = benchmark_charged_forces(positions, charges)
    clipped = ChargedNBody(charges, force_clip=100.0, min_distance=0.0).compute_arrays(positions).forces
    assert np.abs(forces).max() > 100.0  # the test only means something if a component is clipped
    np.testing.assert_allclose(clipped, np.clip(forces, -100.0, 100.0), rtol=1e-12)
    assert np.abs(clipped).max() == 100.0


def test_charged_nbody_bad_input():
    with pytest.raises(InputError, match="3 charges .* 2 particles"):
        ChargedNBody([1, -1, 1]).compute_arrays(np.zeros((2, 3)) + [[0, 0, 0], [1, 0, 0]])
    with pytest.raises(InputError, match="charge of particle 1"):
        ChargedNBody([1.0, np.nan])
    system = System(np.zeros(2), np.ones(2), [[0, 0, 0], [1.0, 0, 0]], cell=np.eye(3) * 10, pbc=True)
    with pytest.raises(InputError, match="periodic"):
        ChargedNBody([1, -1]).compute(system)


# ---------------------------------------------------------- 1D potentials
ONE_D = {
    "harmonic": lambda n: Harmonic1D(k=np.linspace(0.5, 3.0, n)),
    "double_well": lambda n: DoubleWell1D(),
    "lj": lambda n: LennardJones1D(sigma=np.linspace(0.9, 1.1, n), epsilon=1.5),
    "rugged": lambda n: Rugged1D(),
}


@pytest.mark.parametrize("name", sorted(ONE_D))
def test_one_d_forces_are_minus_gradient_along_x_only(name):
    rng = np.random.default_rng(13)
    n = 8
    positions = rng.normal(size=(n, 3))
    positions[:, 0] = rng.uniform(0.95, 2.5, n) * rng.choice([-1, 1], n) if name == "lj" else rng.uniform(-4, 4, n)
    pot = ONE_D[name](n)
    res = pot.compute_arrays(positions)
    assert_forces_match(res.forces, fd_forces(lambda x: pot.compute_arrays(x).energy, positions))
    assert np.all(res.forces[:, 1:] == 0.0)
    assert res.energies.sum() == pytest.approx(res.energy, rel=1e-12)
    moved = positions.copy()
    moved[:, 1:] += rng.normal(size=(n, 2)) * 5  # y and z do not matter
    np.testing.assert_array_equal(pot.compute_arrays(moved).forces, res.forces)


def test_one_d_closed_forms():
    x = np.array([-1.0, 0.0, 1.0, 2.0])
    pos = np.zeros((4, 3))
    pos[:, 0] = x
    dw = DoubleWell1D().compute_arrays(pos)
    np.testing.assert_allclose(dw.energies, [-0.25, 0.0, -0.25, 2.0])
    np.testing.assert_allclose(dw.forces[:, 0], [0.0, 0.0, 0.0, -6.0])
    harm = Harmonic1D(k=[1.0, 2.0, 3.0, 4.0]).compute_arrays(pos)
    np.testing.assert_allclose(harm.forces[:, 0], -np.array([1.0, 2.0, 3.0, 4.0]) * x)
    rug = Rugged1D().compute_arrays(pos)
    poly = (x - 4) * (x - 2) * (x + 2) * (x + 3) / 50
    np.testing.assert_allclose(rug.energies, poly + np.sin(30 * (x + 5)) / 5, rtol=1e-13)
    # LJ in 1D: minimum −ε at 2^(1/6)σ on either side of the fixed particle
    rmin = 2 ** (1 / 6)
    pos_lj = np.array([[rmin, 0, 0], [-rmin, 0, 0], [1.5, 0, 0], [-1.5, 0, 0]])
    lj = LennardJones1D(sigma=1.0, epsilon=2.0).compute_arrays(pos_lj)
    np.testing.assert_allclose(lj.energies[:2], -2.0, rtol=1e-12)
    assert np.abs(lj.forces[:2]).max() < 1e-12
    assert lj.forces[2, 0] < 0 < lj.forces[3, 0]  # attracted back towards the origin from both sides


def test_one_d_bad_input():
    with pytest.raises(InputError, match="`k` of particle 1"):
        Harmonic1D(k=[1.0, -1.0])
    with pytest.raises(InputError, match="`k` has 3 values but the system has 2"):
        Harmonic1D(k=[1.0, 2.0, 3.0]).compute_arrays(np.zeros((2, 3)))
    with pytest.raises(CloseContactError, match="particle 1 .*origin"):
        LennardJones1D().compute_arrays(np.array([[1.0, 0, 0], [0.05, 0, 0]]))
    with pytest.raises(InputError, match="stress"):
        DoubleWell1D().compute_arrays(np.zeros((1, 3)), stress=True)


# ------------------------------------------------------------ close contacts
def _contact_positions():
    """8 atoms at least 3 Å apart except atoms 2 and 5, planted 0.05 Å apart."""
    positions = np.array([[i * 3.0, (i % 3) * 3.0, (i % 2) * 3.0] for i in range(8)])
    positions[5] = positions[2] + np.array([0.03, 0.04, 0.0])
    return positions


@pytest.mark.parametrize("make", [
    lambda: LennardJones(sigma=1.0, epsilon=1.0, cutoff=2.5),
    lambda: Morse(D_e=1.0, a=1.0, r0=1.0, cutoff=2.5),
    lambda: ChargedNBody(np.ones(8)),
    lambda: HarmonicBonds([[0, 1], [2, 5]], k=1.0, r0=1.0),
    lambda: MorseBonds([[2, 5], [0, 1]], D_e=1.0, a=1.0, r0=1.0),
], ids=["lj", "morse", "charged", "harmonic_bonds", "morse_bonds"])
def test_close_contacts_name_both_atoms(make):
    positions = _contact_positions()
    system = System(np.zeros(8), np.ones(8), positions)
    with pytest.raises(CloseContactError) as err:
        make().compute(system)
    assert re.search(r"atoms (2 and 5|5 and 2)", str(err.value)), str(err.value)
    assert "0.05" in str(err.value)


def test_argon_box_with_two_atoms_on_top_of_each_other():
    atoms = rattled_argon((2, 2, 2))
    atoms.positions[9] = atoms.positions[4] + [0.0, 0.05, 0.0]
    with pytest.raises(CloseContactError, match=r"atoms (4 and 9|9 and 4)"):
        LennardJones.argon().compute(System.from_atoms(atoms))


# -------------------------------------------------------------- bad states
def test_system_refuses_nan_positions_and_bad_masses_naming_the_atom():
    positions = np.zeros((4, 3)) + np.arange(4)[:, None]
    bad = positions.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="atom 3"):
        System(np.ones(4), np.ones(4), bad)
    bad[3, 1] = np.inf
    with pytest.raises(InputError, match="atom 3"):
        System(np.ones(4), np.ones(4), bad)
    for mass in (0.0, -1.0):
        masses = np.ones(4)
        masses[2] = mass
        with pytest.raises(InputError, match="atom 2"):
            System(np.ones(4), masses, positions)


def test_periodic_axis_with_zero_cell_vector_is_refused():
    cell = np.diag([10.0, 0.0, 10.0])
    with pytest.raises(InputError, match="axis 1 is periodic"):
        System(np.ones(2), np.ones(2), [[0, 0, 0], [1.0, 0, 0]], cell=cell, pbc=True)
    with pytest.raises(InputError, match="axis 1"):
        LennardJones.argon().compute_arrays(np.array([[0, 0, 0], [4.0, 0, 0]]), cell, [True, True, True])


def test_pair_potential_stress_without_a_box_is_refused():
    system = System(np.zeros(2), np.ones(2), [[0, 0, 0], [1.2, 0, 0]])
    with pytest.raises(InputError, match="stress"):
        LennardJones().compute(system, stress=True)
