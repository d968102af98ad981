"""The Integrator base class: required members, declared optional members, misspellings refused,
and the one degrees-of-freedom definition the integrators share."""

import numpy as np
import pytest

from integrators import Bussi, Integrator, LangevinBAOAB, MetropolisMC, Simulation, VelocityVerlet
from integrators.integrator_base import OPTIONAL_MEMBERS
from systems import units
from systems.catalogue import liquid_argon
from systems.potentials import LennardJones
from systems.state import degrees_of_freedom

from .recorder import Recorder


class _Duck:
    """Has every required member but does not inherit Integrator."""

    timestep = 1.0
    last_result = None

    def initialize(self, system):
        pass

    def step(self, system):
        system.time += self.timestep

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class _Drift(Integrator):
    """x += Δ v (free flight; no forces) that books a made-up heat of 0.25 eV per step."""

    timestep = 0.5

    def initialize(self, system):
        pass

    def step(self, system):
        system.positions += self.timestep * system.velocities
        system.time += self.timestep
        self.energy_exchanged += 0.25

    def state_dict(self):
        return {"energy_exchanged": self.energy_exchanged}

    def load_state_dict(self, state):
        self.energy_exchanged = state["energy_exchanged"]


def test_every_integrator_of_the_package_inherits_the_base_class():
    from surrogate.lstm import LSTMOperatorIntegrator
    from surrogate.lstm.manybody import ManyBodyOperatorIntegrator

    for cls in (VelocityVerlet, LangevinBAOAB, Bussi, MetropolisMC, LSTMOperatorIntegrator,
                ManyBodyOperatorIntegrator):
        assert issubclass(cls, Integrator), cls.__name__
    for name in OPTIONAL_MEMBERS:
        assert hasattr(Integrator, name), name


def test_an_object_that_does_not_inherit_is_refused_naming_what_it_lacks():
    system = liquid_argon(16, seed=0)
    with pytest.raises(TypeError, match="_Duck is not an integrators.Integrator"):
        Simulation(system, _Duck(), provider=LennardJones.argon())

    class Half:
        def step(self, system):
            pass

    with pytest.raises(TypeError, match="lacks `timestep`, `initialize`, `state_dict`, `load_state_dict`, `last_result`"):
        Simulation(system, Half())


def test_a_subclass_missing_a_required_method_cannot_be_made():
    class NoStep(Integrator):
        timestep = 1.0

        def initialize(self, system):
            pass

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    with pytest.raises(TypeError, match="step"):
        NoStep()


def test_a_misspelt_optional_member_is_refused_not_silently_defaulted():
    with pytest.raises(TypeError, match=r"`degree_of_freedom` \(did you mean `degrees_of_freedom`\?\)"):
        class Misspelt(_Drift):  # noqa: F841
            def degree_of_freedom(self, system):
                return 3 * system.n_atoms

    drift = _Drift()
    drift.energy_exchnaged = 1.0  # the heat would be lost from the conserved energy
    with pytest.raises(TypeError, match=r"`energy_exchnaged` \(did you mean `energy_exchanged`\?\)"):
        Simulation(liquid_argon(16, seed=0), drift, provider=LennardJones.argon())


def test_defaults_conserved_energy_subtracts_the_heat_and_temperature_uses_3n_minus_3():
    system = liquid_argon(16, temperature_K=90.0, seed=0)
    provider = LennardJones.argon()
    recorder = Recorder(2, fields={"energy"}, report_initial=True)
    with Simulation(system, _Drift(), [recorder], provider=provider) as sim:
        sim.run(4)
    assert recorder.steps == [0, 2, 4]
    for step, energy, kinetic, conserved, temperature in zip(recorder.steps, recorder.energies, recorder.kinetic,
                                                             recorder.conserved, recorder.temperatures):
        assert conserved == pytest.approx(energy + kinetic - 0.25 * step, abs=1e-12)
        assert temperature == pytest.approx(2.0 * kinetic / ((3 * 16 - 3) * units.kB))
    assert provider.compute(system).energy == pytest.approx(recorder.energies[-1])


def test_one_degrees_of_freedom_definition():
    assert degrees_of_freedom(10, com_fixed=True) == 27
    assert degrees_of_freedom(10, com_fixed=False) == 30
    assert degrees_of_freedom(10, com_fixed=False, n_constraints=6) == 24  # two fixed atoms
    assert degrees_of_freedom(1, com_fixed=True) == 3  # a single atom keeps its three
    assert degrees_of_freedom(0, com_fixed=True) == 1  # never zero: a temperature is always defined

    system = liquid_argon(16, temperature_K=90.0, seed=0)  # Maxwell–Boltzmann start: centre of mass at rest
    assert system.centre_of_mass_at_rest()
    lj = LennardJones.argon()
    assert VelocityVerlet(lj, timestep_fs=1.0).degrees_of_freedom(system) == 45
    assert LangevinBAOAB(lj, timestep_fs=1.0, temperature_K=90, friction_per_fs=0.01,
                          seed=0).degrees_of_freedom(system) == 48
    assert MetropolisMC(lj, temperature_K=90, seed=0).degrees_of_freedom(system) == 45
    assert system.temperature() == pytest.approx(2 * system.kinetic_energy() / (45 * units.kB))
    system.velocities += [1e-3, 0.0, 0.0]  # a drifting centre of mass is kinetic energy too
    assert not system.centre_of_mass_at_rest()
    assert VelocityVerlet(lj, timestep_fs=1.0).degrees_of_freedom(system) == 48


def test_bussi_fixes_its_degrees_of_freedom_at_initialize_and_checkpoints_them():
    system = liquid_argon(16, temperature_K=90.0, seed=0)
    bussi = Bussi(LennardJones.argon(), timestep_fs=2.0, temperature_K=90.0, tau_fs=100.0, seed=1)
    bussi.initialize(system)
    assert bussi.degrees_of_freedom(system) == 45
    moving = system.copy()
    moving.velocities += [1e-3, 0.0, 0.0]
    assert bussi.degrees_of_freedom(moving) == 45  # decided once, not re-evaluated per half-step
    for _ in range(5):
        bussi.step(system)
    state = bussi.state_dict()
    assert state["degrees_of_freedom"] == 45
    resumed = Bussi(LennardJones.argon(), timestep_fs=2.0, temperature_K=90.0, tau_fs=100.0, seed=1)
    resumed.load_state_dict(state)
    assert resumed.degrees_of_freedom(moving) == 45
    copy = system.copy()
    bussi.step(system)
    resumed.step(copy)
    np.testing.assert_array_equal(system.velocities, copy.velocities)
