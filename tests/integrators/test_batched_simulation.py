"""BatchedSimulation: B replicas with one batched force call per step equal the unbatched runs, replica for
replica, bit for bit (Lennard-Jones: the loop provider gives each replica the single provider's numbers)."""

import numpy as np
import pytest

from integrators import (Bussi, CheckpointReporter, LangevinBAOAB, ProviderLoop, ReplicaError, Simulation,
                         ThermoLogReporter, VelocityVerlet)
from integrators.batched_simulation import BatchedSimulation
from systems.catalogue import liquid_argon
from systems.errors import CloseContactError
from systems.potentials.lennard_jones import LennardJones

SIZES = (27, 40)  # replicas of different sizes
SEED = 11


def systems():
    return [liquid_argon(n, seed=SEED + i, temperature_K=120.0) for i, n in enumerate(SIZES)]


def make_integrator(kind):
    def build(i, provider):
        if kind == "verlet":
            return VelocityVerlet(provider, timestep_fs=5.0)
        if kind == "langevin":
            return LangevinBAOAB(provider, timestep_fs=5.0, temperature_K=94.4, friction_per_fs=0.01, seed=SEED + i)
        return Bussi(provider, timestep_fs=5.0, temperature_K=94.4, tau_fs=50.0, seed=SEED + i)
    return build


def lj():
    return LennardJones.argon(cutoff=6.0, skin=0.5)


def unbatched(kind, n_steps):
    out = []
    for i, system in enumerate(systems()):
        sim = Simulation(system, make_integrator(kind)(i, lj()))
        sim.run(n_steps)
        out.append(sim)
    return out


@pytest.mark.parametrize("kind", ["verlet", "langevin", "bussi"])
def test_batched_equals_unbatched_bit_for_bit(kind):
    n_steps = 40
    batch = ProviderLoop(factory=lambda i: lj())
    bsim = BatchedSimulation(systems(), make_integrator(kind), batch)
    bsim.run(n_steps)
    # one batched evaluation per step for all replicas (plus the initial forces)
    assert bsim.lockstep.n_batched_calls == n_steps + 1
    for sim, ref in zip(bsim.simulations, unbatched(kind, n_steps)):
        assert sim.step == ref.step == n_steps
        np.testing.assert_array_equal(sim.system.positions, ref.system.positions)
        np.testing.assert_array_equal(sim.system.velocities, ref.system.velocities)
        assert sim.integrator.energy_exchanged == ref.integrator.energy_exchanged
    # the replicas moved, and differently: the comparison is not of two resting states
    assert not np.allclose(bsim.systems[0].positions, systems()[0].positions)


def test_per_replica_reporters_checkpoints_and_exact_resume(tmp_path):
    kind, n_steps, every = "langevin", 30, 10
    batch = ProviderLoop(factory=lambda i: lj())

    def reporters(root):
        return lambda i: [ThermoLogReporter(root / f"r{i}" / "thermo.csv", 5),
                          CheckpointReporter(root / f"r{i}" / "checkpoint.npz", every)]

    with BatchedSimulation(systems(), make_integrator(kind), batch, reporters(tmp_path / "full")) as full:
        full.run(n_steps)
    # the unbatched runs write the same logs, byte for byte
    for i, system in enumerate(systems()):
        with Simulation(system, make_integrator(kind)(i, lj()), [ThermoLogReporter(tmp_path / f"u{i}.csv", 5)]) as s:
            s.run(n_steps)
        assert (tmp_path / f"u{i}.csv").read_text() == (tmp_path / "full" / f"r{i}" / "thermo.csv").read_text()
    # a run stopped at step 20 resumes from its per-replica checkpoints and ends where the full run ended
    with BatchedSimulation(systems(), make_integrator(kind), ProviderLoop(factory=lambda i: lj()),
                           reporters(tmp_path / "cut")) as cut:
        cut.run(20)
        assert cut.lockstep.n_batched_calls == 21
    paths = [tmp_path / "cut" / f"r{i}" / "checkpoint.npz" for i in range(len(SIZES))]
    resumed = BatchedSimulation.from_checkpoints(paths, make_integrator(kind), ProviderLoop(factory=lambda i: lj()))
    assert resumed.step == 20
    resumed.run(n_steps - 20)
    for a, b in zip(resumed.simulations, full.simulations):
        np.testing.assert_array_equal(a.system.positions, b.system.positions)
        np.testing.assert_array_equal(a.system.velocities, b.system.velocities)
        assert a.integrator.energy_exchanged == b.integrator.energy_exchanged


class _Overlapping:
    """Lennard-Jones that refuses one replica's system after a few calls, as a close contact would."""

    def __init__(self, fail_after):
        self.inner, self.calls, self.fail_after = lj(), 0, fail_after
        self.neighbor_list = self.inner.neighbor_list

    def compute(self, system, stress=False):
        self.calls += 1
        if self.calls > self.fail_after:
            raise CloseContactError("atoms 0 and 1 overlap")
        return self.inner.compute(system, stress=stress)


def test_a_failing_replica_stops_alone():
    providers = [lj(), _Overlapping(fail_after=5)]
    bsim = BatchedSimulation(systems(), make_integrator("verlet"), ProviderLoop(providers))
    with pytest.raises(ReplicaError) as info:
        bsim.run(20)
    assert list(info.value.errors) == [1]
    assert "runaway at step 5" in str(info.value)
    assert bsim.simulations[0].step == 20  # the healthy replica finished its run
    np.testing.assert_array_equal(bsim.simulations[0].system.positions, unbatched("verlet", 20)[0].system.positions)


def test_unbatched_checkpoints_resume_batched(tmp_path):
    """A replica's checkpoint has the unbatched format: checkpoints of single runs resume as one batched run,
    which then ends where the single runs end."""
    kind = "bussi"
    paths, refs = [], []
    for i, system in enumerate(systems()):
        sim = Simulation(system, make_integrator(kind)(i, lj()))
        sim.run(12)
        paths.append(sim.save_checkpoint(tmp_path / f"single{i}.npz"))
        sim.run(12)
        refs.append(sim)
    resumed = BatchedSimulation.from_checkpoints(paths, make_integrator(kind), ProviderLoop(factory=lambda i: lj()))
    resumed.run(12)
    for got, want in zip(resumed.simulations, refs):
        assert got.step == want.step == 24
        np.testing.assert_array_equal(got.system.positions, want.system.positions)
        np.testing.assert_array_equal(got.system.velocities, want.system.velocities)
    # and the batched replica's checkpoint holds the same provider state (the neighbor list reference)
    written = resumed.save_checkpoints([tmp_path / "b0.npz", tmp_path / "b1.npz"])
    from integrators import load_checkpoint

    single = refs[0].save_checkpoint(tmp_path / "s0.npz")
    a, b = load_checkpoint(written[0]), load_checkpoint(single)
    assert a.provider_state.keys() == b.provider_state.keys()
    np.testing.assert_array_equal(a.system.positions, b.system.positions)
