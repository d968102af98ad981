"""Sequence bodies of the window operators: a stacked LSTM, or a small causal transformer.

Both read a window of per-stride feature vectors [B, W, F] (oldest first) and
return one summary vector [B, H] of the last stride, so an operator can swap one
for the other and keep its normalisation, head, trainer, model file and rollout.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from systems.errors import InputError


class LSTMBody(nn.Module):
    """Stacked LSTM layers (widths ``hidden``); returns the last stride's output of the last layer [B, hidden[-1]]."""

    def __init__(self, in_dim: int, hidden=(32, 32), dropout: float = 0.0, dtype=torch.float64):
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise InputError(f"LSTMBody: `hidden` must be positive widths, got {hidden}")
        layers, width = [], int(in_dim)
        for h in hidden:
            layers.append(nn.LSTM(width, h, batch_first=True, dtype=dtype))
            width = h
        self.lstms = nn.ModuleList(layers)
        self.drop = nn.Dropout(dropout)
        self.out_dim = width

    def forward(self, h: Tensor) -> Tensor:
        for k, lstm in enumerate(self.lstms):
            if k:
                h = self.drop(h)
            h, _ = lstm(h)
        return self.drop(h[:, -1])


class CausalAttentionBody(nn.Module):
    """A small causal transformer over the window: stride t attends to strides ≤ t only.

    in_dim → ``d_model`` by a linear embedding plus a learned position embedding of
    each of the ``window`` slots; ``layers`` pre-norm encoder layers with ``heads``
    heads and a feed-forward width of 2·d_model; returns the last slot [B, d_model].
    The causal mask makes the last slot the only one that sees the whole window, as
    the LSTM's last output does; it also keeps every earlier slot's output equal to
    what a shorter window would give (no look-ahead).
    """

    def __init__(self, in_dim: int, window: int, d_model: int = 32, heads: int = 2, layers: int = 2,
                 dropout: float = 0.0, dtype=torch.float64):
        super().__init__()
        if d_model < 1 or heads < 1 or d_model % heads or layers < 1 or window < 2:
            raise InputError(f"CausalAttentionBody: need d_model divisible by heads, layers ≥ 1, window ≥ 2; got "
                             f"d_model={d_model}, heads={heads}, layers={layers}, window={window}")
        self.embed = nn.Linear(int(in_dim), d_model, dtype=dtype)
        self.position = nn.Parameter(torch.zeros(window, d_model, dtype=dtype))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout, batch_first=True, norm_first=True,
                                           dtype=dtype)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model, dtype=dtype)
        self.register_buffer("mask", torch.triu(torch.full((window, window), float("-inf"), dtype=dtype), 1),
                             persistent=False)
        self.window, self.out_dim = int(window), int(d_model)

    def forward(self, h: Tensor) -> Tensor:
        w = h.shape[1]
        if w > self.window:
            raise InputError(f"CausalAttentionBody: window of {w} strides, the body has {self.window} slots")
        x = self.embed(h) + self.position[:w]
        x = self.encoder(x, mask=self.mask[:w, :w].to(x.dtype), is_causal=True)
        return self.norm(x[:, -1])


def make_body(arch: str, in_dim: int, window: int, hidden=(32, 32), dropout: float = 0.0, dtype=torch.float64,
              heads: int = 2, layers: int = 2) -> nn.Module:
    """``arch`` "lstm" → :class:`LSTMBody` (``hidden`` widths); "attention" → :class:`CausalAttentionBody`
    (d_model = hidden[-1], ``heads``, ``layers``)."""
    if arch == "lstm":
        return LSTMBody(in_dim, hidden, dropout, dtype)
    if arch == "attention":
        return CausalAttentionBody(in_dim, window, int(hidden[-1]), heads, layers, dropout, dtype)
    raise InputError(f"unknown operator architecture {arch!r}; choose 'lstm' or 'attention'")
