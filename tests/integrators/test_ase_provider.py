"""Any ASE calculator drives our integrators through AseCalculatorProvider."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones as AseLennardJones

from integrators import AseCalculatorProvider, ForceProvider, Simulation, VelocityVerlet
from systems import System
from systems.catalogue import liquid_argon
from systems.potentials import LennardJones
from systems.velocities import maxwell_boltzmann

from .recorder import Recorder


def test_emt_copper_drives_verlet_and_conserves_energy():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)  # 32 atoms
    system = System.from_atoms(atoms)
    system.velocities = maxwell_boltzmann(system.masses, 600.0, 1)
    provider = AseCalculatorProvider(EMT())
    assert isinstance(provider, ForceProvider)
    recorder = Recorder(5, {"energy"}, report_initial=True)
    Simulation(system, VelocityVerlet(provider, timestep_fs=2.0), [recorder]).run(200)
    energy = np.array(recorder.conserved)
    kinetic = np.array(recorder.kinetic)
    assert np.ptp(energy) < 0.02 * np.ptp(kinetic)  # total energy holds while the kinetic energy swings
    assert np.ptp(kinetic) > 0.1
    assert provider.n_calls == 201  # one evaluation per step, one to start


def test_ase_lennard_jones_through_the_provider_matches_ours_including_stress():
    system = liquid_argon(64, seed=2)
    ours = LennardJones.argon().compute(system, stress=True)
    theirs = AseCalculatorProvider(AseLennardJones(sigma=3.405, epsilon=0.0103, rc=8.5, smooth=False)).compute(
        system, stress=True)
    assert theirs.energy == pytest.approx(ours.energy, abs=1e-10)
    assert np.allclose(theirs.forces, ours.forces, atol=1e-10)
    assert theirs.stress.shape == (3, 3) and np.allclose(theirs.stress, theirs.stress.T)
    assert np.allclose(theirs.stress, ours.stress, atol=1e-12)
    assert theirs.energies is not None and theirs.energies.sum() == pytest.approx(theirs.energy)


def test_provider_follows_moves_and_rejects_non_calculators():
    system = System.from_atoms(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2))
    provider = AseCalculatorProvider(EMT())
    e0 = provider.compute(system).energy
    system.positions[0] += 0.3
    e1 = provider.compute(system).energy
    assert e1 > e0
    system.cell *= 1.02  # the cell follows too
    assert provider.compute(system).energy != e1
    assert provider.atoms.cell.array == pytest.approx(system.cell)
    with pytest.raises(TypeError, match="calc"):
        AseCalculatorProvider(object())
