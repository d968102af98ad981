"""Block averaging for correlated time series."""

import numpy as np


def block_mean(series, n_blocks: int = 20) -> tuple[float, float]:
    """Mean and its standard error from ``n_blocks`` contiguous block means (drops the remainder)."""
    x = np.asarray(series, dtype=np.float64)
    size = len(x) // n_blocks
    if size < 1:
        raise ValueError(f"need at least {n_blocks} samples, got {len(x)}")
    blocks = x[: size * n_blocks].reshape(n_blocks, size).mean(axis=1)
    return float(blocks.mean()), float(blocks.std(ddof=1) / np.sqrt(n_blocks))
