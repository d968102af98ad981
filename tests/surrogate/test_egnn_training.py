"""Training the EGNN energy model: overfitting, normalisation, model-file header, resume, data sources."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT

from surrogate.egnn.data import generate_frames, graphs_from_atoms, graphs_from_frames, load_graphs
from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.train import _split, evaluate_errors, load_egnn, train_egnn
from surrogate.model_file import load_model_file
from systems.errors import InputError
from systems.frame import Frame

CUTOFF = 4.0


def emt_set(n, repeat=1, rattle=0.12, seed=0, alloy=False):
    """``n`` rattled FCC cells labelled with EMT energies and forces."""
    frames = []
    rng = np.random.default_rng(seed)
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
        if alloy:
            atoms.numbers[rng.permutation(len(atoms))[: 1 + k % 2]] = 13
        atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
        atoms.calc = EMT()
        atoms.get_forces()
        frames.append(atoms)
    return frames


@contextlib.contextmanager
def torch_threads(n):
    """Run the block with ``n`` torch intra-op threads (the reduction order, hence the rounding, depends on it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_training_overfits_a_tiny_emt_set(tmp_path):
    frames = emt_set(4, alloy=True)  # EMT also gives stresses; this test fits energies and forces only
    # Seeded (train_egnn's seed=0) and pinned to one thread, so OMP_NUM_THREADS does not change the result.
    # Across CPU kinds the rounding still differs, and 300 epochs of Adam at a fixed learning rate amplify it:
    # the energy error of the best-validation epoch came out 0.0062 and 0.0067 eV/atom on two machines of one
    # kind. So the bounds below are relative to what a model that did not learn scores, with headroom.
    with torch_threads(1):
        path = train_egnn(frames, tmp_path, cutoff=CUTOFF, hidden=32, layers=3, max_epochs=300, batch_size=3, lr=3e-3,
                          val_fraction=0.25, dtype="float64", progress=False, lr_patience=1000,
                          early_stopping_patience=1000, energy_weight=10.0, stress_weight=0.0)
        history = np.genfromtxt(tmp_path / "metrics.csv", delimiter=",", names=True)
        model = load_egnn(path)
        graphs = graphs_from_atoms(frames, CUTOFF)
        train_idx, _ = _split(len(graphs), 0.25, seed=0)  # the structures it trained on
        seen = [graphs[k] for k in train_idx]
        errors = evaluate_errors(model, seen)
        # The same architecture and normalisation (reference energies, scale) with its initial, untrained weights.
        torch.manual_seed(0)
        untrained = EGNNEnergyModel(**model.config(), dtype="float64")
        untrained.reference_energies.copy_(model.reference_energies)
        untrained.energy_scale.copy_(model.energy_scale)
        untrained_errors = evaluate_errors(untrained, seen)
    # Measured: the loss falls to 6e-4 of its start (bound 2e-3).
    assert history["train_loss"][-10:].min() < 2e-3 * history["train_loss"][0]
    mean_force = np.mean([np.abs(frames[k].get_forces()).mean() for k in train_idx])
    # Near-zero loss on the structures it saw: force error a few % of the force itself (measured 2.4 %, bound 5 %;
    # untrained: 100 %).
    assert errors["force_mae_eV_per_A"] < 0.05 * mean_force
    assert untrained_errors["force_mae_eV_per_A"] > 0.5 * mean_force  # the bound above is not met by default
    # Energy: a model that learned nothing but the per-species reference energies (least squares on composition,
    # 0.019 eV/atom on these structures; the untrained network: 0.30) must be beaten clearly. Measured 0.0062 and
    # 0.0067 eV/atom (0.33-0.35 of the composition fit) on two machines; bound 0.6 of it, 1.7x headroom.
    counts = np.array([[np.sum(frames[k].numbers == z) for z in (13, 29)] for k in train_idx])
    energies = np.array([frames[k].get_potential_energy() for k in train_idx])
    e_ref, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    composition_mae = np.mean(np.abs(energies - counts @ e_ref) / counts.sum(axis=1))
    assert errors["energy_mae_eV_per_atom"] < 0.6 * composition_mae
    assert untrained_errors["energy_mae_eV_per_atom"] > composition_mae


def test_reference_energies_are_least_squares_fit():
    model = EGNNEnergyModel([13, 29], CUTOFF, hidden=8, layers=1, dtype="float64")
    counts = np.array([[1, 3], [2, 2], [4, 0], [0, 4]])
    energies = counts @ np.array([-3.7, -4.1])
    forces = np.full((16, 3), 0.2)
    model.fit_normalisation(counts, energies, forces)
    np.testing.assert_allclose(model.reference_energies.numpy(), [-3.7, -4.1], atol=1e-12)
    assert float(model.energy_scale) == pytest.approx(0.2)


def test_model_file_header_and_resume(tmp_path):
    """Interrupted after 2 epochs and resumed to 4 ends where an uninterrupted 4-epoch run ends."""
    from ase.io import write

    frames = emt_set(6, seed=1)
    data = tmp_path / "cu.extxyz"
    write(data, frames)
    kw = dict(cutoff=CUTOFF, hidden=8, layers=2, batch_size=2, lr=2e-3, dtype="float64", progress=False,
              val_fraction=0.34)
    straight = train_egnn(data, tmp_path / "straight", max_epochs=4, **kw)
    train_egnn(data, tmp_path / "resumed", max_epochs=2, **kw)
    resumed = train_egnn(data, tmp_path / "resumed", max_epochs=4, resume=True, **kw)
    header, state = load_model_file(resumed, expected_kind="egnn")
    _, state_straight = load_model_file(straight, expected_kind="egnn")
    for name in state:
        torch.testing.assert_close(state[name], state_straight[name], rtol=0, atol=0)
    assert header["cutoff"] == CUTOFF and header["species"] == [29]
    assert header["architecture"]["hidden"] == 8 and header["architecture"]["layers"] == 2
    assert header["units"]["energy"] == "eV" and header["units"]["length"] == "Angstrom"
    assert len(header["training_data_hash"]) == 64
    norm = header["normalisation"]
    assert norm["reference_energies_eV"][0] == pytest.approx(float(state["reference_energies"][0]))
    assert norm["energy_scale_eV"] > 0
    assert len(np.genfromtxt(tmp_path / "resumed" / "metrics.csv", delimiter=",", names=True)) == 4


def test_load_graphs_from_extxyz_keeps_energies_and_forces(tmp_path):
    from ase.io import write

    frames = emt_set(3, repeat=2, seed=2)
    write(tmp_path / "set.extxyz", frames)
    graphs = load_graphs(tmp_path / "set.extxyz", CUTOFF)
    assert len(graphs) == 3
    for graph, atoms in zip(graphs, frames):
        assert float(graph.energy) == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(graph.forces.numpy(), atoms.get_forces(), atol=1e-8)
        # Same pair set as ASE's neighbor list.
        from ase.neighborlist import neighbor_list

        i, j = neighbor_list("ij", atoms, CUTOFF)
        assert graph.edge_index.shape[1] == len(i)


def test_frames_without_forces_are_refused():
    frame = Frame(np.array([29]), np.zeros((1, 3)), np.eye(3) * 3, [True] * 3, None, 7, energy=-1.0)
    with pytest.raises(InputError, match="frame 7 has no forces"):
        graphs_from_frames([frame], CUTOFF, "file x.extxyz")


def test_generate_frames_with_emt_matches_emt():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    frames = generate_frames(atoms, EMT(), temperatures_K=[300.0, 900.0], frames_per_temperature=2,
                             interval_steps=5, equilibration_steps=10, timestep_fs=2.0, seed=3)
    assert len(frames) == 4
    for frame in frames:
        check = atoms.copy()
        check.positions = frame.positions
        check.calc = EMT()
        assert frame.energy == pytest.approx(check.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(frame.forces, check.get_forces(), atol=1e-10)
    assert not np.allclose(frames[0].positions, frames[1].positions)
    # Reproducible from the seed.
    again = generate_frames(atoms, EMT(), temperatures_K=[300.0, 900.0], frames_per_temperature=2,
                            interval_steps=5, equilibration_steps=10, timestep_fs=2.0, seed=3)
    np.testing.assert_array_equal(again[3].positions, frames[3].positions)


def test_composition_reference_has_zero_mean_residual_for_any_compositions():
    from surrogate.egnn.model import composition_reference

    rng = np.random.default_rng(4)
    # One composition (a molecular MD set): rank-deficient, the mean energy is put there exactly.
    counts = np.tile([2, 6, 1], (50, 1))
    energies = -310.0 + rng.normal(scale=0.1, size=50)
    e_ref = composition_reference(counts, energies)
    assert counts[0] @ e_ref == pytest.approx(energies.mean(), abs=1e-9)
    # Several compositions with a structure-dependent part: least squares, and still zero mean residual.
    counts = rng.integers(0, 5, size=(40, 3)) + np.array([1, 0, 0])
    energies = counts @ np.array([-13.6, -1030.0, -2040.0]) + rng.normal(scale=0.3, size=40) * counts.sum(axis=1)
    e_ref = composition_reference(counts, energies)
    assert np.mean(energies - counts @ e_ref) == pytest.approx(0.0, abs=1e-9)
    plain, *_ = np.linalg.lstsq(counts.astype(float), energies, rcond=None)
    np.testing.assert_allclose(e_ref, plain, atol=0.1)  # the least-squares fit, nudged by a shared offset


def test_single_composition_training_leaves_no_energy_offset(tmp_path):
    """A few epochs leave the network far from converged (so its raw energies carry an offset); the trained
    model's mean signed energy error on its training structures must still be ≈ 0 against the energy spread."""
    frames = emt_set(12, seed=5, rattle=0.15)
    with torch_threads(1):
        path = train_egnn(frames, tmp_path, cutoff=CUTOFF, hidden=8, layers=2, max_epochs=3, batch_size=4,
                          val_fraction=0.25, progress=False)
        model = load_egnn(path)
        graphs = graphs_from_atoms(frames, CUTOFF)
        train_idx, val_idx = _split(len(graphs), 0.25, seed=0)
        seen = evaluate_errors(model, [graphs[k] for k in train_idx])
        held_out = evaluate_errors(model, [graphs[k] for k in val_idx], baseline_graphs=[graphs[k] for k in train_idx])
    spread = np.std([a.get_potential_energy() for a in frames])
    assert abs(seen["energy_mean_error_eV"]) < 1e-3 * spread
    # The raw per-structure error and the mean predictor's are both reported, with their ratio.
    assert seen["energy_mae_eV"] == pytest.approx(4 * seen["energy_mae_eV_per_atom"])
    assert held_out["mean_predictor_energy_mae_eV"] > 0
    assert held_out["energy_mae_ratio"] == pytest.approx(held_out["energy_mae_eV"] /
                                                         held_out["mean_predictor_energy_mae_eV"])


def _trained_state(path):
    return load_model_file(path, expected_kind="egnn")[1]


def test_ema_changes_the_saved_weights_and_resume_keeps_it(tmp_path):
    frames = emt_set(6, seed=6)
    kw = dict(cutoff=CUTOFF, hidden=8, layers=1, batch_size=2, lr=5e-3, val_fraction=0.34, dtype="float64",
              progress=False, early_stopping_patience=1000)
    with torch_threads(1):
        plain = train_egnn(frames, tmp_path / "plain", max_epochs=3, ema_decay=0.0, **kw)
        straight = train_egnn(frames, tmp_path / "ema", max_epochs=3, ema_decay=0.9, **kw)
        train_egnn(frames, tmp_path / "resumed", max_epochs=2, ema_decay=0.9, **kw)
        checkpoint = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
        resumed = train_egnn(frames, tmp_path / "resumed", max_epochs=3, ema_decay=0.9, resume=True, **kw)
    assert checkpoint["ema"]["num_updates"] == 4 and checkpoint["ema"]["decay"] == 0.9
    a, b, c = _trained_state(plain), _trained_state(straight), _trained_state(resumed)
    assert not torch.equal(a["readout.0.weight"], b["readout.0.weight"])  # the EMA is what was saved
    for name in b:
        torch.testing.assert_close(c[name], b[name], rtol=0, atol=0)  # resume restored the average


def test_time_budget_stops_cleanly_and_keeps_the_best_model(tmp_path, capsys):
    frames = emt_set(6, seed=7)
    with torch_threads(1):
        path = train_egnn(frames, tmp_path, cutoff=CUTOFF, hidden=8, layers=1, batch_size=2, max_epochs=10_000,
                          time_budget_min=0.5 / 60, progress=False)
    rows = np.atleast_1d(np.genfromtxt(tmp_path / "metrics.csv", delimiter=",", names=True))
    assert 1 <= len(rows) < 10_000
    assert path.is_file() and load_egnn(path) is not None
    assert "time budget of" in capsys.readouterr().err
