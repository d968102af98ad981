"""The temporal-attention operator: a causal transformer over the window in the LSTM operator's place."""

import numpy as np
import pytest
import torch

from surrogate.lstm import LSTMOperator, LSTMOperatorIntegrator, StabilityGuard, fused_rollout, load_lstm, train_lstm
from surrogate.lstm.bodies import CausalAttentionBody
from surrogate.lstm.data import generate_lj_data, make_windows
from surrogate.lstm.train import ModelMismatchError, model_header, save_lstm
from systems.catalogue import lj_cluster, lj_cluster_potential, oscillator_1d
from systems.errors import InputError
from tests.surrogate.test_lstm import check_resume_is_exact

STRIDE = 100


@pytest.fixture(scope="module")
def lj_data():
    return generate_lj_data(16, n_trajectories=3, t_max=3.0, save_every=100, seed=0)


def _attention_model(data, seed=0):
    torch.manual_seed(seed)
    x, y = make_windows(data, STRIDE, 5)
    model = LSTMOperator(16, 3, 5, (16, 16), 16, 0.0, data.system["box"], torch.float64, arch="attention")
    model.fit_normalisation(torch.as_tensor(x), torch.as_tensor(y))
    return model.eval(), model_header(model, data, STRIDE, None)


def test_attention_body_is_causal():
    torch.manual_seed(0)
    body = CausalAttentionBody(3, window=5, d_model=8, heads=2, layers=2).eval()
    h = torch.randn(4, 5, 3, dtype=torch.float64)
    later = h.clone()
    later[:, -1] += 1.0  # change only the newest stride
    x = body.embed(h) + body.position
    xl = body.embed(later) + body.position
    a = body.encoder(x, mask=body.mask, is_causal=True)
    b = body.encoder(xl, mask=body.mask, is_causal=True)
    torch.testing.assert_close(a[:, :-1], b[:, :-1], rtol=0, atol=1e-12)  # no look-ahead
    assert (a[:, -1] - b[:, -1]).abs().max() > 1e-3  # the summary sees the newest stride


def test_attention_model_file_round_trip_and_refusals(lj_data, tmp_path):
    model, header = _attention_model(lj_data)
    path = save_lstm(model, tmp_path / "a.pt", header)
    back, h = load_lstm(path)
    assert back.arch == "attention" and h["architecture"]["arch"] == "attention"
    x, _ = make_windows(lj_data, STRIDE, 5)
    with torch.no_grad():
        assert torch.equal(model(torch.as_tensor(x[:6])), back(torch.as_tensor(x[:6])))
    with pytest.raises(InputError, match="LSTM bodies only"):
        fused_rollout(back, x[:2], 3)
    provider = lj_cluster_potential(16)
    for system, prov, message in [(lj_cluster(8, seed=3), lj_cluster_potential(8), "trained on exactly 16"),
                                  (lj_cluster(16, seed=3, box_length=5.0), provider, "box")]:
        with pytest.raises(ModelMismatchError, match=message):
            LSTMOperatorIntegrator(path, prov).initialize(system)


def test_attention_integrator_resumes_bit_for_bit(lj_data, tmp_path):
    model, header = _attention_model(lj_data, seed=2)
    provider = lj_cluster_potential(16)
    guard = StabilityGuard(max_energy_jump=None, range_margin=None)
    check_resume_is_exact(lambda: LSTMOperatorIntegrator(model, provider, header=header, guard=guard),
                          lj_cluster(16, seed=8), tmp_path / "c.npz")


def test_attention_trains_and_is_permutation_equivariant_over_particles(tmp_path):
    # A 1D operator advances every particle of a system as its own trajectory: relabelling the
    # particles must relabel the result (attention runs over the window of one particle, never across them).
    from surrogate.lstm import generate_oscillator_data

    data = generate_oscillator_data("harmonic", n_trajectories=12, t_max=3.0, save_every=STRIDE, seed=0)
    path = train_lstm(data, tmp_path / "att", stride_steps=STRIDE, hidden=(8, 8), dense=8, dropout=0.0,
                      max_epochs=2, batch_size=64, seed=0, dtype="float64", progress=False, arch="attention")
    model, header = load_lstm(path)
    assert model.arch == "attention" and header["architecture"]["arch"] == "attention"
    (m_lo, m_hi), ((k_lo, k_hi),) = header["system"]["mass_range"], header["system"]["parameter_ranges"]
    x0 = np.array([0.6, -0.4, 0.2, 0.9])
    m, k = m_lo + (m_hi - m_lo) * np.array([0.2, 0.5, 0.3, 0.7]), k_lo + (k_hi - k_lo) * np.array([0.4, 0.2, 0.6, 0.3])
    perm = np.array([2, 0, 3, 1])
    out = []
    for order in (np.arange(4), perm):
        system, provider = oscillator_1d("harmonic", x0[order], mass=m[order], k=k[order])
        integ = LSTMOperatorIntegrator(path, provider, guard=StabilityGuard(max_energy_jump=None, range_margin=None))
        integ.initialize(system)
        for _ in range(5):
            integ.step(system)
        out.append(system.positions[:, 0].copy())
    np.testing.assert_allclose(out[1], out[0][perm], rtol=0, atol=1e-12)
