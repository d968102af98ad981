"""Neighbor lists: configured once, computed many times, with a Verlet skin.

>>> nl = NeighborList(cutoff=8.5, skin=1.0, full=True)
>>> pairs = nl.compute(positions, cell, pbc)     # Neighbors(i, j, shifts, vectors, distances)

Pair convention (shared with ASE's ``neighbor_list``): ``vectors[p] =
positions[j[p]] - positions[i[p]] + shifts[p] @ cell``. A full list holds both
(i, j, S) and (j, i, −S); a half list holds one of them. Self-pairs (i, i, 0)
are never listed; (i, i, S≠0) are, when the cell is thinner than the cutoff.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import neighbor_kernels as _k
from .boundary import Box
from .errors import InputError
from .forces import NonFiniteError
from .numba_twins import SERIAL_BELOW, SERIAL_SEARCH_BELOW_ATOMS

#: Bins are cutoff / BINS_PER_CUTOFF wide: 2 searches ~40% less volume than 1 (measured faster).
BINS_PER_CUTOFF = 2


class Neighbors(NamedTuple):
    """A neighbor list result.

    i, j : int64 [n_pairs]; shifts : int32 [n_pairs, 3] lattice shifts;
    vectors : float64 [n_pairs, 3] Å; distances : float64 [n_pairs] Å.
    """

    i: np.ndarray
    j: np.ndarray
    shifts: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray


def _check_positions(positions) -> np.ndarray:
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise InputError(f"`positions` must have shape [n_atoms, 3], got {positions.shape}")
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        a = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(f"position of atom {a} is not finite: {positions[a].tolist()}", "neighbor list",
                             "positions", np.flatnonzero(bad)[:10])
    return positions


def build_pairs(positions, cell, pbc, cutoff: float, full: bool = True, with_vectors: bool = True) -> Neighbors:
    """One neighbor search, no skin: every pair closer than ``cutoff`` (Å).

    positions [n,3] Å, cell [3,3] Å (rows), pbc [3] bools.
    """
    positions = _check_positions(positions)
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise InputError(f"`cutoff` must be a positive finite distance in Å, got {cutoff!r}")
    box = Box(cell, pbc)
    n = len(positions)
    if n == 0:
        empty = np.empty(0, np.int64)
        return Neighbors(empty, empty, np.empty((0, 3), np.int32), np.empty((0, 3)), np.empty(0))
    n_images = box.images_needed(cutoff)
    wrapped, offsets = box.wrap(positions)
    frac = box.fractional(wrapped)
    pad = cutoff / box.plane_spacings  # fractional units; 0 on open axes (spacing inf)
    points, origin, image = _k.make_images(wrapped, frac, box.basis, n_images, pad, box.pbc)
    order, bin_start, nb, lower, width = _k.bin_points(points, cutoff, BINS_PER_CUTOFF, max(8 * len(points), 4096))
    search = _k.search_pairs_parallel if n >= SERIAL_SEARCH_BELOW_ATOMS else _k.search_pairs_serial
    first, second, shifts, vectors, distances = search(
        positions,
        box.cell,
        offsets,
        np.ascontiguousarray(points[order]),
        origin[order],
        np.ascontiguousarray(image[order]),
        bin_start,
        nb,
        lower,
        width,
        BINS_PER_CUTOFF,
        float(cutoff),
        bool(full),
        bool(with_vectors),
    )
    return Neighbors(first, second, shifts, vectors, distances)


class NeighborList:
    """A reusable neighbor list with a Verlet skin.

    Parameters
    ----------
    cutoff : float, Å
        Pairs closer than this are returned by :meth:`compute`.
    skin : float, Å
        The list is built out to ``cutoff + skin`` and reused until some atom
        has moved more than ``skin / 2`` since the build (or pbc changed);
        then it is rebuilt. After a change of a periodic cell (a barostat) it
        is reused only while no pair it lacks can have come within ``cutoff``:
        with M = h₀⁻¹h the strain from the build cell h₀ to the cell h (rows),
        positions mapped back by M⁻¹ must lie within d of the build positions,
        and (cutoff + skin − 2d)/(1 + ‖M⁻¹ − I‖_F) > cutoff (a lower bound of σ_min(M)·(cutoff + skin − 2d)).
    full : bool
        Full list (both i→j and j→i) or half list.
    """

    def __init__(self, cutoff: float, skin: float = 0.0, full: bool = True):
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise InputError(f"`cutoff` must be a positive finite distance in Å, got {cutoff!r}")
        if not np.isfinite(skin) or skin < 0:
            raise InputError(f"`skin` must be a non-negative distance in Å, got {skin!r}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.full = bool(full)
        self.n_builds = 0
        self._reference = None
        self._cell = None  # the cell of the last update (pair vectors)
        self._build_cell = None  # the cell the list was built in
        self._pbc = None
        self._pairs = None

    def needs_rebuild(self, positions, cell, pbc) -> bool:
        """True when the stored list may miss a pair at these positions."""
        if self._pairs is None or len(positions) != len(self._reference):
            return True
        if not np.array_equal(pbc, self._pbc):
            return True
        if self.skin == 0.0:
            return not (np.array_equal(positions, self._reference) and np.array_equal(cell, self._build_cell))
        check = _k.max_displacement_squared_parallel if len(positions) >= SERIAL_BELOW else _k.max_displacement_squared_serial
        if np.array_equal(cell, self._build_cell):
            return check(positions, self._reference) > (0.5 * self.skin) ** 2
        if not pbc.all():
            return True
        # A strained cell: every pair vector is (the vector at the unstrained positions) @ M, M = h₀⁻¹h, so a
        # pair the list lacks (longer than cutoff + skin at the build) stays longer than
        # σ_min(M)·(cutoff + skin − 2d), d the largest displacement of the unstrained positions. σ_min(M) =
        # 1/σ_max(M⁻¹) ≥ 1/(1 + ‖M⁻¹ − I‖_F): tight for the small strains of a barostat, and cheap.
        try:
            unstrain = np.linalg.inv(cell) @ self._build_cell  # M⁻¹
        except np.linalg.LinAlgError:
            return True
        shortest = 1.0 / (1.0 + float(np.sqrt(np.sum((unstrain - np.eye(3)) ** 2))))
        d = float(np.sqrt(check(np.ascontiguousarray(positions @ unstrain), self._reference)))
        return not shortest * (self.cutoff + self.skin - 2.0 * d) > self.cutoff

    def update(self, positions, cell, pbc) -> bool:
        """Make the stored (cutoff + skin) list valid for ``positions``; True if it was rebuilt."""
        positions = _check_positions(positions)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        if not self.needs_rebuild(positions, cell, pbc):
            if not np.array_equal(cell, self._cell):
                self._cell = cell.copy()  # pair vectors use the current cell
            return False
        self._pairs = build_pairs(positions, cell, pbc, self.cutoff + self.skin, self.full, with_vectors=False)
        self._reference = positions.copy()
        self._cell = cell.copy()
        self._build_cell = self._cell
        self._pbc = pbc.copy()
        self.n_builds += 1
        return True

    @property
    def candidate_pairs(self):
        """(i, j, shifts) of the current cutoff + skin list (a superset of the pairs within ``cutoff``)."""
        if self._pairs is None:
            raise RuntimeError("NeighborList.update() has not been called yet")
        return self._pairs.i, self._pairs.j, self._pairs.shifts

    def state_dict(self) -> dict:
        """The build reference (positions Å, the cell it was built in Å, pbc), or {} before the first build.

        Pair order depends on the positions the list was built at, so a
        bit-for-bit restart rebuilds at this same reference.
        """
        if self._reference is None:
            return {}
        return {"positions": self._reference.copy(), "cell": self._build_cell.copy(), "pbc": self._pbc.copy()}

    def load_state_dict(self, state: dict) -> None:
        """Rebuild at a reference from :meth:`state_dict` (same pairs, same order)."""
        self._pairs = self._reference = self._cell = self._build_cell = self._pbc = None
        if state:
            self.update(np.asarray(state["positions"]), np.asarray(state["cell"]), np.asarray(state["pbc"]))

    def within_cutoff(self, positions):
        """Which candidate pairs (:attr:`candidate_pairs`) are closer than ``cutoff`` at ``positions``.

        Call :meth:`update` with these positions first. Returns mask bool [n_candidates],
        vectors float64 [n_candidates, 3] Å and distances float64 [n_candidates] Å.
        """
        i, j, shifts = self.candidate_pairs
        gather = _k.gather_within_parallel if len(i) >= SERIAL_BELOW else _k.gather_within_serial
        return gather(positions, self._cell, i, j, shifts, self.cutoff)

    def compute(self, positions, cell, pbc) -> Neighbors:
        """Pairs closer than ``cutoff`` at these positions, reusing the list when the skin allows."""
        positions = _check_positions(positions)
        if self.skin == 0.0:
            pairs = build_pairs(positions, cell, pbc, self.cutoff, self.full, with_vectors=True)
            self.n_builds += 1
            return pairs
        self.update(positions, cell, pbc)
        i, j, shifts = self.candidate_pairs
        mask, vectors, distances = self.within_cutoff(positions)
        return Neighbors(i[mask], j[mask], shifts[mask], vectors[mask], distances[mask])
