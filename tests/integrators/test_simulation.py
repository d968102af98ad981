"""The driver: order of reporter calls, fields computed once, bit-for-bit restarts, runaway detection."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from integrators import (
    Bussi,
    CheckpointReporter,
    LangevinBAOAB,
    MetropolisMC,
    RunawayError,
    RunawayGuard,
    Simulation,
    VelocityVerlet,
    load_checkpoint,
)
from integrators.reporters.base import IntervalReporter
from systems import units
from systems.catalogue import argon_fcc, liquid_argon
from systems.potentials import LennardJones

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CountingLJ(LennardJones):
    """Real argon Lennard-Jones that counts its evaluations (and those with stress)."""

    def __init__(self):
        p = LennardJones.argon()
        super().__init__(p.sigma, p.epsilon, p.cutoff)
        self.calls, self.stress_calls = 0, 0

    def compute(self, system, stress=False):
        self.calls += 1
        self.stress_calls += bool(stress)
        return super().compute(system, stress)


class Logging(IntervalReporter):
    def __init__(self, name, interval, fields, log, report_initial=True):
        super().__init__(interval)
        self.name, self.fields, self.log, self.report_initial = name, frozenset(fields), log, report_initial

    def report(self, simulation, snapshot):
        assert snapshot.step == simulation.step
        if "stress" in self.fields:
            assert snapshot.result.stress is not None and snapshot.pressure_GPa is not None
        if "energy" in self.fields:
            assert snapshot.result is not None
        self.log.append((self.name, snapshot.step, id(snapshot)))


def test_reporters_called_at_their_steps_in_order_with_fields_computed_once():
    log = []
    provider = CountingLJ()
    reporters = [Logging("a", 3, {"energy"}, log), Logging("b", 5, {"stress"}, log),
                 Logging("c", 5, {"stress", "forces"}, log), Logging("d", 7, set(), log, report_initial=False)]
    sim = Simulation(liquid_argon(32, seed=1), VelocityVerlet(provider, timestep_fs=5.0), reporters,
                     runaway=RunawayGuard(max_temperature_K=1e4, interval=4))
    sim.run(20)
    expected = {"a": [0, 3, 6, 9, 12, 15, 18], "b": [0, 5, 10, 15, 20], "c": [0, 5, 10, 15, 20], "d": [7, 14]}
    for name, steps in expected.items():
        assert [s for n, s, _ in log if n == name] == steps
    # chronological, and in list order within a step
    assert [s for _, s, _ in log] == sorted(s for _, s, _ in log)
    assert [n for n, s, _ in log if s == 15] == ["a", "b", "c"]
    # one snapshot per report step, shared by every reporter due then
    by_step = {}
    for _, s, snap in log:
        by_step.setdefault(s, set()).add(snap)
    assert all(len(ids) == 1 for ids in by_step.values())
    # one force evaluation per step plus the initial one; stress came from those same evaluations
    assert provider.calls == 21
    assert provider.stress_calls == 5  # steps 0, 5, 10, 15, 20
    # a second run continues the schedule
    sim.run(5)
    assert [s for n, s, _ in log if n == "b"][-1] == 25 and provider.calls == 26


def test_run_for_converts_time():
    sim = Simulation(liquid_argon(8, seed=0), VelocityVerlet(LennardJones.argon(), timestep_fs=2.0))
    assert sim.run_for(time_ps=0.01) == 5 and sim.step == 5
    assert sim.time == pytest.approx(10.0 * units.fs)
    assert sim.run_for(time_fs=4.0) == 2 and sim.run_for(6.0 * units.fs) == 3


def _state(system, integrator):
    return system.positions.copy(), system.velocities.copy(), system.time, integrator.last_result


def _assert_identical(a, b):
    (pa, va, ta, ra), (pb, vb, tb, rb) = a, b
    assert np.array_equal(pa, pb) and np.array_equal(va, vb) and ta == tb
    assert np.array_equal(ra.forces, rb.forces) and ra.energy == rb.energy


def test_verlet_restart_from_checkpoint_is_bit_for_bit(tmp_path):
    n = 150
    reference = argon_fcc(3, temperature_K=90.0, seed=8)
    start = reference.copy()
    vv = VelocityVerlet(LennardJones.argon(), timestep_fs=5.0)
    Simulation(reference, vv).run(2 * n)

    path = tmp_path / "run.ckpt.npz"
    with Simulation(start, VelocityVerlet(LennardJones.argon(), timestep_fs=5.0), [CheckpointReporter(path, n)]) as sim:
        sim.run(n)
    fresh = VelocityVerlet(LennardJones.argon(), timestep_fs=5.0)  # new provider, new neighbor list
    resumed = Simulation.from_checkpoint(path, fresh)
    assert resumed.step == n
    resumed.run(n)
    _assert_identical(_state(reference, vv), _state(resumed.system, fresh))
    assert vv.provider.neighbor_list.n_builds > 1  # the skin ran out at least once


RESUME_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, numba
    numba.set_num_threads(1)
    from integrators import Simulation, LangevinBAOAB
    from systems.potentials import LennardJones
    ckpt, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    integrator = LangevinBAOAB(LennardJones.argon(), timestep_fs=5.0, temperature_K=100.0, friction_per_fs=0.01, seed=123)
    sim = Simulation.from_checkpoint(ckpt, integrator)
    sim.run(n)
    np.savez(out, positions=sim.system.positions, velocities=sim.system.velocities, forces=integrator.last_result.forces,
             time=sim.system.time, exchanged=integrator.energy_exchanged, step=sim.step)
""")


