"""The boundary conditions: Numba pair-vector primitives and the Box's minimum image,
against ASE (find_mic, neighbor_list) for triclinic, partly periodic cells, and invariant
under rotation and translation."""

import numpy as np
import pytest
from ase import Atoms
from ase.geometry import find_mic
from ase.neighborlist import neighbor_list as ase_neighbor_list
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from systems.boundary import (
    Box,
    free_displacement,
    lattice_vector,
    minimum_image_orthorhombic,
    pair_vectors,
    plane_spacings,
    shifted_displacement,
    translate,
    wrap_fractional,
)
from systems.errors import InputError


@st.composite
def triclinic(draw, max_skew=0.9):
    """(cell [3,3] Å, pbc [3], rng): a random, possibly strongly skewed, partly periodic cell."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lengths = rng.uniform(2.0, 8.0, 3)
    cell = np.diag(lengths) + rng.uniform(-max_skew, max_skew, (3, 3)) * lengths[:, None]
    assume(abs(np.linalg.det(cell)) > 0.05 * np.prod(lengths))  # not nearly flat
    pbc = np.array(draw(st.lists(st.booleans(), min_size=3, max_size=3)))
    return cell, pbc, rng


@settings(max_examples=60, deadline=None)
@given(triclinic())
def test_minimum_image_matches_ase_find_mic(box):
    cell, pbc, rng = box
    vectors = rng.normal(size=(20, 3)) * 10.0  # far beyond the cell: several lattice vectors away
    ours = Box(cell, pbc).minimum_image(vectors)
    # ASE's find_mic is exact when the periodic rows come first and the others are orthogonal to them
    # (it Minkowski-reduces only that form): same lattice, so the same shortest images.
    order = np.argsort(~pbc, kind="stable")
    ase_cell = cell[order].copy()
    n_periodic = int(pbc.sum())
    if 0 < n_periodic < 3:
        _, _, vt = np.linalg.svd(ase_cell[:n_periodic])
        ase_cell[n_periodic:] = vt[n_periodic:] * 10.0
    _, ref_len = find_mic(vectors, ase_cell, pbc[order])
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), ref_len, rtol=0, atol=1e-9)
    # ... and never longer than find_mic on the cell as given.
    _, raw_len = find_mic(vectors, cell, pbc)
    assert np.all(np.linalg.norm(ours, axis=1) <= raw_len + 1e-9)
    # The image differs from the vector by a whole lattice vector along periodic axes only.
    steps = (ours - vectors) @ np.linalg.inv(cell)
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-8)
    assert np.all(np.rint(steps)[:, ~pbc] == 0)


@settings(max_examples=40, deadline=None)
@given(triclinic(), st.integers(0, 2**32 - 1))
def test_minimum_image_distances_invariant_under_rotation_and_translation(box, seed):
    cell, pbc, rng = box
    x = rng.uniform(-0.5, 1.5, (12, 3)) @ cell
    i, j = np.triu_indices(len(x), k=1)
    rot = Rotation.random(random_state=seed).as_matrix()
    shift = np.random.default_rng(seed).normal(size=3) * 7.0
    before = np.linalg.norm(Box(cell, pbc).displacement(x[i], x[j]), axis=1)
    moved = x @ rot.T + shift
    after = np.linalg.norm(Box(cell @ rot.T, pbc).displacement(moved[i], moved[j]), axis=1)
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-9)
    # Translating one atom by a lattice vector of a periodic axis changes nothing.
    lattice = (np.where(pbc, rng.integers(-3, 4, 3), 0)) @ cell
    again = np.linalg.norm(Box(cell, pbc).displacement(x[i], x[j] + lattice), axis=1)
    np.testing.assert_allclose(again, before, rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(triclinic(max_skew=0.45), st.floats(0.5, 6.0))
def test_pair_vectors_of_ase_pairs_give_ase_distances(box, cutoff):
    cell, pbc, rng = box
    x = rng.uniform(-0.3, 1.3, (10, 3)) @ cell
    atoms = Atoms(f"H{len(x)}", positions=x, cell=cell, pbc=pbc)
    i, j, shifts, d, vec = ase_neighbor_list("ijSdD", atoms, cutoff)
    ours, dist = pair_vectors(x, cell, i, j, shifts)
    np.testing.assert_allclose(ours, vec, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dist, d, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(triclinic(), st.integers(-3, 3), st.integers(-3, 3), st.integers(-3, 3))
def test_numba_primitives_follow_the_one_convention(box, sx, sy, sz):
    cell, pbc, rng = box
    x = rng.normal(size=(4, 3)) * 5.0
    s = np.array([sx, sy, sz])
    # r_ij = x_j − x_i + S @ cell, evaluated in the order every kernel used before (bit for bit)
    expected = np.array([x[2, c] - x[1, c] + sx * cell[0, c] + sy * cell[1, c] + sz * cell[2, c] for c in range(3)])
    np.testing.assert_array_equal(shifted_displacement(x, cell, 1, 2, sx, sy, sz), expected)
    np.testing.assert_allclose(shifted_displacement(x, cell, 1, 2, sx, sy, sz), x[2] - x[1] + s @ cell, atol=1e-12)
    np.testing.assert_array_equal(free_displacement(x, 1, 2), x[2] - x[1])
    np.testing.assert_allclose(lattice_vector(cell, sx, sy, sz), s @ cell, atol=1e-12)
    np.testing.assert_allclose(translate(*x[3], cell, sx, sy, sz), x[3] + s @ cell, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(triclinic())
def test_fractional_wrap_is_the_minimum_image_below_half_a_plane_spacing(box):
    cell, pbc, rng = box
    b = Box(cell, pbc)
    half = 0.5 * np.min(b.plane_spacings)
    short = rng.normal(size=(10, 3))
    short *= (rng.uniform(0.0, 0.99, 10) * min(half, 50.0) / np.linalg.norm(short, axis=1))[:, None]
    steps = np.where(pbc, rng.integers(-4, 5, (10, 3)), 0)
    for v, far in zip(short, short + steps @ cell):
        d = far.copy()
        wrap_fractional(d, b.basis, b.inverse, b.pbc)
        np.testing.assert_allclose(d, v, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_orthorhombic_minimum_image_matches_find_mic(seed):
    rng = np.random.default_rng(seed)
    box = rng.uniform(1.0, 6.0, 3)
    r = rng.normal(size=(20, 3)) * 10.0
    ours = np.array([minimum_image_orthorhombic(*v, box) for v in r])
    _, ref_len = find_mic(r, np.diag(box), True)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), ref_len, rtol=0, atol=1e-9)
    assert np.all(np.abs(ours) <= 0.5 * box + 1e-12)


def test_plane_spacings_batched_match_the_box_and_ase():
    rng = np.random.default_rng(3)
    cells = np.diag([4.0, 5.0, 6.0]) + rng.uniform(-1.0, 1.0, (7, 3, 3))  # [T, 3, 3]
    spacings = plane_spacings(cells)  # [T, 3]
    for cell, spacing in zip(cells, spacings):
        np.testing.assert_allclose(spacing, Box(cell, [True] * 3).plane_spacings, rtol=1e-12)
        np.testing.assert_allclose(spacing, 1.0 / np.linalg.norm(Atoms(cell=cell).cell.reciprocal(), axis=1),
                                   rtol=1e-12)
    np.testing.assert_allclose(plane_spacings(np.diag([2.0, 3.0, 4.0])), [2.0, 3.0, 4.0])
    flat = np.array([[3.0, 0, 0], [0, 3.0, 0], [3.0, 3.0, 0]])
    np.testing.assert_array_equal(plane_spacings(flat), [0.0, 0.0, 0.0])  # no LinAlgError for a flat cell
    assert Box(np.diag([2.0, 3.0, 4.0]), [True, False, True]).plane_spacings[1] == np.inf


def test_box_refuses_unusable_cells_by_name():
    with pytest.raises(InputError, match="axis 1 is periodic but its cell vector is zero"):
        Box(np.diag([3.0, 0.0, 3.0]), [True] * 3)
    with pytest.raises(InputError, match="cell is not finite"):
        Box(np.diag([3.0, np.nan, 3.0]), [True] * 3)
