"""What a reporter asks for and what it is given (OpenMM's reporter idea).

A reporter says, from the current step, how many steps remain until its next
report and which fields it needs. The driver steps exactly that far, computes
the union of the requested fields once, and hands the same :class:`Snapshot`
to every reporter that is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System

if TYPE_CHECKING:  # pragma: no cover
    from ..simulation import Simulation

#: Fields a reporter may request. Positions and velocities are always current in ``snapshot.system``.
FIELDS = frozenset({"positions", "velocities", "energy", "forces", "stress"})


class ReportRequest(NamedTuple):
    """``steps`` (≥ 1) until the next report, and the ``fields`` (subset of :data:`FIELDS`) it needs."""

    steps: int
    fields: frozenset


@dataclass
class Snapshot:
    """The state handed to reporters at one report step.

    step : int; time : float, ASE time units; system : the live System (read only!).
    result : ForceResult with at least the requested fields (energy eV, forces
        [n,3] eV/Å, stress [3,3] eV/Å³), or None if no reporter asked for them.
    kinetic_energy : eV; temperature_K : K (the integrator's degrees of freedom).
    conserved_energy : eV, E_pot + E_kin − thermostat energy (nan if undefined or no energy).
    pressure_GPa : GPa, or None without stress.
    extra : integrator-specific log columns (e.g. MC acceptance), names carry units.
    """

    step: int
    time: float
    system: System
    result: ForceResult | None
    kinetic_energy: float
    temperature_K: float
    conserved_energy: float
    pressure_GPa: float | None
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Reporter(Protocol):
    """Anything the driver can report to. Also a context manager that closes its files."""

    #: Report the starting state (step 0) when a run begins from scratch.
    report_initial: bool

    def describe_next_report(self, step: int) -> ReportRequest: ...

    def report(self, simulation: "Simulation", snapshot: Snapshot) -> None: ...

    def resume(self, simulation: "Simulation") -> str | None:
        """Called by :meth:`Simulation.from_checkpoint` before any report: drop what this reporter wrote
        after the checkpoint's step (``simulation.step``, ``simulation.time``); returns a note for the user
        (what was kept and dropped) or None."""

    def close(self) -> None: ...


class IntervalReporter:
    """Base of reporters that fire every ``interval`` steps (at steps divisible by it)."""

    fields: frozenset = frozenset()
    report_initial = True

    def __init__(self, interval: int):
        if int(interval) != interval or interval < 1:
            raise InputError(f"{type(self).__name__}: `interval` must be a positive whole number of steps, "
                             f"got {interval!r}")
        self.interval = int(interval)
        self.closed = False

    def describe_next_report(self, step: int) -> ReportRequest:
        return ReportRequest(self.interval - step % self.interval, self.fields)

    def report(self, simulation, snapshot: Snapshot) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def resume(self, simulation) -> str | None:
        """Nothing to cut back by default (see :meth:`Reporter.resume`)."""
        return None

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
