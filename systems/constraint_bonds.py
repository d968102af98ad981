"""Which bonds to hold rigid: the bonds to hydrogen, from an MDTraj topology or from covalent radii.

Both functions return ``pairs`` int64 [n_bonds, 2] (i < j, sorted) that the
RATTLE constraints of :mod:`integrators.constraints` take; the rigid lengths are
the bond lengths of the starting frame (see :func:`bond_lengths`).

Covalent radii rule: atoms i and j are bonded when their (minimum-image)
distance is below ``tolerance · (r_i + r_j)`` with r the covalent radii of
``ase.data.covalent_radii`` (``ase.neighborlist.natural_cutoffs`` with
``mult=tolerance``). The default tolerance 1.2 takes an O–H of 0.96 Å (limit
1.16 Å), a C–H of 1.09 Å (limit 1.24 Å), and leaves a hydrogen bond O···H of
≥ 1.6 Å out.
"""

from __future__ import annotations

import numpy as np

from .boundary import Box
from .errors import InputError
from .state import System

#: Default factor on the sum of covalent radii below which two atoms count as bonded.
COVALENT_TOLERANCE = 1.2
HYDROGEN = 1
#: A rigid bond must be shorter than this fraction of the smallest periodic plane spacing.
MAX_BOND_FRACTION = 0.4


def _sorted_pairs(pairs) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = np.sort(pairs, axis=1)
    if len(pairs) == 0:
        return pairs
    return np.unique(pairs, axis=0)


def _require_hydrogen(numbers: np.ndarray, source: str) -> None:
    if not np.any(numbers == HYDROGEN):
        raise InputError(f"constraints h-bonds: the system ({source}) has no hydrogen atom, so there is no bond to "
                         "hydrogen to constrain")


def hydrogen_bonds_from_topology(topology, numbers=None) -> np.ndarray:
    """[n_bonds, 2] int64: the bonds of an ``mdtraj.Topology`` with at least one hydrogen.

    ``numbers`` [n_atoms] (optional): the system's atomic numbers, checked
    against the topology's elements so a topology of another system is refused
    (naming the first atom that differs).
    """
    elements = [a.element.atomic_number if a.element is not None else 0 for a in topology.atoms]
    if numbers is not None:
        numbers = np.asarray(numbers, dtype=np.int64)
        if len(numbers) != len(elements):
            raise InputError(f"constraints: the topology has {len(elements)} atoms, the system {len(numbers)}")
        differ = np.flatnonzero(numbers != np.asarray(elements))
        if differ.size:
            i = int(differ[0])
            raise InputError(f"constraints: atom {i} is element {elements[i]} in the topology but {numbers[i]} "
                             "in the system")
    z = np.asarray(elements, dtype=np.int64)
    _require_hydrogen(z, "topology")
    pairs = [(b[0].index, b[1].index) for b in topology.bonds if HYDROGEN in (z[b[0].index], z[b[1].index])]
    if not pairs:
        raise InputError("constraints h-bonds: the topology has hydrogen atoms but no bond to any of them "
                         "(a PDB without CONECT records? use the covalent-radii rule instead)")
    return _sorted_pairs(pairs)


def hydrogen_bonds_from_radii(system: System, tolerance: float = COVALENT_TOLERANCE) -> np.ndarray:
    """[n_bonds, 2] int64: pairs with a hydrogen closer than ``tolerance`` × their covalent radii sum.

    Minimum image in periodic cells (ASE's neighbor list). Every hydrogen must
    have a partner; a lone one is refused, naming it.
    """
    from ase.neighborlist import natural_cutoffs, neighbor_list

    if not tolerance > 0:
        raise InputError(f"constraints: covalent-radii `tolerance` must be positive, got {tolerance!r}")
    _require_hydrogen(system.numbers, "atomic numbers")
    atoms = system.to_atoms()
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=tolerance))
    z = system.numbers
    keep = (i < j) & ((z[i] == HYDROGEN) | (z[j] == HYDROGEN))
    pairs = _sorted_pairs(np.stack([i[keep], j[keep]], axis=1))
    bonded = np.zeros(system.n_atoms, dtype=bool)
    bonded[pairs.reshape(-1)] = True
    lone = np.flatnonzero((z == HYDROGEN) & ~bonded)
    if lone.size:
        raise InputError(f"constraints h-bonds: hydrogen atom {int(lone[0])} has no partner within {tolerance:g} × "
                         f"the covalent radii sum ({lone.size} such hydrogen atoms)")
    return pairs


def bond_lengths(system: System, pairs) -> np.ndarray:
    """[n_bonds] minimum-image distances (Å) of ``pairs`` in ``system``: the rigid lengths of a run.

    Refuses a bond of ``MAX_BOND_FRACTION`` (0.4) of the smallest periodic plane
    spacing or more: the minimum image of a moving bond must stay unambiguous.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= system.n_atoms):
        bad = pairs[(pairs < 0).any(axis=1) | (pairs >= system.n_atoms).any(axis=1)][0]
        raise InputError(f"constraints: bond ({int(bad[0])}, {int(bad[1])}) names an atom outside "
                         f"0..{system.n_atoms - 1}")
    if np.any(pairs[:, 0] == pairs[:, 1]):
        i = int(pairs[pairs[:, 0] == pairs[:, 1]][0, 0])
        raise InputError(f"constraints: bond ({i}, {i}) joins an atom to itself")
    box = Box(system.cell, system.pbc)
    vectors = box.displacement(system.positions[pairs[:, 0]], system.positions[pairs[:, 1]])
    lengths = np.linalg.norm(vectors, axis=1)
    spacing = box.plane_spacings
    for k in np.flatnonzero(lengths >= MAX_BOND_FRACTION * spacing.min()):
        raise InputError(f"constraints: bond ({int(pairs[k, 0])}, {int(pairs[k, 1])}) of {lengths[k]:.4g} Å is not "
                         f"shorter than {MAX_BOND_FRACTION:g} × the smallest plane spacing {spacing.min():.4g} Å")
    if np.any(lengths <= 0):
        k = int(np.flatnonzero(lengths <= 0)[0])
        raise InputError(f"constraints: atoms {int(pairs[k, 0])} and {int(pairs[k, 1])} of a bond coincide")
    return lengths
