"""Neighbor list: exact parity with ASE's neighbor_list, skin reuse, bad input."""

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from systems.errors import InputError
from systems.neighbor_list import NeighborList, build_pairs


def canonical(i, j, shifts):
    """Sorted [n_pairs, 5] rows (i, j, Sx, Sy, Sz) for set comparison."""
    rows = np.column_stack([i, j, shifts]).astype(np.int64)
    return rows[np.lexsort(rows.T[::-1])]


def ase_pairs(positions, cell, pbc, cutoff):
    atoms = Atoms(f"H{len(positions)}", positions=positions, cell=cell, pbc=pbc)
    i, j, S = ase_neighbor_list("ijS", atoms, cutoff)
    return canonical(i, j, S)


@st.composite
def random_box(draw):
    """A random triclinic, partly periodic box with atoms inside and around it."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 24))
    thin = draw(st.booleans())
    lengths = rng.uniform(1.5, 4.0, 3) if thin else rng.uniform(3.0, 9.0, 3)
    cell = np.diag(lengths) + rng.uniform(-0.45, 0.45, (3, 3)) * lengths[:, None]
    pbc = np.array(draw(st.lists(st.booleans(), min_size=3, max_size=3)))
    positions = rng.uniform(-0.3, 1.3, (n, 3)) @ cell
    cutoff = draw(st.floats(0.5, 6.0))
    return positions, cell, pbc, cutoff


@settings(max_examples=60, deadline=None)
@given(random_box())
def test_full_list_matches_ase(box):
    positions, cell, pbc, cutoff = box
    ours = build_pairs(positions, cell, pbc, cutoff, full=True)
    np.testing.assert_array_equal(canonical(ours.i, ours.j, ours.shifts), ase_pairs(positions, cell, pbc, cutoff))
    # Vectors and distances follow the shared convention r = x_j - x_i + S @ cell.
    expected = positions[ours.j] - positions[ours.i] + ours.shifts @ cell
    np.testing.assert_allclose(ours.vectors, expected, atol=1e-12)
    np.testing.assert_allclose(ours.distances, np.linalg.norm(expected, axis=1), atol=1e-12)
    assert np.all(ours.distances < cutoff)


@settings(max_examples=40, deadline=None)
@given(random_box())
def test_half_list_is_half_of_full(box):
    positions, cell, pbc, cutoff = box
    full = build_pairs(positions, cell, pbc, cutoff, full=True)
    half = build_pairs(positions, cell, pbc, cutoff, full=False)
    mirrored = np.concatenate(
        [canonical(half.i, half.j, half.shifts), canonical(half.j, half.i, -half.shifts)], axis=0
    )
    np.testing.assert_array_equal(canonical(*mirrored[:, :2].T, mirrored[:, 2:]), canonical(full.i, full.j, full.shifts))


@settings(max_examples=30, deadline=None)
@given(random_box(), st.integers(0, 2**32 - 1))
def test_invariant_under_rotation_and_translation(box, seed):
    positions, cell, pbc, cutoff = box
    rng = np.random.default_rng(seed)
    rot = Rotation.random(random_state=seed).as_matrix()
    shift = rng.normal(size=3) * 5
    ref = build_pairs(positions, cell, pbc, cutoff)
    moved = build_pairs(positions @ rot.T + shift, cell @ rot.T, pbc, cutoff)
    # Pairs within 1e-9 Å of the cutoff may legitimately flip under round-off.
    keep_ref = np.abs(ref.distances - cutoff) > 1e-9
    keep_mov = np.abs(moved.distances - cutoff) > 1e-9
    np.testing.assert_array_equal(
        canonical(ref.i[keep_ref], ref.j[keep_ref], ref.shifts[keep_ref]),
        canonical(moved.i[keep_mov], moved.j[keep_mov], moved.shifts[keep_mov]),
    )


def test_thin_cell_sees_several_images_of_itself():
    # One atom in a 2 Å cubic cell with a 4.5 Å cutoff: images out to ±2 along each axis.
    ours = build_pairs(np.zeros((1, 3)), np.eye(3) * 2.0, [True] * 3, 4.5)
    shifts = ours.shifts.astype(float) * 2.0
    expected = sum(1 for a in range(-3, 4) for b in range(-3, 4) for c in range(-3, 4)
                   if 0 < 4.0 * (a * a + b * b + c * c) < 4.5**2)
    assert len(ours.i) == expected
    assert np.all(np.linalg.norm(shifts, axis=1) < 4.5)


def test_fcc_argon_coordination():
    from ase.build import bulk

    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(3)
    ours = build_pairs(atoms.positions, atoms.cell[:], atoms.pbc, 4.0)
    assert np.all(np.bincount(ours.i, minlength=len(atoms)) == 12)  # nearest shell at a/√2 = 3.72 Å


def test_skin_reuses_and_rebuilds():
    from ase.build import bulk

    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(3)
    rng = np.random.default_rng(0)
    pos = atoms.positions + rng.normal(scale=0.05, size=atoms.positions.shape)
    cell, pbc = atoms.cell[:], atoms.pbc
    nl = NeighborList(cutoff=6.0, skin=1.0)
    for step in range(6):
        pos = pos + rng.normal(scale=0.04, size=pos.shape)
        got = nl.compute(pos, cell, pbc)
        fresh = build_pairs(pos, cell, pbc, 6.0)
        np.testing.assert_array_equal(canonical(got.i, got.j, got.shifts), canonical(fresh.i, fresh.j, fresh.shifts))
    assert nl.n_builds == 1  # small moves: the list is reused
    pos[0] += 0.6  # beyond skin/2
    assert nl.update(pos, cell, pbc) is True
    assert nl.n_builds == 2
    assert nl.update(pos, cell * 0.8, pbc) is True  # a strained cell that could bring a missing pair in rebuilds


def test_open_system_without_cell():
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, 10, (40, 3))
    ours = build_pairs(pos, np.zeros((3, 3)), [False] * 3, 3.0)
    np.testing.assert_array_equal(canonical(ours.i, ours.j, ours.shifts), ase_pairs(pos, np.zeros((3, 3)), [False] * 3, 3.0))
    assert not ours.shifts.any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cutoff=-1.0), "cutoff"),
        (dict(cutoff=float("nan")), "cutoff"),
        (dict(cell=np.diag([3.0, 3.0, 0.0]), pbc=[True] * 3), "axis 2"),
        (dict(cell=np.diag([3.0, 3.0, 0.01]), pbc=[True] * 3, cutoff=5.0), "too thin"),
        (dict(positions=np.array([[0.0, 0.0, np.nan], [1.0, 1.0, 1.0]])), "atom 0"),
        (dict(positions=np.zeros((2, 2))), "positions"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    args = dict(positions=np.zeros((2, 3)) + [[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 5, pbc=[True] * 3, cutoff=2.0)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        build_pairs(args["positions"], args["cell"], args["pbc"], args["cutoff"])


def test_bad_skin():
    with pytest.raises(InputError, match="skin"):
        NeighborList(3.0, skin=-0.1)
