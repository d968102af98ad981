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


def test_a_calculator_returning_nan_raises_a_named_error_and_stops_a_run_at_its_step():
    """A real ASE calculator that goes NaN: the provider names it, the atom and the quantity; the driver
    stops the run at the step whose evaluation failed (a RunawayError caused by the NonFiniteError)."""
    from integrators import RunawayError
    from systems.forces import NonFiniteError
    from tests.nonfinite_calculator import GoesNonFinite

    system = liquid_argon(32, seed=0)
    provider = AseCalculatorProvider(GoesNonFinite(finite_calls=0, atom=4))
    with pytest.raises(NonFiniteError, match="ASE calculator GoesNonFinite: non-finite forces on 1 atom") as info:
        provider.compute(system)
    assert info.value.atoms == (4,) and info.value.quantity == "forces"

    provider = AseCalculatorProvider(GoesNonFinite(finite_calls=6, atom=9))  # start + 5 steps are finite
    sim = Simulation(system, VelocityVerlet(provider, timestep_fs=2.0), [Recorder(2, {"energy"})])
    with pytest.raises(RunawayError, match="runaway at step 6: ASE calculator GoesNonFinite") as info:
        sim.run(20)
    assert info.value.step == 6 and info.value.atoms == (9,)
    assert isinstance(info.value.__cause__, NonFiniteError) and sim.step == 5
