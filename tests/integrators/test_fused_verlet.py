"""Fused Numba Verlet loops: agreement with a plain numpy Verlet (and with the
LennardJones force provider), energy conservation, batch independence."""

import numpy as np
import pytest

from integrators.fused_verlet import PeriodicLJ, params_1d, params_from_provider, verlet_1d, verlet_lj
from systems.catalogue import lj_cluster, lj_cluster_potential, oscillator_1d
from systems.errors import InputError
from systems.potentials import LennardJones

DT = 0.001


def numpy_verlet(x, v, m, force, dt, n_steps):
    """The textbook loop, one Python iteration per step."""
    f = force(x)
    for _ in range(n_steps):
        v = v + 0.5 * dt * f / m
        x = x + dt * v
        f = force(x)
        v = v + 0.5 * dt * f / m
    return x, v


FORCES_1D = {
    "harmonic": (dict(k=np.array([1.0, 2.5, 7.0])), lambda x: -np.array([1.0, 2.5, 7.0]) * x),
    "double_well": ({}, lambda x: -(x**3) + x),
    "lennard_jones": ({}, lambda x: 24.0 * (2.0 / x**13 - 1.0 / x**7)),
    "rugged": (dict(c0=0.0, c1=0.0, c2=0.5, c3=0.0, c4=0.1, amplitude=0.2, wavenumber=30.0, offset=5.0),
               lambda x: -(2 * 0.5 * x + 4 * 0.1 * x**3 + 0.2 * 30.0 * np.cos(30.0 * (x + 5.0)))),
}


@pytest.mark.parametrize("potential", sorted(FORCES_1D))
def test_1d_matches_numpy_verlet(potential):
    values, force = FORCES_1D[potential]
    x0 = np.array([1.2, 1.1, 1.5]) if potential == "lennard_jones" else np.array([0.3, -0.8, 1.1])
    v0 = np.array([0.1, -0.2, 0.05])
    m = np.array([1.0, 3.0, 9.5])
    p = params_1d(potential, 3, **values)
    tr = verlet_1d(x0, v0, m, potential, p, DT, 2000, save_every=500)
    assert tr.positions.shape == (5, 3)
    x_ref, v_ref = numpy_verlet(x0, v0, m, force, DT, 2000)
    np.testing.assert_allclose(tr.positions[-1], x_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.velocities[-1], v_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.positions[0], x0)
    np.testing.assert_allclose(tr.times, [0.0, 0.5, 1.0, 1.5, 2.0])


@pytest.mark.parametrize("kind", ["harmonic", "double_well", "lj", "rugged"])
def test_1d_matches_systems_providers(kind):
    x0 = np.array([1.3, -1.2, 1.05]) if kind == "lj" else np.array([0.4, -1.3, 2.0])
    system, provider = oscillator_1d(kind, x0, v0=[0.2, 0.0, -0.1], mass=[1.0, 2.0, 5.0],
                                     k=[1.0, 4.0, 9.0] if kind == "harmonic" else 1.0)
    code, p = params_from_provider(provider, 3)
    tr = verlet_1d(system.positions[:, 0], system.velocities[:, 0], system.masses, code, p, DT, 1500, 1500)
    x_ref, v_ref = numpy_verlet(system.positions[:, 0], system.velocities[:, 0], system.masses,
                                lambda x: provider.energy_force_1d(x)[1], DT, 1500)
    np.testing.assert_allclose(tr.positions[-1], x_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.velocities[-1], v_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.potential_energy[-1], provider.energy_force_1d(x_ref)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, kind", [("double_well", "double_well"), ("lennard_jones", "lj"), ("rugged", "rugged")])
def test_1d_defaults_and_forces_are_the_providers_own(name, kind):
    """One force function and one set of defaults: the fused loop's first state is the provider's, bit for bit."""
    x0 = np.array([1.3, -1.2, 1.05, 2.2])
    system, provider = oscillator_1d(kind, x0, n=4)
    p = params_1d(name, 4)
    code, from_provider = params_from_provider(provider, 4)
    np.testing.assert_array_equal(p, from_provider)
    tr = verlet_1d(x0, np.zeros(4), 1.0, name, p, DT, 1, 1)
    energies = provider.compute(system).energies
    np.testing.assert_array_equal(tr.potential_energy[0], energies)
    # one Verlet step from rest: v = Δ F(x0)/(2m) + Δ F(x1)/(2m); x1 = x0 + Δ² F(x0)/(2m)
    f0 = provider.compute(system).forces[:, 0]
    np.testing.assert_array_equal(tr.positions[1], x0 + DT * (0.5 * DT * f0))


def test_1d_harmonic_energy_and_analytic_solution():
    rng = np.random.default_rng(3)
    n = 64
    k, m = rng.uniform(1, 10, n), rng.uniform(1, 10, n)
    x0 = rng.uniform(-1, 1, n)
    tr = verlet_1d(x0, np.zeros(n), m, "harmonic", params_1d("harmonic", n, k=k), DT, 20000, save_every=100)
    energy = tr.potential_energy + 0.5 * m * tr.velocities**2
    # Verlet's shadow energy: fluctuations O((ωΔ)²) ~ 1e-6 relative, no drift.
    assert np.abs(energy / energy[0] - 1).max() < 1e-5
    omega = np.sqrt(k / m)
    exact = x0 * np.cos(omega * tr.times[:, None])
    assert np.abs(tr.positions - exact).max() < 1e-5  # phase error ω³Δ²t/24 ≲ 1e-6


def _lj16(seed=0, box=4.0):
    rng = np.random.default_rng(seed)
    g = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3) * box / 2
    x = np.concatenate([g, g + box / 4]) + rng.normal(0, 0.05, (16, 3))
    v = rng.normal(0, 0.5, (16, 3))
    return x, v - v.mean(0)


