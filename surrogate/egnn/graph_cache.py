"""The edge tensors of one structure, kept between force calls while the neighbor list is reused.

A force provider is called on the same atoms thousands of times with positions
that move a little. Rebuilding a torch_geometric ``Data`` object, the species
lookup and the edge tensors on every call costs as much as the model itself on
a small molecule, so :class:`EdgeCache` keeps them:

* the Verlet list (cutoff + skin) is rebuilt only when an atom has moved more
  than skin/2 (:class:`systems.neighbor_list.NeighborList`);
* its candidate pairs are put in a canonical order, sorted by (i, j, shift), so
  the edges, and the order in which the model sums over them, do not depend on
  where the list was built: a reused list and a fresh one give bit-identical
  energies and forces;
* every call masks the candidates to the pairs within the cutoff (a Numba
  gather); when the mask is the one of the previous call, the same edge
  tensors are returned without any new allocation.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch
from torch import Tensor

from systems.neighbor_list import NeighborList


class Edges(NamedTuple):
    """edge_index long [2, E] (row 0 receiver i, row 1 sender j); shifts [E, 3] lattice shifts
    in the model's dtype (r_ij = x_j − x_i + shifts @ cell); periodic: whether any shift is non-zero;
    bonded: [E] bond flags in the model's dtype when the cache has a ``bonds`` set, else None."""

    edge_index: Tensor
    shifts: Tensor
    periodic: bool
    bonded: Optional[Tensor] = None


class EdgeCache:
    """Edges within ``neighbor_list.cutoff`` as torch tensors on ``device`` in ``dtype``, reused between calls.

    ``edges(positions, cell, pbc)`` takes positions [n, 3] Å, cell [3, 3] Å, pbc [3] bool.
    ``n_tensor_builds`` counts how often new edge tensors were made (a test and benchmark figure).
    ``bonds``: a :class:`surrogate.egnn.bonds.BondSet` (or None); when set, every new edge tensor
    comes with its per-edge bond flags (computed only when the edges change).
    """

    def __init__(self, neighbor_list: NeighborList, device, dtype: torch.dtype):
        self.neighbor_list = neighbor_list
        self.device = torch.device(device)
        self.dtype = dtype
        self.n_tensor_builds = 0
        self._build = None  # neighbor_list.n_builds the sorted candidates belong to
        self._order = None
        self._mask = None
        self._edges = None
        self.bonds = None

    def edges(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> Edges:
        nl = self.neighbor_list
        nl.update(positions, cell, pbc)
        if nl.n_builds != self._build:  # a new (or restored) Verlet list: sort it once
            i, j, shifts = nl.candidate_pairs
            self._order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], j, i))
            self._build = nl.n_builds
            self._mask = None
        mask = nl.within_cutoff(positions)[0][self._order]
        if self._mask is None or not np.array_equal(mask, self._mask):
            i, j, shifts = nl.candidate_pairs
            keep = self._order[mask]
            index = np.stack([i[keep], j[keep]]).astype(np.int64, copy=False)
            kept_shifts = shifts[keep]
            bonded = None
            if self.bonds is not None:
                bonded = torch.from_numpy(self.bonds.flags(index[0], index[1])).to(device=self.device, dtype=self.dtype)
            self._edges = Edges(
                torch.from_numpy(index).to(self.device),
                torch.from_numpy(kept_shifts.astype(np.float64)).to(device=self.device, dtype=self.dtype),
                bool(kept_shifts.any()),
                bonded,
            )
            self._mask = mask
            self.n_tensor_builds += 1
        return self._edges

    def clear(self) -> None:
        """Forget the cached tensors (the next call makes new ones)."""
        self._build = self._order = self._mask = self._edges = None
