"""Forces and stress from an energy model by autograd, in one place.

F = −∂E/∂x. The stress is σ = (1/V) ∂E/∂ε at ε = 0, where a symmetric strain ε
acts on positions and cell alike (x → x(1 + ε), cell → cell(1 + ε)); this is
ASE's sign convention (negative under compression).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class EnergyForces(NamedTuple):
    """energy [B] eV; energies [n] eV; forces [n, 3] eV/Å; stress [B, 3, 3] eV/Å³ or None."""

    energy: Tensor
    energies: Tensor
    forces: Tensor
    stress: Tensor | None


def energy_forces_stress(model, graph, stress: bool = False, training: bool = False) -> EnergyForces:
    """Evaluate an :class:`EGNNEnergyModel` on a (batched) graph with autograd forces/stress.

    ``graph`` carries ``numbers`` long [n] atomic numbers, ``pos`` [n, 3] Å, ``edge_index`` [2, E],
    ``shifts`` [E, 3], ``cell`` [B, 3, 3] Å, ``batch`` long [n] and ``num_graphs``, and for a
    model with bond-typed edges ``edge_bonded`` [E] (:func:`surrogate.egnn.bonds.annotate_graphs`).
    ``training=True`` keeps the graph of the derivatives so a force loss can be
    back-propagated (double backward).
    """
    # ``model`` may be a DistributedDataParallel wrapper: call it, read attributes from the module.
    core = getattr(model, "module", model)
    dtype, device = core.dtype, core.device
    return evaluate_tensors(
        model, core, core.species_index(graph.numbers), graph.pos.to(device=device, dtype=dtype),
        graph.edge_index.to(device), graph.shifts.to(device), graph.cell.to(device=device, dtype=dtype),
        graph.batch.to(device), stress=stress, training=training, bonded=_bonded(graph, device),
    )


def _bonded(graph, device):
    """The graph's per-edge bond flags [E] on ``device``, or None when it has none."""
    bonded = getattr(graph, "edge_bonded", None)
    return None if bonded is None else bonded.to(device)


def evaluate_tensors(model, core, species: Tensor, pos: Tensor, edge_index: Tensor, shifts: Tensor, cell: Tensor,
                     batch: Tensor, stress: bool = False, training: bool = False,
                     bonded: Tensor | None = None) -> EnergyForces:
    """Energies, forces and (optionally) stress from tensors already on the model's device and dtype.

    ``model`` is what is called (the module, a DDP wrapper or its TorchScript compilation);
    ``core`` the :class:`EGNNEnergyModel` whose ``structure_energy`` sums per-atom energies.
    species long [n]; pos [n, 3] Å; edge_index long [2, E]; shifts [E, 3]; cell [B, 3, 3] Å
    (a [3, 3] cell is one structure); batch long [n]; bonded [E] bond flags of a model with
    bond-typed edges (None otherwise; it is then not passed, so older callables work unchanged).
    """
    cell = cell.reshape(-1, 3, 3)
    n_graphs = cell.shape[0]
    pos = pos.detach().requires_grad_(True)
    inputs = [pos]
    strained_cell = cell
    if stress:
        strain = torch.zeros(n_graphs, 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
        sym = 0.5 * (strain + strain.transpose(1, 2))
        pos = pos + torch.bmm(pos.unsqueeze(1), sym[batch]).squeeze(1)  # x(1 + ε)
        strained_cell = cell + torch.bmm(cell, sym)  # cell(1 + ε)
        inputs.append(strain)
    with torch.enable_grad():
        if bonded is None:
            energies = model(species, pos, edge_index, shifts, strained_cell, batch)  # [n]
        else:
            energies = model(species, pos, edge_index, shifts, strained_cell, batch, bonded)  # [n]
        energy = core.structure_energy(energies, batch, n_graphs)  # [B]
        grads = torch.autograd.grad(energy.sum(), inputs, create_graph=training)
    forces = -grads[0]
    stress_out = None
    if stress:
        volume = torch.linalg.det(cell).abs()  # [B]
        stress_out = grads[1] / volume.view(-1, 1, 1)
    return EnergyForces(energy, energies, forces, stress_out)
