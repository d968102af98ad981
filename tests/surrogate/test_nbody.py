"""Charged N-body benchmark: generator vs the reference loop and ChargedNBody forces, physics of the
trajectories, and E(n) equivariance of the direct-prediction EGNN (float64, 1e-10)."""

import dataclasses
import os
import signal

import numpy as np
import pytest
import torch

from surrogate.model_file import ModelFileError, save_model_file
from surrogate.nbody.data import (
    FRAME_IN,
    FRAME_OUT,
    ChargedNBodySetup,
    NBodyDataset,
    clipped_coulomb_forces,
    fold_into_box,
    integrate_charged_batch,
    sample_initial_conditions,
    simulate_charged_nbody,
)
from surrogate.nbody.model import NBodyEGNN, load_nbody_model, neighbour_index, save_nbody_model
from surrogate.nbody.train import NBodyTrainConfig, dataset_mse, train_nbody
from systems.errors import InputError
from systems.potentials.coulomb import ChargedNBody


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- data


def test_kernel_forces_match_charged_nbody_including_clipping():
    rng = np.random.default_rng(0)
    out = np.empty((5, 3))
    n_clipped = 0
    for trial in range(20):
        x = rng.standard_normal((5, 3)) * (0.04 if trial % 2 else 1.5)  # tight configurations clip
        q = rng.choice([-1.0, 1.0], size=5)
        clipped_coulomb_forces(x, q, 1.0, 100.0, out)
        reference = ChargedNBody(q, force_clip=100.0, min_distance=0.0).compute_arrays(x).forces
        np.testing.assert_allclose(out, reference, rtol=1e-12, atol=1e-12)
        n_clipped += int(np.any(np.abs(reference) == 100.0))
        unclipped = ChargedNBody(q, min_distance=0.0).compute_arrays(x).forces
        clipped_coulomb_forces(x, q, 1.0, np.inf, out)
        np.testing.assert_allclose(out, unclipped, rtol=1e-12, atol=1e-12)
    assert n_clipped > 0  # the clipping branch was exercised


def _reference_generator(x0, v0, q, setup):
    """The NRI/EGNN generator's loop, written plainly with ChargedNBody forces."""
    provider = ChargedNBody(q, force_clip=setup.max_force, min_distance=0.0)
    x, v = x0.copy(), v0.copy()
    v += setup.dt * provider.compute_arrays(x).forces
    frames_x, frames_v = [], []
    for step in range(1, setup.n_steps):
        x += setup.dt * v
        if step % setup.sample_every == 0:
            frames_x.append(x.copy())
            frames_v.append(v.copy())
        v += setup.dt * provider.compute_arrays(x).forces
    return np.array(frames_x[: setup.n_frames]), np.array(frames_v[: setup.n_frames])


def test_batch_kernel_equals_reference_loop():
    setup = ChargedNBodySetup(n_steps=600, sample_every=50)
    x0, v0, q = sample_initial_conditions(3, np.random.default_rng(4), setup)
    loc, vel = integrate_charged_batch(x0, v0, q, 1.0, setup.dt, setup.max_force, setup.n_steps, setup.sample_every)
    assert loc.shape == (3, setup.n_frames, 5, 3) == (3, 11, 5, 3)
    for b in range(3):
        ref_x, ref_v = _reference_generator(x0[b], v0[b], q[b], setup)
        np.testing.assert_allclose(loc[b], ref_x, rtol=0, atol=1e-12)
        np.testing.assert_allclose(vel[b], ref_v, rtol=0, atol=1e-12)


def test_initial_conditions_follow_the_protocol():
    setup = ChargedNBodySetup()
    x, v, q = sample_initial_conditions(4000, np.random.default_rng(1), setup)
    assert x.shape == v.shape == (4000, 5, 3) and q.shape == (4000, 5)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 0.5, rtol=1e-12)
    assert set(np.unique(q)) == {-1.0, 1.0}
    assert abs(q.mean()) < 0.03  # equal probability: σ of the mean ≈ 0.007
    assert np.all(np.abs(x) <= 5.0)
    assert abs(x.std() - 1.0) < 0.02


def test_fold_into_box_reflects_positions_and_turns_velocities_inward():
    x = np.array([[5.5, -6.0, 1.0]])
    v = np.array([[0.3, -0.2, 0.1]])
    fx, fv = fold_into_box(x, v, 5.0)
    np.testing.assert_allclose(fx, [[4.5, -4.0, 1.0]])
    np.testing.assert_allclose(fv, [[-0.3, 0.2, 0.1]])
    with pytest.raises(InputError, match="15"):
        fold_into_box(np.array([[16.0, 0, 0]]), v, 5.0)


