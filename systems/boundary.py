"""The boundary conditions: the one place for periodic images and pair vectors.

Every pair vector in the package (neighbor list, classical potentials, EGNN
edges, the fused MD loops, the N-body generator) is

    r_ij = x_j − x_i + shift_ij @ cell

with an integer ``shift_ij`` [3] chosen by the neighbor list (zero in free
space). This module defines that convention once, at two levels:

* Numba primitives, ``njit(cache=True, inline="always")`` so that kernels
  calling them compile to the same code as if the arithmetic were written in
  place: :func:`free_displacement`, :func:`shifted_displacement`,
  :func:`lattice_vector`, :func:`translate`, :func:`minimum_image_orthorhombic`,
  :func:`wrap_fractional` and :func:`minimum_image`;
* the numpy-level :class:`Box` (cell + pbc, validated once) with
  ``displacement``, ``minimum_image``, ``wrap``, ``plane_spacings``, and the
  batched :func:`plane_spacings` for [T, 3, 3] cells.

Lengths in Å; shifts are integers (int or float arrays holding whole numbers).
"""

from __future__ import annotations

import numba
import numpy as np

from .errors import InputError

#: Refuse cells so thin that a cutoff needs more periodic images than this per axis.
MAX_IMAGES_PER_AXIS = 64


class Box:
    """A cell (rows = lattice vectors, Å) with per-axis periodicity.

    ``Box(cell, pbc)`` validates once; ``plane_spacings`` gives the distance
    between opposite faces along each axis (Å), which bounds the number of
    periodic images a cutoff needs.
    """

    def __init__(self, cell, pbc):
        self.cell = np.array(cell, dtype=np.float64).reshape(3, 3)
        self.pbc = np.array(pbc, dtype=bool).reshape(3)
        if not np.isfinite(self.cell).all():
            raise InputError(f"cell is not finite: {self.cell.tolist()}")
        self.basis = _complete_basis(self.cell, self.pbc)
        self.inverse = np.linalg.inv(self.basis)
        self._reduced = None

    @property
    def plane_spacings(self) -> np.ndarray:
        """[3] distance between opposite cell faces in Å (inf for non-periodic axes)."""
        return np.where(self.pbc, plane_spacings(self.basis), np.inf)

    def minimum_image(self, vectors) -> np.ndarray:
        """[n, 3] shortest periodic images (Å) of the vectors [n, 3] (Å), along periodic axes only."""
        d = np.array(vectors, dtype=np.float64, copy=True).reshape(-1, 3)
        if self._reduced is None:
            self._reduced = _reduced_basis(self.basis, self.pbc)
        _minimum_image_all(d, self._reduced[0], self._reduced[1], self.pbc)
        return d.reshape(np.shape(vectors))

    def displacement(self, x_i, x_j) -> np.ndarray:
        """Minimum-image r_ij = x_j − x_i (Å) for positions x_i, x_j [n, 3] (or [3]) in Å."""
        return self.minimum_image(np.asarray(x_j, dtype=np.float64) - np.asarray(x_i, dtype=np.float64))

    def images_needed(self, cutoff: float) -> np.ndarray:
        """[3] int: periodic images per side that a ``cutoff`` (Å) needs."""
        n = np.zeros(3, dtype=np.int64)
        spacing = self.plane_spacings
        for a in range(3):
            if self.pbc[a]:
                n[a] = int(np.ceil(cutoff / spacing[a]))
                if n[a] > MAX_IMAGES_PER_AXIS:
                    raise InputError(
                        f"cutoff {cutoff} Å needs {n[a]} periodic images along axis {a} "
                        f"(plane spacing {spacing[a]:.4g} Å): the cell is too thin for this cutoff"
                    )
        return n

    def fractional(self, positions: np.ndarray) -> np.ndarray:
        """[n, 3] fractional coordinates of ``positions`` (Å)."""
        return positions @ self.inverse

    def wrap(self, positions: np.ndarray):
        """Wrap into the cell along periodic axes.

        Returns ``(wrapped [n,3] Å, offsets [n,3] int)`` with
        ``positions == wrapped + offsets @ cell``.
        """
        frac = self.fractional(positions)
        offsets = np.where(self.pbc, np.floor(frac), 0.0)
        wrapped = positions - offsets @ self.basis
        return wrapped, offsets.astype(np.int64)

    def shift_vectors(self, shifts: np.ndarray) -> np.ndarray:
        """[n_pairs, 3] Cartesian image vectors (Å) for integer ``shifts`` [n_pairs, 3]."""
        return shifts @ self.cell

    def require_minimum_image(self, cutoff: float) -> None:
        """Raise unless ``cutoff`` (Å) is below half of every periodic plane spacing."""
        spacing = self.plane_spacings
        for a in range(3):
            if self.pbc[a] and cutoff > 0.5 * spacing[a]:
                raise InputError(
                    f"cutoff {cutoff} Å exceeds half the plane spacing {spacing[a]:.4g} Å along periodic axis {a}"
                )


