"""The LSTM large-timestep operator of Kadupitiya, Fox and Jadhao (arXiv 2004.06493).

A window of the last W states, spaced Δ_R apart, goes through two LSTM layers
and a dense layer; the network returns the state one Δ_R later.

State layout (flat, over a fixed number N of particles in ``dim`` dimensions):
``s = [x_1 … x_N (N·dim values, Å), v_1 … v_N (N·dim values, Å/ASE time)]``,
so D = 2·N·dim.

Choices beyond the paper (documented because they change what is learnt):

* **Increment output.** The network predicts the increment s(t+Δ_R) − s(t),
  min-max normalised, and the last state is added back. The increment carries
  only what the dynamics changes, so the same relative network error costs a
  smaller absolute error than predicting the full state.
* **Periodic position features.** In a periodic box (``box`` buffer > 0) the
  positions enter as sin(2πx/L) and cos(2πx/L) per coordinate: continuous
  across the boundary, bounded however far atoms diffuse. The output is still
  the Cartesian displacement, so the rollout keeps unwrapped positions.
* **Min-max normalisation** of every input feature and every output component
  to [−1, 1], with the bounds stored as buffers (they travel in the model file).
* **Conditioning on known parameters** (optional, ``conditions``). The paper's
  1D models see only x and v, and must infer the frequency √(k/m) of each
  oscillator from five states a stride apart. That inference is ill-conditioned
  (the window's curvature is a small difference of close numbers), so a 1e-4
  error in one predicted state becomes a much larger error in the inferred
  frequency and the rollout runs away within tens of strides. An integrator
  knows its particles' masses and its potential's parameters, so a model may
  take them as extra inputs (per trajectory, constant over the window,
  min-max normalised like the features): named in ``conditions``, e.g.
  ``("mass", "k")``. Measured on unseen harmonic oscillators at Δ_R = 100Δ
  (``benchmarks/lstm_operator.py``): the mean position error over the first
  100 strides falls from 0.25 Å (states only) to 0.011 Å. Over longer
  rollouts the phase still drifts: the error grows about linearly with time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from systems.errors import InputError


class LSTMOperator(nn.Module):
    """Window of W states [B, W, D] → next state [B, D] (increment-based).

    Parameters
    ----------
    n_particles, dim : int
        The state holds N particles in ``dim`` dimensions (D = 2·N·dim).
    window : int
        W, states per input window (paper: 5).
    hidden : tuple of int
        Widths of the stacked LSTM layers (paper, 16 particles: (32, 32)).
    dense : int
        Width of the dense layer after the last LSTM output (paper: 96).
    dropout : float
        Dropout between layers during training (paper: 0.15).
    box : sequence of float or None
        Orthorhombic periodic box edges (Å) for periodic position features; None: open.
    dtype : torch.dtype
    conditions : sequence of str
        Names of per-trajectory parameters fed as extra inputs (see the module
        docstring): "mass" (amu) and potential parameters such as "k" (eV/Å²).
        Empty (default): the paper's model, which sees only the states.
    arch : "lstm" (default, the paper) or "attention": a small causal transformer
        over the window (:class:`~surrogate.lstm.bodies.CausalAttentionBody`,
        d_model = hidden[-1], ``heads`` heads, ``layers`` layers) in place of the
        LSTM layers; features, normalisation, head, model file, integrator and
        guards are the same.
    """

    def __init__(self, n_particles: int, dim: int, window: int = 5, hidden=(32, 32), dense: int = 96,
                 dropout: float = 0.15, box=None, dtype=torch.float32, conditions=(), arch: str = "lstm",
                 heads: int = 2, layers: int = 2):
        super().__init__()
        if n_particles < 1 or dim not in (1, 2, 3) or window < 2:
            raise InputError(f"LSTMOperator: need n_particles ≥ 1, dim in (1, 2, 3), window ≥ 2; got "
                             f"{n_particles}, {dim}, {window}")
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1 or dense < 1:
            raise InputError(f"LSTMOperator: `hidden` must be positive widths and `dense` positive, got {hidden}, {dense}")
        self.n_particles, self.dim, self.window = int(n_particles), int(dim), int(window)
        self.hidden, self.dense_width, self.dropout_p = hidden, int(dense), float(dropout)
        self.state_dim = 2 * self.n_particles * self.dim
        periodic = box is not None
        self.periodic = periodic
        n_pos = self.n_particles * self.dim
        self.feature_dim = (2 * n_pos if periodic else n_pos) + n_pos
        self.register_buffer("box", torch.as_tensor(box if periodic else [0.0] * dim, dtype=dtype).reshape(dim))
        # Normalisation bounds (set by fit_normalisation): features to [-1, 1], increments from [-1, 1].
        self.register_buffer("feature_lo", torch.zeros(self.feature_dim, dtype=dtype))
        self.register_buffer("feature_hi", torch.ones(self.feature_dim, dtype=dtype))
        self.register_buffer("increment_lo", torch.zeros(self.state_dim, dtype=dtype))
        self.register_buffer("increment_hi", torch.ones(self.state_dim, dtype=dtype))
        self.conditions = tuple(str(c) for c in conditions)
        n_cond = len(self.conditions)
        self.register_buffer("condition_lo", torch.zeros(n_cond, dtype=dtype))
        self.register_buffer("condition_hi", torch.ones(n_cond, dtype=dtype))
        if arch not in ("lstm", "attention"):
            raise InputError(f"LSTMOperator: `arch` must be 'lstm' or 'attention', got {arch!r}")
        self.arch, self.heads, self.layers = arch, int(heads), int(layers)
        stack, width = [], self.feature_dim + n_cond
        if arch == "attention":
            from .bodies import CausalAttentionBody

            self.attention = CausalAttentionBody(width, self.window, hidden[-1], self.heads, self.layers, dropout,
                                                 dtype)
            width = hidden[-1]
        else:
            for h in hidden:
                stack.append(nn.LSTM(width, h, batch_first=True, dtype=dtype))
                width = h
        self.lstms = nn.ModuleList(stack)
        self.drop = nn.Dropout(dropout)
        self.dense = nn.Linear(width, self.dense_width, dtype=dtype)
        self.act = nn.ReLU()
        self.out = nn.Linear(self.dense_width, self.state_dim, dtype=dtype)

    # ------------------------------------------------------------ features
    def features(self, states: Tensor) -> Tensor:
        """Raw features [..., F] of states [..., D] (periodic sin/cos positions if boxed)."""
        n_pos = self.n_particles * self.dim
        pos, vel = states[..., :n_pos], states[..., n_pos:]
        if self.periodic:
            box = self.box.repeat(self.n_particles)  # [N·dim], x of particle 0, y of particle 0, ...
            angle = (2.0 * math.pi) * pos / box
            return torch.cat([torch.sin(angle), torch.cos(angle), vel], dim=-1)
        return torch.cat([pos, vel], dim=-1)

    def normalise_features(self, features: Tensor) -> Tensor:
        return 2.0 * (features - self.feature_lo) / (self.feature_hi - self.feature_lo) - 1.0

    def normalise_conditions(self, conditions: Tensor | None, batch: int) -> Tensor | None:
        """Normalised conditions [B, C] (None for a model without conditions); checks the shape."""
        if not self.conditions:
            if conditions is not None:
                raise InputError("LSTMOperator: this model takes no conditions, but conditions were given")
            return None
        if conditions is None:
            raise InputError(f"LSTMOperator: this model needs the conditions {list(self.conditions)} per trajectory")
        conditions = torch.as_tensor(conditions, dtype=self.condition_lo.dtype, device=self.condition_lo.device)
        if conditions.shape != (batch, len(self.conditions)):
            raise InputError(f"LSTMOperator: conditions must be [B={batch}, {len(self.conditions)}] "
                             f"({list(self.conditions)}), got {tuple(conditions.shape)}")
        return 2.0 * (conditions - self.condition_lo) / (self.condition_hi - self.condition_lo) - 1.0

    def normalised_increment(self, windows: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Network output [B, D]: the increment, normalised to about [−1, 1]."""
        h = self.normalise_features(self.features(windows))  # [B, W, F]
        cond = self.normalise_conditions(conditions, windows.shape[0])
        if cond is not None:
            h = torch.cat([h, cond[:, None].expand(-1, h.shape[1], -1)], dim=-1)
        if self.arch == "attention":
            h = self.drop(self.attention(h))  # [B, H_last]
        else:
            for k, lstm in enumerate(self.lstms):
                if k:
                    h = self.drop(h)
                h, _ = lstm(h)
            h = self.drop(h[:, -1])  # [B, H_last]
        return self.out(self.act(self.dense(h)))  # [B, D]

    def increment_from_normalised(self, y: Tensor) -> Tensor:
        return self.increment_lo + 0.5 * (y + 1.0) * (self.increment_hi - self.increment_lo)

    def normalise_increment(self, increment: Tensor) -> Tensor:
        return 2.0 * (increment - self.increment_lo) / (self.increment_hi - self.increment_lo) - 1.0

    def forward(self, windows: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Next state [B, D] (Å, Å/time) from windows [B, W, D], oldest first.

        conditions : [B, C] raw values of :attr:`conditions` (amu, eV/Å², ...), needed iff the model has them.
        """
        return windows[:, -1] + self.increment_from_normalised(self.normalised_increment(windows, conditions))

    # ------------------------------------------------------- normalisation
    @torch.no_grad()
    def fit_normalisation(self, windows: Tensor, targets: Tensor, margin: float = 0.05,
                          conditions: Tensor | None = None) -> None:
        """Set the min-max bounds from training windows [S, W, D], next states [S, D] and conditions [S, C].

        Bounds are widened by ``margin`` of their range (and kept apart by a floor),
        so a rollout slightly beyond the training range stays in [−1, 1]-ish.
        """
        feats = self.features(windows.to(self.feature_lo.dtype)).reshape(-1, self.feature_dim)
        inc = (targets - windows[:, -1]).to(self.feature_lo.dtype)
        pairs = [(self.feature_lo, self.feature_hi, feats), (self.increment_lo, self.increment_hi, inc)]
        if self.conditions:
            if conditions is None:
                raise InputError(f"fit_normalisation: the model needs conditions {list(self.conditions)}")
            pairs.append((self.condition_lo, self.condition_hi, conditions.to(self.feature_lo.dtype)))
        for lo_buf, hi_buf, values in pairs:
            lo, hi = values.min(dim=0).values, values.max(dim=0).values
            span = (hi - lo).clamp(min=1e-6)
            lo_buf.copy_(lo - margin * span)
            hi_buf.copy_(hi + margin * span)

    def architecture(self) -> dict:
        """JSON-able constructor arguments (the model-file header stores them)."""
        return {"n_particles": self.n_particles, "dim": self.dim, "window": self.window, "hidden": list(self.hidden),
                "dense": self.dense_width, "dropout": self.dropout_p,
                "box": self.box.tolist() if self.periodic else None, "conditions": list(self.conditions),
                "arch": self.arch, "heads": self.heads, "layers": self.layers}
