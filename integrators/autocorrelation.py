"""Integrated autocorrelation time of a Markov-chain time series, and the effective sample count.

Convention (emcee, Goodman & Weare): τ = 1 + 2 Σ_{t≥1} ρ(t), so that N samples
carry N / τ independent samples' worth of information about the mean (τ is
the statistical inefficiency g of pymbar / Chodera 2007). The sum is cut off
with Sokal's automatic window: the smallest M with M ≥ c τ(M) (c = 5), which
keeps the noise of the tail of ρ(t) out of the estimate.
"""

from __future__ import annotations

import math

import numpy as np


def autocorrelation(series) -> np.ndarray:
    """Normalised autocorrelation ρ(t), t = 0..n−1, of a 1D series (FFT, zero-padded; ρ(0) = 1).

    A constant series (no variance) has ρ = [1, 0, 0, ...].
    """
    x = np.asarray(series, dtype=np.float64).reshape(-1)
    n = len(x)
    if n == 0:
        raise ValueError("autocorrelation: empty series")
    x = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()  # ≥ 2n: no circular wrap-around
    f = np.fft.rfft(x, n=size)
    acf = np.fft.irfft(f * np.conj(f), n=size)[:n]
    if acf[0] <= 0.0:
        out = np.zeros(n)
        out[0] = 1.0
        return out
    return acf / acf[0]


def integrated_time(series, c: float = 5.0) -> float:
    """τ = 1 + 2 Σ ρ(t) (in samples, ≥ 1) with Sokal's window ``c``; ``series`` is 1D, n ≥ 2."""
    x = np.asarray(series, dtype=np.float64).reshape(-1)
    if len(x) < 2:
        raise ValueError(f"integrated_time: need at least 2 samples, got {len(x)}")
    rho = autocorrelation(x)
    taus = 2.0 * np.cumsum(rho) - 1.0  # τ(M) = 1 + 2 Σ_{t=1..M} ρ(t)
    window = np.arange(len(taus)) >= c * taus
    m = int(np.argmax(window)) if window.any() else len(taus) - 1
    return float(max(1.0, taus[m]))


def effective_samples(series, c: float = 5.0) -> float:
    """N / τ: the number of independent samples the series is worth."""
    x = np.asarray(series, dtype=np.float64).reshape(-1)
    return len(x) / integrated_time(x, c)


def thinned(series, c: float = 5.0) -> np.ndarray:
    """Every ⌈τ⌉-th sample, approximately independent draws (for χ² tests that assume independence)."""
    x = np.asarray(series, dtype=np.float64).reshape(-1)
    return x[:: max(1, int(math.ceil(integrated_time(x, c))))]
