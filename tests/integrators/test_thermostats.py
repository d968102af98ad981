"""Langevin BAOAB and Bussi: canonical mean temperature, conserved quantity, reproducibility."""

import numpy as np
import pytest

from integrators import Bussi, LangevinBAOAB, Simulation
from systems.catalogue import liquid_argon
from systems.errors import InputError
from systems.potentials import LennardJones

from .recorder import Recorder
from .stats import block_mean

TARGET_K = 110.0


def _equilibrated(seed=5):
    system = liquid_argon(64, temperature_K=TARGET_K, seed=seed)
    Simulation(system, LangevinBAOAB(LennardJones.argon(), timestep_fs=5.0, temperature_K=TARGET_K,
                                     friction_per_fs=0.05, seed=seed)).run(300)
    return system


def _mean_temperature(integrator, system, n_steps=6000):
    recorder = Recorder(1, {"energy"})
    Simulation(system, integrator, [recorder]).run(n_steps)
    return recorder, block_mean(recorder.temperatures, 20)


def test_langevin_mean_temperature_within_three_standard_errors():
    system = _equilibrated()
    integrator = LangevinBAOAB(LennardJones.argon(), timestep_fs=2.0, temperature_K=TARGET_K, friction_per_fs=0.02,
                               seed=11)
    assert integrator.degrees_of_freedom(system) == 3 * system.n_atoms  # the noise thermalises the centre of mass
    recorder, (mean, se) = _mean_temperature(integrator, system)
    assert abs(mean - TARGET_K) < 3 * se, (mean, se)
    assert se < 0.03 * TARGET_K  # the test has power: the error bar is a few kelvin
    # E_tot − heat is conserved up to the integration error, although E_tot itself wanders
    conserved = np.array(recorder.conserved)
    total = np.array(recorder.energies) + np.array(recorder.kinetic)
    assert np.ptp(conserved) < 0.05 * np.ptp(total)


def test_bussi_mean_temperature_within_three_standard_errors_and_conserved_quantity():
    system = _equilibrated(6)
    system.velocities -= system.momenta.sum(axis=0) / system.masses.sum()  # Langevin left the centre of mass moving
    integrator = Bussi(LennardJones.argon(), timestep_fs=2.0, temperature_K=TARGET_K, tau_fs=100.0, seed=12)
    recorder, (mean, se) = _mean_temperature(integrator, system)
    assert abs(mean - TARGET_K) < 3 * se, (mean, se)
    assert se < 0.03 * TARGET_K
    conserved = np.array(recorder.conserved)
    total = np.array(recorder.energies) + np.array(recorder.kinetic)
    assert np.ptp(conserved) < 0.05 * np.ptp(total)
    # rescaling keeps the centre of mass at rest
    assert np.abs(system.momenta.sum(axis=0)).max() < 1e-10


def test_bussi_kinetic_energy_variance_is_canonical():
    """Canonical kinetic-energy fluctuations: std(K)/⟨K⟩ = √(2/N_f)."""
    system = _equilibrated(7)
    system.velocities -= system.momenta.sum(axis=0) / system.masses.sum()
    integrator = Bussi(LennardJones.argon(), timestep_fs=2.0, temperature_K=TARGET_K, tau_fs=20.0, seed=13)
    recorder, _ = _mean_temperature(integrator, system, 4000)
    n_f = integrator.degrees_of_freedom(system)
    relative = np.std(recorder.kinetic) / np.mean(recorder.kinetic)
    assert n_f == 3 * system.n_atoms - 3
    assert abs(relative - np.sqrt(2.0 / n_f)) < 0.15 * np.sqrt(2.0 / n_f), relative


@pytest.mark.parametrize("cls,kw", [(LangevinBAOAB, {"friction_per_fs": 0.01}), (Bussi, {"tau_fs": 50.0})])
def test_same_seed_same_trajectory_other_seed_differs(cls, kw):
    runs = []
    for seed in (1, 1, 2):
        system = liquid_argon(32, seed=0)
        Simulation(system, cls(LennardJones.argon(), timestep_fs=5.0, temperature_K=90.0, seed=seed, **kw)).run(20)
        runs.append(system.positions)
    assert np.array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_thermostat_parameter_errors_name_the_parameter():
    lj = LennardJones.argon()
    with pytest.raises(InputError, match="friction"):
        LangevinBAOAB(lj, timestep_fs=1.0, temperature_K=100.0, seed=0)
    with pytest.raises(InputError, match="temperature_K"):
        LangevinBAOAB(lj, timestep_fs=1.0, temperature_K=-5.0, friction=0.1, seed=0)
    with pytest.raises(InputError, match="seed"):
        LangevinBAOAB(lj, timestep_fs=1.0, temperature_K=100.0, friction=0.1)
    with pytest.raises(InputError, match="tau"):
        Bussi(lj, timestep_fs=1.0, temperature_K=100.0, seed=0)
