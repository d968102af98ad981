"""The EGNN (one model or a committee) behind metatomic's model interface, in TorchScript-able torch.

metatomic (https://docs.metatensor.org/metatomic/) hands a model a list of ``System`` (atomic numbers,
positions Å, cell Å with rows as lattice vectors, pbc) each carrying the neighbor list the model asked for
(:meth:`EGNNMetatomicModule.requested_neighbor_lists`: full, cutoff = the EGNN cutoff). Every pair of that
list is an EGNN edge (receiver ``first_atom``, sender ``second_atom``, lattice shift ``cell_shift_a/b/c``),
exactly the graph our own calculator builds; the edge vectors are formed from the system's positions and
cell, x_j − x_i + shift @ cell, so the energy is differentiable in both and the engine takes forces and the
virial from it by autograd (metatomic-ase, i-PI and LAMMPS all do; nothing here computes a force).

Outputs (ModelOutput names of metatomic's standard quantities):

* ``energy``: per structure [n_systems, 1] eV, or per atom [n_selected, 1] (``sample_kind="atom"``); for a
  committee the mean of its members.
* ``energy_ensemble`` (committees): every member's energy, [n_systems, M] (per atom: [n_selected, M]).
* ``energy_uncertainty`` (committees): the members' standard deviation (ddof = 0, the spread around the mean
  that ``energy`` is), per structure or per atom.

``selected_atoms`` (domain decomposition in LAMMPS): only those atoms' energies are summed and returned; the
other atoms still act as neighbours.
"""


from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import ModelOutput, NeighborListOptions, System


def canonical_order(pairs: Tensor) -> Tensor:
    """The permutation that sorts pairs [P, 5] (i, j, shift a, b, c) by i, then j, then the shift: [P] long.

    Our calculator sorts its edges the same way (:class:`surrogate.egnn.graph_cache.EdgeCache`), so the model
    sums over the edges in the same order and float32 results agree to the last bits instead of to the
    model's float32 rounding (1e-4 eV/Å on water, where its steep O-H terms amplify the order of the sums).
    """
    keys = pairs.to(torch.long)
    order = torch.arange(keys.shape[0], dtype=torch.long, device=keys.device)
    for k in range(5):  # successive stable sorts, least significant key (column 4) first: a lexsort
        key = keys[:, 4 - k][order]
        _, idx = torch.sort(key, stable=True)
        order = order[idx]
    return order


