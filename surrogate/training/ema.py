"""An exponential moving average (EMA) of a model's trainable parameters.

After every optimizer step ``θ̄ ← d·θ̄ + (1 − d)·θ`` with ``d = min(decay, (1 + n) / (10 + n))``
(n = updates so far: the average forgets its random start quickly, as in MACE's ``torch_ema``
with ``use_num_updates``). Buffers (normalisation constants) are not averaged: they are taken
from the model as they are. The shadow lives on the parameters' device and dtype.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from systems.errors import InputError


class ParameterEMA:
    """EMA of ``model``'s trainable parameters (by name), ``0 < decay < 1``."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < float(decay) < 1.0:
            raise InputError(f"EMA decay must be in (0, 1), got {decay!r}")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current parameters into the average (call after each optimizer step)."""
        self.num_updates += 1
        d = min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))
        for name, p in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].mul_(d).add_(p.detach(), alpha=1.0 - d)

    @contextlib.contextmanager
    @torch.no_grad()
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """Within the block the model holds the averaged parameters; its own come back after."""
        params = dict(model.named_parameters())
        saved = {name: params[name].detach().clone() for name in self.shadow}
        for name, value in self.shadow.items():
            params[name].copy_(value)
        try:
            yield
        finally:
            for name, value in saved.items():
                params[name].copy_(value)

    def state_dict(self) -> dict:
        """JSON-like state: decay, num_updates and the shadow tensors (on the CPU)."""
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {k: v.detach().cpu().clone() for k, v in self.shadow.items()}}

    def check_state(self, state) -> str | None:
        """What is wrong with a saved state for this EMA, or None if it fits."""
        if not isinstance(state, dict) or not isinstance(state.get("shadow"), dict):
            return "must be a dict with 'decay', 'num_updates' and 'shadow' (the averaged parameters)"
        n = state.get("num_updates")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            return f"num_updates must be a non-negative integer, got {n!r}"
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):
            missing, extra = sorted(set(self.shadow) - set(shadow)), sorted(set(shadow) - set(self.shadow))
            return f"shadow does not fit the model: missing {missing[:5]}, unexpected {extra[:5]}"
        for name, mine in self.shadow.items():
            theirs = shadow[name]
            if not isinstance(theirs, torch.Tensor) or theirs.shape != mine.shape or theirs.dtype != mine.dtype:
                return f"shadow tensor {name!r} does not match the parameter ({list(mine.shape)}, {mine.dtype})"
        return None

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict` (check it first with :meth:`check_state`)."""
        problem = self.check_state(state)
        if problem:
            raise InputError(f"EMA state {problem}")
        self.num_updates = int(state["num_updates"])
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
