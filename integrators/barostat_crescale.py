"""Stochastic cell rescaling (C-rescale), isotropic or anisotropic (per Cartesian axis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from systems import units
from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System

from ._common import make_rng, positive, rng_state, set_rng_state

#: Isothermal compressibility of liquid water at 300 K, 1/bar (GROMACS' customary 4.5e-5): the default, as for
#: most liquids within a factor of a few. It sets only how fast the volume relaxes, never what is sampled.
WATER_COMPRESSIBILITY_PER_BAR = 4.5e-5
#: Default relaxation time of the volume, in MD timesteps (several hundred: stable even for a solid whose true
#: compressibility is 50× below the default; torch-sim's 3·Δ blows up small cells).
DEFAULT_TAU_P_STEPS = 500
#: Default number of MD steps between two cell rescalings (GROMACS' nstpcouple default).
DEFAULT_INTERVAL = 10
#: Shortest accepted tau_p, in barostat periods (interval·Δ): below it the Euler step of ln V overshoots.
MIN_TAU_P_PERIODS = 10
#: Shortest accepted tau_p, in MD timesteps.
MIN_TAU_P_STEPS = 20
COUPLINGS = ("isotropic", "anisotropic")
#: Largest change of ln L per period. Far from equilibrium (a start at 10 kbar) the Euler step of ln V would
#: jump tens of percent at once; in equilibrium a period moves ln L by ~1e-3, so the cap never binds there.
MAX_LOG_LENGTH_CHANGE = 0.01


class CRescaleBarostat:
    """Stochastic cell rescaling of M. Bernetti and G. Bussi, J. Chem. Phys. 153, 114107 (2020).

    Every ``interval`` MD steps (a period τ = interval·Δ) the logarithm of the volume ε = ln V moves by
    the Euler–Maruyama (Itô) step of

        dε = −(β_T/τ_p)(P₀ − P_int) dt + √(2 k_B T β_T / (V τ_p)) dW,

    and positions and cell rows scale by μ = exp(dε/3), velocities by 1/μ. P_int = 2K/(3V) − tr(σ)/3 is the
    instantaneous pressure from the kinetic energy K and the stress σ (ASE sign). With velocities scaled
    this way the stationary distribution of (V, x, p) is the isothermal-isobaric one, V^N exp(−β(U+K+P₀V))
    (the k_BT/V term of the paper's scaled-coordinate form cancels against the Itô drift of V^{-1} in the
    noise). ``coupling='anisotropic'`` moves ln L_a of each Cartesian axis a independently with β_T/3 and the
    diagonal pressure P_aa = Σ m v_a²/V − σ_aa (cell columns scaled; works for any cell shape, no shear).
    Each period's change of ln L is capped at ±1 % (``MAX_LOG_LENGTH_CHANGE``; ``n_capped`` counts the periods
    it bound), which only far-from-equilibrium starts reach.

    Parameters
    ----------
    pressure_bar : float, bar
        Target pressure P₀.
    tau_p : float, ASE time (or ``tau_p_fs`` in fs); default ``DEFAULT_TAU_P_STEPS`` MD timesteps.
        Relaxation time of the volume; must be ≥ ``MIN_TAU_P_PERIODS`` × interval × Δ and ≥ 20 Δ.
    compressibility_per_bar : float, 1/bar (default 4.5e-5, water's)
        The isothermal compressibility β_T assumed by the coupling. A wrong value changes only the speed of
        the volume relaxation (the fluctuations follow from the noise), as in the paper.
    coupling : 'isotropic' or 'anisotropic'
    interval : int, MD steps between rescalings (default 10).
    seed : int or np.random.Generator; every noise draw comes from it.
    """

    name = "CRescaleBarostat"
    needs_stress = True
    scales_velocities = True

    def __init__(self, pressure_bar: float, *, tau_p: float | None = None, tau_p_fs: float | None = None,
                 compressibility_per_bar: float = WATER_COMPRESSIBILITY_PER_BAR, coupling: str = "isotropic",
                 interval: int = DEFAULT_INTERVAL, seed=None):
        pressure_bar = float(pressure_bar)
        if not np.isfinite(pressure_bar):
            raise InputError(f"{self.name}: `pressure_bar` must be finite, got {pressure_bar!r}")
        self.pressure_bar = pressure_bar
        if tau_p is not None and tau_p_fs is not None:
            raise InputError(f"{self.name}: give at most one of `tau_p` (ASE time) or `tau_p_fs` (fs)")
        self._tau_p_given = None
        if tau_p is not None:
            self._tau_p_given = positive(tau_p, "tau_p", self.name)
        elif tau_p_fs is not None:
            self._tau_p_given = positive(tau_p_fs, "tau_p_fs", self.name) * units.fs
        self.compressibility_per_bar = positive(compressibility_per_bar, "compressibility_per_bar", self.name)
        if coupling not in COUPLINGS:
            raise InputError(f"{self.name}: `coupling` must be one of {COUPLINGS}, got {coupling!r}")
        self.coupling = coupling
        if int(interval) != interval or interval < 1:
            raise InputError(f"{self.name}: `interval` must be a whole number of MD steps ≥ 1, got {interval!r}")
        self.interval = int(interval)
        self.rng = make_rng(seed)
        self.tau_p: float | None = None  # fixed by bind()
        self.n_capped = 0  # periods whose length change hit MAX_LOG_LENGTH_CHANGE
        self._period = None

    # -------------------------------------------------------------- set-up
    @property
    def pressure(self) -> float:
        """P₀ in eV/Å³."""
        return self.pressure_bar * units.bar

    @property
    def compressibility(self) -> float:
        """β_T in Å³/eV."""
        return self.compressibility_per_bar / units.bar

    def bind(self, timestep: float) -> None:
        """Fix the period (interval × ``timestep``, ASE time) and the default τ_p; refuse an unstable τ_p."""
        self._period = self.interval * float(timestep)
        tau_p = self._tau_p_given if self._tau_p_given is not None else DEFAULT_TAU_P_STEPS * float(timestep)
        shortest = max(MIN_TAU_P_PERIODS * self._period, MIN_TAU_P_STEPS * float(timestep))
        if tau_p < shortest:
            raise InputError(f"{self.name}: tau_p = {tau_p / units.fs:.4g} fs is too short for a timestep of "
                             f"{timestep / units.fs:.4g} fs and interval {self.interval}: it must be at least "
                             f"{shortest / units.fs:.4g} fs (max of {MIN_TAU_P_PERIODS} barostat periods and "
                             f"{MIN_TAU_P_STEPS} timesteps); a few 3·Δ blow small cells up")
        self.tau_p = tau_p

    # ---------------------------------------------------------------- move
    def scale_factors(self, system: System, result: ForceResult, temperature_K: float) -> np.ndarray:
        """Per-axis length factors μ [3] for one period, from the stress of ``result`` (eV/Å³)."""
        if result is None or result.stress is None:
            raise InputError(f"{self.name}: the force provider returned no stress; C-rescale needs the stress "
                             "every period (use --barostat mc, which needs energies only)")
        volume = system.volume
        kt = units.kB * float(temperature_K)
        beta, tau, dt = self.compressibility, self.tau_p, self._period
        stress = np.asarray(result.stress, dtype=np.float64)
        kinetic = system.masses @ (system.velocities ** 2)  # [3] Σ m v_a², eV
        if self.coupling == "isotropic":
            p_int = (kinetic.sum() / 3.0 - np.trace(stress) * volume / 3.0) / volume
            d_eps = (-(beta / tau) * (self.pressure - p_int) * dt
                     + math.sqrt(2.0 * kt * beta * dt / (volume * tau)) * self.rng.standard_normal())
            return self._capped(np.full(3, d_eps / 3.0))
        p_axis = kinetic / volume - np.diag(stress)  # [3] eV/Å³
        beta_axis = beta / 3.0
        d_eps = (-(beta_axis / tau) * (self.pressure - p_axis) * dt
                 + math.sqrt(2.0 * kt * beta_axis * dt / (volume * tau)) * self.rng.standard_normal(3))
        return self._capped(d_eps)

    def _capped(self, d_log_length: np.ndarray) -> np.ndarray:
        """exp of the per-axis ln L changes, each capped at ±MAX_LOG_LENGTH_CHANGE (counted in ``n_capped``)."""
        if np.any(np.abs(d_log_length) > MAX_LOG_LENGTH_CHANGE):
            self.n_capped += 1
            d_log_length = np.clip(d_log_length, -MAX_LOG_LENGTH_CHANGE, MAX_LOG_LENGTH_CHANGE)
        return np.exp(d_log_length)

    # ---------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.name, "rng": rng_state(self.rng), "pressure_bar": self.pressure_bar,
                "coupling": self.coupling, "interval": self.interval, "tau_p": self.tau_p,
                "compressibility_per_bar": self.compressibility_per_bar, "n_capped": self.n_capped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.name:
            raise InputError(f"checkpoint holds a {state.get('kind')!r} barostat, not {self.name!r}")
        for key in ("pressure_bar", "coupling", "interval", "tau_p", "compressibility_per_bar"):
            if state[key] != getattr(self, key):
                raise InputError(f"{self.name}: checkpoint {key} {state[key]!r} differs from {getattr(self, key)!r}; "
                                 "a restart must use the same barostat settings")
        set_rng_state(self.rng, state["rng"])
        self.n_capped = int(state["n_capped"])

    def thermo_fields(self) -> dict[str, float]:
        """The count of capped periods (non-zero only far from equilibrium)."""
        return {"crescale_capped": self.n_capped}
