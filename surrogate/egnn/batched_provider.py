"""The EGNN as a batch force provider: one forward and one backward pass over all replicas' graphs.

Each replica keeps its own :class:`~surrogate.egnn.provider.EGNNForceProvider`
as its slot: its Verlet neighbor list with skin, its edge cache (the edges in
canonical order, reused while the pairs within the cutoff are unchanged), its
species indices and, for a bond-typed model, its bond set. A batched call
concatenates the slots' tensors the torch_geometric way (node indices of graph
b offset by the atoms of graphs 0..b-1, cells stacked to [B, 3, 3], a batch
vector), runs the model once and splits energy, forces and stress back per
replica. While no replica's edges change, the concatenated tensors are reused.

Numbers: the per-atom sums over edges run in the same order as in the single
provider (each atom's edges are contiguous and in the same order), but the
dense layers work on a [E_total, F] matrix instead of [E_i, F]; BLAS may then
block the rows differently, so a replica's forces can differ from the single
provider's in the last bits of the model's dtype (measured on CPU, float32: single
evaluations equal; after 25 Verlet steps the first replica's positions equal and
the others' within 1e-8 Å, see tests/surrogate/test_batched_egnn.py).
"""

from __future__ import annotations

import numpy as np
import torch

from integrators.provider_loop import stress_flags
from systems.errors import InputError
from systems.forces import ForceResult, check_finite

from .autograd_forces import evaluate_tensors
from .model import EGNNEnergyModel
from .provider import EGNNForceProvider


