"""The boundary-condition object: one place for periodic images.

Every pair vector in the package (neighbor list, classical potentials, EGNN
edges) is ``r_ij = x_j - x_i + shift_ij @ cell`` with an integer ``shift_ij``
[3] chosen by the neighbor list. This module defines that convention once.
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

    @property
    def plane_spacings(self) -> np.ndarray:
        """[3] distance between opposite cell faces in Å (inf for non-periodic axes)."""
        recip = self.inverse.T  # rows: reciprocal vectors b_a with a_i·b_j = δ_ij
        spacing = 1.0 / np.linalg.norm(recip, axis=1)
        return np.where(self.pbc, spacing, np.inf)

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
    # Rows of vt beyond the rank span the orthogonal complement of the periodic rows.
    _, _, vt = np.linalg.svd(periodic if len(periodic) else np.zeros((1, 3)), full_matrices=True)
    complement = vt[len(periodic):] if len(periodic) else np.eye(3)
    basis = cell.copy()
    basis[~pbc] = complement[: int((~pbc).sum())]
    return basis


@numba.njit(cache=True, fastmath=False)
def pair_vector(positions, cell, i, j, shift):
    """r_ij = x_j − x_i + shift @ cell, in Å (Numba; one pair)."""
    r0 = positions[j, 0] - positions[i, 0] + shift[0] * cell[0, 0] + shift[1] * cell[1, 0] + shift[2] * cell[2, 0]
    r1 = positions[j, 1] - positions[i, 1] + shift[0] * cell[0, 1] + shift[1] * cell[1, 1] + shift[2] * cell[2, 1]
    r2 = positions[j, 2] - positions[i, 2] + shift[0] * cell[0, 2] + shift[1] * cell[1, 2] + shift[2] * cell[2, 2]
    return r0, r1, r2


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