def test_langevin_restart_in_a_fresh_process_is_bit_for_bit(tmp_path):
    n = 100
    make = lambda: LangevinBAOAB(LennardJones.argon(), timestep_fs=5.0, temperature_K=100.0,  # noqa: E731
                                 friction_per_fs=0.01, seed=123)
    reference = liquid_argon(64, seed=4)
    start = reference.copy()
    continuous = make()
    Simulation(reference, continuous).run(2 * n)

    path = tmp_path / "langevin.npz"
    with Simulation(start, make(), [CheckpointReporter(path, n)]) as sim:
        sim.run(n)
    out = tmp_path / "resumed.npz"
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(path), str(out), str(n)], check=True, env=env, cwd=ROOT,
                   timeout=120)
    got = np.load(out)
    assert int(got["step"]) == 2 * n
    assert np.array_equal(got["positions"], reference.positions)
    assert np.array_equal(got["velocities"], reference.velocities)
    assert np.array_equal(got["forces"], continuous.last_result.forces)
    assert float(got["time"]) == reference.time and float(got["exchanged"]) == continuous.energy_exchanged


@pytest.mark.parametrize("make", [
    lambda: Bussi(LennardJones.argon(), timestep_fs=5.0, temperature_K=100.0, tau_fs=50.0, seed=5),
    lambda: MetropolisMC(LennardJones.argon(), temperature_K=100.0, step_size=0.2, adapt_sweeps=10, seed=5, skin=0.4),
])
def test_bussi_and_mc_restart_bit_for_bit(tmp_path, make):
    reference = liquid_argon(32, seed=6)
    start = reference.copy()
    continuous = make()
    Simulation(reference, continuous).run(40)
    path = tmp_path / "c.npz"
    with Simulation(start, make(), [CheckpointReporter(path, 20)]) as sim:
        sim.run(20)
    fresh = make()
    Simulation.from_checkpoint(path, fresh).run(20)
    resumed = load_checkpoint(path)  # the file itself is intact and holds step 20
    assert resumed.step == 20
    sim2 = Simulation.from_checkpoint(path, make())
    sim2.run(20)
    assert np.array_equal(sim2.system.positions, reference.positions)
    assert np.array_equal(sim2.system.velocities, reference.velocities)
    assert json.dumps(sim2.integrator.state_dict()["rng"]) == json.dumps(continuous.state_dict()["rng"])


