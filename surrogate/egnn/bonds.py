"""Bond-typed edge attributes for the EGNN: which graph edges join bonded atoms.

The EGNN paper's edge attribute a_ij, as an option of the energy model
(``EGNNEnergyModel(bond_edges=...)``, ``train_egnn(bond_edges=...)``,
``surrogate train egnn --bond-edges``). Rules (:data:`BOND_EDGE_RULES`):

* ``"none"``: no bond attribute (the default; models written before the option behave so).
* ``"covalent"``: atoms i, j are bonded when ‖r_ij‖ < :data:`COVALENT_FACTOR` × (R_i + R_j)
  (ASE's ``covalent_radii``, Å; minimum image in a periodic cell) in the FIRST structure
  seen, the training set's first frame or the provider's first call. The set is then fixed,
  like a topology, so the energy stays a smooth function of the positions.
* ``"topology"``: the bonds of an MDTraj topology (a PDB given as ``--top``, or the data's own).

The bond set is a property of the system, not of the model: a model file stores the rule,
never a bond list, and whoever evaluates the model derives the set again from its system.
An edge (i, j, shift) is flagged bonded when its atom pair {i, j} is bonded; in a periodic
cell less than twice the cutoff across, every image of a bonded pair within the cutoff
carries the flag (the flag is a fixed label of the pair, so smoothness is unaffected).
The model concatenates the one-hot [1 − b_ij, b_ij] to the radial edge attributes of every layer.

Do they help? GFN2-xTB aspirin (``benchmarks/data/xtb_aspirin_train.extxyz.gz``, first 300 frames;
the 101 frames of ``xtb_aspirin_test.extxyz.gz`` held out), ``train_egnn(cutoff=5, hidden=32,
layers=2, time_budget_min=T, seed=s)``, one thread each, two runs side by side on a 2-core machine
with a load average of 6-8. Held-out force MAE (meV/Å) without → with ``bond_edges="covalent"``:

==========  ==========  ==========
budget      seed 0      seed 1
==========  ==========  ==========
3 min       297 → 237   376 → 267
6 min       234 → 218   203 → 193
==========  ==========  ==========

Energy MAE fell likewise (6 min: 130 → 87 and 90 → 81 meV against 242 for the mean predictor).
The epochs per budget were the same (39/40, 31/31, 68/65, 95/94): the flag costs nothing per
step. Bond edges speed up early learning; the gain shrinks with training (20-29% at 3 min,
5-7% at 6 min), so expect little from them on a long run.
"""

from __future__ import annotations

import numpy as np

from systems.errors import InputError

#: Accepted values of ``bond_edges`` / ``--bond-edges``.
BOND_EDGE_RULES = ("none", "covalent", "topology")

#: Bonded when closer than this multiple of the sum of covalent radii (the usual rule, e.g. ASE's and VMD's).
COVALENT_FACTOR = 1.2

#: Width of the bond edge attribute (one-hot bonded / non-bonded).
BOND_ATTR_DIM = 2


def check_bond_rule(rule, source: str = "bond_edges") -> str:
    """``rule`` if it is one of :data:`BOND_EDGE_RULES`; else an :class:`InputError` naming ``source``."""
    if not isinstance(rule, str) or rule not in BOND_EDGE_RULES:
        raise InputError(f"{source} must be one of {', '.join(BOND_EDGE_RULES)}, got {rule!r}")
    return rule


def covalent_bonds(numbers, positions, cell=None, pbc=(False, False, False),
                   factor: float = COVALENT_FACTOR) -> np.ndarray:
    """Bonded atom pairs [n_bonds, 2] (int64, i < j, sorted) of one structure by covalent radii.

    numbers [n] atomic numbers; positions [n, 3] Å; cell [3, 3] Å (rows) or None; pbc [3] bool.
    Pairs closer than ``factor`` × (R_i + R_j) (ASE ``covalent_radii``, Å) are bonded.
    """
    from ase.data import covalent_radii

    from systems.neighbor_list import build_pairs

    numbers = np.asarray(numbers, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.float64)
    if len(numbers) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    radii = covalent_radii[numbers]
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3)
    reach = factor * 2.0 * float(radii.max())
    pairs = build_pairs(positions, cell, np.asarray(pbc, dtype=bool).reshape(3), reach, full=False, with_vectors=True)
    keep = pairs.distances < factor * (radii[pairs.i] + radii[pairs.j])
    bonds = np.stack([np.minimum(pairs.i, pairs.j), np.maximum(pairs.i, pairs.j)], axis=1)[keep]
    return np.unique(bonds.astype(np.int64), axis=0).reshape(-1, 2)


def topology_bonds(topology, source: str = "topology") -> np.ndarray:
    """Bonded atom pairs [n_bonds, 2] (int64, i < j, sorted) of an MDTraj topology or a topology file path."""
    from systems.trajectory_io.topology import load_topology

    top = load_topology(topology, source)
    pairs = [(min(a.index, b.index), max(a.index, b.index)) for a, b in top.bonds]
    if not pairs:
        raise InputError(f"{source}: the topology lists no bonds (use --bond-edges covalent to find them from "
                         "covalent radii)")
    return np.unique(np.asarray(pairs, dtype=np.int64), axis=0).reshape(-1, 2)