def test_unclipped_leapfrog_conserves_momentum_and_energy():
    """Like charges (no close approach) and no clipping: the kernel is a symplectic integrator of −∇U."""
    setup = ChargedNBodySetup(n_steps=3000, sample_every=100, max_force=np.inf)
    x0, v0, _ = sample_initial_conditions(100, np.random.default_rng(7), setup)
    pair_distances = np.linalg.norm(x0[:, :, None] - x0[:, None], axis=-1) + 99 * np.eye(5)
    keep = pair_distances.min(axis=(1, 2)) > 0.8
    x0, v0 = x0[keep], v0[keep]
    q = np.ones((len(x0), 5))
    assert len(x0) > 50
    loc, vel = integrate_charged_batch(x0, v0, q, 1.0, setup.dt, setup.max_force, setup.n_steps, setup.sample_every)
    for b in range(len(x0)):
        provider = ChargedNBody(q[b], min_distance=0.0)
        energies = []
        for k in range(setup.n_frames):
            result = provider.compute_arrays(loc[b, k])
            # The recorded velocity is half a step behind the positions; kick it to the same time.
            v_now = vel[b, k] + 0.5 * setup.dt * result.forces
            energies.append(0.5 * (v_now**2).sum() + result.energy)
        assert np.ptp(energies) < 1e-6 * abs(np.mean(energies)), b
        # Unit masses and pairwise forces: total momentum stays at its initial value.
        np.testing.assert_allclose(vel[b].sum(axis=1), np.broadcast_to(v0[b].sum(axis=0), (setup.n_frames, 3)),
                                   rtol=0, atol=1e-12)
    # Work is done: the particles really moved and exchanged energy.
    assert np.abs(loc[:, -1] - loc[:, 0]).max() > 0.5
    assert np.abs(np.linalg.norm(vel[:, -1], axis=-1) - 0.5).max() > 0.05


def test_simulation_is_seeded_and_dataset_selects_frames():
    a = simulate_charged_nbody(8, seed=3)
    b = simulate_charged_nbody(8, seed=3)
    c = simulate_charged_nbody(8, seed=4)
    assert np.array_equal(a.positions, b.positions) and not np.array_equal(a.positions, c.positions)
    assert a.positions.shape == (8, 49, 5, 3)
    data = NBodyDataset.from_trajectories(a, dtype=torch.float64)
    x, v, q, y = data[2]
    assert torch.equal(x, torch.from_numpy(a.positions[2, FRAME_IN]))
    assert torch.equal(v, torch.from_numpy(a.velocities[2, FRAME_IN]))
    assert torch.equal(y, torch.from_numpy(a.positions[2, FRAME_OUT]))
    assert torch.equal(q, torch.from_numpy(a.charges[2]))
    with pytest.raises(InputError, match="frame_out"):
        NBodyDataset.from_trajectories(a, frame_out=49)
    with pytest.raises(InputError, match="targets"):
        NBodyDataset(a.positions[:, 0], a.velocities[:, 0], a.charges, a.positions[:, 1, :4])


# ---------------------------------------------------------------------------- model


def _coord_weights(model):
    """The last (bias-free) linear map of φ_x in every layer."""
    return [layer.coord_mlp[-1].weight if model.coord_mlp else layer.coord_mlp.weight for layer in model.layers]


def _model(seed=0, **options):
    torch.manual_seed(seed)
    model = NBodyEGNN(hidden=16, n_layers=3, **options).double()
    # Stronger coordinate branch than the near-zero initialisation, so it matters in the checks.
    with torch.no_grad():
        for weight in _coord_weights(model):
            weight.normal_(0.0, 0.3)
    return model


def _inputs(b=3, n=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=gen, dtype=torch.float64) * 1.5
    v = torch.randn(b, n, 3, generator=gen, dtype=torch.float64) * 0.5
    q = torch.randint(0, 2, (b, n), generator=gen).double() * 2 - 1
    return x, v, q


