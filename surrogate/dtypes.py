"""Model precision: float32 (default) or float64, by dtype or by name."""

from __future__ import annotations

import torch

from systems.errors import InputError

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype) -> torch.dtype:
    """Accept ``torch.float32``/``torch.float64`` or their names; anything else raises :class:`InputError`."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise InputError(f"`dtype` must be 'float32' or 'float64', got {dtype!r}")
