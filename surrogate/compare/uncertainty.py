"""Error bars by block averaging, and the pointwise noise band of a curve.

MD samples are correlated, so the naive standard error σ/√m is too small. The
series is cut into ``n_blocks`` consecutive blocks; if the blocks are longer
than the correlation time their means are independent, and the standard error
of the full-run mean is ``std(block means, ddof=1) / √n_blocks``. The same
recipe gives the error of a fitted slope (the energy drift) and a band around
a curve (an RDF or VACF computed on each block separately).
"""

from __future__ import annotations

import numpy as np

#: Blocks for the error of a scalar mean (temperature, energy) and of the energy drift.
SCALAR_BLOCKS = 8
#: Blocks of frames for curves (RDF, bond and angle densities, MSD, VACF): each needs enough frames alone.
CURVE_BLOCKS = 4


def block_slices(n: int, n_blocks: int) -> list[slice]:
    """``n_blocks`` consecutive, equally long slices of ``range(n)`` (the remainder is dropped from the end)."""
    size = n // n_blocks
    return [slice(k * size, (k + 1) * size) for k in range(n_blocks)] if size > 0 else []


def mean_and_error(values: np.ndarray, n_blocks: int = SCALAR_BLOCKS) -> tuple[float, float]:
    """Mean of ``values`` [m] and its block-averaging standard error (nan with fewer than 2 values per block)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    blocks = block_slices(len(values), n_blocks)
    if len(values) < 2 * n_blocks:
        return float(values.mean()), float("nan")
    means = np.array([values[b].mean() for b in blocks])
    return float(values.mean()), float(means.std(ddof=1) / np.sqrt(n_blocks))


def slope_and_error(t: np.ndarray, y: np.ndarray, n_blocks: int = SCALAR_BLOCKS) -> tuple[float, float]:
    """Least-squares slope of y(t) and its standard error from a straight-line fit of the block means
    (block means, not the raw points, so correlated fluctuations do not shrink the error)."""
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = np.asarray(t, dtype=np.float64)[ok], np.asarray(y, dtype=np.float64)[ok]
    if len(t) < 2 or np.ptp(t) == 0:
        return float("nan"), float("nan")
    slope = float(np.polyfit(t, y, 1)[0])
    if len(t) < 2 * n_blocks:
        return slope, float("nan")
    blocks = block_slices(len(t), n_blocks)
    tb = np.array([t[b].mean() for b in blocks])
    yb = np.array([y[b].mean() for b in blocks])
    coeffs = np.polyfit(tb, yb, 1)
    residual = yb - np.polyval(coeffs, tb)
    spread = np.sum((tb - tb.mean()) ** 2)
    return slope, float(np.sqrt(np.sum(residual**2) / (n_blocks - 2) / spread)) if spread > 0 else float("nan")


def band(x: np.ndarray, block_curves: list) -> np.ndarray | None:
    """Standard error [m] of a curve on grid ``x`` [m] from the same curve computed on each block
    (objects with ``x``, ``y``): std over blocks (ddof=1) / √blocks, nan where fewer than two blocks reach.

    None with fewer than two block curves.
    """
    if len(block_curves) < 2:
        return None
    stack = np.array([np.interp(x, c.x, c.y, left=np.nan, right=np.nan) for c in block_curves])
    count = np.sum(np.isfinite(stack), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(count >= 2, stack, 0.0), axis=0)
        var = np.nansum((stack - mean) ** 2, axis=0) / np.maximum(count - 1, 1)
        se = np.sqrt(var / np.maximum(count, 1))
    return np.where(count >= 2, se, np.nan)
