"""The EGNN provider gives bit-identical forces on every call, the first included (resume = uninterrupted run)."""

import numpy as np
import torch
from ase.build import bulk

from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.provider import EGNNForceProvider


def test_first_calls_of_a_fresh_provider_are_bit_identical_to_later_ones():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.positions += np.random.default_rng(0).normal(0.0, 0.05, atoms.positions.shape)
    torch.manual_seed(0)
    model = EGNNEnergyModel([29], 4.0, hidden=16, layers=2)
    provider = EGNNForceProvider(model)
    forces = [provider.evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc).forces for _ in range(4)]
    fresh = EGNNForceProvider(model).evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc).forces
    for f in forces + [fresh]:
        np.testing.assert_array_equal(f, forces[-1])
