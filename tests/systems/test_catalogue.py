"""Ready-made systems: sizes, densities, the EGNN N-body initial state, LJ
cluster spacing, and the 1D oscillators against their exact solution."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units as ase_units

from systems.boundary import Box
from systems.catalogue import (
    argon_fcc,
    charged_nbody,
    liquid_argon,
    lj_cluster,
    lj_cluster_potential,
    oscillator_1d,
)
from systems.errors import InputError
from systems.neighbor_list import build_pairs
from systems.potentials import ChargedNBody, Harmonic1D, LennardJones, harmonic_exact

G_PER_AMU = ase_units._amu * 1e3


def density_g_cm3(system):
    return system.masses.sum() * G_PER_AMU / (system.volume * 1e-24)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_argon_fcc_size_and_density(n):
    system = argon_fcc((n, n, n), seed=1)
    assert len(system) == 4 * n**3
    assert system.pbc.all()
    np.testing.assert_allclose(system.cell, np.eye(3) * 5.26 * n)
    assert np.all(system.numbers == 18)
    # 4 atoms of 39.948 amu per (5.26 Å)³
    assert density_g_cm3(system) == pytest.approx(4 * 39.948 * G_PER_AMU / (5.26**3 * 1e-24), rel=1e-4)
    jitter = system.positions - argon_fcc((n, n, n), jitter=0.0).positions
    rms = np.sqrt(np.mean(jitter**2))  # 0.05 Å Gaussian jitter, within 4 standard errors
    assert abs(rms - 0.05) < 4 * 0.05 / np.sqrt(2 * jitter.size)
    np.testing.assert_array_equal(system.positions, argon_fcc((n, n, n), seed=1).positions)  # seeded


def test_argon_fcc_with_temperature():
    system = argon_fcc(4, temperature_K=120.0, seed=2)
    assert len(system) == 256
    assert system.temperature() == pytest.approx(120.0, rel=4 * np.sqrt(2 / (3 * 256)))
    np.testing.assert_allclose(system.momenta.sum(axis=0), 0.0, atol=1e-10)


@pytest.mark.parametrize("n_atoms", [1, 100, 256, 500])
def test_liquid_argon_any_size(n_atoms):
    system = liquid_argon(n_atoms, seed=3)
    assert len(system) == n_atoms
    assert density_g_cm3(system) == pytest.approx(1.374, rel=1e-12)
    if n_atoms > 1:
        np.testing.assert_allclose(system.momenta.sum(axis=0), 0.0, atol=1e-10)
    if n_atoms >= 100:
        assert system.temperature() == pytest.approx(94.4, rel=4 * np.sqrt(2 / (3 * n_atoms - 3)))
        # no overlaps: the nearest pair is a grid spacing minus jitter, far beyond the 0.1 Å guard
        pairs = build_pairs(system.positions, system.cell, system.pbc, 3.0, full=False)
        assert len(pairs.distances) == 0 or pairs.distances.min() > 2.5
        LennardJones.argon().compute(system)  # usable as is


def test_charged_nbody_initial_state_follows_the_benchmark():
    for seed in range(20):
        system, charges = charged_nbody(seed)
        assert len(system) == 5
        assert set(np.unique(charges)) <= {-1.0, 1.0}
        np.testing.assert_array_equal(system.masses, 1.0)
        np.testing.assert_array_equal(system.numbers, 0)
        assert not system.pbc.any()
        assert np.abs(system.positions).max() <= 5.0
        np.testing.assert_allclose(np.linalg.norm(system.velocities, axis=1), 0.5, rtol=1e-12)
        ChargedNBody(charges, force_clip=100.0, min_distance=0.0).compute(system)
    all_charges = np.concatenate([charged_nbody(s)[1] for s in range(200)])
    assert abs(all_charges.mean()) < 4 * 1.0 / np.sqrt(len(all_charges))  # ±1 with equal probability
    positions = np.concatenate([charged_nbody(s)[0].positions for s in range(200)])
    assert positions.std() == pytest.approx(1.0, abs=0.06)  # N(0, 1) per coordinate
    a, qa = charged_nbody(5)
    b, qb = charged_nbody(5)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(qa, qb)


@pytest.mark.parametrize("n", [3, 8, 16])
def test_lj_cluster_minimum_separation_and_box(n):
    system = lj_cluster(n, seed=4)
    assert len(system) == n
    assert system.pbc.all()
    assert system.volume == pytest.approx(n / 0.2, rel=1e-12)
    np.testing.assert_array_equal(system.velocities, 0.0)
    np.testing.assert_array_equal(system.masses, 1.0)
    assert system.info["epsilon"] == (2.0 if n == 16 else 1.0)
    pairs = build_pairs(system.positions, system.cell, system.pbc, 0.9, full=False)
    assert len(pairs.i) == 0  # no two particles (or images) closer than 0.9σ
    frac = Box(system.cell, system.pbc).fractional(system.positions)
    assert frac.min() >= 0.0 and frac.max() < 1.0
    pot = lj_cluster_potential(n)
    assert pot.epsilon == system.info["epsilon"] and pot.sigma == 1.0 and pot.cutoff == 2.5
    result = pot.compute(system)
    assert np.isfinite(result.energy)
    np.testing.assert_allclose(result.forces.sum(axis=0), 0.0, atol=1e-10)


def test_lj_cluster_refuses_an_impossible_packing():
    with pytest.raises(InputError, match="could not place particle"):
        lj_cluster(16, box_length=2.0)


def _velocity_verlet(system, potential, dt, n_steps):
    """A plain velocity Verlet, written out here so the test does not depend on ``integrators``."""
    x = system.positions.copy()
    v = system.velocities.copy()
    m = system.masses[:, None]
    f = potential.compute_arrays(x).forces
    energies = []
    for _ in range(n_steps):
        v += 0.5 * dt * f / m
        x += dt * v
        result = potential.compute_arrays(x)
        f = result.forces
        v += 0.5 * dt * f / m
        energies.append(result.energy + 0.5 * np.sum(m * v**2))
    return x, v, np.array(energies)


def test_harmonic_batch_follows_the_exact_solution():
    x0 = np.array([0.5, -1.0, 2.0, 1.5])
    v0 = np.array([0.0, 0.3, -0.2, 0.0])
    mass = np.array([1.0, 2.0, 5.0, 10.0])
    k = np.array([1.0, 3.0, 0.5, 2.0])
    system, potential = oscillator_1d("harmonic", x0, v0=v0, mass=mass, k=k)
    assert isinstance(potential, Harmonic1D) and len(system) == 4
    dt, n_steps = 0.001, 3000
    x, v, energies = _velocity_verlet(system, potential, dt, n_steps)
    x_exact, v_exact = harmonic_exact(x0, v0, k, mass, dt * n_steps)
    np.testing.assert_allclose(x[:, 0], x_exact, atol=1e-5)  # Verlet's global error is O(dt²)
    np.testing.assert_allclose(v[:, 0], v_exact, atol=1e-5)
    np.testing.assert_array_equal(x[:, 1:], 0.0)
    e0 = 0.5 * np.sum(k * x0**2 + mass * v0**2)
    assert np.abs(energies - e0).max() < 1e-6 * e0  # bounded energy error, no drift


def test_harmonic_exact_conserves_energy_and_has_the_right_period():
    k, m = 2.0, 3.0
    t = np.linspace(0, 20, 101)
    x, v = harmonic_exact(0.7, 0.2, k, m, t)
    np.testing.assert_allclose(0.5 * k * x**2 + 0.5 * m * v**2, 0.5 * k * 0.49 + 0.5 * m * 0.04, rtol=1e-12)
    period = 2 * np.pi * np.sqrt(m / k)
    np.testing.assert_allclose(harmonic_exact(0.7, 0.2, k, m, period), (0.7, 0.2), atol=1e-12)


@pytest.mark.parametrize("kind, x0", [("double_well", 1.3), ("lj", 1.4), ("rugged", -3.0)])
def test_other_oscillators_conserve_energy_under_verlet(kind, x0):
    system, potential = oscillator_1d(kind, x0, v0=0.1, n=3, mass=[1.0, 2.0, 4.0])
    assert len(system) == 3
    _, _, energies = _velocity_verlet(system, potential, 0.001, 2000)
    assert np.ptp(energies) < 1e-4 * max(1.0, abs(energies[0]))


def test_oscillator_bad_input():
    with pytest.raises(InputError, match="unknown `kind`"):
        oscillator_1d("quartic", 1.0)
    with pytest.raises(InputError, match="`k` only applies"):
        oscillator_1d("double_well", 1.0, k=2.0)
    with pytest.raises(InputError, match="broadcast"):
        oscillator_1d("harmonic", [1.0, 2.0], mass=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="mass of atom 1"):
        oscillator_1d("harmonic", [1.0, 2.0], mass=[1.0, 0.0])