def _reference_egnn_vel(model, x, v, q):
    """The authors' EGNN_vel / E_GCL_vel forward (vgsatorras/egnn), per edge with index_add,
    written plainly with the dense model's weights: rows = receivers i, cols = senders j."""
    b, n, _ = x.shape
    pairs = [(g * n + i, g * n + j) for g in range(b) for i in range(n) for j in range(n) if i != j]
    rows, cols = torch.tensor(pairs).T
    coord, vel, charges = x.reshape(-1, 3).clone(), v.reshape(-1, 3), q.reshape(-1, 1)
    edge_attr = torch.cat([charges[rows] * charges[cols], ((coord[rows] - coord[cols]) ** 2).sum(1, keepdim=True)], 1)
    h = model.embedding(torch.sqrt((vel**2).sum(1, keepdim=True)))
    for layer in model.layers:
        coord_diff = coord[rows] - coord[cols]
        radial = (coord_diff**2).sum(1, keepdim=True)
        edge_feat = layer.edge_mlp(torch.cat([h[rows], h[cols], radial, edge_attr], dim=1))
        trans = coord_diff * layer.coord_mlp(edge_feat)
        agg = torch.zeros_like(coord).index_add_(0, rows, trans) / torch.zeros(len(coord), 1, dtype=x.dtype).index_add_(
            0, rows, torch.ones(len(rows), 1, dtype=x.dtype))  # unsorted_segment_mean
        coord = coord + agg + layer.coord_mlp_vel(h) * vel
        agg_h = torch.zeros_like(h).index_add_(0, rows, edge_feat)  # unsorted_segment_sum
        h = h + layer.node_mlp(torch.cat([h, agg_h], dim=1))
    return coord.reshape(b, n, 3)


@pytest.mark.parametrize("options", [{}, {"coord_mlp": False}])
def test_dense_model_equals_the_reference_per_edge_egnn(options):
    model = _model(**options)
    x, v, q = _inputs(b=4)
    torch.testing.assert_close(model(x, v, q), _reference_egnn_vel(model, x, v, q), rtol=0, atol=1e-12)
    # Same parameter layout as the reference layer.
    names = {k.split(".", 2)[2].split(".")[0] for k in model.state_dict() if k.startswith("layers.")}
    assert names == {"edge_mlp", "node_mlp", "coord_mlp", "coord_mlp_vel"}
    assert model.layers[0].edge_mlp[0].in_features == 2 * 16 + 1 + 2


def _orthogonal(seed, reflect):
    gen = torch.Generator().manual_seed(seed)
    r, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    if (torch.det(r) < 0) != reflect:
        r = r * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # flip one column
    return r


VARIANTS = [{}, {"coord_mlp": False}, {"length_scale": 5.0}, {"tanh_coords": True}]


@pytest.mark.parametrize("options", VARIANTS)
@pytest.mark.parametrize("reflect", [False, True])
def test_prediction_is_e3_equivariant(reflect, options):
    model = _model(**options)
    x, v, q = _inputs()
    out = model(x, v, q)
    for seed in range(3):
        rot = _orthogonal(seed, reflect)
        assert (torch.det(rot) < 0) == reflect
        shift = torch.randn(1, 1, 3, generator=torch.Generator().manual_seed(10 + seed), dtype=torch.float64) * 3
        moved = model(x @ rot.T + shift, v @ rot.T, q)
        torch.testing.assert_close(moved, out @ rot.T + shift, rtol=0, atol=1e-10)


def test_prediction_is_permutation_equivariant_and_graphs_are_independent():
    model = _model()
    x, v, q = _inputs(b=4)
    out = model(x, v, q)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(model(x[:, perm], v[:, perm], q[:, perm]), out[:, perm], rtol=0, atol=1e-10)
    # Order of the graphs in the batch does not matter either, and each graph is predicted alone.
    order = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(model(x[order], v[order], q[order]), out[order], rtol=0, atol=1e-10)
    torch.testing.assert_close(model(x[1:2], v[1:2], q[1:2]), out[1:2], rtol=0, atol=1e-10)


def test_prediction_uses_charges_velocities_and_coordinate_branch():
    model = _model()
    x, v, q = _inputs()
    out = model(x, v, q)
    assert (model(x, v, -q) - out).abs().max() < 1e-10  # only q_i q_j enters: a global sign flip is a symmetry
    q_flip = q.clone()
    q_flip[:, 0] *= -1
    assert (model(x, v, q_flip) - out).abs().max() > 1e-4
    assert (model(x, 2 * v, q) - out).abs().max() > 1e-3
    with torch.no_grad():
        for weight in _coord_weights(model):
            weight.zero_()
    assert (model(x, v, q) - out).abs().max() > 1e-2


def test_neighbour_index():
    assert neighbour_index(3).tolist() == [[1, 2], [0, 2], [0, 1]]
    with pytest.raises(InputError, match="at least 2"):
        neighbour_index(1)


def test_bad_shapes_are_refused():
    model = _model()
    x, v, q = _inputs()
    with pytest.raises(InputError, match="charges"):
        model(x, v, q[:, :3])
    with pytest.raises(InputError, match="velocities"):
        model(x, v[:, :, :2], q)


