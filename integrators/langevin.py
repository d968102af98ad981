"""Langevin dynamics with the BAOAB splitting (NVT)."""

from __future__ import annotations

from typing import Any

import numpy as np

from systems import units
from systems.errors import InputError
from systems.state import System, degrees_of_freedom

from ._common import make_rng, positive, rng_state, set_rng_state
from .md_base import ForceIntegrator
from .protocols import ForceProvider


class LangevinBAOAB(ForceIntegrator):
    """Langevin dynamics, BAOAB splitting of Leimkuhler and Matthews.

    B. Leimkuhler and C. Matthews, "Rational construction of stochastic
    numerical methods for molecular sampling", Appl. Math. Res. Express 2013,
    34–56 (doi:10.1093/amrx/abs010). One step is

        B(Δ/2)  A(Δ/2)  O(Δ)  A(Δ/2)  B(Δ/2)

    with B: v += (Δ/2) F/m, A: x += (Δ/2) v, and O the exact
    Ornstein–Uhlenbeck solution v ← c₁ v + √((1 − c₁²) k_B T / m) ξ,
    c₁ = exp(−γΔ), ξ ~ N(0, 1). BAOAB samples configurations with O(Δ²) error
    that is unusually small (exact for harmonic potentials).

    Parameters
    ----------
    provider : ForceProvider
    timestep : float, ASE time units (or ``timestep_fs`` in fs)
    temperature_K : float, K
    friction : float, 1 / ASE time unit (or ``friction_per_fs`` in 1/fs)
    seed : int or np.random.Generator
        Source of every random number; its state is in :meth:`state_dict`.
    constraints : integrators.constraints.Constraints or None
        Projected after every B, A and O move (the O step's noise too), so a
        constrained run samples the constrained canonical ensemble.

    The kinetic energy the O step adds or removes accumulates in
    ``energy_exchanged`` (eV), so ``E_tot − energy_exchanged`` is conserved up
    to the integration error. The noise also thermalises the centre of mass,
    so the kinetic energy has 3N degrees of freedom.
    """

    name = "LangevinBAOAB"

    def __init__(self, provider: ForceProvider, timestep: float | None = None, *, temperature_K: float,
                 friction: float | None = None, friction_per_fs: float | None = None, seed=None,
                 timestep_fs: float | None = None, constraints=None):
        super().__init__(provider, timestep, timestep_fs=timestep_fs, constraints=constraints)
        if (friction is None) == (friction_per_fs is None):
            raise InputError(f"{self.name}: give exactly one of `friction` (1/ASE time) or `friction_per_fs` (1/fs)")
        gamma = friction if friction is not None else float(friction_per_fs) / units.fs
        self.friction = positive(gamma, "friction" if friction is not None else "friction_per_fs", self.name)
        self.temperature_K = positive(temperature_K, "temperature_K", self.name)
        self.rng = make_rng(seed)
        self._c1 = float(np.exp(-self.friction * self.timestep))
        self._c2 = float(np.sqrt(1.0 - self._c1 * self._c1))

    def degrees_of_freedom(self, system: System) -> int:
        """3N: the noise thermalises the centre of mass too; less the constraints (a fixed centre of mass 3)."""
        if self.constraints is not None:
            return self.constraints.degrees_of_freedom(system, com_at_rest=False)
        return degrees_of_freedom(system.n_atoms, com_fixed=False)

    def step(self, system: System) -> None:
        dt = self.timestep
        self._kick_drift(system, self._forces(system), 0.5 * dt, 0.5 * dt)  # B A
        self._thermostat(system)  # O
        self._drift(system, 0.5 * dt)  # A
        self._kick(system, self._evaluate(system), 0.5 * dt)  # B
        system.time += dt

    def _thermostat(self, system: System) -> None:
        """O: exact Ornstein–Uhlenbeck step over Δ; books the kinetic-energy change as heat."""
        before = system.kinetic_energy()
        sigma = np.sqrt(units.kB * self.temperature_K / system.masses)[:, None]  # [n, 1] Å/time
        noise = self.rng.standard_normal(system.velocities.shape)  # [n, 3]
        system.velocities *= self._c1
        system.velocities += (self._c2 * sigma) * noise
        if self.constraints is not None:
            self.constraints.project_velocities(system)  # the noise along a constraint is removed before it is heat
        self.energy_exchanged += system.kinetic_energy() - before

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(rng=rng_state(self.rng), temperature_K=self.temperature_K, friction=self.friction)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        set_rng_state(self.rng, state["rng"])
