"""Structure: radial distribution functions per element pair, and for molecules
bond-length and bond-angle distributions.

RDFs come from ``mdtraj.compute_rdf`` (frames converted to nm with unit cells);
radii are reported in Å. Runs that are compared share one radial grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
from ase.data import chemical_symbols

from systems.boundary import plane_spacings
from systems.errors import InputError

from .run_data import RunData

#: Keep (pairs × frames) per ``compute_distances`` call below this (memory ≈ 4 bytes each).
_MAX_DISTANCES_PER_CHUNK = 20_000_000


@dataclass
class Curve:
    """y(x) sampled on a grid: x [m] and y [m], with what they are and their units."""

    x: np.ndarray
    y: np.ndarray

    def to_json(self) -> dict:
        return {"x": self.x.tolist(), "y": self.y.tolist()}


def symbol(z: int) -> str:
    return chemical_symbols[int(z)] if 0 < int(z) < len(chemical_symbols) else "X"


def element_pairs(numbers) -> list[tuple[int, int]]:
    """Sorted unordered pairs of the atomic numbers present, e.g. [(1, 1), (1, 8), (8, 8)]."""
    return list(combinations_with_replacement(sorted(set(int(z) for z in numbers)), 2))


def pair_label(za: int, zb: int) -> str:
    return f"{symbol(za)}-{symbol(zb)}"


def max_rdf_range(run: RunData) -> float:
    """Largest radius (Å) the minimum-image convention allows: half the smallest
    plane spacing over all frames."""
    if not run.periodic:
        raise InputError(f"{run.name}: an RDF needs a periodic box")
    return float(0.5 * plane_spacings(run.cells).min())  # cells [T, 3, 3] Å → spacings [T, 3] Å


def _atom_pairs(numbers, za: int, zb: int) -> np.ndarray:
    """Index pairs [m, 2] of distinct atoms with elements (za, zb), each unordered pair once."""
    ia = np.flatnonzero(numbers == za)
    ib = np.flatnonzero(numbers == zb)
    if za == zb:
        i, j = np.triu_indices(len(ia), k=1)
        return np.stack([ia[i], ia[j]], axis=1)
    return np.stack(np.meshgrid(ia, ib, indexing="ij"), axis=-1).reshape(-1, 2)


def rdf(run: RunData, za: int, zb: int, r_max: float, bin_width: float = 0.05) -> Curve:
    """g_ab(r) of a periodic run with ``mdtraj.compute_rdf``; r in Å (bin centres), g dimensionless.

    Frames are processed in chunks (memory); chunk RDFs are combined with the
    weights mdtraj's normalisation uses (the sum of inverse volumes).
    """
    import mdtraj

    pairs = _atom_pairs(run.numbers, za, zb)
    if len(pairs) == 0:
        raise InputError(f"{run.name}: no {pair_label(za, zb)} pairs for an RDF")
    n_bins = max(1, int(round(r_max / bin_width)))
    chunk = max(1, _MAX_DISTANCES_PER_CHUNK // len(pairs))
    total, weight, r = None, 0.0, None
    for start in range(0, run.n_frames, chunk):
        frames = slice(start, min(start + chunk, run.n_frames))
        traj = run.to_mdtraj(frames)
        r_nm, g = mdtraj.compute_rdf(traj, pairs, r_range=(0.0, r_max * 0.1), n_bins=n_bins, periodic=True)
        w = float(np.sum(1.0 / traj.unitcell_volumes))
        total = g * w if total is None else total + g * w
        weight += w
        r = r_nm * 10.0
    return Curve(r, total / weight)


def pair_distance_distribution(run: RunData, za: int, zb: int, r_max: float, bin_width: float = 0.05) -> Curve:
    """Probability density (1/Å) of a-b distances for runs without a box (clusters, molecules in vacuum)."""
    pairs = _atom_pairs(run.numbers, za, zb)
    if len(pairs) == 0:
        raise InputError(f"{run.name}: no {pair_label(za, zb)} pairs")
    d = np.linalg.norm(run.positions[:, pairs[:, 1]] - run.positions[:, pairs[:, 0]], axis=-1)
    n_bins = max(1, int(round(r_max / bin_width)))
    hist, edges = np.histogram(d, bins=n_bins, range=(0.0, r_max), density=True)
    return Curve(0.5 * (edges[1:] + edges[:-1]), hist)


def radial_distributions(runs: list[RunData], r_max: float | None = None, bin_width: float = 0.05) -> dict:
    """For every element pair: ``{"Ar-Ar": [Curve per run]}`` on one shared grid.

    Periodic runs give g(r) (``kind`` "rdf"); others a pair-distance density
    (``kind`` "pdd"). ``r_max`` defaults to the smallest minimum-image limit of
    the runs (periodic) or the largest distance seen (clusters). Returns
    ``(kind, r_max, curves)``.
    """
    periodic = all(r.periodic for r in runs)
    if r_max is None:
        if periodic:
            r_max = min(max_rdf_range(r) for r in runs)
        else:
            r_max = max(float(np.max(np.ptp(r.positions, axis=1))) * np.sqrt(3.0) for r in runs)
    elif periodic:
        limit = min(max_rdf_range(r) for r in runs)
        if r_max > limit + 1e-9:
            raise InputError(f"rdf r_max {r_max:g} Å exceeds half the smallest box spacing ({limit:.3f} Å)")
    curves = {}
    for za, zb in element_pairs(runs[0].numbers):
        fn = rdf if periodic else pair_distance_distribution
        try:
            curves[pair_label(za, zb)] = [fn(run, za, zb, r_max, bin_width) for run in runs]
        except InputError:
            continue  # e.g. a single atom of an element: no like pairs
    return ("rdf" if periodic else "pdd"), float(r_max), curves


# ------------------------------------------------------------------ molecules
def bonded_groups(bonds: np.ndarray, numbers) -> tuple[dict, dict]:
    """Bonds grouped by element pair and angles by element triplet, from bonded pairs int [m, 2].

    Returns ``({"C-H": int [m, 2]}, {"H-C-H": int [m, 3]})``; an angle (i, j, k) has j at its vertex.
    """
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    bond_groups: dict = {}
    for i, j in bonds:
        a, b = sorted((int(numbers[i]), int(numbers[j])))
        bond_groups.setdefault(pair_label(a, b), []).append((i, j))
    neighbours: dict = {}
    for i, j in bonds:
        neighbours.setdefault(int(i), []).append(int(j))
        neighbours.setdefault(int(j), []).append(int(i))
    angle_groups: dict = {}
    for j, nbrs in neighbours.items():
        for ii in range(len(nbrs)):
            for kk in range(ii + 1, len(nbrs)):
                i, k = nbrs[ii], nbrs[kk]
                if numbers[i] > numbers[k]:
                    i, k = k, i
                key = f"{symbol(numbers[i])}-{symbol(numbers[j])}-{symbol(numbers[k])}"
                angle_groups.setdefault(key, []).append((i, j, k))
    return ({k: np.array(v) for k, v in bond_groups.items()}, {k: np.array(v) for k, v in angle_groups.items()})


def bond_and_angle_distributions(runs: list[RunData], bonds: np.ndarray | None = None, bond_bins: int = 50,
                                 min_bond_bin: float = 0.01, angle_bin: float = 1.0, grids: dict | None = None):
    """Bond-length densities (x in Å, y in 1/Å) per element pair and angle densities
    (x in degrees, y in 1/degree) per element triplet, on shared grids.

    Bond lengths use ``bond_bins`` bins over the observed range but none
    narrower than ``min_bond_bin`` Å (XTC stores positions to 0.01 Å; finer
    bins alternate between full and empty).

    bonds : bonded pairs int [m, 2] (default :func:`connectivity.run_bonds` of the first run: its
        topology's bonds, else covalent radii of its first frame); returns ``({}, {})`` when there are none.
    grids : ``{key: bin centres}`` to reuse the grids of an earlier call (blocks of the same run).
    Distances use the minimum image in periodic runs.
    """
    import mdtraj

    if bonds is None:
        from .connectivity import run_bonds

        bonds = run_bonds(runs[0])[0]
    if len(bonds) == 0:
        return {}, {}
    bond_groups, angle_groups = bonded_groups(bonds, runs[0].numbers)
    trajs = [r.to_mdtraj() for r in runs]
    bonds = {}
    for key, pairs in bond_groups.items():
        values = [mdtraj.compute_distances(t, pairs, periodic=r.periodic).ravel() * 10.0 for t, r in zip(trajs, runs)]
        if grids is not None and key in grids:
            bonds[key] = [_density_on(v, grids[key]) for v in values]
            continue
        lo = min(v.min() for v in values)
        hi = max(v.max() for v in values)
        width = max(min_bond_bin, (hi - lo) / bond_bins)
        bonds[key] = [_density(v, lo - 2 * width, hi + 2 * width, width) for v in values]
    angles = {}
    for key, triplets in angle_groups.items():
        values = [np.degrees(mdtraj.compute_angles(t, triplets, periodic=r.periodic).ravel())
                  for t, r in zip(trajs, runs)]
        angles[key] = [_density(v, 0.0, 180.0, angle_bin) for v in values]
    return bonds, angles


def _density_on(values: np.ndarray, x: np.ndarray) -> Curve:
    """Density of ``values`` on the uniform bins centred at ``x``."""
    width = float(x[1] - x[0]) if len(x) > 1 else 1.0
    edges = np.append(x - 0.5 * width, x[-1] + 0.5 * width)
    hist, _ = np.histogram(values, bins=edges, density=True)
    return Curve(np.asarray(x, dtype=np.float64), hist)


def _density(values: np.ndarray, lo: float, hi: float, width: float) -> Curve:
    n_bins = max(1, int(np.ceil((hi - lo) / width)))
    hist, edges = np.histogram(values, bins=n_bins, range=(lo, lo + n_bins * width), density=True)
    return Curve(0.5 * (edges[1:] + edges[:-1]), hist)