class BatchedEGNNProvider:
    """:class:`~integrators.protocols.BatchForceProvider` of an :class:`EGNNEnergyModel`.

    Parameters
    ----------
    model_or_path : EGNNEnergyModel or model file
    device, dtype, skin (Å), script, topology : as for :class:`~surrogate.egnn.provider.EGNNForceProvider`
        (one such provider per replica holds that replica's neighbor list and edge cache).

    ``compute_batch(systems, stress=False, *, replicas=None) -> list[ForceResult]``: float64 energy (eV),
    forces [n_i, 3] (eV/Å), stress [3, 3] (eV/Å³, periodic systems that asked for it), per-atom energies [n_i].
    ``count_edges(system, replica)`` is the replica's edge count within the cutoff (for the autobatcher);
    ``bytes_per_edge`` an estimate of the memory one edge costs in a forward and backward pass.
    """

    def __init__(self, model_or_path, device="cpu", dtype=None, skin: float = 1.0, script: bool = True,
                 topology=None):
        first = EGNNForceProvider(model_or_path, device=device, dtype=dtype, skin=skin, script=script,
                                  topology=topology)
        self.model: EGNNEnergyModel = first.model
        self.name = first.name
        self._forward = first._forward
        self.scripted = first.scripted
        self._options = dict(device=self.model.device, skin=skin, script=script, topology=topology)
        self._slots: dict[int, EGNNForceProvider] = {0: first}
        self._key = None  # the slots' Edges objects the concatenated tensors below belong to
        self._joined = None
        #: how often the concatenated edge tensors were rebuilt (a test and benchmark figure)
        self.n_joins = 0

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    @property
    def bytes_per_edge(self) -> float:
        """Estimated bytes per edge of one force evaluation: autograd keeps each layer's edge messages
        (about 12 hidden-size vectors per edge and layer), the same estimate as ``surrogate run``'s size check."""
        itemsize = torch.finfo(self.model.dtype).bits // 8
        return 64.0 + 12.0 * itemsize * self.model.hidden * max(1, self.model.n_layers)

    def replica_state(self, replica: int) -> EGNNForceProvider:
        """Replica ``replica``'s slot: an EGNNForceProvider sharing the model, with its own neighbor list."""
        replica = int(replica)
        slot = self._slots.get(replica)
        if slot is None:
            slot = EGNNForceProvider(self.model, **self._options)
            slot.name = self.name
            self._slots[replica] = slot
        return slot

    def count_edges(self, system, replica: int) -> int:
        """Edges within the cutoff of ``system`` in replica ``replica``'s neighbor list (updated, cached)."""
        return int(self._edges(self.replica_state(replica), system).edge_index.shape[1])

    def _edges(self, slot: EGNNForceProvider, system):
        if slot.bond_edges != "none":
            slot._ensure_bonds(system.numbers, system.positions, system.cell, system.pbc)
        return slot.edge_cache.edges(np.ascontiguousarray(system.positions, dtype=np.float64),
                                     np.asarray(system.cell, dtype=np.float64), np.asarray(system.pbc, dtype=bool))

    def compute(self, system, stress: bool = False) -> ForceResult:
        """Single-system protocol (replica 0), so the batch provider also serves an unbatched run."""
        return self.compute_batch([system], stress)[0]

    def compute_batch(self, systems, stress=False, *, replicas=None) -> list[ForceResult]:
        """One model call for all ``systems``; ``replicas[k]`` is the slot of ``systems[k]`` (default k)."""
        n = len(systems)
        if n == 0:
            return []
        replicas = list(range(n)) if replicas is None else [int(r) for r in replicas]
        if len(replicas) != n or len(set(replicas)) != n:
            raise ValueError("compute_batch: one distinct replica per system")
        flags = stress_flags(stress, n)
        model = self.model
        slots = [self.replica_state(r) for r in replicas]
        species, edges = [], []
        for k, (slot, system) in enumerate(zip(slots, systems)):
            if flags[k] and not np.asarray(system.pbc, dtype=bool).all():
                raise InputError(f"replica {replicas[k]}: stress needs a periodic cell on all three axes, "
                                 f"got pbc={np.asarray(system.pbc).tolist()}")
            species.append(slot._species_for(system.numbers))  # raises naming unknown elements
            if len(system.positions) != len(species[-1]):
                raise InputError(f"replica {replicas[k]}: {len(species[-1])} atomic numbers but positions for "
                                 f"{len(system.positions)} atoms")
            edges.append(self._edges(slot, system))
        any_stress = any(flags)
        if any_stress:
            model.warn_untrained_stress(self.name)
        joined = self._join(replicas, species, edges)
        positions = np.concatenate([np.asarray(s.positions, dtype=np.float64) for s in systems])
        cells = np.stack([np.asarray(s.cell, dtype=np.float64).reshape(3, 3) for s in systems])
        if any_stress:  # a system that did not ask may have no cell: give it a unit one, its stress is dropped
            for k, system in enumerate(systems):
                if not flags[k] and not abs(np.linalg.det(cells[k])) > 0:
                    cells[k] = np.eye(3)
        pos = torch.tensor(positions, dtype=model.dtype, device=model.device)
        cell = torch.tensor(cells, dtype=model.dtype, device=model.device)
        # As in EGNNForceProvider: without the profiling executor's optimisations every call runs the same
        # kernels, so a resumed run repeats an uninterrupted one bit for bit.
        with torch.jit.optimized_execution(False):
            out = evaluate_tensors(self._forward, model, joined["species"], pos, joined["edge_index"],
                                   joined["shifts"], cell, joined["batch"], stress=any_stress,
                                   bonded=joined["bonded"])
        to64 = lambda t: t.detach().to("cpu", torch.float64).numpy()  # noqa: E731
        energy, forces, energies = to64(out.energy), to64(out.forces), to64(out.energies)
        stress_all = to64(out.stress) if any_stress else None
        results = []
        bounds = joined["bounds"]
        for k in range(n):
            a, b = bounds[k], bounds[k + 1]
            results.append(check_finite(ForceResult(
                energy=float(energy[k]), forces=forces[a:b], stress=stress_all[k] if flags[k] else None,
                energies=energies[a:b]), f"{self.name} (replica {replicas[k]})"))
        return results

    def _join(self, replicas, species, edges) -> dict:
        """Concatenated species, edges, shifts, bond flags and batch vector, reused while no replica's change."""
        key = (tuple(replicas), tuple(edges), tuple(species))
        if self._key is not None and len(key[1]) == len(self._key[1]) and key[0] == self._key[0] and all(
                a is b for a, b in zip(key[1] + key[2], self._key[1] + self._key[2])):
            return self._joined
        device = self.model.device
        sizes = [len(s) for s in species]
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        index = torch.cat([e.edge_index + int(bounds[k]) for k, e in enumerate(edges)], dim=1)
        bonded = None
        if edges[0].bonded is not None:
            bonded = torch.cat([e.bonded for e in edges])
        self._joined = {
            "species": torch.cat(species), "edge_index": index, "shifts": torch.cat([e.shifts for e in edges]),
            "bonded": bonded, "bounds": bounds,
            "batch": torch.repeat_interleave(torch.arange(len(sizes), device=device),
                                             torch.tensor(sizes, device=device)),
        }
        self._key = key
        self.n_joins += 1
        return self._joined
