"""An autobatcher: split the replicas into batches that fit in memory, sized by edge count.

A graph model's memory grows with its edges (autograd keeps every layer's edge
messages for the backward pass), so the budget is a number of edges:
``max_edges`` given, or estimated as a fraction of the free device memory
(CUDA: ``torch.cuda.mem_get_info``; CPU: the available RAM) divided by the
provider's ``bytes_per_edge``. Replicas are packed in order into batches whose
edge sum stays within the budget (a replica larger than the budget runs
alone). When a batch still runs out of memory (``torch.cuda.OutOfMemoryError``,
a RuntimeError saying "out of memory" or "can't allocate memory", MemoryError),
the budget is halved below that batch's edges, the batch is split accordingly
and retried, and the smaller budget is kept for every later call.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from systems.errors import InputError

#: Fraction of the free memory the estimated budget may use.
MEMORY_FRACTION = 0.5
#: Bytes per edge assumed for a provider that does not say (a small graph model).
DEFAULT_BYTES_PER_EDGE = 4096.0


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure of torch (CUDA or CPU) or Python."""
    if isinstance(err, MemoryError):
        return True
    try:
        import torch

        if isinstance(err, torch.cuda.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory_bytes(device) -> float:
    """Free memory of ``device`` (bytes): CUDA's free memory, or the available RAM for the CPU."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free)
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 4 GB
        return 4.0e9


def estimate_edges(system, cutoff: float) -> int:
    """Edges within ``cutoff`` (Å) of ``system`` from its density (periodic) or all pairs (otherwise)."""
    n = int(system.n_atoms)
    if np.all(system.pbc) and system.volume > 0:
        return int(math.ceil(n * 4.0 / 3.0 * math.pi * cutoff ** 3 * n / system.volume))
    return n * max(n - 1, 0)


def split_by_edges(counts: Sequence[int], max_edges: int) -> list[list[int]]:
    """Consecutive groups of the indices of ``counts`` whose edge sums stay within ``max_edges``
    (a single item above it forms its own group)."""
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for k, count in enumerate(counts):
        if current and total + count > max_edges:
            groups.append(current)
            current, total = [], 0
        current.append(k)
        total += int(count)
    if current:
        groups.append(current)
    return groups


class AutoBatcher:
    """A :class:`~integrators.protocols.BatchForceProvider` that splits its systems into memory-sized batches.

    Parameters
    ----------
    provider : BatchForceProvider (e.g. :class:`~surrogate.egnn.batched_provider.BatchedEGNNProvider`)
    max_edges : int or None
        Edge budget of one batch; None estimates it from the free memory of ``device`` (see the module).
    device : torch device of the model (default ``provider.model.device`` or "cpu"), for the estimate.
    memory_fraction : fraction of the free memory the estimate may use.

    Attributes: ``max_edges`` (the current budget; halved on out-of-memory and kept), ``n_backoffs``,
    ``n_calls`` (calls of the wrapped provider), ``last_batches`` (the replica groups of the last call).
    """

    def __init__(self, provider, max_edges: int | None = None, *, device=None,
                 memory_fraction: float = MEMORY_FRACTION):
        if not callable(getattr(provider, "compute_batch", None)):
            raise TypeError(f"AutoBatcher: `provider` must have compute_batch, got {type(provider).__name__}")
        self.provider = provider
        if max_edges is None:
            model = getattr(provider, "model", None)
            device = device if device is not None else getattr(model, "device", "cpu")
            per_edge = float(getattr(provider, "bytes_per_edge", None) or DEFAULT_BYTES_PER_EDGE)
            max_edges = int(memory_fraction * free_memory_bytes(device) / per_edge)
        if int(max_edges) < 1:
            raise InputError(f"AutoBatcher: `max_edges` must be at least 1, got {max_edges!r}")
        self.max_edges = int(max_edges)
        self.n_backoffs = 0
        self.n_calls = 0
        self.last_batches: list[list[int]] = []

    def replica_state(self, replica: int):
        return self.provider.replica_state(replica)

    def count_edges(self, system, replica: int) -> int:
        """The provider's exact count when it has one, else the estimate from the density and cutoff."""
        count = getattr(self.provider, "count_edges", None)
        if callable(count):
            return int(count(system, replica))
        cutoff = getattr(self.provider, "cutoff", None) or getattr(self.replica_state(replica), "cutoff", None)
        return estimate_edges(system, float(cutoff or 6.0))

    def compute_batch(self, systems, stress=False, *, replicas=None) -> list:
        """ForceResults of ``systems`` (in order), evaluated in batches within the edge budget."""
        n = len(systems)
        replicas = list(range(n)) if replicas is None else [int(r) for r in replicas]
        flags = [bool(stress)] * n if isinstance(stress, (bool, int)) or stress is None else [bool(s) for s in stress]
        counts = [self.count_edges(s, r) for s, r in zip(systems, replicas)]
        results: list = [None] * n
        queue = split_by_edges(counts, self.max_edges)
        done: list[list[int]] = []
        while queue:
            group = queue.pop(0)
            try:
                self.n_calls += 1
                out = self.provider.compute_batch([systems[k] for k in group], [flags[k] for k in group],
                                                  replicas=[replicas[k] for k in group])
            except Exception as err:  # noqa: BLE001 - only out-of-memory is handled; the rest propagates
                if not is_out_of_memory(err):
                    raise
                edges = sum(counts[k] for k in group)
                _release_cached_memory()
                if len(group) == 1:
                    raise MemoryError(f"replica {replicas[group[0]]}: its {edges} edges do not fit in memory "
                                      f"even alone ({type(err).__name__}: {err})") from err
                # halve: the budget drops below this batch's edges and stays there for later calls
                self.max_edges = max(1, min(self.max_edges, edges // 2))
                self.n_backoffs += 1
                halves = split_by_edges([counts[k] for k in group], self.max_edges)
                if len(halves) == 1:  # the edge counts cannot split it under the budget: halve by count
                    halves = [list(range(len(group) // 2)), list(range(len(group) // 2, len(group)))]
                queue = [[group[k] for k in half] for half in halves] + queue
                continue
            for k, result in zip(group, out):
                results[k] = result
            done.append([replicas[k] for k in group])
        self.last_batches = done
        return results


def _release_cached_memory() -> None:
    """Hand the CUDA caching allocator's blocks back after a failed allocation, before the retry."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
