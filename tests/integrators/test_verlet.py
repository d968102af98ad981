"""Velocity Verlet: parity with ASE, NVE energy drift, Maxwell–Boltzmann start."""

import numpy as np
from ase.calculators.lj import LennardJones as AseLennardJones
from ase.md.verlet import VelocityVerlet as AseVelocityVerlet

from integrators import LangevinBAOAB, Simulation, VelocityVerlet
from systems import units
from systems.catalogue import argon_fcc, liquid_argon
from systems.potentials import LennardJones
from systems.velocities import maxwell_boltzmann

from .recorder import Recorder


def test_matches_ase_velocity_verlet_with_ase_lennard_jones():
    system = argon_fcc(3, temperature_K=80.0, seed=4)  # 108 atoms
    atoms = system.to_atoms()
    atoms.calc = AseLennardJones(sigma=3.405, epsilon=0.0103, rc=8.5, smooth=False)
    AseVelocityVerlet(atoms, timestep=2.0 * units.fs).run(100)

    sim = Simulation(system, VelocityVerlet(LennardJones.argon(cutoff=8.5), timestep_fs=2.0))
    sim.run(100)
    assert sim.step == 100
    assert np.abs(system.positions - atoms.positions).max() < 1e-8
    assert np.abs(system.velocities - atoms.get_velocities()).max() < 1e-8
    assert abs(system.time - 100 * 2.0 * units.fs) < 1e-12
    assert abs(sim.integrator.last_result.energy - atoms.get_potential_energy()) < 1e-8


def test_nve_energy_drift_below_1e4_eV_per_atom_per_ns():
    system = liquid_argon(108, seed=3)
    Simulation(system, LangevinBAOAB(LennardJones.argon(), timestep_fs=5.0, temperature_K=94.4, friction_per_fs=0.02,
                                     seed=1)).run(300)
    recorder = Recorder(20, {"energy"}, report_initial=True)
    sim = Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=2.0), [recorder])
    sim.run(2000)  # 4 ps
    times_ns = np.array(recorder.steps) * 2.0e-6
    energy_per_atom = np.array(recorder.conserved) / system.n_atoms
    slope = np.polyfit(times_ns, energy_per_atom, 1)[0]  # eV/atom/ns
    assert abs(slope) < 1e-4, slope
    # the total energy wanders by far less than the kinetic energy fluctuates
    assert np.ptp(energy_per_atom) < 1e-5
    assert np.std(recorder.kinetic) / system.n_atoms > 10 * np.std(energy_per_atom)


def test_maxwell_boltzmann_start_has_zero_momentum_and_stays_so():
    system = liquid_argon(108, seed=2)
    system.velocities = maxwell_boltzmann(system.masses, 120.0, np.random.default_rng(7))
    assert np.abs(system.momenta.sum(axis=0)).max() < 1e-12
    Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=5.0)).run(50)
    assert np.abs(system.momenta.sum(axis=0)).max() < 1e-10
    assert 60.0 < system.temperature() < 200.0


def test_timestep_keywords_and_errors():
    import pytest

    from systems.errors import InputError

    lj = LennardJones.argon()
    assert VelocityVerlet(lj, timestep_fs=2.0).timestep == 2.0 * units.fs
    assert VelocityVerlet(lj, 0.1).timestep == 0.1
    with pytest.raises(InputError, match="timestep"):
        VelocityVerlet(lj, 0.1, timestep_fs=2.0)
    with pytest.raises(InputError, match="timestep_fs"):
        VelocityVerlet(lj, timestep_fs=-1.0)
    with pytest.raises(TypeError, match="provider"):
        VelocityVerlet(object(), timestep_fs=1.0)
