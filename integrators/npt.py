"""NPT: a barostat applied around any thermostatted MD integrator (Langevin BAOAB, Bussi)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ase import units as ase_units

from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System

from .integrator_base import Integrator
from .md_base import ForceIntegrator

#: g/cm³ per amu/Å³.
G_CM3_PER_AMU_A3 = ase_units._amu * 1.0e3 * 1.0e24


class NPT(Integrator):
    """The isothermal-isobaric ensemble: ``inner`` (a thermostatted :class:`ForceIntegrator`) steps the
    atoms, and every ``barostat.interval`` steps ``barostat`` changes the cell.

    ``barostat`` is a :class:`~integrators.barostat_crescale.CRescaleBarostat` (stochastic cell rescaling,
    needs the stress: the wrapped integrator is asked for it on the step before each rescaling) or a
    :class:`~integrators.barostat_mc.MonteCarloBarostat` (volume moves, energies only). A cell change scales
    positions affinely (wrapped or unwrapped alike: an image stays the same image) and the cell rows; the
    forces (and stress) are then evaluated afresh at the new cell, one extra force evaluation per barostat
    period, so every step starts from exact forces. The provider's neighbor list sees the changed cell and
    rebuilds.

    Energy bookkeeping: ``energy_exchanged`` is the thermostat's heat plus the enthalpy each barostat move
    put in, ΔU + ΔK + P₀ΔV (exact, from the fresh evaluation), so ``conserved_energy`` =
    E_pot + E_kin + P₀V − energy_exchanged (the effective energy of Bernetti and Bussi) drifts only with the
    integration error of the MD steps.

    Extra log columns: ``volume_A3`` (Å³), ``density_g_cm3`` and the barostat's own (MC acceptance, step).
    """

    name = "NPT"

    def __init__(self, inner: ForceIntegrator, barostat):
        if not isinstance(inner, ForceIntegrator):
            raise InputError(f"NPT: the inner integrator must be an MD integrator (LangevinBAOAB, Bussi), got "
                             f"{type(inner).__name__}")
        temperature = getattr(inner, "temperature_K", None)
        if temperature is None:
            raise InputError(f"NPT: {type(inner).__name__} has no thermostat (NVE); NPT needs a temperature: "
                             "use LangevinBAOAB or Bussi (--integrator langevin or bussi)")
        constraints = getattr(inner, "constraints", None)
        if constraints is not None and (len(constraints.bonds) or len(constraints.fixed_atoms)):
            # Rigid-bond forces are not in the provider's stress (the pressure would be wrong), and scaling the
            # cell would move fixed atoms and stretch rigid bonds.
            raise InputError("NPT: the inner integrator holds rigid bonds or fixed atoms; NPT does not support "
                             "them yet (constraint forces are not in the virial). A fixed centre of mass is fine.")
        for member in ("interval", "bind", "state_dict", "load_state_dict", "needs_stress", "scales_velocities"):
            if not hasattr(barostat, member):
                raise TypeError(f"NPT: `barostat` {type(barostat).__name__} lacks `{member}`")
        self.inner = inner
        self.barostat = barostat
        self.temperature_K = float(temperature)
        self.timestep = inner.timestep
        self.provider = inner.provider
        self.want_stress = False
        barostat.bind(inner.timestep)
        self.barostat_work = 0.0  # eV: enthalpy the barostat moves put in
        self.n_steps = 0  # MD steps taken (the barostat acts when it is a multiple of its interval)
        self._volume = math.nan
        self._mass = math.nan
        self._recorded_cell = None

    # ------------------------------------------------------------ protocol
    @property
    def last_result(self) -> ForceResult | None:
        return self.inner.last_result

    @property
    def energy_exchanged(self) -> float:
        """Thermostat heat plus barostat enthalpy input, eV."""
        return float(self.inner.energy_exchanged) + self.barostat_work

    def conserved_energy(self, epot: float, ekin: float) -> float:
        """E_pot + E_kin + P₀V − energy_exchanged (eV): the effective energy."""
        return float(epot) + float(ekin) + self.barostat.pressure * self._volume - self.energy_exchanged

    def degrees_of_freedom(self, system: System) -> int:
        return self.inner.degrees_of_freedom(system)

    def thermo_fields(self) -> dict[str, float]:
        fields = {"volume_A3": self._volume, "density_g_cm3": self._mass / self._volume * G_CM3_PER_AMU_A3}
        fields.update(self.barostat.thermo_fields())
        fields.update(self.inner.thermo_fields())
        return fields

    def initialize(self, system: System) -> None:
        """Check the cell, then evaluate the initial forces (with stress when the barostat needs it)."""
        check_npt_system(system)
        self.inner.want_stress = self.want_stress or self.barostat.needs_stress
        self.inner.initialize(system)
        self.inner.want_stress = False
        self._check_stress(self.inner.last_result)
        self._record(system)

    def step(self, system: System) -> None:
        due = (self.n_steps + 1) % self.barostat.interval == 0
        self.inner.want_stress = self.want_stress or (due and self.barostat.needs_stress)
        try:
            self.inner.step(system)
        finally:
            self.inner.want_stress = False
        self.n_steps += 1
        if due:
            if self.barostat.scales_velocities:
                self._rescale(system)
            else:
                self._volume_move(system)
        self._record(system)

    # ------------------------------------------------------------ barostats
    def _rescale(self, system: System) -> None:
        """C-rescale: scale the cell, positions and velocities; book ΔU + ΔK + P₀ΔV."""
        before = self.inner.last_result
        self._check_stress(before)
        mu = self.barostat.scale_factors(system, before, self.temperature_K)
        energy_before, volume_before = before.energy + system.kinetic_energy(), system.volume
        scale_system(system, mu, velocities=True)
        after = self._evaluate(system)
        self.barostat_work += (after.energy + system.kinetic_energy() - energy_before
                               + self.barostat.pressure * (system.volume - volume_before))

    def _volume_move(self, system: System) -> None:
        """MC: trial volume, fresh energy, Metropolis; a rejection restores positions, cell and forces."""
        before = self.inner.last_result
        positions, cell, volume = system.positions.copy(), system.cell.copy(), system.volume
        mu = self.barostat.trial_factor(volume)
        scale_system(system, np.full(3, mu), velocities=False)
        after = self.inner.provider.compute(system, stress=self.want_stress)
        delta = after.energy - before.energy
        if self.barostat.accept(delta, volume, system.volume, system.n_atoms, self.temperature_K):
            self._set_result(after)
            self.barostat_work += delta + self.barostat.pressure * (system.volume - volume)
        else:
            system.positions[...] = positions
            system.cell = cell

    def _evaluate(self, system: System) -> ForceResult:
        result = self.inner.provider.compute(system, stress=self.want_stress)
        self._set_result(result)
        return result

    def _set_result(self, result: ForceResult) -> None:
        # ForceIntegrator caches the forces at the current positions in `_result` and reuses them for the
        # next step's first kick; after a cell change that cache must hold the fresh evaluation.
        self.inner._result = result

    def _check_stress(self, result: ForceResult | None) -> None:
        if self.barostat.needs_stress and (result is None or result.stress is None):
            raise InputError(f"NPT: the force provider {type(self.provider).__name__} returned no stress, which "
                             f"{type(self.barostat).__name__} needs; use a provider with stress or the Monte "
                             "Carlo barostat (--barostat mc)")

    def _record(self, system: System) -> None:
        if system.cell is not self._recorded_cell:  # scale_system assigns a new cell array on every change
            self._recorded_cell = system.cell
            self._volume = system.volume
            self._mass = float(system.masses.sum())

    # ---------------------------------------------------------- checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {"kind": "NPT", "timestep": self.timestep, "inner": self.inner.state_dict(),
                "barostat": self.barostat.state_dict(), "n_steps": self.n_steps,
                "barostat_work": self.barostat_work, "volume": self._volume, "mass": self._mass}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "NPT":
            raise ValueError(f"checkpoint holds a {state.get('kind')!r} state, not 'NPT'")
        self.inner.load_state_dict(state["inner"])
        self.barostat.load_state_dict(state["barostat"])
        self.n_steps = int(state["n_steps"])
        self.barostat_work = float(state["barostat_work"])
        self._volume, self._mass = float(state["volume"]), float(state["mass"])


def check_npt_system(system: System) -> None:
    """Refuse a cell NPT cannot change: every axis periodic, with a volume."""
    if not system.pbc.all() or system.volume <= 0.0:
        raise InputError(f"NPT needs a fully periodic cell with a volume; got pbc={system.pbc.tolist()} and "
                         f"volume {system.volume:.4g} Å³")


def scale_system(system: System, mu: np.ndarray, velocities: bool) -> None:
    """Scale Cartesian axis a of the positions and of every cell row by ``mu[a]`` [3]; velocities by
    1/mu[a] when ``velocities``. Affine, so wrapped and unwrapped positions keep their images."""
    mu = np.asarray(mu, dtype=np.float64).reshape(3)
    system.positions *= mu
    system.cell = system.cell * mu  # a new array: caches compare against their own copies
    if velocities:
        system.velocities /= mu
