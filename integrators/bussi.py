"""Bussi stochastic velocity rescaling (NVT), applied symmetrically around velocity Verlet."""

from __future__ import annotations

import math
from typing import Any

from systems import units
from systems.errors import InputError
from systems.state import System

from ._common import make_rng, positive, rng_state, set_rng_state
from .md_base import ForceIntegrator
from .protocols import ForceProvider


class Bussi(ForceIntegrator):
    """Canonical sampling through stochastic velocity rescaling.

    G. Bussi, D. Donadio and M. Parrinello, "Canonical sampling through
    velocity rescaling", J. Chem. Phys. 126, 014101 (2007). The kinetic energy
    K is propagated over a time t by the exact solution of its stochastic
    differential equation (their eq. A7):

        K' = K + (1 − c)(K̄ (R₁² + S)/N_f − K) + 2 R₁ √(c (1 − c) K K̄ / N_f),

    c = exp(−t/τ), K̄ = N_f k_B T / 2, R₁ ~ N(0, 1) and S the sum of N_f − 1
    squared normals, drawn exactly as 2·Gamma((N_f − 1)/2). Velocities are
    scaled by α = √(K'/K) with the sign of R₁ + √(c N_f K / ((1 − c) K̄)).

    One step is R(Δ/2) · velocity Verlet(Δ) · R(Δ/2): the thermostat acts
    symmetrically around the Verlet step. Every rescaling's kinetic-energy
    change accumulates in ``energy_exchanged`` (eV), so
    ``E_tot − energy_exchanged`` is the conserved quantity.

    Parameters
    ----------
    provider : ForceProvider
    timestep : float, ASE time units (or ``timestep_fs`` in fs)
    temperature_K : float, K
    tau : float, ASE time units (or ``tau_fs`` in fs): relaxation time of K.
    seed : int or np.random.Generator
    constraints : integrators.constraints.Constraints or None
        Projected inside the Verlet step; the rescaling keeps every velocity
        constraint, and N_f counts them.
    """

    name = "Bussi"

    def __init__(self, provider: ForceProvider, timestep: float | None = None, *, temperature_K: float,
                 tau: float | None = None, tau_fs: float | None = None, seed=None, timestep_fs: float | None = None,
                 constraints=None):
        super().__init__(provider, timestep, timestep_fs=timestep_fs, constraints=constraints)
        if (tau is None) == (tau_fs is None):
            raise InputError(f"{self.name}: give exactly one of `tau` (ASE time) or `tau_fs` (fs)")
        name, value = ("tau", tau) if tau is not None else ("tau_fs", tau_fs)
        self.tau = positive(float(value) if tau is not None else float(value) * units.fs, name, self.name)
        self.temperature_K = positive(temperature_K, "temperature_K", self.name)
        self.rng = make_rng(seed)
        self._c_half = math.exp(-0.5 * self.timestep / self.tau)
        self._n_f: int | None = None  # degrees of freedom, fixed at initialize (or restored)

    def initialize(self, system: System) -> None:
        """Evaluate the initial forces and fix the degrees of freedom N_f of the thermostat."""
        super().initialize(system)
        self._n_f = super().degrees_of_freedom(system)

    def degrees_of_freedom(self, system: System) -> int:
        """N_f of the thermostat: decided once, at :meth:`initialize`, from the starting state.

        (3N − 3 when the centre of mass starts at rest; rescaling keeps it at rest.)
        """
        if self._n_f is None:
            self._n_f = super().degrees_of_freedom(system)
        return self._n_f

    def step(self, system: System) -> None:
        dt = self.timestep
        self._rescale(system)  # R(Δ/2)
        self._kick_drift(system, self._forces(system), 0.5 * dt, dt)
        self._kick(system, self._evaluate(system), 0.5 * dt)
        self._rescale(system)  # R(Δ/2)
        system.time += dt

    def _rescale(self, system: System) -> None:
        kinetic = system.kinetic_energy()
        n_f = self.degrees_of_freedom(system)
        target = 0.5 * n_f * units.kB * self.temperature_K
        r1 = self.rng.standard_normal()
        s = 2.0 * self.rng.standard_gamma(0.5 * (n_f - 1)) if n_f > 1 else 0.0
        if kinetic <= 0.0:
            return  # nothing to scale: a system at rest stays at rest (velocities must be set first)
        c = self._c_half
        new = kinetic + (1.0 - c) * (target * (r1 * r1 + s) / n_f - kinetic) \
            + 2.0 * r1 * math.sqrt(c * (1.0 - c) * kinetic * target / n_f)
        alpha = math.sqrt(max(new, 0.0) / kinetic)
        if r1 + math.sqrt(c * n_f * kinetic / ((1.0 - c) * target)) < 0.0:
            alpha = -alpha
        system.velocities *= alpha
        self.energy_exchanged += (alpha * alpha - 1.0) * kinetic

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(rng=rng_state(self.rng), temperature_K=self.temperature_K, tau=self.tau,
                     degrees_of_freedom=self._n_f)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        set_rng_state(self.rng, state["rng"])
        n_f = state.get("degrees_of_freedom")  # absent in checkpoints written before it was cached
        self._n_f = None if n_f is None else int(n_f)
