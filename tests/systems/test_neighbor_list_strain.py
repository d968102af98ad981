"""A Verlet list reused across cell changes (a barostat) returns exactly the pairs of a fresh search, and is
rebuilt when the strain could let a missing pair within the cutoff."""

from __future__ import annotations

import numpy as np
import pytest

from systems.neighbor_list import NeighborList, build_pairs


def _pairs(nb):
    return {(int(i), int(j), *map(int, s)) for i, j, s in zip(nb.i, nb.j, nb.shifts)}


@pytest.mark.parametrize("seed", range(4))
def test_pairs_after_strain_and_moves_equal_a_fresh_search(seed):
    rng = np.random.default_rng(seed)
    cell = np.array([[11.0, 0.0, 0.0], [1.5, 10.0, 0.0], [-0.7, 0.9, 12.0]])
    positions = rng.uniform(0, 1, (60, 3)) @ cell
    nl = NeighborList(cutoff=4.0, skin=1.0, full=bool(seed % 2))
    nl.compute(positions, cell, [True] * 3)
    builds = []
    for _ in range(30):
        strain = np.eye(3) + rng.normal(scale=0.004, size=(3, 3))  # mostly reused, sometimes rebuilt
        cell = cell @ strain
        positions = positions @ strain + rng.normal(scale=0.05, size=positions.shape)
        got = nl.compute(positions, cell, [True] * 3)
        want = build_pairs(positions, cell, [True] * 3, 4.0, full=nl.full)
        assert _pairs(got) == _pairs(want)
        order = np.lexsort((got.j, got.i))
        ref = np.lexsort((want.j, want.i))
        np.testing.assert_allclose(np.sort(got.distances), np.sort(want.distances), rtol=1e-12)
        builds.append(nl.n_builds)
        assert order.shape == ref.shape
    assert 1 < builds[-1] < 31  # the strain-aware check both reused the list and rebuilt it


def test_a_small_expansion_reuses_the_list_and_a_large_compression_rebuilds():
    rng = np.random.default_rng(0)
    cell = np.eye(3) * 12.0
    positions = rng.uniform(0, 12.0, (50, 3))
    nl = NeighborList(cutoff=4.0, skin=1.0)
    nl.update(positions, cell, [True] * 3)
    assert not nl.update(positions * (1 + 1e-6), cell * (1 + 1e-6), [True] * 3)
    assert not nl.update(positions * 1.05, cell * 1.05, [True] * 3)  # a 5 % expansion brings no missing pair in
    assert nl.update(positions * 0.75, cell * 0.75, [True] * 3)  # 0.75 (c + skin) < c: rebuilt
    assert nl.n_builds == 2
