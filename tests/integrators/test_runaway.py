"""Runaway detection at report time: a state the force provider cannot evaluate stops the run."""

import pytest

from integrators import Integrator


class _CollapsingOperator(Integrator):
    """A large-stride integrator that knows no energy and, on its 3rd stride, puts atom 1 onto atom 0
    (what a learned operator that left its training distribution can do)."""

    timestep = 10.0

    def __init__(self):
        self.calls = 0

    def initialize(self, system):
        pass

    def step(self, system):
        self.calls += 1
        system.positions[:, 0] += 0.01
        if self.calls == 3:
            system.positions[1] = system.positions[0] + 0.01

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]

    @property
    def last_result(self):
        return None


def test_state_that_cannot_be_evaluated_at_a_report_is_a_runaway(tmp_path):
    import io

    from integrators import RunawayError, Simulation, ThermoLogReporter
    from systems.catalogue import argon_fcc
    from systems.potentials import LennardJones

    system = argon_fcc((2, 2, 2), seed=0)
    log = io.StringIO()
    sim = Simulation(system, _CollapsingOperator(), [ThermoLogReporter(log, 1)], provider=LennardJones.argon())
    with pytest.raises(RunawayError, match="step 3") as info:
        sim.run(5)
    assert "atoms 0 and 1" in str(info.value)
    assert len(log.getvalue().strip().splitlines()) == 1 + 3  # header, initial state, steps 1 and 2


def test_temperature_limit_waits_out_its_patience_then_names_the_streak():
    from integrators.runaway import RunawayError, RunawayGuard
    from systems.catalogue import liquid_argon

    system = liquid_argon(8, seed=0)
    guard = RunawayGuard(max_temperature_K=500.0, interval=10, temperature_patience=30)
    guard.check(system, 10, 900.0)   # a brief excursion: tolerated
    guard.check(system, 20, 900.0)
    guard.check(system, 30, 100.0)   # back below: the streak ends
    guard.check(system, 40, 900.0)
    guard.check(system, 60, 900.0)   # 20 steps above: still within patience
    with pytest.raises(RunawayError, match=r"runaway at step 70: temperature 900 K exceeds the limit 500 K "
                                           r"since step 40") as err:
        guard.check(system, 70, 900.0)
    assert err.value.step == 70
    strict = RunawayGuard(max_temperature_K=500.0)
    with pytest.raises(RunawayError, match="at step 10"):
        strict.check(system, 10, 900.0)
