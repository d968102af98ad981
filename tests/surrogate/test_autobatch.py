"""The autobatcher: batches sized by edge count, halved and retried on out-of-memory, the safe size kept."""

import numpy as np
import pytest
import torch

from integrators import VelocityVerlet
from integrators.batched_simulation import BatchedSimulation
from surrogate.autobatch import AutoBatcher, is_out_of_memory, split_by_edges
from surrogate.egnn.batched_provider import BatchedEGNNProvider
from surrogate.egnn.model import EGNNEnergyModel
from systems.catalogue import liquid_argon

SIZES = (20, 27, 33, 40, 24, 30)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    return EGNNEnergyModel([18], 5.0, hidden=8, layers=2, n_radial=4, avg_num_neighbors=12.0)


def systems():
    return [liquid_argon(n, seed=i, temperature_K=100.0) for i, n in enumerate(SIZES)]


class MemoryLimited(BatchedEGNNProvider):
    """The real batched EGNN, on a device that runs out of memory above ``limit`` edges in one call
    (as torch does on a GPU: torch.cuda.OutOfMemoryError before any result)."""

    def __init__(self, model, limit):
        super().__init__(model, skin=0.5)
        self.limit = limit
        self.batch_edges = []  # the edge count of every call that succeeded

    def compute_batch(self, systems, stress=False, *, replicas=None):
        replicas = range(len(systems)) if replicas is None else replicas
        edges = sum(self.count_edges(s, r) for s, r in zip(systems, replicas))
        if edges > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate for {edges} edges")
        self.batch_edges.append(edges)
        return super().compute_batch(systems, stress, replicas=replicas)


def test_split_by_edges():
    assert split_by_edges([5, 5, 5, 20, 3, 4], 10) == [[0, 1], [2], [3], [4, 5]]
    assert split_by_edges([5, 5, 5], 100) == [[0, 1, 2]]
    assert split_by_edges([], 10) == []


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
                                         "memory: you tried to allocate 1099511627776 bytes"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_budget_splits_and_backs_off(model):
    per_system = [BatchedEGNNProvider(model, skin=0.5).count_edges(s, 0) for s in systems()]
    limit = int(sum(per_system) * 0.4)  # about a third of the replicas fit in one call
    provider = MemoryLimited(model, limit)
    auto = AutoBatcher(provider, max_edges=10 * sum(per_system))  # the estimate is far too generous
    results = auto.compute_batch(systems())
    assert auto.n_backoffs >= 1
    assert auto.max_edges <= limit  # the safe size is remembered
    assert all(e <= limit for e in provider.batch_edges)
    assert sorted(r for batch in auto.last_batches for r in batch) == list(range(len(SIZES)))
    # the results are the unsplit batch's, replica for replica
    reference = BatchedEGNNProvider(model, skin=0.5).compute_batch(systems())
    for got, want in zip(results, reference):
        np.testing.assert_allclose(got.forces, want.forces, rtol=0, atol=1e-6 * abs(want.forces).max())
        assert got.energy == pytest.approx(want.energy, rel=1e-6)
    # a later call uses the remembered budget: no new out-of-memory
    backoffs = auto.n_backoffs
    auto.compute_batch(systems())
    assert auto.n_backoffs == backoffs
    assert len(auto.last_batches) >= 3


def test_a_replica_too_large_alone_and_other_errors(model):
    auto = AutoBatcher(MemoryLimited(model, limit=10), max_edges=10 ** 6)
    with pytest.raises(MemoryError, match="replica 0: its .* edges do not fit in memory even alone"):
        auto.compute_batch(systems()[:2])

    class Broken(BatchedEGNNProvider):
        def compute_batch(self, systems, stress=False, *, replicas=None):
            raise RuntimeError("shape mismatch")

    auto = AutoBatcher(Broken(model), max_edges=10 ** 6)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        auto.compute_batch(systems()[:2])
    assert auto.n_backoffs == 0


def test_autobatched_md_with_backoff_equals_one_batch(model):
    per_system = [BatchedEGNNProvider(model, skin=0.5).count_edges(s, 0) for s in systems()]
    limit = int(sum(per_system) * 0.55)

    def run(provider):
        bsim = BatchedSimulation(systems(), lambda i, p: VelocityVerlet(p, timestep_fs=5.0), provider)
        bsim.run(8)
        return bsim

    auto = AutoBatcher(MemoryLimited(model, limit), max_edges=10 ** 6)
    split = run(auto)
    whole = run(BatchedEGNNProvider(model, skin=0.5))
    assert auto.n_backoffs >= 1 and len(auto.last_batches) >= 2
    assert split.lockstep.n_batched_calls == 9  # still one (auto-split) call per step
    for a, b in zip(split.simulations, whole.simulations):
        np.testing.assert_allclose(a.system.positions, b.system.positions, rtol=0, atol=1e-8)


def test_default_budget_from_free_memory(model):
    auto = AutoBatcher(BatchedEGNNProvider(model))
    assert auto.max_edges > 1000  # this machine has at least a few MB free
    assert BatchedEGNNProvider(model).bytes_per_edge > 0
