"""Monte Carlo barostat: isotropic volume moves accepted with the NPT Metropolis criterion."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from systems import units
from systems.errors import InputError

from ._common import make_rng, positive, rng_state, set_rng_state

#: OpenMM's default: a volume move every 25 MD steps.
DEFAULT_INTERVAL = 25
#: Initial half-width of the volume move, as a fraction of the starting volume (OpenMM's 1 %).
DEFAULT_STEP_FRACTION = 0.01
#: Acceptance band the step size adapts toward while adapting.
TARGET_ACCEPTANCE = (0.25, 0.5)
#: Attempts per adaptation window.
ADAPT_WINDOW = 10


class MonteCarloBarostat:
    """Volume moves every ``interval`` MD steps (as OpenMM's ``MonteCarloBarostat``).

    A move draws ΔV uniformly in [−δ, δ], scales the cell rows and every atom's position by
    μ = ((V+ΔV)/V)^{1/3} (atomic scaling; velocities unchanged), re-evaluates the energy, and accepts with
    probability min(1, exp(−w/k_BT)), w = ΔU + P₀ΔV − N k_BT ln((V+ΔV)/V): the isothermal-isobaric
    Metropolis criterion with the N ln V of the configurational integral. A rejected move restores the
    positions, cell and cached forces exactly.

    The step size δ (Å³) adapts only during the first ``adapt_attempts`` moves (an equilibration): after
    every window of 10 attempts it shrinks ×0.9 below 25 % acceptance and grows ×1.1 above 50 %, capped at
    30 % of V. Then it stays fixed, so the production chain keeps detailed balance. ``adapt_attempts=0``
    keeps the initial δ throughout.

    Parameters
    ----------
    pressure_bar : float, bar
    interval : int, MD steps between moves (default 25)
    step_fraction : float, initial δ / V (default 0.01)
    adapt_attempts : int, moves during which δ adapts (default 200)
    seed : int or np.random.Generator
    """

    name = "MonteCarloBarostat"
    needs_stress = False
    scales_velocities = False

    def __init__(self, pressure_bar: float, *, interval: int = DEFAULT_INTERVAL,
                 step_fraction: float = DEFAULT_STEP_FRACTION, adapt_attempts: int = 200, seed=None):
        pressure_bar = float(pressure_bar)
        if not np.isfinite(pressure_bar):
            raise InputError(f"{self.name}: `pressure_bar` must be finite, got {pressure_bar!r}")
        self.pressure_bar = pressure_bar
        if int(interval) != interval or interval < 1:
            raise InputError(f"{self.name}: `interval` must be a whole number of MD steps ≥ 1, got {interval!r}")
        self.interval = int(interval)
        self.step_fraction = positive(step_fraction, "step_fraction", self.name)
        if self.step_fraction >= 0.3:
            raise InputError(f"{self.name}: `step_fraction` must be below 0.3 (a move may not come near V = 0), "
                             f"got {step_fraction!r}")
        if int(adapt_attempts) != adapt_attempts or adapt_attempts < 0:
            raise InputError(f"{self.name}: `adapt_attempts` must be a whole number ≥ 0, got {adapt_attempts!r}")
        self.adapt_attempts = int(adapt_attempts)
        self.rng = make_rng(seed)
        self.step_volume: float | None = None  # δ in Å³, set from the first volume
        self.attempts = 0
        self.accepted = 0
        self._window_attempts = 0
        self._window_accepted = 0
        self._production_attempts = 0
        self._production_accepted = 0

    @property
    def pressure(self) -> float:
        """P₀ in eV/Å³."""
        return self.pressure_bar * units.bar

    def bind(self, timestep: float) -> None:
        """Nothing depends on the timestep (moves are counted in MD steps)."""

    def trial_factor(self, volume: float) -> float:
        """μ of a trial move from volume ``volume`` (Å³): the cube root of (V + ΔV)/V."""
        if self.step_volume is None:
            self.step_volume = self.step_fraction * volume
        delta = self.step_volume * (2.0 * self.rng.random() - 1.0)
        return ((volume + delta) / volume) ** (1.0 / 3.0)

    def accept(self, delta_energy: float, volume_old: float, volume_new: float, n_atoms: int,
               temperature_K: float) -> bool:
        """Metropolis decision for a move V_old → V_new (Å³) whose potential energy changed by ``delta_energy`` eV."""
        kt = units.kB * float(temperature_K)
        w = delta_energy + self.pressure * (volume_new - volume_old) - n_atoms * kt * math.log(volume_new / volume_old)
        draw = self.rng.random()  # drawn every move, so the stream does not depend on the outcome
        ok = w <= 0.0 or draw < math.exp(-w / kt)
        self._count(ok, volume_new if ok else volume_old)
        return ok

    def _count(self, ok: bool, volume: float) -> None:
        self.attempts += 1
        self.accepted += int(ok)
        if self.attempts > self.adapt_attempts:
            self._production_attempts += 1
            self._production_accepted += int(ok)
            return
        self._window_attempts += 1
        self._window_accepted += int(ok)
        if self._window_attempts == ADAPT_WINDOW:
            rate = self._window_accepted / self._window_attempts
            if rate < TARGET_ACCEPTANCE[0]:
                self.step_volume *= 0.9
            elif rate > TARGET_ACCEPTANCE[1]:
                self.step_volume = min(self.step_volume * 1.1, 0.3 * volume)
            self._window_attempts = self._window_accepted = 0

    @property
    def acceptance_rate(self) -> float:
        """Acceptance since adaptation ended (of all moves while still adapting); nan before any move."""
        if self._production_attempts:
            return self._production_accepted / self._production_attempts
        return self.accepted / self.attempts if self.attempts else math.nan

    # ---------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.name, "rng": rng_state(self.rng), "pressure_bar": self.pressure_bar,
                "interval": self.interval, "step_volume": self.step_volume, "attempts": self.attempts,
                "accepted": self.accepted, "window": [self._window_attempts, self._window_accepted],
                "production": [self._production_attempts, self._production_accepted],
                "adapt_attempts": self.adapt_attempts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.name:
            raise InputError(f"checkpoint holds a {state.get('kind')!r} barostat, not {self.name!r}")
        for key in ("pressure_bar", "interval", "adapt_attempts"):
            if state[key] != getattr(self, key):
                raise InputError(f"{self.name}: checkpoint {key} {state[key]!r} differs from {getattr(self, key)!r}; "
                                 "a restart must use the same barostat settings")
        set_rng_state(self.rng, state["rng"])
        self.step_volume = None if state["step_volume"] is None else float(state["step_volume"])
        self.attempts, self.accepted = int(state["attempts"]), int(state["accepted"])
        self._window_attempts, self._window_accepted = (int(x) for x in state["window"])
        self._production_attempts, self._production_accepted = (int(x) for x in state["production"])

    def thermo_fields(self) -> dict[str, float]:
        return {"mc_volume_acceptance": self.acceptance_rate,
                "mc_volume_step_A3": math.nan if self.step_volume is None else self.step_volume}
