"""Issue #13 part 4: the paper's LJ16 box and start, and the closed-loop evaluation's physics statistics."""

import numpy as np
import pytest

from integrators.fused_verlet import PeriodicLJ, verlet_lj
from systems.lj16_paper import PAPER_BOX, lj16_paper_system, paper_sites


def test_paper_start_is_the_authors_first_16_lattice_sites():
    sites = paper_sites()
    assert sites.shape == (16, 3)
    # x = −1: all 9 sites; x = 0: the first 7 in (y, z) loop order, z fastest.
    assert np.all(sites[:9, 0] == -1) and np.all(sites[9:, 0] == 0)
    assert sites[9:].tolist() == [[0, -1, -1], [0, -1, 0], [0, -1, 1], [0, 0, -1], [0, 0, 0], [0, 0, 1], [0, 1, -1]]
    system, _ = lj16_paper_system()
    assert np.allclose(np.diag(system.cell), PAPER_BOX) and np.all(system.pbc)
    assert 16 / PAPER_BOX**3 == pytest.approx(0.051, abs=5e-4)
    assert np.all(system.velocities == 0) and np.all(system.masses == 1.0)


def test_energy_and_forces_match_ase_lennard_jones():
    from ase import Atoms
    from ase.calculators.lj import LennardJones as AseLJ

    system, potential = lj16_paper_system()
    ours = potential.compute(system)
    atoms = Atoms("X16", positions=system.positions, cell=system.cell, pbc=True)
    atoms.calc = AseLJ(sigma=1.0, epsilon=2.0, rc=2.5, smooth=False)  # cut and shifted at rc, as ours
    assert ours.energy == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
    assert np.allclose(ours.forces, atoms.get_forces(), atol=1e-9)
    # The fused Verlet kernel sees the same potential.
    pot = PeriodicLJ.from_system(system, potential)
    assert pot.energy(system.positions[None])[0] == pytest.approx(ours.energy, rel=1e-12)
    # A displaced start differs, seeded and reproducible.
    a, _ = lj16_paper_system(displacement=0.05, seed=3)
    b, _ = lj16_paper_system(displacement=0.05, seed=3)
    assert np.array_equal(a.positions, b.positions) and not np.allclose(a.positions, system.positions)


def test_verlet_from_the_paper_start_conserves_energy():
    system, potential = lj16_paper_system()
    pot = PeriodicLJ.from_system(system, potential)
    tr = verlet_lj(system.positions, system.velocities, system.masses, pot, 0.001, 20_000, 100)
    e = tr.potential_energy + tr.kinetic_energy
    assert tr.kinetic_energy[-1] > 1.0  # the lattice start is far from equilibrium: it heats up
    assert np.abs((e - e[0]) / e[0]).max() < 1e-3


@pytest.fixture(scope="module")
def verlet_run():
    """Verlet from the paper start to t = 220τ, a state every τ; the first 20τ (thermalisation) dropped."""
    system, potential = lj16_paper_system()
    pot = PeriodicLJ.from_system(system, potential)
    tr = verlet_lj(system.positions, system.velocities, system.masses, pot, 0.001, 220_000, 1000)
    return tr.positions[20:], tr.velocities[20:], system


def test_maxwell_statistic_is_small_for_verlet_and_large_for_a_wrong_temperature(verlet_run):
    from surrogate.lstm.lj16_eval import maxwell_speed_ks

    _, v, system = verlet_run
    own = maxwell_speed_ks(v, system.masses)
    assert own["samples"] == v.shape[0] * 16
    assert own["ks"] < 0.05  # equilibrium NVE speeds follow MB at their own mean kinetic temperature
    # Against MB at twice (or half) the temperature the same speeds are far off.
    assert maxwell_speed_ks(v, system.masses, kT=2 * own["kT_eV"])["ks"] > 0.2
    assert maxwell_speed_ks(v, system.masses, kT=0.5 * own["kT_eV"])["ks"] > 0.2
    # A non-Maxwellian velocity set with the same kinetic energy (every speed equal) is far off too.
    speeds = np.linalg.norm(v, axis=-1, keepdims=True)
    flat = v / speeds * np.sqrt(np.mean(speeds**2))
    assert maxwell_speed_ks(flat, system.masses)["ks"] > 0.3


