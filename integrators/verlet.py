"""Velocity Verlet (NVE)."""

from __future__ import annotations

from systems.state import System

from .md_base import ForceIntegrator


class VelocityVerlet(ForceIntegrator):
    """Velocity Verlet: B(Δ/2) A(Δ) B(Δ/2), one force evaluation per step.

    ``VelocityVerlet(provider, timestep)`` with ``timestep`` in ASE time units,
    or ``VelocityVerlet(provider, timestep_fs=2.0)``. Same update as
    ``ase.md.VelocityVerlet``. With ``constraints`` it is RATTLE (Andersen
    1983): SHAKE after the drift, the velocity projection after each kick.
    """

    name = "VelocityVerlet"

    def step(self, system: System) -> None:
        dt = self.timestep
        self._kick_drift(system, self._forces(system), 0.5 * dt, dt)  # B(Δ/2) A(Δ)
        self._kick(system, self._evaluate(system), 0.5 * dt)  # B(Δ/2)
        system.time += dt
