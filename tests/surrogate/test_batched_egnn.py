"""The batched EGNN provider: one model call for all replicas equals the single provider per replica, and a
batched EGNN MD run equals the unbatched runs with the same seeds."""

import numpy as np
import pytest
import torch

from integrators import LangevinBAOAB, Simulation, VelocityVerlet
from integrators.batched_simulation import BatchedSimulation
from surrogate.egnn.batched_provider import BatchedEGNNProvider
from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.provider import EGNNForceProvider
from systems.catalogue import liquid_argon

SIZES = (27, 40)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = EGNNEnergyModel([18], 5.0, hidden=16, layers=2, n_radial=4, avg_num_neighbors=12.0)
    m.energy_scale.fill_(300.0)  # forces of ~0.05 eV/Å: the replicas really move apart from free flight
    return m


def systems():
    return [liquid_argon(n, seed=3 + i, temperature_K=120.0) for i, n in enumerate(SIZES)]


@pytest.mark.filterwarnings("ignore:EGNN model. this model was never trained on stress")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_equals_single_provider(model, dtype):
    batch = BatchedEGNNProvider(model, dtype=dtype, skin=0.5)
    results = batch.compute_batch(systems(), stress=[True, False], replicas=[4, 7])
    for system, result, wants in zip(systems(), results, (True, False)):
        single = EGNNForceProvider(model, dtype=dtype, skin=0.5).compute(system, stress=wants)
        assert result.forces.shape == (system.n_atoms, 3)
        assert abs(single.forces).max() > 1e-2
        # the batch's dense layers see more rows: equal to rounding of the model's dtype (here exactly equal)
        tol = 1e-6 if dtype == torch.float32 else 1e-13
        np.testing.assert_allclose(result.forces, single.forces, rtol=0, atol=tol * abs(single.forces).max())
        assert result.energy == pytest.approx(single.energy, rel=tol)
        np.testing.assert_allclose(result.energies, single.energies, rtol=0, atol=tol * abs(single.energies).max())
        assert (result.stress is None) == (not wants)
        if wants:
            np.testing.assert_allclose(result.stress, single.stress, rtol=0, atol=tol * abs(single.stress).max())
    # each replica slot keeps its own neighbor list
    assert batch.replica_state(4).neighbor_list is not batch.replica_state(7).neighbor_list
    assert batch.count_edges(systems()[1], 7) == batch.replica_state(7).edge_cache.edges(
        systems()[1].positions, systems()[1].cell, systems()[1].pbc).edge_index.shape[1]


@pytest.mark.parametrize("kind", ["verlet", "langevin"])
def test_batched_egnn_md_equals_unbatched(model, kind):
    n_steps = 25

    def integrator(i, provider):
        if kind == "verlet":
            return VelocityVerlet(provider, timestep_fs=5.0)
        return LangevinBAOAB(provider, timestep_fs=5.0, temperature_K=94.4, friction_per_fs=0.01, seed=20 + i)

    batch = BatchedEGNNProvider(model, skin=0.5)
    bsim = BatchedSimulation(systems(), integrator, batch)
    bsim.run(n_steps)
    assert bsim.lockstep.n_batched_calls == n_steps + 1  # one model call per step for both replicas
    assert batch.n_joins < n_steps  # the joined edge tensors are reused while no replica's edges change
    for i, (system, sim) in enumerate(zip(systems(), bsim.simulations)):
        ref = Simulation(system, integrator(i, EGNNForceProvider(model, skin=0.5)))
        ref.run(n_steps)
        moved = np.abs(ref.system.positions - systems()[i].positions).max()
        assert moved > 0.1
        # Float32 model: the batched forces equal the single ones to float32 rounding (1e-7 relative: the
        # batch's dense layers block their rows differently); over 25 steps that stays far below 1e-6 Å
        # (measured here: 0 for the first replica, up to 1e-8 Å for the others).
        np.testing.assert_allclose(sim.system.positions, ref.system.positions, rtol=0, atol=1e-6)
        np.testing.assert_allclose(sim.system.velocities, ref.system.velocities, rtol=0, atol=1e-8)


@pytest.mark.filterwarnings("ignore:EGNN model.*never trained on stress")
def test_cli_replicas_match_single_runs_and_resume(tmp_path, capsys):
    """`surrogate run --replicas 2 --model`: replica i is the single run with --seed seed+i, in
    OUT/replica_00i with a single run's files; --resume continues every replica from its checkpoint."""
    import json

    from surrogate.cli import main
    from systems.trajectory_reader import read_frames
    from tests.surrogate.model_file_helpers import egnn_file

    positions = lambda path: np.array([f.positions for f in read_frames(path)])  # noqa: E731
    model_path = egnn_file(tmp_path / "egnn.pt")
    common = ["run", "--model", model_path, "--n-atoms", 32, "--integrator", "langevin", "--traj-interval", 4,
              "--checkpoint-interval", 8, "--no-progress", "--no-runaway-check", "--seed", 5]
    argv = lambda *extra: [str(a) for a in common + list(extra)]  # noqa: E731
    assert main(argv("--replicas", 2, "--steps", 8, "--out", tmp_path / "ens")) == 0
    assert main(argv("--seed", 6, "--steps", 8, "--out", tmp_path / "single")) == 0
    replica = tmp_path / "ens" / "replica_001"
    for name in ("trajectory.extxyz", "thermo.csv", "run_info.json", "config.yaml", "checkpoint.npz"):
        assert (replica / name).is_file()
    summary = json.loads((tmp_path / "ens" / "replicas.json").read_text())
    assert summary["seeds"] == [5, 6] and summary["batched_force_calls"] == 8 + 2
    a = positions(replica / "trajectory.extxyz")
    b = positions(tmp_path / "single" / "trajectory.extxyz")
    assert a.shape == b.shape == (3, 32, 3)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)  # float32 batch rounding, see module
    # resume to 16 steps equals an uninterrupted 16-step replica run, frame for frame
    assert main(argv("--replicas", 2, "--steps", 16, "--out", tmp_path / "ens", "--resume")) == 0
    assert main(argv("--replicas", 2, "--steps", 16, "--out", tmp_path / "full")) == 0
    for i in range(2):
        got = positions(tmp_path / "ens" / f"replica_00{i}" / "trajectory.extxyz")
        want = positions(tmp_path / "full" / f"replica_00{i}" / "trajectory.extxyz")
        assert got.shape == (5, 32, 3)
        np.testing.assert_array_equal(got, want)
    # Monte Carlo does not evaluate forces step by step: refused by name, nothing written
    assert main(["run", "--replicas", "2", "--integrator", "mc", "--steps", "2", "--out", str(tmp_path / "mc")]) == 2
    assert "--replicas runs MD with --integrator verlet, langevin, bussi" in capsys.readouterr().err
    assert not (tmp_path / "mc").exists()
