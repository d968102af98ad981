"""Distances between a reference run and another run, and the tolerances they are judged by.

Every distance is dimensionless so one tolerance fits many systems:

============== ====================================================================== =======
name           definition                                                             default
============== ====================================================================== =======
rdf            max over element pairs of ∫|g_s − g_r| dr / ∫ g_r dr (0 … 2)              0.05
diffusion      |D_s − D_r| / max(|D_r|, 0.01 Å²/ps)                                     0.35
vacf           RMS of C_s(t) − C_r(t) over 0 ≤ t ≤ 1 ps (normalised VACFs)              0.10
temperature    |⟨T_s⟩ − ⟨T_r⟩| / ⟨T_r⟩                                                  0.10
force          RMSE(F_s − F_r) / RMS(F_r) on the same configurations                   0.20
bond           max over bond types of ∫|p_s − p_r| dr (0 … 2)                           0.30
angle          max over angle types of ∫|p_s − p_r| dθ (0 … 2)                          0.30
drift          |energy drift of the other run| in meV/atom/ps (= eV/atom/ns; absolute)   0.1
============== ====================================================================== =======

Noise: the reference's own chance level for each distance (``noise``) is the
same distance between the first and second half of the reference run (for
drift: the reference's |drift| plus twice its block error). A distance within
the noise passes: a run passes when ``value <= max(tolerance, noise)``, because
the reference cannot resolve a smaller difference. The drift is judged only for
runs whose metadata names no thermostat (NVE); a thermostatted run's drift is
skipped with a note.

Drift: 0.1 meV/atom/ps moves a 10 ps NVE run by 1 meV/atom, about 4 K of heating;
velocity Verlet on a smooth potential drifts orders of magnitude less.

Calibration: two independent 5 ps NVE runs of 108 liquid-argon atoms (500
frames each) differ by rdf 0.027, diffusion 0.13, vacf 0.022, temperature
0.022; the same system 35 K hotter gives temperature 0.32 and diffusion 0.41. In NVE
the mean temperature of a small system depends on the energy it starts with
(108 atoms: ±8 % per frame), hence the 10 % temperature tolerance.
Shorter or smaller runs are noisier: loosen the tolerances for them.

The diffusion floor keeps solids (D ≈ 0) from producing huge relative errors.
A tolerance of ``None`` (YAML ``null`` or ``off``) reports the distance without judging it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from systems.errors import InputError

if TYPE_CHECKING:  # annotations only: structure imports ASE
    from .structure import Curve

#: Below this |D_ref| (Å²/ps) the diffusion error is taken relative to the floor instead.
DIFFUSION_FLOOR_A2_PER_PS = 0.01
#: VACF error window in ps.
VACF_WINDOW_PS = 1.0


@dataclass
class Tolerances:
    """Upper bounds on each distance (see the module table); ``None`` disables a check."""

    rdf: float | None = 0.05
    diffusion: float | None = 0.35
    vacf: float | None = 0.10
    temperature: float | None = 0.10
    force: float | None = 0.20
    bond: float | None = 0.30
    angle: float | None = 0.30
    drift: float | None = 0.1

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, mapping: dict | None, source: str = "tolerances") -> "Tolerances":
        """From ``{"rdf": 0.05, "drift": "off", ...}``; unknown names and bad values raise InputError."""
        tol = cls()
        for key, value in (mapping or {}).items():
            name = str(key).replace("-", "_")
            if name not in cls.names():
                raise InputError(f"{source}: unknown tolerance {key!r}; known: {', '.join(cls.names())}")
            setattr(tol, name, parse_tolerance(value, f"{source}: tolerance {key!r}"))
        return tol

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in self.names()}


def parse_tolerance(value, what: str) -> float | None:
    """A non-negative float, or None for "off"/"none"/null."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none", "null", "")):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a non-negative number or 'off', got {value!r}") from None
    if not np.isfinite(number) or number < 0:
        raise InputError(f"{what} must be a non-negative number or 'off', got {value!r}")
    return number


@dataclass
class Distance:
    """One distance: its value, the tolerance, the reference's noise level for it, and whether it
    passed (None if unjudged or not computable): ``value <= max(tolerance, noise)``."""

    name: str
    value: float | None
    tolerance: float | None
    detail: dict = field(default_factory=dict)
    skipped: str | None = None
    noise: float | None = None

    @property
    def limit(self) -> float | None:
        """The bound actually applied: the tolerance, or the reference's noise level when that is larger."""
        if self.tolerance is None:
            return None
        if self.noise is not None and np.isfinite(self.noise):
            return max(self.tolerance, float(self.noise))
        return self.tolerance

    @property
    def passed(self) -> bool | None:
        if self.value is None or self.tolerance is None:
            return None
        return bool(np.isfinite(self.value) and self.value <= self.limit)

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value, "tolerance": self.tolerance, "noise": self.noise,
                "limit": self.limit, "passed": self.passed, "skipped": self.skipped, "detail": self.detail}


# ----------------------------------------------------------------- metrics
def rdf_error(ref: Curve, other: Curve) -> float:
    """∫|g_s − g_r| dr / ∫ g_r dr on the reference grid (the other curve is interpolated)."""
    y = np.interp(ref.x, other.x, other.y)
    denom = np.trapezoid(ref.y, ref.x)
    if denom <= 0:
        return float("nan")
    return float(np.trapezoid(np.abs(y - ref.y), ref.x) / denom)


def density_difference(ref: Curve, other: Curve) -> float:
    """∫|p_s − p_r| dx for two probability densities on a shared grid (0 identical … 2 disjoint)."""
    y = np.interp(ref.x, other.x, other.y, left=0.0, right=0.0)
    return float(np.trapezoid(np.abs(y - ref.y), ref.x))


def relative_error(ref: float, other: float, floor: float = 0.0) -> float:
    """|other − ref| / max(|ref|, floor)."""
    denom = max(abs(ref), floor)
    return float(abs(other - ref) / denom) if denom > 0 else float("nan")


def vacf_error(ref: Curve, other: Curve, window_ps: float = VACF_WINDOW_PS) -> float:
    """RMS difference of two normalised VACFs over 0 ≤ t ≤ window (limited by the shorter curve).

    The other VACF is interpolated linearly onto the reference lags.
    """
    t_max = min(window_ps, ref.x[-1], other.x[-1])
    sel = ref.x <= t_max + 1e-12
    y = np.interp(ref.x[sel], other.x, other.y)
    return float(np.sqrt(np.mean((y - ref.y[sel]) ** 2)))


def force_parity(ref_forces: np.ndarray, other_forces: np.ndarray) -> dict:
    """MAE and RMSE (eV/Å) of forces [T, n, 3] on the same frames, and RMSE relative to RMS(F_ref)."""
    diff = other_forces - ref_forces
    rms_ref = float(np.sqrt(np.mean(ref_forces**2)))
    rmse = float(np.sqrt(np.mean(diff**2)))
    return {"mae_eV_per_A": float(np.mean(np.abs(diff))), "rmse_eV_per_A": rmse, "rms_reference_eV_per_A": rms_ref,
            "relative_rmse": rmse / rms_ref if rms_ref > 0 else float("nan")}


def same_frames(ref_positions: np.ndarray, other_positions: np.ndarray, atol: float = 1e-4) -> bool:
    """True when two runs hold the same configurations (a re-evaluation of the reference frames)."""
    return ref_positions.shape == other_positions.shape and bool(np.allclose(ref_positions, other_positions, atol=atol))
