"""Stress in the EGNN loss: it lowers the stress error, the model file records it, and a model that never saw a
stress warns when asked for one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT

from surrogate.calculator import SurrogateCalculator
from surrogate.egnn.data import graphs_from_atoms
from surrogate.egnn.train import evaluate_errors, load_egnn, train_egnn
from surrogate.model_file import load_model_file, save_model_file
from systems.errors import InputError
from systems.frame import Frame

CUTOFF = 4.0


def strained_copper(n, seed=0):
    """``n`` 4-atom FCC copper cells, each strained by up to ±4 % and rattled, with EMT energies, forces and
    stresses (computed, so ``calc.results`` holds them)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
        strain = np.eye(3) + rng.uniform(-0.04, 0.04, size=(3, 3))
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.calc = EMT()
        atoms.get_forces()
        atoms.get_stress()
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The same seeded run twice: with the default stress weight (on, since every frame has a stress) and with 0."""
    frames = strained_copper(10)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kw = dict(cutoff=CUTOFF, hidden=16, layers=2, max_epochs=40, batch_size=3, lr=5e-3, val_fraction=0.2,
                  dtype="float64", progress=False, lr_patience=1000, early_stopping_patience=1000)
        with_stress = train_egnn(frames, tmp_path_factory.mktemp("with"), **kw)
        without = train_egnn(frames, tmp_path_factory.mktemp("without"), stress_weight=0.0, **kw)
    finally:
        torch.set_num_threads(previous)
    return frames, with_stress, without


def test_stress_in_the_loss_lowers_the_stress_error(trained):
    frames, with_stress, without = trained
    graphs = graphs_from_atoms(frames, CUTOFF)
    assert all(g.stress.shape == (1, 3, 3) for g in graphs)
    on = evaluate_errors(load_egnn(with_stress), graphs)
    off = evaluate_errors(load_egnn(without), graphs)
    spread = np.std([a.get_stress() for a in frames])
    # The stress term must cut the error clearly; and the model trained on it must be well below the spread.
    assert on["stress_mae_eV_per_A3"] < 0.5 * off["stress_mae_eV_per_A3"]
    assert on["stress_mae_eV_per_A3"] < 0.5 * spread
    history = np.genfromtxt(with_stress.parent / "metrics.csv", delimiter=",", names=True)
    assert "val_stress_mae" in history.dtype.names and np.isfinite(history["val_stress_mae"]).all()
    assert "val_stress_mae" not in np.genfromtxt(without.parent / "metrics.csv", delimiter=",", names=True).dtype.names


def test_header_records_stress_training(trained):
    _, with_stress, without = trained
    assert load_model_file(with_stress, expected_kind="egnn")[0]["trained_on_stress"] is True
    assert load_model_file(without, expected_kind="egnn")[0]["trained_on_stress"] is False
    assert load_egnn(with_stress).trained_on_stress and not load_egnn(without).trained_on_stress


def _stress_warnings(path, atoms, calls=2):
    atoms = atoms.copy()
    atoms.calc = SurrogateCalculator(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(calls):
            atoms.positions[0, 0] += 0.01 * (k + 1)  # a new state, so the calculator computes again
            atoms.get_stress()
    return [w for w in caught if "never trained on stress" in str(w.message)]


def test_untrained_stress_warns_once_naming_the_file(trained, tmp_path):
    frames, with_stress, without = trained
    assert _stress_warnings(with_stress, frames[0]) == []
    caught = _stress_warnings(without, frames[0])
    assert len(caught) == 1 and str(without) in str(caught[0].message)
    # A file written before the key existed counts as not trained on stress.
    header, state = load_model_file(with_stress, expected_kind="egnn")
    for key in ("trained_on_stress", "format_version", "package_version", "created"):  # the last three: reserved
        header.pop(key, None)
    old = save_model_file(tmp_path / "old.pt", state, header)
    assert len(_stress_warnings(old, frames[0])) == 1
    # Energies and forces alone never warn.
    atoms = frames[0].copy()
    atoms.calc = SurrogateCalculator(without)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        atoms.get_forces()


def test_stress_weight_needs_stresses(tmp_path):
    frames = strained_copper(3)
    plain = [Frame(a.numbers, a.positions, a.cell.array, a.pbc, None, k, energy=a.get_potential_energy(),
                   forces=a.get_forces()) for k, a in enumerate(frames)]
    with pytest.raises(InputError, match="stress_weight=1.0 but 3 of 3 training structures have no stress"):
        train_egnn(plain, tmp_path, cutoff=CUTOFF, hidden=8, layers=1, max_epochs=1, stress_weight=1.0,
                   progress=False)
    # A Frame takes ASE's Voigt stress and stores the 3×3 tensor.
    voigt = frames[0].get_stress()
    frame = Frame(frames[0].numbers, frames[0].positions, frames[0].cell.array, True, None, 0, stress=voigt)
    np.testing.assert_allclose(frame.stress, frames[0].get_stress(voigt=False), atol=1e-15)
