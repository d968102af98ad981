"""Invariant edge features: smooth cutoff envelopes and a Gaussian radial basis.

Distances are taken as ``sqrt(r² + eps)`` so nothing here has a NaN gradient
at r = 0 (two coincident atoms).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

ENVELOPES = ("cosine", "polynomial")

#: Added under the square root when a distance is needed (Å²).
DIST_EPS = 1e-12


def safe_norm(vec: Tensor) -> Tensor:
    """‖vec‖ along the last axis, differentiable at 0: [..., 3] -> [...] (adds DIST_EPS = 1e-12 Å² under the root)."""
    return torch.sqrt((vec * vec).sum(dim=-1) + 1e-12)


class CutoffEnvelope(nn.Module):
    """A weight w(r) that is 1 at r = 0, falls to 0 at the cutoff with zero slope, and is 0 beyond.

    "cosine": w = ½(cos(πr/r_c) + 1) (Behler). "polynomial": the p = 6 envelope of
    DimeNet (Klicpera et al. 2020), 1 − 28u⁶ + 48u⁷ − 21u⁸ with u = r/r_c, whose
    first and second derivatives vanish at r_c.
    """

    def __init__(self, cutoff: float, kind: str = "cosine"):
        super().__init__()
        if kind not in ENVELOPES:
            raise ValueError(f"`envelope` must be one of {ENVELOPES}, got {kind!r}")
        if not cutoff > 0:
            raise ValueError(f"`cutoff` must be a positive distance in Å, got {cutoff!r}")
        self.cutoff = float(cutoff)
        self.kind = kind

    def forward(self, r: Tensor) -> Tensor:
        """r : [E] Å -> w : [E] in [0, 1]."""
        u = (r / self.cutoff).clamp(max=1.0)
        if self.kind == "cosine":
            w = 0.5 * (torch.cos(math.pi * u) + 1.0)
        else:
            u6 = u**6
            w = 1.0 - 28.0 * u6 + 48.0 * u6 * u - 21.0 * u6 * u * u
        return torch.where(r < self.cutoff, w, torch.zeros_like(w))


class GaussianBasis(nn.Module):
    """``n`` Gaussians exp(−(r − μ_k)² / 2σ²) with centres evenly spaced on [0, r_c] Å: [E] -> [E, n]."""

    def __init__(self, cutoff: float, n: int = 8):
        super().__init__()
        if n < 1:
            raise ValueError(f"`n_radial` must be >= 1, got {n}")
        self.register_buffer("centres", torch.linspace(0.0, float(cutoff), n), persistent=False)
        self.width = float(cutoff) / max(n - 1, 1)

    def forward(self, r: Tensor) -> Tensor:
        diff = r.unsqueeze(-1) - self.centres.to(r.dtype)  # [E, n]
        return torch.exp(-0.5 * (diff / self.width) ** 2)
