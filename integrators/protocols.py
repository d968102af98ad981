"""The two small protocols through which anything plugs into the driver.

A classical potential, any ASE calculator (through an adapter), an EGNN model,
or a learned large-stride operator: the driver sees only these.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from systems.forces import ForceResult
from systems.state import System


@runtime_checkable
class ForceProvider(Protocol):
    """Anything that returns energy and forces (and stress on request) for a System.

    ``compute(system, stress=False) -> ForceResult`` with energy in eV, forces
    [n_atoms, 3] in eV/Å and stress [3, 3] in eV/Å³ (ASE sign convention). The
    provider owns its neighbor list and reuses it through its skin.
    """

    def compute(self, system: System, stress: bool = False) -> ForceResult: ...


@runtime_checkable
class Integrator(Protocol):
    """Advances a System in place, one ``step()`` at a time.

    ``timestep`` is the simulated time one ``step()`` covers, in ASE time
    units. A velocity-Verlet step covers Δ; a learned operator's step covers
    its whole stride Δ_R. ``initialize`` is called once before the first step
    (to evaluate initial forces, or to build a warm-up window); ``state_dict``
    and ``load_state_dict`` carry everything a checkpoint needs (RNG state,
    cached forces, a window of past states) so a resumed run continues bit for
    bit. ``last_result`` is the ForceResult at the current state when the
    integrator knows it (else None), so reporters need no extra evaluation.

    Optional members the driver uses when present (none is required):

    - ``provider``: the ForceProvider, for fields the integrator cannot supply
      and for the neighbor-list state stored in checkpoints;
    - ``want_stress`` (bool attribute): the driver sets it before a step whose
      end state is reported with stress, so that step's own evaluation includes it;
    - ``energy_exchanged`` (eV): energy a thermostat has put in, so
      E_pot + E_kin − energy_exchanged is the conserved quantity; or
      ``conserved_energy(epot, ekin) -> float`` to define it otherwise (nan if none);
    - ``degrees_of_freedom(system) -> int`` for the reported temperature
      (default 3N − 3);
    - ``thermo_fields() -> dict`` of extra log columns whose names carry units.

    ``last_result.forces`` may be None when only the energy is known (Monte
    Carlo); the driver then evaluates forces for reporters that need them.
    """

    timestep: float

    def initialize(self, system: System) -> None: ...

    def step(self, system: System) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    @property
    def last_result(self) -> ForceResult | None: ...
