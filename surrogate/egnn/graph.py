"""One atomic structure as a torch_geometric graph for the EGNN energy model.

A graph holds ``numbers`` long [n], ``pos`` float64 [n, 3] Å, ``cell`` float64
[1, 3, 3] Å, ``edge_index`` long [2, E] (row 0 receiver i, row 1 sender j),
``shifts`` float64 [E, 3] lattice shifts (so r_ij = x_j − x_i + shifts @ cell),
and optionally ``energy`` float64 [1] eV and ``forces`` float64 [n, 3] eV/Å.
``torch_geometric.data.Batch.from_data_list`` batches them (cells stack to [B, 3, 3]).
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

from systems.neighbor_list import Neighbors, build_pairs


def build_graph(numbers, positions, cell, pbc, cutoff: float, *, neighbors: Neighbors | None = None,
                energy: float | None = None, forces=None) -> Data:
    """Graph of one structure; pairs from the Numba neighbor list unless ``neighbors`` is given.

    numbers [n] atomic numbers; positions [n, 3] Å; cell [3, 3] Å (rows; zeros allowed
    when not periodic); pbc [3] bool; cutoff Å; energy eV; forces [n, 3] eV/Å.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    if neighbors is None:
        neighbors = build_pairs(positions, cell, pbc, cutoff, full=True, with_vectors=False)
    data = Data(
        numbers=torch.as_tensor(np.asarray(numbers), dtype=torch.long),
        pos=torch.from_numpy(positions.copy()),
        cell=torch.from_numpy(cell.copy()).unsqueeze(0),
        edge_index=torch.from_numpy(np.stack([neighbors.i, neighbors.j]).astype(np.int64)),
        shifts=torch.from_numpy(np.asarray(neighbors.shifts, dtype=np.float64)),
    )
    data.num_nodes = len(positions)
    if energy is not None:
        data.energy = torch.tensor([float(energy)], dtype=torch.float64)
    if forces is not None:
        forces = np.asarray(forces, dtype=np.float64)
        if forces.shape != positions.shape:
            raise ValueError(f"`forces` must have shape {positions.shape}, got {forces.shape}")
        data.forces = torch.from_numpy(forces.copy())
    return data


def single_batch(data: Data) -> Data:
    """Give one graph the ``batch`` vector and ``num_graphs`` that a Batch has (no copy)."""
    data.batch = torch.zeros(data.num_nodes, dtype=torch.long)
    data.num_graphs = 1
    return data
