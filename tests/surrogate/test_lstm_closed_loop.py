"""Closed-loop operators that hold their phase: the linear head and unrolled training."""

import numpy as np
import torch

from surrogate.lstm.closed_loop import closed_loop_error
from surrogate.lstm.data import generate_oscillator_data
from surrogate.lstm.position_operator import PositionOperator, rollout_positions
from surrogate.lstm.position_train import load_position_operator, train_position_operator
from systems.potentials.external_1d import harmonic_exact


def _exact_linear_head(omega_stride):
    """A linear-head operator whose coefficients are the exact harmonic stride map, whatever the window."""
    model = PositionOperator(head="linear").eval()
    with torch.no_grad():
        target = torch.zeros(6, dtype=torch.float64)
        target[3], target[4] = -1.0, 2.0 * np.cos(omega_stride)  # x_{n+1} = 2cos(ωΔ_R) x_n − x_{n−1}
        model.out.bias.copy_(target - model.base)
    return model


def test_exact_sho_linear_head_closed_loop_tracks_the_analytic_solution():
    m, k, stride = 3.0, 2.0, 1.0  # Δ_R = 1000Δ
    omega = np.sqrt(k / m)
    model = _exact_linear_head(omega * stride)
    x0 = np.array([0.8, -0.3, 5.0])
    t = np.arange(5 + 1000) * stride
    exact = np.stack([harmonic_exact(x0, 0.0, k, m, ti)[0] for ti in t])  # [T, 3]
    out = rollout_positions(model, exact[:5].T[:, :, None], 1000).numpy()[:, :, 0]
    # 1000 strides closed-loop (t = 1000, ~130 periods): only round-off, whatever the amplitude.
    np.testing.assert_allclose(out, exact[5:], rtol=0, atol=1e-9 * np.abs(x0).max())
    # The increment head at its initialisation has no such structure: it loses the trajectory at once.
    torch.manual_seed(0)
    other = rollout_positions(PositionOperator().eval(), exact[:5].T[:, :, None], 10).numpy()[:, :, 0]
    assert np.abs(other - exact[5:15]).max() > 0.1


def test_trained_linear_head_holds_the_phase_closed_loop(tmp_path):
    torch.set_num_threads(1)
    # One oscillator family (m = 2, k = 3), x0 swept; Δ_R = 1000Δ = 1.2 ω⁻¹.
    data = generate_oscillator_data("harmonic", n_trajectories=16, t_max=20.0, save_every=100, mass_range=(2.0, 2.0),
                                    k_range=(3.0, 3.0), x0_range=(-1.0, 1.0), seed=0)
    path = train_position_operator(data, tmp_path / "lin", stride_steps=1000, head="linear", hidden=(8, 8),
                                   max_epochs=6, batch_size=32, lr=3e-3, max_sequences=None)
    model, header = load_position_operator(path)
    assert model.head == "linear" and header["training"]["unroll"] == 1
    res = closed_loop_error(model, "harmonic", 1000, 300.0, n_test=6, mass_range=(2.0, 2.0), k_range=(3.0, 3.0),
                            x0_range=(-1.0, 1.0), horizons=(10.0, 100.0))
    # Measured 0.00x; losing the phase gives 8/π² ≈ 0.8.
    assert res["mean_rel_t300"] < 0.05, res


