"""Positions-only window operator: the paper's 1D model, and a linear head that holds the phase.

Kadupitiya, Fox and Jadhao's 1D models read positions only and return the next
position (their ``RNN_MD.py``): a window of W positions spaced Δ_R apart →
the position Δ_R after the last one. :class:`PositionOperator` is that model
with two bodies (:mod:`.bodies`: LSTM 32/32 as in the paper, or a causal
transformer) and two heads:

* ``head="increment"`` (paper preset): the body's summary → dense → the
  min-max normalised increment x_{n+1} − x_n, added to the last position.
* ``head="linear"``: x_{n+1} = Σ_j a_j x_{n−W+1+j} + b, with coefficients a [W]
  and offset b the body's output. The exact harmonic stride map
  x_{n+1} = 2cos(ωΔ_R) x_n − x_{n−1} is one such linear recurrence, whatever the
  amplitude and phase, so the network only has to learn the constants
  (a function of the conditions m, k), not the trajectory. The coefficient
  layer starts at zero around the base (0, …, 0, −1, 2): free flight
  x_{n+1} = 2x_n − x_{n−1}. The coefficients may also depend on the window
  (the body sees it), which covers anharmonic potentials.
* ``head="reversible"``: a learned Störmer map x_{n+1} = G(x_n) − x_{n−1}, with
  G(x) = a(x)·x + b(x) from a small MLP of the last position (and the
  conditions) only. Whatever G is, the map (x_{n−1}, x_n) → (x_n, x_{n+1}) is
  time-reversible and area-preserving (its Jacobian [[0, 1], [−1, G′]] has
  determinant 1): a rollout cannot gain or lose amplitude steadily, only phase.
  The exact harmonic map is G(x) = 2cos(ωΔ_R)·x. It reads the last two states
  of the window; the body is replaced by the MLP (``hidden`` widths, tanh).
* ``head="stormer"``: the reversible map with G(x) = 2cos(θ)·x + b, where the
  stride phase θ and the offset b come from the conditions only (not the
  position): a linear Störmer recurrence, which is the exact stride map of any
  harmonic oscillator (θ = ω̃Δ_R with ω̃ Verlet's numerical frequency), held in x and
  amplitude to machine precision. Only θ(conditions) is learned, by an MLP plus a
  linear skip (θ is nearly linear in ω = √(k/m)), so its precision, not the
  trajectory's, sets the phase error. Learning 2cos θ directly instead stalls
  near 1e-3 (an MLP fits the near-linear θ far better than the cosine of it).
  It needs conditions and cannot represent an anharmonic potential (use
  ``reversible`` or ``linear`` there).

Shapes: windows [B, W, P] (Å; P = positions per trajectory, 1 in 1D),
conditions [B, C] (raw: amu, eV/Å²), output [B, P] (Å).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from systems.errors import InputError

from .bodies import make_body

HEADS = ("increment", "linear", "reversible", "stormer")
ARCHS = ("lstm", "attention")


class PositionOperator(nn.Module):
    """Window of W positions [B, W, P] → next positions [B, P] (see the module docstring).

    n_positions : P; window : W (paper 5); hidden : body widths (paper (32, 32); attention: d_model =
    hidden[-1]); dense : width of the increment head's dense layer (0: none, the paper's 1D model);
    arch : "lstm" | "attention"; head : "increment" | "linear"; conditions : names of per-trajectory
    inputs ("mass", "k"); dtype (paper: float64).
    """

    def __init__(self, n_positions: int = 1, window: int = 5, hidden=(32, 32), dense: int = 0, arch: str = "lstm",
                 head: str = "increment", conditions=(), dropout: float = 0.0, dtype=torch.float64,
                 heads: int = 2, layers: int = 2):
        super().__init__()
        if n_positions < 1 or window < 2:
            raise InputError(f"PositionOperator: need n_positions ≥ 1 and window ≥ 2, got {n_positions}, {window}")
        if head not in HEADS or arch not in ARCHS:
            raise InputError(f"PositionOperator: head must be one of {HEADS} and arch one of {ARCHS}, "
                             f"got {head!r}, {arch!r}")
        self.n_positions, self.window, self.hidden = int(n_positions), int(window), tuple(int(h) for h in hidden)
        self.dense_width, self.arch, self.head, self.dropout_p = int(dense), arch, head, float(dropout)
        self.heads, self.layers = int(heads), int(layers)
        self.conditions = tuple(str(c) for c in conditions)
        p, c = self.n_positions, len(self.conditions)
        for name, size in (("position_lo", p), ("increment_lo", p), ("condition_lo", c)):
            self.register_buffer(name, torch.zeros(size, dtype=dtype))
            self.register_buffer(name.replace("_lo", "_hi"), torch.ones(size, dtype=dtype))
        if head == "stormer" and not c:
            raise InputError("PositionOperator: head='stormer' learns the stride map from the conditions; "
                             "give conditions (e.g. ('omega',) or ('mass', 'k'))")
        if head in ("reversible", "stormer"):
            layers_, width = [], (p + c if head == "reversible" else c)
            for h in self.hidden:
                layers_ += [nn.Linear(width, h, dtype=dtype), nn.Tanh()]
                width = h
            last = nn.Linear(width, 2 * p, dtype=dtype)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.mlp = nn.Sequential(*layers_, last)  # reversible: starts at free flight, G(x) = 2x
            self.dense = None
            if head == "stormer":
                self.skip = nn.Linear(c, 2 * p, dtype=dtype)
                nn.init.zeros_(self.skip.weight)
                with torch.no_grad():  # θ starts at π/2, where cos θ has its largest slope (at 0 it has none)
                    self.skip.bias.copy_(torch.tensor([torch.pi / 2] * p + [0.0] * p, dtype=dtype))
            return
        self.body = make_body(arch, p + c, window, self.hidden, dropout, dtype, heads, layers)
        width = self.body.out_dim
        if head == "increment":
            self.dense = nn.Linear(width, self.dense_width, dtype=dtype) if self.dense_width else None
            self.out = nn.Linear(self.dense_width or width, p, dtype=dtype)
        else:
            self.dense = None
            self.out = nn.Linear(width, p * (window + 1), dtype=dtype)  # W coefficients and one offset per position
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            base = torch.zeros(window + 1, dtype=dtype)
            base[window - 2], base[window - 1] = -1.0, 2.0
            self.register_buffer("base", base)

    # ----------------------------------------------------------- pieces
    def _normalise(self, x, lo, hi):
        return 2.0 * (x - lo) / (hi - lo) - 1.0

    def summary(self, windows: Tensor, conditions: Tensor | None) -> Tensor:
        """The body's summary [B, H] of normalised positions (and conditions); the reversible head's
        MLP input [B, P + C] of the last position."""
        h = self._normalise(windows, self.position_lo, self.position_hi)
        if self.head in ("reversible", "stormer"):
            h = h[:, -1:]
        if self.conditions:
            if conditions is None:
                raise InputError(f"PositionOperator: this model needs the conditions {list(self.conditions)}")
            conditions = torch.as_tensor(conditions, dtype=h.dtype, device=h.device)
            if conditions.shape != (windows.shape[0], len(self.conditions)):
                raise InputError(f"PositionOperator: conditions must be [B={windows.shape[0]}, "
                                 f"{len(self.conditions)}] ({list(self.conditions)}), got {tuple(conditions.shape)}")
            cond = self._normalise(conditions, self.condition_lo, self.condition_hi)
            h = torch.cat([h, cond[:, None].expand(-1, h.shape[1], -1)], dim=-1)
        elif conditions is not None:
            raise InputError("PositionOperator: this model takes no conditions, but conditions were given")
        if self.head == "stormer":
            return h[:, 0, self.n_positions:]  # the conditions only
        return h[:, 0] if self.head == "reversible" else self.body(h)

    def forward(self, windows: Tensor, conditions: Tensor | None = None) -> Tensor:
        """Next positions [B, P] (Å) from windows [B, W, P] (Å), oldest first."""
        if windows.ndim != 3 or windows.shape[1] != self.window or windows.shape[2] != self.n_positions:
            raise InputError(f"PositionOperator: windows must be [B, {self.window}, {self.n_positions}], "
                             f"got {tuple(windows.shape)}")
        h = self.summary(windows, conditions)
        span = self.increment_hi - self.increment_lo
        if self.head == "stormer":
            o = (self.mlp(h) + self.skip(h)).view(-1, 2, self.n_positions)
            return 2.0 * torch.cos(o[:, 0]) * windows[:, -1] + o[:, 1] * span - windows[:, -2]
        if self.head == "reversible":
            o = self.mlp(h).view(-1, 2, self.n_positions)
            x = windows[:, -1]
            return (2.0 + o[:, 0]) * x + o[:, 1] * span - windows[:, -2]
        if self.head == "increment":
            if self.dense is not None:
                h = torch.relu(self.dense(h))
            y = self.out(h)
            return windows[:, -1] + self.increment_lo + 0.5 * (y + 1.0) * span
        coef = self.out(h).view(-1, self.n_positions, self.window + 1) + self.base  # [B, P, W+1]
        linear = torch.einsum("bpw,bwp->bp", coef[..., :-1], windows)
        return linear + coef[..., -1] * span  # the offset in units of the increment range

    # ---------------------------------------------------- normalisation
    @torch.no_grad()
    def fit_normalisation(self, windows: Tensor, targets: Tensor, conditions: Tensor | None = None,
                          margin: float = 0.05) -> None:
        """Min-max bounds from windows [S, W, P], next positions [S, P] and conditions [S, C]."""
        pairs = [(self.position_lo, self.position_hi, windows.reshape(-1, self.n_positions)),
                 (self.increment_lo, self.increment_hi, targets - windows[:, -1])]
        if self.conditions:
            if conditions is None:
                raise InputError(f"fit_normalisation: the model needs conditions {list(self.conditions)}")
            pairs.append((self.condition_lo, self.condition_hi, conditions))
        for lo_buf, hi_buf, values in pairs:
            values = values.to(lo_buf.dtype)
            lo, hi = values.min(dim=0).values, values.max(dim=0).values
            span = (hi - lo).clamp(min=1e-6)
            lo_buf.copy_(lo - margin * span)
            hi_buf.copy_(hi + margin * span)

    def architecture(self) -> dict:
        """JSON-able constructor arguments (the model file stores them)."""
        return {"n_positions": self.n_positions, "window": self.window, "hidden": list(self.hidden),
                "dense": self.dense_width, "arch": self.arch, "head": self.head,
                "conditions": list(self.conditions), "dropout": self.dropout_p, "heads": self.heads,
                "layers": self.layers}


@torch.inference_mode()
def rollout_positions(model: PositionOperator, initial_windows, n_strides: int, conditions=None) -> Tensor:
    """Closed loop: feed the model its own predictions for ``n_strides`` strides.

    initial_windows [B, W, P] (Å, true states); returns positions [n_strides, B, P] (torch, model dtype).
    """
    ref = model.position_lo
    w0 = torch.as_tensor(initial_windows, dtype=ref.dtype, device=ref.device)
    cond = None if conditions is None else torch.as_tensor(conditions, dtype=ref.dtype, device=ref.device)
    b, w, p = w0.shape
    buf = torch.empty(b, w + int(n_strides), p, dtype=ref.dtype, device=ref.device)
    buf[:, :w] = w0
    for k in range(int(n_strides)):
        buf[:, w + k] = model(buf[:, k:k + w], cond)
    return buf[:, w:].transpose(0, 1)


@torch.inference_mode()
def teacher_forced(model: PositionOperator, positions, conditions=None, chunk: int = 20_000) -> Tensor:
    """One-step predictions from true windows: positions [T, P] (or [T]) spaced Δ_R apart →
    predictions [T − W, P] of positions[W:], each from the W true positions before it (the paper's metric)."""
    ref = model.position_lo
    x = torch.as_tensor(positions, dtype=ref.dtype, device=ref.device)
    if x.ndim == 1:
        x = x[:, None]
    w = model.window
    windows = x.unfold(0, w, 1)[:-1].transpose(1, 2)  # [T − W, W, P]
    cond = None
    if conditions is not None:
        cond = torch.as_tensor(conditions, dtype=ref.dtype, device=ref.device).reshape(1, -1)
    out = []
    for s in range(0, windows.shape[0], chunk):
        part = windows[s:s + chunk]
        out.append(model(part, None if cond is None else cond.expand(part.shape[0], -1)))
    return torch.cat(out)