class BondSet:
    """A fixed set of bonded atom pairs of an ``n_atoms``-atom system; flags the edges that join them.

    bonds : [n_bonds, 2] atom indices (either order). ``flags(i, j)`` -> float64 [E], 1.0 where
    the pair {i[e], j[e]} is bonded, else 0.0.
    """

    def __init__(self, bonds, n_atoms: int, source: str = "bonds"):
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        self.n_atoms = int(n_atoms)
        if len(bonds) and (bonds.min() < 0 or bonds.max() >= self.n_atoms):
            raise InputError(f"{source}: bond atom indices must be in 0..{self.n_atoms - 1}, "
                             f"got {int(bonds.min())}..{int(bonds.max())}")
        self.bonds = np.unique(np.sort(bonds, axis=1), axis=0).reshape(-1, 2)
        self._keys = np.unique(np.concatenate([self.bonds[:, 0] * self.n_atoms + self.bonds[:, 1],
                                               self.bonds[:, 1] * self.n_atoms + self.bonds[:, 0]]))

    def __len__(self) -> int:
        return len(self.bonds)

    def flags(self, i, j) -> np.ndarray:
        """float64 [E]: 1.0 for edges (i[e], j[e]) between bonded atoms, else 0.0."""
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        return np.isin(i * self.n_atoms + j, self._keys).astype(np.float64)

    def check_atoms(self, n_atoms: int, source: str) -> None:
        """Refuse a structure of another size than the system the bonds belong to."""
        if int(n_atoms) != self.n_atoms:
            raise InputError(f"{source}: bond edges were derived for {self.n_atoms} atoms, got a structure of "
                             f"{n_atoms} atoms (bond-typed edges need one system with a fixed atom order)")


def bond_set(rule: str, numbers, positions, cell=None, pbc=(False, False, False), topology=None,
             source: str = "structure") -> BondSet:
    """The :class:`BondSet` of ``rule`` ("covalent" or "topology") for a system whose first structure is given.

    For "topology", ``topology`` (an MDTraj Topology or a file path) is required and must have
    as many atoms as ``numbers``.
    """
    rule = check_bond_rule(rule)
    n = len(np.asarray(numbers))
    if rule == "covalent":
        return BondSet(covalent_bonds(numbers, positions, cell, pbc), n, source)
    if rule == "topology":
        if topology is None:
            raise InputError(f"{source}: bond_edges='topology' needs a topology (--top FILE.pdb, or data in a "
                             "format that carries one); or use bond_edges='covalent'")
        from systems.trajectory_io.topology import load_topology

        top = load_topology(topology, source)
        if top.n_atoms != n:
            raise InputError(f"{source}: the topology has {top.n_atoms} atoms but the structure {n}")
        return BondSet(topology_bonds(top, source), n, source)
    raise InputError(f"{source}: bond_edges='none' has no bond set")


def graph_covalent_bonds(graph, factor: float = COVALENT_FACTOR) -> np.ndarray:
    """Bonded atom pairs [n_bonds, 2] of one graph by covalent radii, among its edges.

    The same rule as :func:`covalent_bonds` (a pair is bonded when any of its images within the
    graph's cutoff is closer than ``factor`` × (R_i + R_j)); read from the edges so that the
    graph's own periodicity applies. Bonds longer than the cutoff could not be edges anyway.
    """
    from ase.data import covalent_radii

    numbers = graph.numbers.numpy().astype(np.int64)
    pos = graph.pos.double().numpy()
    cell = graph.cell.double().numpy().reshape(3, 3)
    i, j = graph.edge_index.numpy()
    vec = pos[j] - pos[i] + graph.shifts.double().numpy() @ cell
    radii = covalent_radii[numbers]
    keep = np.linalg.norm(vec, axis=1) < factor * (radii[i] + radii[j])
    return np.stack([i[keep], j[keep]], axis=1)


def annotate_graphs(graphs, rule: str, topology=None, source: str = "training data"):
    """Give every graph ``edge_bonded`` float64 [E] (1 for bonded pairs); return (graphs, :class:`BondSet`).

    The bond set comes from the FIRST graph (rule "covalent") or from ``topology`` (rule
    "topology") and is applied to all graphs, which must be structures of one system (same
    atomic numbers in the same order). ``rule="none"`` returns the graphs unchanged and None.
    Graphs are annotated in place (the attribute batches like the other per-edge tensors).
    """
    import torch

    rule = check_bond_rule(rule)
    if rule == "none":
        return graphs, None
    first = graphs[0]
    numbers = first.numbers
    if rule == "covalent":
        bonds = BondSet(graph_covalent_bonds(first), first.num_nodes, source)
    else:
        bonds = bond_set("topology", numbers.numpy(), first.pos.numpy(), topology=topology, source=source)
    for k, g in enumerate(graphs):
        if g.num_nodes != bonds.n_atoms or not torch.equal(g.numbers, numbers):
            raise InputError(f"{source}: structure {k} is not the system of structure 0 (other atoms or atom "
                             "order); bond-typed edges (--bond-edges) need one system with a fixed atom order")
        i, j = g.edge_index.numpy()
        g.edge_bonded = torch.from_numpy(bonds.flags(i, j))
    return graphs, bonds
