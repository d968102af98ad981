"""What every force-driven MD integrator shares: a provider, a timestep, cached forces.

Subclasses write their splitting in ``step`` with the two moves below; the cached
:class:`~systems.forces.ForceResult` at the current positions is reused by the
next step and by reporters, so each step costs exactly one force evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from systems.forces import ForceResult
from systems.state import System, degrees_of_freedom

from ._common import resolve_timestep, result_from_dict, result_to_dict
from .integrator_base import Integrator
from .md_kernels import drift, kick, kick_drift
from .protocols import ForceProvider


class ForceIntegrator(Integrator):
    """Base of the MD integrators (not used directly).

    Parameters
    ----------
    provider : ForceProvider
        ``compute(system, stress=False) -> ForceResult`` (eV, eV/Å, eV/Å³).
    timestep : float, ASE time units (or ``timestep_fs`` in fs)
    constraints : integrators.constraints.Constraints or None
        Fixed atoms, fixed centre of mass, rigid bonds (RATTLE). None (the
        default) leaves every move exactly as without constraints.

    Attributes
    ----------
    want_stress : bool
        Set by the driver before a step whose end state is reported with stress,
        so the stress comes from the step's own force evaluation.
    energy_exchanged : float, eV
        Energy the thermostat has put into the system so far (0 for NVE);
        ``E_pot + E_kin − energy_exchanged`` is the conserved quantity.
    """

    name = "integrator"

    def __init__(self, provider: ForceProvider, timestep: float | None = None, *, timestep_fs: float | None = None,
                 constraints=None):
        if not callable(getattr(provider, "compute", None)):
            raise TypeError(f"{self.name}: `provider` must have compute(system, stress=False), "
                            f"got {type(provider).__name__}")
        self.provider = provider
        self.timestep = resolve_timestep(timestep, timestep_fs, self.name)
        self.want_stress = False
        self.energy_exchanged = 0.0
        self._result: ForceResult | None = None
        if constraints is not None and not callable(getattr(constraints, "project_velocities", None)):
            raise TypeError(f"{self.name}: `constraints` must be an integrators.constraints.Constraints, "
                            f"got {type(constraints).__name__}")
        self.constraints = constraints

    # ------------------------------------------------------------- protocol
    @property
    def last_result(self) -> ForceResult | None:
        """ForceResult at the current positions (None before ``initialize``)."""
        return self._result

    def initialize(self, system: System) -> None:
        """Evaluate the forces at the starting positions (after making them meet the constraints, if any)."""
        if self.constraints is not None:
            self.constraints.apply_to_start(system)
        self._result = self.provider.compute(system, stress=self.want_stress)

    def degrees_of_freedom(self, system: System) -> int:
        """Degrees of freedom of the kinetic energy.

        3N − 3 when the centre of mass is at rest (Maxwell–Boltzmann start; Verlet
        and velocity rescaling keep it so), else 3N; less the constraints' count
        (:meth:`Constraints.degrees_of_freedom`).
        """
        if self.constraints is not None:
            return self.constraints.degrees_of_freedom(system, com_at_rest=system.centre_of_mass_at_rest())
        return degrees_of_freedom(system.n_atoms, com_fixed=system.centre_of_mass_at_rest())

    def state_dict(self) -> dict[str, Any]:
        """Cached forces and energy exchange: what a bit-for-bit restart needs."""
        state = {"kind": type(self).__name__, "timestep": self.timestep, "energy_exchanged": self.energy_exchanged,
                 "result": result_to_dict(self._result)}
        if self.constraints is not None:  # absent without constraints: those checkpoints stay as they were
            state["constraints"] = self.constraints.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the integrator is then ready to ``step`` without ``initialize``."""
        if state.get("kind") != type(self).__name__:
            raise ValueError(f"checkpoint holds a {state.get('kind')!r} state, not {type(self).__name__!r}")
        if float(state["timestep"]) != self.timestep:
            raise ValueError(f"{self.name}: checkpoint timestep {state['timestep']!r} differs from {self.timestep!r} "
                             "(ASE time units); a restart must use the same timestep")
        saved = state.get("constraints")
        if (saved is None) != (self.constraints is None):
            raise ValueError(f"{self.name}: the checkpoint was written {'with' if saved is not None else 'without'} "
                             f"constraints, this integrator has {'none' if self.constraints is None else 'some'}; "
                             "resume with the same constraints")
        if saved is not None:
            self.constraints.load_state_dict(saved)
        self.energy_exchanged = float(state["energy_exchanged"])
        self._result = result_from_dict(state["result"])

    # ----------------------------------------------------------------- moves
    def _forces(self, system: System) -> np.ndarray:
        if self._result is None:
            self.initialize(system)
        return self._result.forces

    def _kick(self, system: System, forces: np.ndarray, dt: float) -> None:
        """B: v ← v + dt·F/m (then RATTLE and the other velocity constraints)."""
        kick(system.velocities, forces, system.masses, dt)
        if self.constraints is not None:
            self.constraints.project_velocities(system)

    def _drift(self, system: System, dt: float) -> None:
        """A: x ← x + dt·v (time advances with the full step elsewhere); then SHAKE with constraints."""
        if self.constraints is None:
            drift(system.positions, system.velocities, dt)
            return
        reference = system.positions.copy()
        drift(system.positions, system.velocities, dt)
        self.constraints.after_drift(system, reference, dt)

    def _kick_drift(self, system: System, forces: np.ndarray, kick_dt: float, drift_dt: float) -> None:
        """B(kick_dt) then A(drift_dt) in one pass over the atoms (two, projected, with constraints)."""
        if self.constraints is not None:
            self._kick(system, forces, kick_dt)
            self._drift(system, drift_dt)
            return
        kick_drift(system.positions, system.velocities, forces, system.masses, kick_dt, drift_dt)

    def _evaluate(self, system: System) -> np.ndarray:
        """New forces at the current positions (stress too when the driver asked)."""
        self._result = self.provider.compute(system, stress=self.want_stress)
        return self._result.forces
