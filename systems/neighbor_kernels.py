"""Numba kernels of the O(N) cell-list neighbor search.

The search works on atoms wrapped into the cell plus the periodic "ghost"
images that lie within ``cutoff`` of it, binned on a Cartesian grid with bins
no smaller than the cutoff. Ghosts make triclinic cells, partial periodicity
and cells thinner than twice the cutoff (several images of one neighbor) all
the same case. Pairs are counted in a first parallel pass and written in a
second, so the output is allocated once at its exact size and grouped by the
first atom in index order.
"""

from __future__ import annotations

import numba
import numpy as np

from .boundary import shifted_displacement, translate
from .numba_twins import parallel_and_serial


@numba.njit(cache=True)
def make_images(wrapped, frac, cell, n_images, pad, pbc):
    """Real atoms and their ghost images within ``pad`` (fractional units) of the cell.

    Parameters: wrapped [n,3] Å, frac [n,3] fractional coordinates of ``wrapped``,
    cell [3,3] basis, n_images [3] images per side, pad [3] cutoff in
    fractional units per axis, pbc [3].
    Returns points [k,3] Å, origin [k] atom index, image [k,3] int32 lattice shift.
    Real atoms come first, in index order (image 0).
    """
    n = wrapped.shape[0]
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    for a in range(3):
        lo[a] = -n_images[a] if pbc[a] else 0
        hi[a] = n_images[a] if pbc[a] else 0
    count = n
    for i in range(n):
        for tx in range(lo[0], hi[0] + 1):
            sx = frac[i, 0] + tx
            if pbc[0] and (sx < -pad[0] or sx >= 1.0 + pad[0]):
                continue
            for ty in range(lo[1], hi[1] + 1):
                sy = frac[i, 1] + ty
                if pbc[1] and (sy < -pad[1] or sy >= 1.0 + pad[1]):
                    continue
                for tz in range(lo[2], hi[2] + 1):
                    sz = frac[i, 2] + tz
                    if pbc[2] and (sz < -pad[2] or sz >= 1.0 + pad[2]):
                        continue
                    if tx != 0 or ty != 0 or tz != 0:
                        count += 1
    points = np.empty((count, 3))
    origin = np.empty(count, np.int64)
    image = np.zeros((count, 3), np.int32)
    for i in range(n):
        points[i] = wrapped[i]
        origin[i] = i
    k = n
    for i in range(n):
        for tx in range(lo[0], hi[0] + 1):
            sx = frac[i, 0] + tx
            if pbc[0] and (sx < -pad[0] or sx >= 1.0 + pad[0]):
                continue
            for ty in range(lo[1], hi[1] + 1):
                sy = frac[i, 1] + ty
                if pbc[1] and (sy < -pad[1] or sy >= 1.0 + pad[1]):
                    continue
                for tz in range(lo[2], hi[2] + 1):
                    sz = frac[i, 2] + tz
                    if pbc[2] and (sz < -pad[2] or sz >= 1.0 + pad[2]):
                        continue
                    if tx == 0 and ty == 0 and tz == 0:
                        continue
                    points[k, 0], points[k, 1], points[k, 2] = translate(
                        wrapped[i, 0], wrapped[i, 1], wrapped[i, 2], cell, tx, ty, tz)
                    image[k, 0] = tx
                    image[k, 1] = ty
                    image[k, 2] = tz
                    origin[k] = i
                    k += 1
    return points, origin, image