def test_model_file_round_trip_and_kind_check(tmp_path):
    model = _model()
    x, v, q = _inputs()
    save_nbody_model(model, tmp_path / "nbody.pt", training_data_hash="abc")
    loaded, header = load_nbody_model(tmp_path / "nbody.pt")
    assert header["architecture"] == model.architecture()
    assert header["kind"] == "egnn_nbody" and header["training_data_hash"] == "abc" and header["dtype"] == "float64"
    torch.testing.assert_close(loaded(x, v, q), model(x, v, q), rtol=0, atol=0)
    save_model_file(tmp_path / "other.pt", model.state_dict(), {"kind": "lstm"})
    with pytest.raises(ModelFileError, match="expected 'egnn_nbody'"):
        load_nbody_model(tmp_path / "other.pt")
    # A version-1 file (the former EGNNLayer model) is refused by name.
    save_model_file(tmp_path / "old.pt", model.state_dict(), {"kind": "egnn_nbody", "architecture": model.architecture()})
    with pytest.raises(ModelFileError, match="architecture version None"):
        load_nbody_model(tmp_path / "old.pt")


# ------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def small_sets():
    train = NBodyDataset.from_trajectories(simulate_charged_nbody(300, seed=11))
    val = NBodyDataset.from_trajectories(simulate_charged_nbody(100, seed=12))
    return train, val


def test_short_training_beats_ballistic_extrapolation(tmp_path, small_sets):
    """A few epochs on 300 trajectories already predict better than x + v·Δt."""
    train, val = small_sets
    torch.manual_seed(0)
    model = NBodyEGNN(hidden=16, n_layers=2)
    config = NBodyTrainConfig(max_epochs=12, batch_size=50, lr=3e-3, eval_every=3)
    history = train_nbody(model, train, val, config, tmp_path, log=lambda line: None)
    x, v, q, y = val.tensors()
    ballistic = float(((x + v * 1.0 - y) ** 2).mean())
    learned = dataset_mse(model, val)
    assert [row["epoch"] for row in history["curve"]] == [3, 6, 9, 12]
    assert learned == pytest.approx(history["best_val_mse"], rel=1e-6)  # the model holds the best weights
    assert history["best_val_mse"] == min(row["val_mse"] for row in history["curve"])
    assert learned < 0.6 * ballistic


def test_resumed_training_continues_the_same_run(tmp_path, small_sets):
    train, val = small_sets
    val = NBodyDataset(*(t[:40] for t in val.tensors()))

    def fresh():
        torch.manual_seed(0)
        return NBodyEGNN(hidden=8, n_layers=1)

    config = NBodyTrainConfig(max_epochs=4, batch_size=100, lr=1e-3, eval_every=1)
    straight = train_nbody(fresh(), train, val, config, tmp_path / "a", log=lambda line: None)
    first = train_nbody(fresh(), train, val, dataclasses.replace(config, max_epochs=2), tmp_path / "b", log=lambda line: None)
    assert first["epochs_run"] == 2
    resumed = train_nbody(fresh(), train, val, config, tmp_path / "b", resume=True, log=lambda line: None)
    assert resumed["epochs_run"] == 4
    assert [r["val_mse"] for r in resumed["curve"]] == pytest.approx([r["val_mse"] for r in straight["curve"]], rel=1e-6)
    with pytest.raises(InputError, match="lr=0.001"):
        train_nbody(fresh(), train, val, dataclasses.replace(config, lr=2e-3), tmp_path / "b", resume=True)


def test_early_stopping_and_config_checks(tmp_path, small_sets):
    train, val = small_sets
    torch.manual_seed(0)
    model = NBodyEGNN(hidden=8, n_layers=1)
    # lr 0: the validation MSE never improves after the first evaluation.
    config = NBodyTrainConfig(max_epochs=50, batch_size=300, lr=1e-30, eval_every=1, patience=3)
    history = train_nbody(model, train, val, config, tmp_path, log=lambda line: None)
    assert history["stop_reason"] == "early_stopping" and history["best_epoch"] <= 2 and history["epochs_run"] < 10
    with pytest.raises(InputError, match="batch_size"):
        NBodyTrainConfig(batch_size=0)


def test_sigterm_stops_after_the_epoch_with_a_checkpoint(tmp_path, small_sets):
    train, val = small_sets
    torch.manual_seed(0)
    model = NBodyEGNN(hidden=8, n_layers=1)

    def log(line):
        if line.startswith("epoch     2"):
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, mid-run

    config = NBodyTrainConfig(max_epochs=50, batch_size=300, lr=1e-3, eval_every=1)
    history = train_nbody(model, train, val, config, tmp_path, log=log)
    assert history["stop_reason"] == "interrupted" and history["epochs_run"] == 2
    assert (tmp_path / "checkpoint.pt").is_file()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    resumed = train_nbody(NBodyEGNN(hidden=8, n_layers=1), train, val, dataclasses.replace(config, max_epochs=3),
                          tmp_path, resume=True, log=lambda line: None)
    assert resumed["epochs_run"] == 3 and len(resumed["curve"]) == 3
