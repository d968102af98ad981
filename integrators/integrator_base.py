"""The Integrator base class: what the driver may ask of any integrator, with defaults.

Every integrator (velocity Verlet, Langevin, Bussi, Monte Carlo, the learned
large-stride operators) inherits :class:`Integrator`. The four required methods
are abstract; every optional member is declared here with its default, so the
driver reads them as plain attributes and never looks a name up with
``getattr``: a misspelt member is an ``AttributeError`` (or, in a subclass, a
``TypeError`` when the class is defined), not a silently wrong conserved energy.
"""

from __future__ import annotations

import abc
import difflib
from typing import Any

from systems.forces import ForceResult
from systems.state import System, degrees_of_freedom

#: Members every integrator must have (``timestep`` is an attribute, the rest methods).
REQUIRED_MEMBERS = ("timestep", "initialize", "step", "state_dict", "load_state_dict", "last_result")
#: Members with a default in :class:`Integrator` that an integrator may override.
OPTIONAL_MEMBERS = ("provider", "want_stress", "energy_exchanged", "conserved_energy", "degrees_of_freedom",
                    "thermo_fields")
_NEAR_MISS_CUTOFF = 0.85


class Integrator(abc.ABC):
    """Advances a System in place, one ``step()`` at a time.

    Required
    --------
    timestep : float, ASE time units
        The simulated time one ``step()`` covers: Δ for velocity Verlet, the
        whole stride Δ_R for a learned operator, 0 for Monte Carlo.
    initialize(system)
        Called once before the first step (initial forces, a warm-up window).
    step(system)
        Advance ``system`` (positions, velocities, time) by one step.
    state_dict() / load_state_dict(state)
        Everything a checkpoint needs (RNG state, cached forces, a window of
        past states) so that a resumed run continues bit for bit.

    Optional, with their defaults
    -----------------------------
    last_result : ForceResult or None (None)
        The ForceResult at the current state when the integrator knows it, so
        reporters need no extra evaluation. ``forces`` may be None when only
        the energy is known (Monte Carlo).
    provider : ForceProvider or None (None)
        For fields the integrator cannot supply, and for the neighbor-list
        state stored in checkpoints.
    want_stress : bool (False)
        The driver sets it before a step whose end state is reported with
        stress, so that step's own force evaluation includes it.
    energy_exchanged : float, eV (0.0)
        Energy a thermostat has put into the system so far.
    conserved_energy(epot, ekin) -> float, eV
        E_pot + E_kin − ``energy_exchanged``; nan where nothing is conserved.
    degrees_of_freedom(system) -> int
        Of the kinetic energy, for the reported temperature: 3N − 3 (centre of
        mass fixed), from :func:`systems.state.degrees_of_freedom`.
    thermo_fields() -> dict[str, float]
        Extra log columns, names carrying their units ({}).
    """

    timestep: float
    last_result: ForceResult | None = None
    provider = None
    want_stress: bool = False
    energy_exchanged: float = 0.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        misses = near_misses(name for name in vars(cls) if not name.startswith("_"))
        if misses:
            raise TypeError(f"integrator {cls.__name__} defines {_describe(misses)}: a misspelt member of "
                            "integrators.Integrator would silently keep the default")

    @abc.abstractmethod
    def initialize(self, system: System) -> None:
        """Prepare for the first step (e.g. evaluate the initial forces)."""

    @abc.abstractmethod
    def step(self, system: System) -> None:
        """Advance ``system`` in place by ``timestep``."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything a bit-for-bit restart needs."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the integrator then steps on without ``initialize``."""

    def conserved_energy(self, epot: float, ekin: float) -> float:
        """E_pot + E_kin − energy_exchanged (eV) from the potential and kinetic energies (eV)."""
        return float(epot) + float(ekin) - float(self.energy_exchanged)

    def degrees_of_freedom(self, system: System) -> int:
        """Degrees of freedom of the kinetic energy: 3N − 3 (the centre of mass is taken as fixed)."""
        return degrees_of_freedom(system.n_atoms, com_fixed=True)

    def thermo_fields(self) -> dict[str, float]:
        """Extra thermodynamic-log columns (names carry units); none by default."""
        return {}


def missing_members(obj) -> list[str]:
    """The names of :data:`REQUIRED_MEMBERS` that ``obj`` lacks."""
    return [name for name in REQUIRED_MEMBERS if not hasattr(obj, name)]


def near_misses(names) -> list[tuple[str, str]]:
    """``(name, member)`` for every name that is not a member of Integrator but nearly spells one."""
    members = REQUIRED_MEMBERS + OPTIONAL_MEMBERS
    out = []
    for name in names:
        if name in members:
            continue
        close = difflib.get_close_matches(name, members, n=1, cutoff=_NEAR_MISS_CUTOFF)
        if close:
            out.append((name, close[0]))
    return out


def check_integrator(integrator) -> None:
    """Raise ``TypeError`` unless ``integrator`` is a complete :class:`Integrator`.

    Names the missing required members, and any instance attribute that nearly
    spells an optional member (``energy_exchnaged``).
    """
    name = type(integrator).__name__
    missing = missing_members(integrator)
    if not isinstance(integrator, Integrator):
        lacking = f"; it also lacks {', '.join(f'`{m}`' for m in missing)}" if missing else ""
        raise TypeError(f"`integrator` {name} is not an integrators.Integrator: subclass it, which declares "
                        f"the optional members {', '.join(OPTIONAL_MEMBERS)} with their defaults{lacking}")
    if missing:
        raise TypeError(f"`integrator` {name} lacks {', '.join(f'`{m}`' for m in missing)} of integrators.Integrator")
    misses = near_misses(name for name in vars(integrator) if not name.startswith("_"))
    if misses:
        raise TypeError(f"`integrator` {name} has {_describe(misses)}: a misspelt member of integrators.Integrator "
                        "would silently keep the default")


def _describe(misses) -> str:
    return ", ".join(f"`{name}` (did you mean `{member}`?)" for name, member in misses)