def test_reversible_head_is_time_reversible_and_area_preserving_for_any_weights():
    torch.manual_seed(3)
    model = PositionOperator(head="reversible", hidden=(16, 16), conditions=("mass",)).eval()
    with torch.no_grad():
        for p in model.mlp.parameters():
            p.normal_(0, 0.3)  # an arbitrary (untrained, nonlinear) G
    cond = torch.tensor([[2.0], [7.0]], dtype=torch.float64)
    start = torch.tensor([[0.1, -0.2, 0.3, 0.5, 0.45], [1.0, 0.7, 0.2, -0.3, -0.6]], dtype=torch.float64)[..., None]
    forward = rollout_positions(model, start, 200, cond)  # [200, 2, 1]
    # Run back from the last two states: x_{n−1} = G(x_n) − x_{n+1} retraces the path to round-off.
    tail = torch.stack([forward[-1], forward[-2]], dim=1)  # newest first = time reversed
    back_window = torch.cat([torch.zeros(2, 3, 1, dtype=torch.float64), tail], dim=1)
    back = rollout_positions(model, back_window, 199 + 3, cond)
    path = torch.cat([start[:, -2:].transpose(0, 1), forward[:-2]])  # x at strides before the last two, oldest first
    torch.testing.assert_close(back[:200].flip(0), path, rtol=0, atol=1e-8)
    # Jacobian of (x_{n−1}, x_n) → (x_n, x_{n+1}) has determinant 1 (area preserving).
    w = start[:1].clone().requires_grad_(True)
    jac = torch.autograd.functional.jacobian(lambda v: model(v, cond[:1]), w)[0, 0, 0, -2:, 0]
    assert jac[0].item() == -1.0  # ∂x_{n+1}/∂x_{n−1}: det [[0, 1], [−1, G′]] = 1 whatever G′ is


def test_omega_condition_is_the_harmonic_frequency():
    from surrogate.lstm.data import condition_values

    data = generate_oscillator_data("harmonic", n_trajectories=5, t_max=1.0, save_every=100, seed=4)
    omega = condition_values(data, ("omega",))[:, 0]
    np.testing.assert_allclose(omega, np.sqrt(data.parameters[:, 0] / data.masses[:, 0]), rtol=1e-15)
    # The Verlet data oscillate at that frequency: x(t) = x0 cos(ωt) to Verlet's O(Δ²) error.
    t = np.arange(data.n_frames) * data.frame_interval
    np.testing.assert_allclose(data.positions[:, :, 0, 0], data.positions[:, :1, 0, 0] * np.cos(omega[:, None] * t),
                               atol=1e-5)


def test_energy_condition_is_the_orbit_energy_and_fixes_the_stormer_sum():
    from surrogate.lstm.data import condition_values

    data = generate_oscillator_data("double_well", n_trajectories=4, t_max=5.0, save_every=100, seed=5)
    energy = condition_values(data, ("energy",))[:, 0]
    x0 = data.positions[:, 0, 0, 0]
    np.testing.assert_allclose(energy, x0 ** 4 / 4 - x0 ** 2 / 2, rtol=1e-12)  # from rest: E = U(x0)
    # Time reversal: x(t+Δ_R) + x(t−Δ_R) depends on (x(t), E, m) only. Two orbits of one energy and mass
    # that pass the same x with opposite velocities give the same sum.
    from integrators.fused_verlet import params_1d, verlet_1d

    x, v = np.array([0.3, 0.3]), np.array([0.7, -0.7])
    tr = verlet_1d(x, v, np.ones(2), "double_well", params_1d("double_well", 2), 0.001, 2000, 1000)
    back = verlet_1d(x, -v, np.ones(2), "double_well", params_1d("double_well", 2), 0.001, 1000, 1000)
    sums = tr.positions[2 - 1] + back.positions[1]  # x(+Δ_R) + x(−Δ_R) for each start
    assert abs(sums[0] - sums[1]) < 1e-12