def _complete_basis(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """An invertible basis equal to ``cell`` on periodic axes.

    Non-periodic axes get no images, so their rows only have to make the basis
    invertible: when the given cell is singular they are replaced by an
    orthonormal complement of the periodic rows.
    """
    for a in range(3):
        if pbc[a] and np.linalg.norm(cell[a]) == 0.0:
            raise InputError(f"axis {a} is periodic but its cell vector is zero")
    scale = max(1.0, float(np.abs(cell).max()))
    if abs(np.linalg.det(cell)) > 1e-9 * scale**3:
        return cell.copy()
    periodic = cell[pbc]
    if len(periodic) and np.linalg.matrix_rank(periodic, tol=1e-9 * scale) < len(periodic):
        raise InputError(f"periodic cell vectors are linearly dependent: {cell.tolist()}")
    if len(periodic) == 3:
        raise InputError(f"cell is singular: {cell.tolist()}")
    return _orthogonal_completion(cell, pbc)


def _orthogonal_completion(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """``cell`` with its non-periodic rows replaced by an orthonormal complement of the periodic rows."""
    periodic = cell[pbc]
    # Rows of vt beyond the rank span the orthogonal complement of the periodic rows.
    _, _, vt = np.linalg.svd(periodic if len(periodic) else np.zeros((1, 3)), full_matrices=True)
    complement = vt[len(periodic):] if len(periodic) else np.eye(3)
    basis = cell.copy()
    basis[~pbc] = complement[: int((~pbc).sum())]
    return basis


def _reduced_basis(basis: np.ndarray, pbc: np.ndarray):
    """(reduced [3,3], its inverse): a basis of the same periodic lattice in which the shortest image
    of any vector is among the 27 neighbors of its fractional wrap (:func:`minimum_image`).

    The periodic rows are Minkowski-reduced (``ase.geometry.minkowski_reduce``); the
    non-periodic rows become orthonormal to them, so that the component of a vector
    outside the periodic subspace does not bias the wrap.
    """
    if not pbc.any():
        return basis.copy(), np.linalg.inv(basis)
    from ase.geometry import minkowski_reduce

    completed = _orthogonal_completion(basis, pbc)
    order = np.argsort(~pbc, kind="stable")  # periodic rows first: the form minkowski_reduce reduces
    reduced_ordered, _ = minkowski_reduce(completed[order], pbc=pbc[order])
    reduced = np.empty((3, 3))
    reduced[order] = np.asarray(reduced_ordered)
    return np.ascontiguousarray(reduced), np.linalg.inv(reduced)


def plane_spacings(cells) -> np.ndarray:
    """Distances (Å) between opposite faces of cells [..., 3, 3] (rows = lattice vectors, Å): [..., 3].

    spacing_a = |det cell| / |b × c| for the two other rows b, c; 0 for a flat
    cell (no LinAlgError), so callers can refuse it by name.
    """
    cells = np.asarray(cells, dtype=np.float64)
    volume = np.abs(np.linalg.det(cells))[..., None]  # [..., 1]
    cross = np.stack([np.cross(cells[..., (a + 1) % 3, :], cells[..., (a + 2) % 3, :]) for a in range(3)], axis=-2)
    norm = np.linalg.norm(cross, axis=-1)  # [..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, volume / np.where(norm > 0, norm, 1.0), 0.0)


# ------------------------------------------------------------ Numba primitives
@numba.njit(cache=True, inline="always")
def free_displacement(positions, i, j):
    """r_ij = x_j − x_i (Å) in free space, for rows i, j of positions [n, 3] (Å)."""
    return positions[j, 0] - positions[i, 0], positions[j, 1] - positions[i, 1], positions[j, 2] - positions[i, 2]


@numba.njit(cache=True, inline="always")
def shifted_displacement(positions, cell, i, j, sx, sy, sz):
    """r_ij = x_j − x_i + (sx, sy, sz) @ cell (Å): the pair vector of the neighbor-list convention.

    positions [n, 3] Å, cell [3, 3] Å (rows), integer shifts sx, sy, sz.
    """
    r0 = positions[j, 0] - positions[i, 0] + sx * cell[0, 0] + sy * cell[1, 0] + sz * cell[2, 0]
    r1 = positions[j, 1] - positions[i, 1] + sx * cell[0, 1] + sy * cell[1, 1] + sz * cell[2, 1]
    r2 = positions[j, 2] - positions[i, 2] + sx * cell[0, 2] + sy * cell[1, 2] + sz * cell[2, 2]
    return r0, r1, r2


@numba.njit(cache=True, inline="always")
def lattice_vector(cell, sx, sy, sz):
    """(sx, sy, sz) @ cell (Å): the Cartesian vector of an integer lattice shift."""
    return (sx * cell[0, 0] + sy * cell[1, 0] + sz * cell[2, 0],
            sx * cell[0, 1] + sy * cell[1, 1] + sz * cell[2, 1],
            sx * cell[0, 2] + sy * cell[1, 2] + sz * cell[2, 2])


@numba.njit(cache=True, inline="always")
def translate(x, y, z, cell, sx, sy, sz):
    """The periodic image (x, y, z) + (sx, sy, sz) @ cell of a point (Å)."""
    return (x + sx * cell[0, 0] + sy * cell[1, 0] + sz * cell[2, 0],
            y + sx * cell[0, 1] + sy * cell[1, 1] + sz * cell[2, 1],
            z + sx * cell[0, 2] + sy * cell[1, 2] + sz * cell[2, 2])


@numba.njit(cache=True, inline="always")
def minimum_image_orthorhombic(rx, ry, rz, box):
    """Minimum image of (rx, ry, rz) (Å) in an orthorhombic box of edges box [3] (Å), all axes periodic."""
    return rx - box[0] * np.rint(rx / box[0]), ry - box[1] * np.rint(ry / box[1]), rz - box[2] * np.rint(rz / box[2])


@numba.njit(cache=True, inline="always")
def wrap_fractional(d, basis, inverse, periodic):
    """In place on d [3] (Å): subtract the lattice vector that rounds each periodic fractional coordinate to 0.

    basis [3, 3] (rows, Å) with ``inverse`` its inverse; periodic [3] bools.
    This is the minimum image whenever that image is shorter than half of
    every plane spacing (:meth:`Box.require_minimum_image`); otherwise use
    :func:`minimum_image`.
    """
    for a in range(3):
        if periodic[a]:
            frac = d[0] * inverse[0, a] + d[1] * inverse[1, a] + d[2] * inverse[2, a]
            shift = np.rint(frac)
            if shift != 0.0:
                for c in range(3):
                    d[c] -= shift * basis[a, c]


@numba.njit(cache=True)
def minimum_image(d, basis, inverse, periodic):
    """In place on d [3] (Å): the shortest periodic image, for any (triclinic) cell.

    :func:`wrap_fractional` first, then the 27 neighboring images (periodic
    axes only) are searched: in a skewed cell the rounded image need not be the
    shortest. For a Minkowski-reduced ``basis`` (what :meth:`Box.minimum_image`
    passes) this is the shortest image, as ``ase.geometry.find_mic`` finds it.
    """
    wrap_fractional(d, basis, inverse, periodic)
    best = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b0 = d[0]
    b1 = d[1]
    b2 = d[2]
    for sx in range(-1, 2):
        if sx != 0 and not periodic[0]:
            continue
        for sy in range(-1, 2):
            if sy != 0 and not periodic[1]:
                continue
            for sz in range(-1, 2):
                if sz != 0 and not periodic[2]:
                    continue
                ox, oy, oz = lattice_vector(basis, sx, sy, sz)
                r0 = d[0] + ox
                r1 = d[1] + oy
                r2 = d[2] + oz
                r = r0 * r0 + r1 * r1 + r2 * r2
                if r < best:
                    best = r
                    b0 = r0
                    b1 = r1
                    b2 = r2
    d[0] = b0
    d[1] = b1
    d[2] = b2


@numba.njit(cache=True)
def _minimum_image_all(d, basis, inverse, periodic):
    for p in range(d.shape[0]):
        minimum_image(d[p], basis, inverse, periodic)


@numba.njit(cache=True)
def pair_vector(positions, cell, i, j, shift):
    """r_ij = x_j − x_i + shift @ cell, in Å (one pair; shift [3])."""
    return shifted_displacement(positions, cell, i, j, shift[0], shift[1], shift[2])


@numba.njit(cache=True, parallel=True)
def pair_vectors(positions, cell, i, j, shifts):
    """[n_pairs, 3] r_ij = x_j − x_i + shifts @ cell (Å) and [n_pairs] |r_ij|."""
    n = i.shape[0]
    vec = np.empty((n, 3))
    dist = np.empty(n)
    for p in numba.prange(n):
        r0, r1, r2 = pair_vector(positions, cell, i[p], j[p], shifts[p])
        vec[p, 0] = r0
        vec[p, 1] = r1
        vec[p, 2] = r2
        dist[p] = np.sqrt(r0 * r0 + r1 * r1 + r2 * r2)
    return vec, dist
