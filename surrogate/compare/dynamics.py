"""Dynamics: mean-squared displacement, diffusion coefficient, velocity
autocorrelation function (VACF) and its spectrum.

Times in ps, lengths in Å, so the MSD is in Å² and D in Å²/ps
(1 Å²/ps = 1e-8 m²/s = 1e-4 cm²/s). Correlations are averaged over all atoms
and all time origins with FFTs (Wiener–Khinchin), which needs frames at a
uniform interval.

Velocities: a run whose frames carry velocities uses them; otherwise they are
estimated by central finite differences of the unwrapped positions,
v(t_k) ≈ (x_{k+1} − x_{k−1}) / (t_{k+1} − t_{k−1}). That estimate is only good
when frames are much closer than the VACF's decay time (≲ 10 fs for liquid
argon); the result records which source was used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from systems.errors import InputError

from .run_data import RunData
from .structure import Curve

#: cm⁻¹ per THz (1 / c with c in cm/ps).
CM1_PER_THZ = 33.35640951981521


def uniform_interval(run: RunData, rtol: float = 1e-3) -> float:
    """The frame interval in ps; raises if the frames are not evenly spaced."""
    if run.n_frames < 3:
        raise InputError(f"{run.name}: dynamics need at least 3 frames, got {run.n_frames}")
    dt = np.diff(run.times_ps)
    if np.any(np.abs(dt - dt[0]) > rtol * abs(dt[0])):
        raise InputError(f"{run.name}: frames are not evenly spaced in time "
                         f"(intervals {dt.min():.6g}..{dt.max():.6g} ps); dynamics need a fixed interval")
    return float(dt[0])


def unwrap(positions: np.ndarray, cells: np.ndarray | None) -> np.ndarray:
    """Undo periodic jumps: positions [T, n, 3] Å → continuous trajectories [T, n, 3] Å.

    Each frame-to-frame displacement is replaced by its minimum image in that
    frame's cell, so atoms must move less than half a box between frames.
    """
    if cells is None:
        return positions.copy()
    d = np.diff(positions, axis=0)  # [T-1, n, 3]
    inv = np.linalg.inv(cells[1:])  # [T-1, 3, 3]
    frac = np.einsum("tni,tij->tnj", d, inv)
    frac -= np.round(frac)
    d = np.einsum("tni,tij->tnj", frac, cells[1:])
    out = np.empty_like(positions)
    out[0] = positions[0]
    out[1:] = positions[0] + np.cumsum(d, axis=0)
    return out


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """Σ over trailing axes of ⟨x(k)·x(k+m)⟩_k for lags m: x [T, ...] → [T, ...] (origin-averaged)."""
    n = x.shape[0]
    f = np.fft.rfft(x, n=2 * n, axis=0)
    acf = np.fft.irfft(f * np.conj(f), axis=0)[:n]
    return acf / (n - np.arange(n)).reshape((n,) + (1,) * (x.ndim - 1))


def msd_per_lag(unwrapped: np.ndarray) -> np.ndarray:
    """MSD(m) = ⟨|x(k+m) − x(k)|²⟩ over atoms and origins; unwrapped [T, n, 3] Å → [T] Å² (FFT algorithm)."""
    n = unwrapped.shape[0]
    sq = np.square(unwrapped).sum(axis=-1)  # [T, n]
    sq = np.concatenate([sq, np.zeros((1, sq.shape[1]))])
    s2 = _autocorrelation(unwrapped).sum(axis=-1)  # [T, n]
    q = 2.0 * sq.sum(axis=0)
    s1 = np.empty((n, sq.shape[1]))
    for m in range(n):
        q = q - sq[m - 1] - sq[n - m]
        s1[m] = q / (n - m)
    return (s1 - 2.0 * s2).mean(axis=1)


@dataclass
class Diffusion:
    """MSD curve (x ps, y Å²), the fitted D (Å²/ps) and the fit window (ps)."""

    msd: Curve
    D: float
    intercept: float
    fit_start_ps: float
    fit_end_ps: float
    #: Standard error of D (Å²/ps) from the spread of D over blocks of the run, or None.
    error: float | None = None

    def to_json(self) -> dict:
        return {"D_A2_per_ps": self.D, "D_error_A2_per_ps": self.error, "D_m2_per_s": self.D * 1e-8,
                "intercept_A2": self.intercept,
                "fit_start_ps": self.fit_start_ps, "fit_end_ps": self.fit_end_ps, "msd": self.msd.to_json()}


def diffusion(run: RunData, fit_fraction: tuple[float, float] = (0.1, 0.5), remove_com: bool = True,
              max_lag_fraction: float = 0.5) -> Diffusion:
    """MSD and self-diffusion coefficient D = slope / 6 of a straight-line fit of MSD(t).

    fit_fraction : the fitted lag window as fractions of the run length. The
        default (10 %–50 %) skips the ballistic start and the noisy long lags.
    remove_com : subtract the centre-of-mass motion (mass weighted) first.
    """
    dt = uniform_interval(run)
    x = unwrap(run.positions, run.cells if run.periodic else None)
    if remove_com:
        com = np.einsum("tni,n->ti", x, run.masses) / run.masses.sum()
        x = x - com[:, None, :]
    msd = msd_per_lag(x)
    n_lags = max(3, int(max_lag_fraction * run.n_frames) + 1)
    lags = np.arange(n_lags) * dt
    msd = msd[:n_lags]
    duration = (run.n_frames - 1) * dt
    lo, hi = fit_fraction
    if not 0.0 <= lo < hi <= 1.0:
        raise InputError(f"msd fit window must satisfy 0 <= start < end <= 1 (fractions of the run), "
                         f"got {fit_fraction}")
    sel = (lags >= lo * duration) & (lags <= hi * duration)
    if sel.sum() < 2:
        sel = np.arange(n_lags) >= n_lags // 2
    slope, intercept = np.polyfit(lags[sel], msd[sel], 1)
    return Diffusion(Curve(lags, msd), float(slope / 6.0), float(intercept), float(lags[sel][0]), float(lags[sel][-1]))


def velocities_of(run: RunData) -> tuple[np.ndarray, str]:
    """Velocities [T, n, 3] in Å/ps and their source ("frames" or "finite differences")."""
    if run.velocities is not None:
        return run.velocities, "frames"
    x = unwrap(run.positions, run.cells if run.periodic else None)
    return np.gradient(x, run.times_ps, axis=0), "finite differences"


@dataclass
class VACF:
    """Normalised VACF C(t)/C(0) (x ps) and its spectrum (x THz, y ps: the cosine transform)."""

    vacf: Curve
    spectrum: Curve
    c0: float
    source: str

    @property
    def green_kubo_D(self) -> float:
        """D = (1/3) ∫ ⟨v(0)·v(t)⟩ dt over the computed lags, Å²/ps (a cross-check of the MSD fit)."""
        return float(self.c0 / 3.0 * np.trapezoid(self.vacf.y, self.vacf.x))

    def to_json(self) -> dict:
        return {"c0_A2_per_ps2": self.c0, "velocity_source": self.source, "green_kubo_D_A2_per_ps": self.green_kubo_D,
                "vacf": self.vacf.to_json(), "spectrum_THz": self.spectrum.to_json()}


def vacf(run: RunData, max_lag_ps: float | None = None, remove_com: bool = True) -> VACF:
    """Velocity autocorrelation ⟨v(0)·v(t)⟩/⟨v(0)·v(0)⟩ and its spectrum (vibrational density of states).

    The spectrum is S(ν) = 2 ∫₀^T C(t) w(t) cos(2πνt) dt with a half-Hann window w
    (to suppress truncation ripples); ν in THz (×33.36 for cm⁻¹). Lags run to
    ``max_lag_ps`` or half the run.
    """
    dt = uniform_interval(run)
    v, source = velocities_of(run)
    if remove_com:
        com_v = np.einsum("tni,n->ti", v, run.masses) / run.masses.sum()
        v = v - com_v[:, None, :]
    c = _autocorrelation(v).sum(axis=-1).mean(axis=1)  # [T]
    n_lags = run.n_frames // 2 + 1
    if max_lag_ps is not None:
        n_lags = min(n_lags, int(round(max_lag_ps / dt)) + 1)
    n_lags = max(n_lags, 2)
    c = c[:n_lags]
    c0 = float(c[0])
    if c0 <= 0:
        raise InputError(f"{run.name}: velocities are all zero; no VACF")
    c = c / c0
    lags = np.arange(n_lags) * dt
    window = np.hanning(2 * n_lags - 1)[n_lags - 1:]
    cw = c * window
    even = np.concatenate([cw, cw[-2:0:-1]])
    spectrum = np.real(np.fft.rfft(even)) * dt
    freqs = np.fft.rfftfreq(len(even), dt)
    return VACF(Curve(lags, c), Curve(freqs, spectrum), c0, source)