def test_stormer_head_with_the_exact_phase_is_the_verlet_stride_map():
    from integrators.fused_verlet import params_1d, verlet_1d

    model = PositionOperator(head="stormer", hidden=(8,), conditions=("omega",)).eval()
    m, k = np.array([2.0, 9.0]), np.array([3.0, 1.5])
    omega = np.sqrt(k / m)
    # Verlet at Δ is itself a linear recurrence: N steps advance the phase by N·arccos(1 − ω²Δ²/2)
    # = N·2 arcsin(ωΔ/2) (the arcsin form keeps full precision; 1 − 5e-6 would lose 1e-10 of it).
    theta = 1000 * 2 * np.arcsin(omega * 0.001 / 2)
    with torch.no_grad():  # θ = skip(ω̂) exactly: θ is linear in the normalised ω ∈ [-1, 1]
        lo, hi = omega.min() - 1.0, omega.max() + 1.0
        model.condition_lo.fill_(lo)
        model.condition_hi.fill_(hi)
        scaled = 2 * (omega - lo) / (hi - lo) - 1  # the model's normalised input
        slope = (theta[1] - theta[0]) / (scaled[1] - scaled[0])
        model.skip.weight.fill_(0.0)
        model.skip.weight[0, 0] = slope
        model.skip.bias.copy_(torch.tensor([theta[0] - slope * scaled[0], 0.0], dtype=torch.float64))
    x0 = np.array([0.9, -2.0])
    tr = verlet_1d(x0, np.zeros(2), m, "harmonic", params_1d("harmonic", 2, k=k), 0.001, 1004 * 1000, 1000)
    out = rollout_positions(model, tr.positions[:5].T[:, :, None], 1000,
                            torch.as_tensor(omega[:, None])).numpy()[:, :, 0]
    # 1000 strides = 10⁶ Verlet steps, closed-loop, equal to Verlet up to round-off.
    np.testing.assert_allclose(out, tr.positions[5:1005], rtol=0, atol=1e-8)


def test_stormer_head_trained_and_polished_holds_the_phase_on_unseen_oscillators(tmp_path):
    from surrogate.lstm.position_train import polish_lbfgs

    torch.set_num_threads(1)
    data = generate_oscillator_data("harmonic", n_trajectories=20, t_max=12.0, save_every=100, x0_range=(-1.0, 1.0),
                                    mass_range=(1.0, 4.0), k_range=(1.0, 4.0), seed=0)
    path = train_position_operator(data, tmp_path / "st", stride_steps=1000, head="stormer", hidden=(16, 16),
                                   conditions=("omega",), max_epochs=1, batch_size=32, lr=3e-3, max_sequences=None)
    ranges = dict(mass_range=(1.5, 3.5), k_range=(1.5, 3.5), x0_range=(-1.0, 1.0), horizons=(10.0,))
    untrained = closed_loop_error(load_position_operator(path)[0], "harmonic", 1000, 200.0, n_test=8, **ranges)
    polished, info = polish_lbfgs(path, data, tmp_path / "polished.pt", steps=400, max_sequences=2000)
    # The loss scaling lets L-BFGS go far below torch's yᵀs > 1e-10 floor (it stalled near 1e-7 without it).
    assert info["train_loss"] < 1e-9, info
    res = closed_loop_error(load_position_operator(polished)[0], "harmonic", 1000, 200.0, n_test=8, **ranges)
    assert res["mean_rel_t200"] < 0.01 < untrained["mean_rel_t200"], (res, untrained)


def test_cli_stormer_head_conditions_widths_polish_and_refusals(tmp_path, capsys):
    from surrogate.cli import main

    out = tmp_path / "st"
    assert main(["train", "lstm", "--preset", "paper", "--potential", "harmonic", "--stride", "1000", "--head",
                 "stormer", "--conditions", "omega", "--widths", "8,8", "--n-trajectories", "20", "--t-max", "12",
                 "--max-epochs", "1", "--polish-steps", "200", "--no-progress", "--out", str(out)]) == 0
    model, header = load_position_operator(out / "polished.pt")
    assert model.head == "stormer" and model.conditions == ("omega",) and model.hidden == (8, 8)
    assert header["training"]["polish"]["steps"] == 200
    # A name the data does not have, and the stormer head without conditions, are refused by name.
    assert main(["train", "lstm", "--preset", "paper", "--potential", "harmonic", "--stride", "1000",
                 "--conditions", "omega,spin", "--n-trajectories", "10", "--t-max", "6", "--max-epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "bad")]) != 0
    assert "spin" in capsys.readouterr().err
    assert main(["train", "lstm", "--preset", "paper", "--potential", "harmonic", "--stride", "1000", "--head",
                 "stormer", "--n-trajectories", "10", "--t-max", "6", "--max-epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "bad2")]) != 0
    assert "stormer" in capsys.readouterr().err