def test_checkpoint_from_another_integrator_kind_is_refused(tmp_path):
    path = tmp_path / "v.npz"
    Simulation(liquid_argon(8), VelocityVerlet(LennardJones.argon(), timestep_fs=1.0)).save_checkpoint(path)
    with pytest.raises(ValueError, match="VelocityVerlet"):
        Simulation.from_checkpoint(path, LangevinBAOAB(LennardJones.argon(), timestep_fs=1.0, temperature_K=10.0,
                                                       friction=0.1, seed=0))
    with pytest.raises(ValueError, match="timestep"):
        Simulation.from_checkpoint(path, VelocityVerlet(LennardJones.argon(), timestep_fs=2.0))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        Simulation.from_checkpoint(bad, VelocityVerlet(LennardJones.argon(), timestep_fs=1.0))


def test_runaway_temperature_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    system = liquid_argon(32, temperature_K=90.0, seed=2)
    path = tmp_path / "good.npz"
    # 60 fs steps on argon: the dynamics heats up and blows up within tens of steps
    sim = Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=60.0), [CheckpointReporter(path, 1)],
                     runaway=RunawayGuard(max_temperature_K=1000.0, interval=1))
    with pytest.raises(RunawayError, match=r"step \d+") as info:
        sim.run(500)
    assert info.value.step >= 1
    saved = load_checkpoint(path)
    assert saved.step == info.value.step - 1  # the last state that passed the guard
    assert np.isfinite(saved.system.positions).all()
    assert saved.system.temperature() < 1000.0 * 1.01


def test_runaway_close_contact_and_nan_name_the_atoms():
    system = liquid_argon(32, seed=2)
    system.positions[5] = system.positions[3] + [1.0, 0.0, 0.0]
    with pytest.raises(RunawayError, match="atoms 3 and 5 are 1 Å apart") as info:
        Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=1.0),
                   runaway=RunawayGuard(min_distance=2.5)).run(1)
    assert info.value.step == 0 and info.value.atoms == (3, 5)

    system = liquid_argon(32, seed=2)
    sim = Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=1.0), runaway=RunawayGuard(interval=2))
    sim.run(2)
    system.velocities[7] = np.nan
    with pytest.raises(RunawayError, match=r"runaway at step 3.*atom 7"):
        sim.run(4)


def test_overlap_raised_by_the_potential_becomes_a_runaway_error():
    system = liquid_argon(16, seed=2)
    system.positions[1] = system.positions[0] + [0.05, 0.0, 0.0]
    sim = Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=1.0), report_initial=False)
    sim._initialized = True  # skip the initial evaluation: the overlap is met inside a step
    sim.integrator._result = LennardJones.argon().compute(liquid_argon(16, seed=2))
    with pytest.raises(RunawayError, match="runaway at step 1.*atoms 0 and 1"):
        sim.run(3)


def test_configuration_error_mid_run_propagates_as_input_error_not_a_runaway():
    from systems.catalogue import oscillator_1d
    from systems.errors import InputError

    from .recorder import Recorder

    system, potential = oscillator_1d("harmonic", x0=np.linspace(-1.0, 1.0, 4))
    system.cell[:] = np.eye(3) * 10.0
    system.pbc[:] = True  # a box, so the driver asks for the stress that a 1D external field does not have
    sim = Simulation(system, VelocityVerlet(potential, timestep=0.01), [Recorder(2, fields={"stress"})],
                     report_initial=False)
    with pytest.raises(InputError, match="Harmonic1D: an external 1D potential has no stress") as info:
        sim.run(4)
    assert not isinstance(info.value, RunawayError)
    assert sim.step == 1  # the first step ran; the second, whose state is reported with stress, was refused


def test_non_finite_state_mid_run_is_a_runaway_naming_the_atom():
    system = liquid_argon(32, seed=2)
    sim = Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=1.0))
    sim.run(2)
    system.velocities[7] = np.inf  # the provider then refuses the positions with an InputError
    with pytest.raises(RunawayError, match=r"runaway at step 3: position of atom 7 is not finite") as info:
        sim.run(2)
    assert info.value.step == 3 and info.value.atoms == (7,)