def test_rdf_distance_passes_verlet_against_itself_and_fails_a_perturbed_run(verlet_run):
    from surrogate.lstm.lj16_eval import RDF_TOLERANCE, rdf_distance

    x, _, system = verlet_run
    box = np.diag(system.cell)
    same = rdf_distance(x, x, box)
    assert same["rdf_error"] == pytest.approx(0.0, abs=1e-12) and same["passed"]
    assert same["tolerance"] == RDF_TOLERANCE == 0.05
    # Positions jittered by 0.15σ blur the first peak of the cluster: the distance exceeds compare's limit.
    jitter = x + np.random.default_rng(0).normal(0.0, 0.15, x.shape)
    bad = rdf_distance(x, jitter, box)
    assert bad["rdf_error"] > bad["limit"] and not bad["passed"]


def test_feasibility_repair_brings_the_potential_energy_below_the_shell_and_keeps_the_centre_of_mass():
    from surrogate.lstm.feasibility import FeasibilityRepair

    system, potential = lj16_paper_system()
    e0 = potential.compute(system).energy  # at rest: E0 = U0
    system.velocities[:] = np.random.default_rng(1).normal(0.0, 1.0, (16, 3))
    system.velocities -= system.velocities.mean(0)
    system.positions[3] = system.positions[4] + [0.75, 0.0, 0.0]  # an overlap a bad prediction makes
    repair = FeasibilityRepair(potential, min_alpha=0.5)
    before = system.positions.copy()
    assert repair.compute(system).energy > e0 and np.array_equal(system.positions, before)  # unarmed: untouched
    repair.arm(e0)
    com = system.positions.mean(0)
    result = repair.compute(system)
    assert result.energy <= e0 - 0.25 * system.kinetic_energy()  # the correction now finds α ≥ 0.5
    assert result.energy == pytest.approx(potential.compute(system).energy)
    assert np.allclose(system.positions.mean(0), com, atol=1e-12)  # pair forces sum to zero
    assert repair.repaired_strides == 1 and repair.extra_force_calls >= 1


def test_feasibility_repair_separates_atoms_the_provider_would_refuse():
    from surrogate.lstm.feasibility import FeasibilityRepair

    system, potential = lj16_paper_system()
    e0 = potential.compute(system).energy
    system.positions[3] = system.positions[4] + [0.05, 0.0, 0.0]  # closer than the provider's 0.1 Å limit
    repair = FeasibilityRepair(potential)
    repair.arm(e0)
    com = system.positions.mean(0)
    assert repair.compute(system).energy <= e0
    assert repair.separated_pairs >= 1 and np.linalg.norm(system.positions[3] - system.positions[4]) >= 0.8 - 1e-9
    assert np.allclose(system.positions.mean(0), com, atol=1e-12)


def test_the_paper_stride_amplifies_errors_and_a_tenth_of_it_does_not(verlet_run):
    """Why a closed loop at Δ_R = 1000Δ is hard here: the exact stride map multiplies a small position
    error by ~20 in one stride (a closed loop compounds it), while at 100Δ it stays ~1."""
    from surrogate.lstm.lj16_eval import stride_map_amplification

    x, v, system = verlet_run
    pot = PeriodicLJ.from_system(system, lj16_paper_system()[1])
    long = stride_map_amplification(pot, system.masses, x[:30], v[:30], 1000)
    short = stride_map_amplification(pot, system.masses, x[:30], v[:30], 100)
    assert long["median"] > 5.0 and short["median"] < 2.0