@numba.njit(cache=True)
def bin_points(points, cutoff, bins_per_cutoff, max_bins):
    """Counting-sort ``points`` [k,3] (Å) into a Cartesian grid.

    Bins are at least ``cutoff / bins_per_cutoff`` wide, so every neighbor of
    a point lies within ``bins_per_cutoff`` bins of its own along each axis.
    Returns (order [k] point indices sorted by bin, bin_start [n_bins+1],
    n_bins [3], lower corner [3] Å, bin width [3] Å).
    """
    k = points.shape[0]
    lower = np.empty(3)
    upper = np.empty(3)
    for c in range(3):
        lower[c] = points[0, c]
        upper[c] = points[0, c]
    for p in range(k):
        for c in range(3):
            v = points[p, c]
            if v < lower[c]:
                lower[c] = v
            if v > upper[c]:
                upper[c] = v
    nb = np.empty(3, np.int64)
    width = np.empty(3)
    min_width = cutoff / bins_per_cutoff
    for c in range(3):
        extent = upper[c] - lower[c]
        nb[c] = max(1, int(extent / min_width))
    # Keep the grid no larger than ``max_bins`` for sparse, open systems.
    while nb[0] * nb[1] * nb[2] > max_bins:
        c = np.argmax(nb)
        nb[c] = max(1, nb[c] // 2)
    for c in range(3):
        extent = upper[c] - lower[c]
        width[c] = max(extent / nb[c], min_width)
    total = nb[0] * nb[1] * nb[2]
    bin_of = np.empty(k, np.int64)
    counts = np.zeros(total + 1, np.int64)
    for p in range(k):
        b = 0
        for c in range(3):
            t = int((points[p, c] - lower[c]) / width[c])
            if t >= nb[c]:
                t = nb[c] - 1
            b = b * nb[c] + t
        bin_of[p] = b
        counts[b + 1] += 1
    for b in range(total):
        counts[b + 1] += counts[b]
    fill = counts[:-1].copy()
    order = np.empty(k, np.int64)
    for p in range(k):
        b = bin_of[p]
        order[fill[b]] = p
        fill[b] += 1
    return order, counts, nb, lower, width


@numba.njit(cache=True, inline="always")
def _keep_half(i, j, sx, sy, sz):
    if i < j:
        return True
    if i > j:
        return False
    # Self-images: keep the lexicographically positive shift of each ± pair.
    if sx != 0:
        return sx > 0
    if sy != 0:
        return sy > 0
    return sz > 0


def search_pairs(
    positions, cell, offsets, sorted_points, sorted_origin, sorted_image, bin_start, nb, lower, width, reach,
    cutoff, full, with_vectors
):
    """All pairs (i, j, shift) with |x_j − x_i + shift @ cell| < cutoff.

    ``sorted_points`` are the wrapped atoms and their ghosts sorted by bin;
    real atom i sits there with image 0, and ``offsets`` [n,3] are the lattice
    shifts that wrapped it, so returned shifts refer to the caller's
    ``positions``. Neighbors lie within ``reach`` bins. Work is parallel over
    bins (neighboring atoms share candidate bins in cache); output is grouped
    by i in index order.
    Returns i [p], j [p], shifts [p,3] int32, vectors [p,3] Å, distances [p] Å
    (vectors and distances have length 0 unless ``with_vectors``).
    """
    n = positions.shape[0]
    n_bins = nb[0] * nb[1] * nb[2]
    cut2 = cutoff * cutoff
    counts = np.zeros(n + 1, np.int64)
    for b in numba.prange(n_bins):
        bz = b % nb[2]
        by = (b // nb[2]) % nb[1]
        bx = b // (nb[1] * nb[2])
        for s in range(bin_start[b], bin_start[b + 1]):
            if sorted_image[s, 0] != 0 or sorted_image[s, 1] != 0 or sorted_image[s, 2] != 0:
                continue  # ghosts are only ever the second atom of a pair
            i = sorted_origin[s]
            xi = sorted_points[s, 0]
            yi = sorted_points[s, 1]
            zi = sorted_points[s, 2]
            c = 0
            for cx in range(max(bx - reach, 0), min(bx + reach + 1, nb[0])):
                for cy in range(max(by - reach, 0), min(by + reach + 1, nb[1])):
                    row = (cx * nb[1] + cy) * nb[2]
                    q0 = bin_start[row + max(bz - reach, 0)]
                    q1 = bin_start[row + min(bz + reach + 1, nb[2])]
                    for q in range(q0, q1):
                        dx = sorted_points[q, 0] - xi
                        dy = sorted_points[q, 1] - yi
                        dz = sorted_points[q, 2] - zi
                        if dx * dx + dy * dy + dz * dz < cut2 and q != s:
                            if full:
                                c += 1
                            else:
                                j = sorted_origin[q]
                                sx = sorted_image[q, 0] - offsets[j, 0] + offsets[i, 0]
                                sy = sorted_image[q, 1] - offsets[j, 1] + offsets[i, 1]
                                sz = sorted_image[q, 2] - offsets[j, 2] + offsets[i, 2]
                                if _keep_half(i, j, sx, sy, sz):
                                    c += 1
            counts[i + 1] = c
    for i in range(n):
        counts[i + 1] += counts[i]
    n_pairs = counts[n]
    first = np.empty(n_pairs, np.int64)
    second = np.empty(n_pairs, np.int64)
    shifts = np.empty((n_pairs, 3), np.int32)
    n_vec = n_pairs if with_vectors else 0
    vectors = np.empty((n_vec, 3))
    distances = np.empty(n_vec)
    for b in numba.prange(n_bins):
        bz = b % nb[2]
        by = (b // nb[2]) % nb[1]
        bx = b // (nb[1] * nb[2])
        for s in range(bin_start[b], bin_start[b + 1]):
            if sorted_image[s, 0] != 0 or sorted_image[s, 1] != 0 or sorted_image[s, 2] != 0:
                continue
            i = sorted_origin[s]
            xi = sorted_points[s, 0]
            yi = sorted_points[s, 1]
            zi = sorted_points[s, 2]
            p = counts[i]
            for cx in range(max(bx - reach, 0), min(bx + reach + 1, nb[0])):
                for cy in range(max(by - reach, 0), min(by + reach + 1, nb[1])):
                    row = (cx * nb[1] + cy) * nb[2]
                    q0 = bin_start[row + max(bz - reach, 0)]
                    q1 = bin_start[row + min(bz + reach + 1, nb[2])]
                    for q in range(q0, q1):
                        dx = sorted_points[q, 0] - xi
                        dy = sorted_points[q, 1] - yi
                        dz = sorted_points[q, 2] - zi
                        if dx * dx + dy * dy + dz * dz < cut2 and q != s:
                            j = sorted_origin[q]
                            sx = sorted_image[q, 0] - offsets[j, 0] + offsets[i, 0]
                            sy = sorted_image[q, 1] - offsets[j, 1] + offsets[i, 1]
                            sz = sorted_image[q, 2] - offsets[j, 2] + offsets[i, 2]
                            if full or _keep_half(i, j, sx, sy, sz):
                                first[p] = i
                                second[p] = j
                                shifts[p, 0] = sx
                                shifts[p, 1] = sy
                                shifts[p, 2] = sz
                                if with_vectors:
                                    # From the caller's positions, so r = x_j - x_i + S @ cell holds exactly.
                                    vectors[p, 0], vectors[p, 1], vectors[p, 2] = shifted_displacement(
                                        positions, cell, i, j, sx, sy, sz)
                                    distances[p] = np.sqrt(
                                        vectors[p, 0] ** 2 + vectors[p, 1] ** 2 + vectors[p, 2] ** 2
                                    )
                                p += 1
    return first, second, shifts, vectors, distances


def max_displacement_squared(positions, reference):
    """max_i |x_i − x_ref,i|² in Å² (the skin-reuse test)."""
    n = positions.shape[0]
    worst = np.zeros(n)
    for i in numba.prange(n):
        dx = positions[i, 0] - reference[i, 0]
        dy = positions[i, 1] - reference[i, 1]
        dz = positions[i, 2] - reference[i, 2]
        worst[i] = dx * dx + dy * dy + dz * dz
    return worst.max() if n > 0 else 0.0


def gather_within(positions, cell, first, second, shifts, cutoff):
    """Pairs of a skin list that are within ``cutoff`` now: mask [p], vectors [p,3], distances [p]."""
    n = first.shape[0]
    vectors = np.empty((n, 3))
    distances = np.empty(n)
    mask = np.empty(n, np.bool_)
    for p in numba.prange(n):
        i = first[p]
        j = second[p]
        vectors[p, 0], vectors[p, 1], vectors[p, 2] = shifted_displacement(
            positions, cell, i, j, shifts[p, 0], shifts[p, 1], shifts[p, 2])
        d = np.sqrt(vectors[p, 0] ** 2 + vectors[p, 1] ** 2 + vectors[p, 2] ** 2)
        distances[p] = d
        mask[p] = d < cutoff
    return mask, vectors, distances


search_pairs_parallel, search_pairs_serial = parallel_and_serial(search_pairs)
max_displacement_squared_parallel, max_displacement_squared_serial = parallel_and_serial(max_displacement_squared)
gather_within_parallel, gather_within_serial = parallel_and_serial(gather_within)
