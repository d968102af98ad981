"""A whole LSTM-operator rollout inside one Numba kernel call: the lean inference path.

A 16-particle Verlet step costs microseconds, so a stride of the operator must
cost well under a thousand of them. Through torch a stride is ~15 small tensor
operations, each paying the framework's per-call overhead; here the trained
weights (cast to float64) run in one compiled loop over all strides, in
parallel over trajectories, with two savings that leave the result unchanged:

* the first layer's input projection W_ih·f(s) + b of a state is computed once,
  when the state enters the window, and reused by the next W−1 strides;
* the window is a ring of those projections (no copies).

The centre-of-mass momentum projection of
:class:`~surrogate.lstm.integrator.MomentumProjector` runs inside the loop.
Equals :func:`surrogate.lstm.integrator.rollout` of a float64 model to round-off.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from systems.errors import InputError

from .model import LSTMOperator


@numba.njit(cache=True, inline="always")
def _project_input(state, n_pos, periodic, box_rep, f_lo, f_hi, w_ih, b, out):
    """out [4H] = W_ih · normalised features of ``state`` [D] + b."""
    n_feat = f_lo.shape[0]
    f = np.empty(n_feat)
    if periodic:
        for p in range(n_pos):
            angle = 2.0 * math.pi * state[p] / box_rep[p]
            f[p] = math.sin(angle)
            f[n_pos + p] = math.cos(angle)
            f[2 * n_pos + p] = state[n_pos + p]
    else:
        for p in range(2 * n_pos):
            f[p] = state[p]
    for q in range(n_feat):
        f[q] = 2.0 * (f[q] - f_lo[q]) / (f_hi[q] - f_lo[q]) - 1.0
    out[:] = np.dot(w_ih, f) + b


@numba.njit(cache=True, inline="always")
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@numba.njit(cache=True, inline="always")
def _lstm_cell(gates, h, c):
    """torch gate order i, f, g, o: c ← f c + i g; h ← o tanh(c) (in place)."""
    n = h.shape[0]
    for u in range(n):
        i = _sigmoid(gates[u])
        f = _sigmoid(gates[n + u])
        g = math.tanh(gates[2 * n + u])
        o = _sigmoid(gates[3 * n + u])
        c[u] = f * c[u] + i * g
        h[u] = o * math.tanh(c[u])


@numba.njit(cache=True, parallel=True)
def _rollout_kernel(window0, n_strides, n_pos, periodic, box_rep, f_lo, f_hi, i_lo, i_hi,
                    w_ih1, w_hh1, b1, w_ih2, w_hh2, b2, w_d, b_d, w_o, b_o, masses, dim, project, stride):
    n_traj, w, d = window0.shape
    h1n = w_hh1.shape[1]
    h2n = w_hh2.shape[1]
    out = np.empty((n_strides, n_traj, d))
    n_atoms = masses.shape[0]
    total = masses.sum()
    for b in numba.prange(n_traj):
        ring = np.empty((w, 4 * h1n))
        for k in range(w):
            _project_input(window0[b, k], n_pos, periodic, box_rep, f_lo, f_hi, w_ih1, b1[b], ring[k])
        last = window0[b, w - 1].copy()
        p0 = np.zeros(dim)
        if project:
            for a in range(n_atoms):
                for x in range(dim):
                    p0[x] += masses[a] * last[n_pos + a * dim + x]
        h1 = np.empty(h1n)
        c1 = np.empty(h1n)
        h2 = np.empty(h2n)
        c2 = np.empty(h2n)
        for s in range(n_strides):
            h1[:] = 0.0
            c1[:] = 0.0
            h2[:] = 0.0
            c2[:] = 0.0
            for k in range(w):
                _lstm_cell(ring[(s + k) % w] + np.dot(w_hh1, h1), h1, c1)
                _lstm_cell(np.dot(w_ih2, h1) + np.dot(w_hh2, h2) + b2, h2, c2)
            hidden = np.maximum(np.dot(w_d, h2) + b_d, 0.0)
            y = np.dot(w_o, hidden) + b_o
            new = last + i_lo + 0.5 * (y + 1.0) * (i_hi - i_lo)
            if project:
                for x in range(dim):
                    p = 0.0
                    com_new = 0.0
                    com_old = 0.0
                    for a in range(n_atoms):
                        p += masses[a] * new[n_pos + a * dim + x]
                        com_new += masses[a] * new[a * dim + x]
                        com_old += masses[a] * last[a * dim + x]
                    dv = (p - p0[x]) / total
                    dx = (com_new - com_old) / total - p0[x] / total * stride
                    for a in range(n_atoms):
                        new[n_pos + a * dim + x] -= dv
                        new[a * dim + x] -= dx
            out[s, b] = new
            _project_input(new, n_pos, periodic, box_rep, f_lo, f_hi, w_ih1, b1[b], ring[s % w])
            last = new
    return out


def fused_rollout(model: LSTMOperator, initial_windows, n_strides: int, *, masses=None,
                  stride: float | None = None, conditions=None) -> np.ndarray:
    """Same contract as :func:`surrogate.lstm.integrator.rollout`, in one Numba call (float64).

    initial_windows : [B, W, D]; returns states [n_strides, B, D]. Needs a
    two-layer :class:`LSTMOperator` (the paper's architecture). conditions :
    [B, C] for a conditioned model; they are constant along a trajectory, so
    their share of the first layer's input projection is folded into a
    per-trajectory bias once.
    """
    if getattr(model, "arch", "lstm") != "lstm":
        raise InputError(f"fused_rollout runs LSTM bodies only, this model's is {model.arch!r}; use rollout()")
    if len(model.lstms) != 2:
        raise InputError(f"fused_rollout supports two LSTM layers, the model has {len(model.lstms)}")
    w0 = np.ascontiguousarray(np.asarray(initial_windows, dtype=np.float64))
    if w0.ndim != 3 or w0.shape[1:] != (model.window, model.state_dim):
        raise InputError(f"fused_rollout: initial windows must be [B, {model.window}, {model.state_dim}], "
                         f"got {w0.shape}")
    g = lambda t: np.ascontiguousarray(t.detach().cpu().double().numpy())  # noqa: E731
    l1, l2 = model.lstms
    n_pos = model.n_particles * model.dim
    project = masses is not None and stride is not None
    m = np.ascontiguousarray(np.asarray(masses if project else np.ones(model.n_particles), dtype=np.float64))
    box_rep = np.tile(g(model.box), model.n_particles) if model.periodic else np.ones(n_pos)
    n_feat = model.feature_dim
    w_ih1 = l1.weight_ih_l0.detach().double()
    bias1 = (l1.bias_ih_l0 + l1.bias_hh_l0).detach().double()[None].expand(len(w0), -1)  # [B, 4H]
    with torch.no_grad():
        cond = model.normalise_conditions(None if conditions is None else torch.as_tensor(np.asarray(conditions)),
                                          len(w0))
        if cond is not None:
            bias1 = bias1 + cond.double() @ w_ih1[:, n_feat:].T
    return _rollout_kernel(
        w0, int(n_strides), n_pos, bool(model.periodic), box_rep, g(model.feature_lo), g(model.feature_hi),
        g(model.increment_lo), g(model.increment_hi),
        g(w_ih1[:, :n_feat]), g(l1.weight_hh_l0), g(bias1),
        g(l2.weight_ih_l0), g(l2.weight_hh_l0), g(l2.bias_ih_l0 + l2.bias_hh_l0),
        g(model.dense.weight), g(model.dense.bias), g(model.out.weight), g(model.out.bias),
        m, model.dim, project, float(stride) if project else 0.0)