def test_lj_matches_provider_numpy_verlet():
    box = 4.0
    x0, v0 = _lj16()
    m = np.linspace(1.0, 2.0, 16)
    provider = LennardJones(sigma=1.0, epsilon=1.0, cutoff=2.0, skin=0.3)
    cell, pbc = np.eye(3) * box, np.ones(3, bool)
    pot = PeriodicLJ.make(box, 1.0, 1.0, cutoff=2.0)
    tr = verlet_lj(x0, v0, m, pot, DT, 300, save_every=300)
    x_ref, v_ref = numpy_verlet(x0, v0, m[:, None], lambda x: provider.compute_arrays(x, cell, pbc).forces, DT, 300)
    np.testing.assert_allclose(tr.positions[-1], x_ref, rtol=0, atol=1e-11)
    np.testing.assert_allclose(tr.velocities[-1], v_ref, rtol=0, atol=1e-11)
    e_ref = provider.compute_arrays(x_ref, cell, pbc).energy
    assert tr.potential_energy[-1] == pytest.approx(e_ref, abs=1e-11)


@pytest.mark.parametrize("n", [3, 8, 16])
def test_lj_cluster_matches_provider_with_all_images(n):
    # lj_cluster boxes are smaller than twice the 2.5σ cutoff: further images (and,
    # for N = 3, self-images) count, exactly as in the provider's neighbor list.
    system = lj_cluster(n, seed=4)
    provider = lj_cluster_potential(n)
    pot = PeriodicLJ.from_system(system, provider)
    assert pot.n_images.max() >= 1
    v0 = np.random.default_rng(0).normal(0, 0.3, (n, 3))
    tr = verlet_lj(system.positions, v0, system.masses, pot, DT, 200, save_every=200)
    cell, pbc = system.cell, system.pbc
    x_ref, v_ref = numpy_verlet(system.positions, v0, system.masses[:, None],
                                lambda x: provider.compute_arrays(x, cell, pbc).forces, DT, 200)
    np.testing.assert_allclose(tr.positions[-1], x_ref, rtol=0, atol=1e-11)
    np.testing.assert_allclose(tr.velocities[-1], v_ref, rtol=0, atol=1e-11)
    e0 = provider.compute_arrays(system.positions, cell, pbc).energy
    assert tr.potential_energy[0] == pytest.approx(e0, abs=1e-11)


def test_lj_energy_conservation_and_momentum():
    x0, v0 = _lj16(1, box=5.0)
    pot = PeriodicLJ.make(5.0, 1.0, 1.0, cutoff=2.5)
    tr = verlet_lj(x0, v0, np.ones(16), pot, DT, 20000, save_every=100)
    energy = tr.potential_energy + tr.kinetic_energy
    # Cut (not smoothed) forces make small first-order jumps; no systematic drift.
    assert np.abs(energy - energy[0]).max() < 1e-3 * abs(energy[0])
    assert np.abs(energy - energy[0]).max() < 1e-4 * tr.kinetic_energy.mean()
    momentum = tr.velocities.sum(axis=1)
    np.testing.assert_allclose(momentum, momentum[0][None].repeat(len(momentum), 0), atol=1e-10)


def test_lj_batch_replicas_are_independent():
    x0, v0 = _lj16(2)
    rng = np.random.default_rng(5)
    X = x0[None] + rng.normal(0, 0.02, (4, 16, 3))
    V = np.repeat(v0[None], 4, 0)
    pot = PeriodicLJ.make(4.0, 1.0, 1.0, cutoff=2.0)
    batch = verlet_lj(X, V, np.ones(16), pot, DT, 500, save_every=100)
    one = verlet_lj(X[2], V[2], np.ones(16), pot, DT, 500, save_every=100)
    assert batch.positions.shape == (6, 4, 16, 3)
    np.testing.assert_array_equal(batch.positions[:, 2], one.positions)
    np.testing.assert_allclose(pot.energy(batch.positions[-1]), batch.potential_energy[-1], atol=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="too small"):
        PeriodicLJ.make(0.2, cutoff=2.5)
    with pytest.raises(InputError, match="unknown 1D potential"):
        params_1d("quartic", 3)
    with pytest.raises(InputError, match="spring constant"):
        params_1d("harmonic", 3)
    with pytest.raises(InputError, match="timestep"):
        verlet_1d(np.zeros(2), np.zeros(2), 1.0, "double_well", params_1d("double_well", 2), -1.0, 10)
