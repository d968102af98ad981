"""Metropolis Monte Carlo: harmonic ⟨x²⟩, agreement with Langevin on LJ argon, exact ΔE bookkeeping."""

import numpy as np
import pytest

from integrators import LangevinBAOAB, MetropolisMC, Simulation
from systems import units
from systems.catalogue import liquid_argon, oscillator_1d
from systems.errors import InputError
from systems.potentials import LennardJones

from .recorder import Recorder
from .stats import block_mean


def test_harmonic_oscillator_x2_equals_kT_over_k():
    k = 2.0  # eV/Å²
    temperature_K = 1.0 / units.kB  # kT = 1 eV
    system, potential = oscillator_1d("harmonic", x0=np.zeros(50), k=k, n=50)
    mc = MetropolisMC(potential, temperature_K=temperature_K, step_size=0.5, mode="single", axes=(0,),
                      adapt_sweeps=50, seed=3)
    sim = Simulation(system, mc)
    sim.run(100)  # adaptation and burn-in
    assert abs(mc.last_acceptance - 0.5) < 0.15
    x2 = []
    for _ in range(1500):
        sim.run(1)
        x2.append(np.mean(system.positions[:, 0] ** 2))
    mean, se = block_mean(x2, 20)
    expected = units.kB * temperature_K / k
    assert abs(mean - expected) < 3 * se, (mean, se, expected)
    assert se < 0.05 * expected
    assert np.all(system.positions[:, 1:] == 0.0)  # moves only along x
    assert 0.3 < mc.acceptance_rate < 0.7
    assert len(mc.acceptance_log) == 50 and mc.acceptance_log[0][0] == 1


def test_all_particle_moves_sample_the_same_harmonic_x2():
    system, potential = oscillator_1d("harmonic", x0=np.zeros(4), k=1.0, n=4)
    temperature_K = 0.5 / units.kB
    mc = MetropolisMC(potential, temperature_K=temperature_K, step_size=0.5, mode="all", axes=(0,), seed=9,
                      target_acceptance=0.4)
    sim = Simulation(system, mc)
    sim.run(200)
    x2 = []
    for _ in range(8000):
        sim.run(1)
        x2.append(np.mean(system.positions[:, 0] ** 2))
    mean, se = block_mean(x2, 20)
    assert abs(mean - 0.5) < 3 * se, (mean, se)
    assert mc.last_result is not None and np.isclose(mc.last_result.energy, potential.compute(system).energy)


def test_pair_kernel_tracks_the_exact_total_energy():
    system = liquid_argon(64, seed=1)
    lj = LennardJones.argon()
    mc = MetropolisMC(lj, temperature_K=94.4, step_size=0.3, seed=4, skin=0.5)
    Simulation(system, mc).run(60)  # crosses many list rebuilds (small skin)
    assert mc.energy == pytest.approx(lj.compute(system).energy, abs=1e-9)
    assert mc.attempted == 0  # still adapting: production counters untouched


def test_mc_on_lj_argon_matches_langevin_mean_potential_energy():
    temperature_K = 94.4
    start = liquid_argon(64, temperature_K=temperature_K, seed=2)
    Simulation(start, LangevinBAOAB(LennardJones.argon(), timestep_fs=5.0, temperature_K=temperature_K,
                                    friction_per_fs=0.05, seed=1)).run(400)

    md_system = start.copy()
    recorder = Recorder(5, {"energy"})
    Simulation(md_system, LangevinBAOAB(LennardJones.argon(), timestep_fs=4.0, temperature_K=temperature_K,
                                        friction_per_fs=0.01, seed=2), [recorder]).run(12000)
    md_mean, md_se = block_mean(recorder.energies, 20)

    mc_system = start.copy()
    mc = MetropolisMC(LennardJones.argon(), temperature_K=temperature_K, step_size=0.2, adapt_sweeps=100, seed=3)
    Simulation(mc_system, mc).run(300)  # adaptation (100 sweeps) and burn-in
    mc_recorder = Recorder(1, {"energy"})
    Simulation(mc_system, mc, [mc_recorder]).run(4000)
    mc_mean, mc_se = block_mean(mc_recorder.energies, 20)
    print(f"<Epot> MD {md_mean:.5f} ± {md_se:.5f} eV, MC {mc_mean:.5f} ± {mc_se:.5f} eV")
    assert abs(mc_mean - md_mean) < 3 * np.hypot(md_se, mc_se), (mc_mean, mc_se, md_mean, md_se)
    assert np.hypot(md_se, mc_se) < 0.01 * abs(md_mean)  # error bars tight enough to mean something
    assert 0.35 < mc.acceptance_rate < 0.65


def test_mc_parameter_errors():
    lj = LennardJones.argon()
    with pytest.raises(InputError, match="mode"):
        MetropolisMC(lj, temperature_K=90.0, mode="some", seed=0)
    with pytest.raises(InputError, match="target_acceptance"):
        MetropolisMC(lj, temperature_K=90.0, target_acceptance=1.5, seed=0)
    with pytest.raises(InputError, match="axes"):
        MetropolisMC(lj, temperature_K=90.0, axes=(3,), seed=0)
    with pytest.raises(InputError, match="no timestep"):
        Simulation(liquid_argon(8), MetropolisMC(lj, temperature_K=90.0, seed=0)).run_for(time_ps=1.0)