class EGNNMetatomicModule(nn.Module):
    """metatomic ``ModelInterface`` around M >= 1 :class:`~surrogate.egnn.model.EGNNEnergyModel` members.

    members : list of EGNNEnergyModel, all in the same dtype and knowing every type in ``atomic_types``;
    atomic_types : atomic numbers the export declares (each member maps them to its species index);
    cutoff : Å, the neighbor-list cutoff (the largest member cutoff; a member with a smaller one sees only
    its own pairs).
    """

    def __init__(self, members: list, atomic_types: List[int], cutoff: float):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.n_members = len(members)
        self.atomic_types = [int(z) for z in atomic_types]
        self.cutoff = float(cutoff)
        #: per member: its own cutoff (Å); pairs beyond it are dropped for that member
        self.member_cutoffs = [float(m.cutoff) for m in members]
        self.nl_options = NeighborListOptions(cutoff=self.cutoff, full_list=True, strict=True,
                                              requestor="surrogate-md EGNN")

    def requested_neighbor_lists(self) -> List[NeighborListOptions]:
        return [self.nl_options]

    def forward(self, systems: List[System], outputs: Dict[str, ModelOutput],
                selected_atoms: Optional[Labels] = None) -> Dict[str, TensorMap]:
        results: Dict[str, TensorMap] = {}
        if len(outputs) == 0:
            return results
        device = systems[0].positions.device
        n_systems = len(systems)

        # One batched graph of every system: atoms concatenated, edge indices offset per system.
        positions: List[Tensor] = []
        types: List[Tensor] = []
        cells: List[Tensor] = []
        batches: List[Tensor] = []
        receivers: List[Tensor] = []
        senders: List[Tensor] = []
        shifts: List[Tensor] = []
        starts: List[int] = []
        offset = 0
        for s, system in enumerate(systems):
            n = len(system)
            starts.append(offset)
            positions.append(system.positions)
            types.append(system.types)
            cells.append(system.cell)
            batches.append(torch.full((n,), s, dtype=torch.long, device=device))
            pairs = system.get_neighbor_list(self.nl_options).samples.values  # [P, 5] int32
            pairs = pairs.index_select(0, canonical_order(pairs))
            receivers.append(pairs[:, 0].to(torch.long) + offset)
            senders.append(pairs[:, 1].to(torch.long) + offset)
            shifts.append(pairs[:, 2:5])
            offset += n
        pos = torch.cat(positions)
        atomic_numbers = torch.cat(types).to(torch.long)
        cell = torch.stack(cells)  # [B, 3, 3]
        batch = torch.cat(batches)
        edge_index = torch.stack([torch.cat(receivers), torch.cat(senders)])
        shift = torch.cat(shifts).to(pos.dtype)

        # Atoms whose energies count (all, or the engine's selection) as global indices, with their labels.
        if selected_atoms is None:
            atom_index = torch.arange(offset, dtype=torch.long, device=device)
            sample_values = torch.stack([batch, atom_index - self._starts_of(batch, starts, device)], dim=1)
        else:
            sel = selected_atoms.values.to(torch.long)  # [K, 2] (system, atom)
            atom_index = torch.tensor(starts, dtype=torch.long, device=device)[sel[:, 0]] + sel[:, 1]
            sample_values = sel
        atom_system = batch[atom_index]

        member_atom: List[Tensor] = []  # per member: per-atom energies of the counted atoms [K]
        for k, member in enumerate(self.members):
            species = member.species_table[atomic_numbers]
            e_index = edge_index
            e_shift = shift
            if self.member_cutoffs[k] < self.cutoff:
                vec = pos[edge_index[1]] - pos[edge_index[0]] + torch.bmm(
                    shift.unsqueeze(1), cell[batch[edge_index[0]]]).squeeze(1)
                keep = (vec * vec).sum(-1) < self.member_cutoffs[k] ** 2
                e_index = edge_index[:, keep]
                e_shift = shift[keep]
            energies = member(species, pos, e_index, e_shift, cell, batch)  # [n] eV
            member_atom.append(energies[atom_index])
        stacked = torch.stack(member_atom, dim=1)  # [K, M] eV

        sample_labels_atom = Labels(["system", "atom"], sample_values.to(torch.int32))
        system_ids = torch.arange(n_systems, dtype=torch.int32, device=device).reshape(-1, 1)
        sample_labels_system = Labels(["system"], system_ids)
        per_system = torch.zeros(n_systems, self.n_members, dtype=pos.dtype, device=device)
        per_system = per_system.index_add(0, atom_system, stacked)  # [B, M]

        for name, request in outputs.items():
            per_atom = request.sample_kind == "atom"
            values = stacked if per_atom else per_system
            if name == "energy":
                out = values.mean(dim=1, keepdim=True)
                prop = Labels(["energy"], torch.zeros(1, 1, dtype=torch.int32, device=device))
            elif name == "energy_ensemble":
                out = values
                prop = Labels(["energy"], torch.arange(self.n_members, dtype=torch.int32,
                                                       device=device).reshape(-1, 1))
            elif name == "energy_uncertainty":
                out = values.std(dim=1, correction=0, keepdim=True)
                prop = Labels(["energy"], torch.zeros(1, 1, dtype=torch.int32, device=device))
            else:
                raise ValueError(f"the exported EGNN has no output '{name}'")
            block = TensorBlock(
                values=out,
                samples=sample_labels_atom if per_atom else sample_labels_system,
                components=torch.jit.annotate(List[Labels], []),
                properties=prop,
            )
            results[name] = TensorMap(keys=Labels(["_"], torch.zeros(1, 1, dtype=torch.int32, device=device)),
                                      blocks=[block])
        return results

    def _starts_of(self, batch: Tensor, starts: List[int], device: torch.device) -> Tensor:
        """The global index of the first atom of each atom's system: [n] long."""
        return torch.tensor(starts, dtype=torch.long, device=device)[batch]
