"""Which atoms are bonded: from a topology's bonds, or from covalent radii of one frame.

Two atoms i, j are bonded when their (minimum-image) distance is below
``COVALENT_SCALE × (r_i + r_j)`` with ASE's covalent radii (``ase.neighborlist.natural_cutoffs``).
The factor 1.2 is the usual one: it catches C–H (1.09 Å; radii sum 1.07 Å) and stretched bonds of a hot
molecule, and leaves hydrogen bonds (O···H 1.8 Å against 1.16 Å) and argon neighbours (3.4 Å against 2.5 Å) out.
"""

from __future__ import annotations

import numpy as np

from .run_data import RunData

#: Bond when the distance is below this many times the sum of the two covalent radii.
COVALENT_SCALE = 1.2


def covalent_bonds(numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray | None, pbc,
                   scale: float = COVALENT_SCALE) -> np.ndarray:
    """Bonded pairs int64 [m, 2] (i < j, sorted) of one configuration: positions [n, 3] Å, cell [3, 3] Å or None."""
    from ase import Atoms
    from ase.neighborlist import NeighborList, natural_cutoffs

    periodic = cell is not None and bool(np.all(pbc))
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell if periodic else None, pbc=periodic)
    cutoffs = natural_cutoffs(atoms, mult=scale)
    nl = NeighborList(cutoffs, skin=0.0, self_interaction=False, bothways=False)
    nl.update(atoms)
    pairs = set()
    for i in range(len(atoms)):
        neighbours, _ = nl.get_neighbors(i)
        for j in neighbours:
            if i != j:
                pairs.add((min(i, int(j)), max(i, int(j))))
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def run_bonds(run: RunData) -> tuple[np.ndarray, str]:
    """Bonds [m, 2] of a run and where they came from: the topology's bonds when it has any,
    else covalent radii of its first frame."""
    top = run.topology
    if top is not None and top.n_bonds > 0:
        bonds = np.array([[b[0].index, b[1].index] for b in top.bonds], dtype=np.int64).reshape(-1, 2)
        return bonds, "topology"
    cell = run.cells[0] if run.cells is not None else None
    bonds = covalent_bonds(run.numbers, run.positions[0], cell, run.pbc)
    return bonds, f"covalent radii of the first frame of {run.name} (distance < {COVALENT_SCALE:g} × radii sum)"


def n_molecules(n_atoms: int, bonds: np.ndarray) -> int:
    """Number of connected components (molecules; a lone atom counts as one)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n_atoms == 0:
        return 0
    graph = coo_matrix((np.ones(len(bonds)), (bonds[:, 0], bonds[:, 1])), shape=(n_atoms, n_atoms))
    return int(connected_components(graph, directed=False)[0])


def is_single_molecule(run: RunData, bonds: np.ndarray) -> bool:
    """True for a run without a periodic box whose atoms form one connected molecule (more than one atom)."""
    return not run.periodic and run.n_atoms > 1 and n_molecules(run.n_atoms, bonds) == 1
