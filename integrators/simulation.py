"""The driver: steps an integrator, feeds reporters, guards against runaways, checkpoints."""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path

import numpy as np

from systems import units
from systems.errors import CloseContactError, InputError
from systems.forces import NonFiniteError
from systems.state import System

from ._common import close_all
from .checkpoint import load_checkpoint, save_checkpoint
from .integrator_base import Integrator, check_integrator
from .provider_state import load_provider_state, provider_state_dict
from .reporters.base import FIELDS, Snapshot
from .runaway import RunawayError, RunawayGuard


class Simulation:
    """Run ``integrator`` on ``system`` with reporters, in the OpenMM manner.

    Each reporter says how many steps remain until its next report and which
    fields it needs (positions, velocities, energy, forces, stress). The driver
    steps exactly to the nearest report, computes the union of the requested
    fields once (energy and forces come from the integrator's own last force
    evaluation; stress is requested from that same evaluation), and hands one
    :class:`Snapshot` to every reporter that is due. The runaway guard checks
    the state before any reporter sees it.

    Parameters
    ----------
    system : System, advanced in place.
    integrator : :class:`~integrators.integrator_base.Integrator` (a subclass; anything else is a TypeError
        naming what it lacks).
    reporters : sequence of reporters (closed by :meth:`close` / ``with``).
    runaway : RunawayGuard or None.
    provider : the force provider for fields the integrator cannot supply
        (default ``integrator.provider``).
    report_initial : report the starting state (step 0) to reporters that want it.
    """

    def __init__(self, system: System, integrator: Integrator, reporters=(), *, runaway: RunawayGuard | None = None,
                 provider=None, report_initial: bool = True):
        if not isinstance(system, System):
            raise TypeError(f"`system` must be a systems.System, got {type(system).__name__}")
        check_integrator(integrator)
        self.system = system
        self.integrator = integrator
        self.reporters = list(reporters)
        for r in self.reporters:
            if not callable(getattr(r, "describe_next_report", None)) or not callable(getattr(r, "report", None)):
                raise TypeError(f"reporter {type(r).__name__} lacks describe_next_report(step) or "
                                "report(simulation, snapshot)")
        self.runaway = runaway
        self.provider = provider if provider is not None else integrator.provider
        self.step = 0
        self._initialized = False
        self._reported_initial = not report_initial

    # ------------------------------------------------------------------ run
    @property
    def time(self) -> float:
        """Simulated time of the current state, ASE time units."""
        return self.system.time

    def run(self, n_steps: int) -> None:
        """Advance ``n_steps`` integrator steps (MC: sweeps)."""
        if int(n_steps) != n_steps or n_steps < 0:
            raise InputError(f"`n_steps` must be a non-negative whole number, got {n_steps!r}")
        initial = [] if self._reported_initial else [r for r in self.reporters if getattr(r, "report_initial", True)]
        initial_fields = self._fields(initial)
        if not self._initialized:
            # the first evaluation also yields the stress if the initial report wants it
            with self._stress_request("stress" in initial_fields):
                self.integrator.initialize(self.system)
            self._initialized = True
        if not self._reported_initial:
            self._reported_initial = True
            self._report(initial, initial_fields, guard=True)
        end = self.step + int(n_steps)
        while self.step < end:
            requests = [(r, r.describe_next_report(self.step)) for r in self.reporters]
            n = end - self.step
            for r, req in requests:
                if int(req.steps) < 1:
                    raise ValueError(f"reporter {type(r).__name__} asked for a report in {req.steps} steps; "
                                     "must be at least 1")
                n = min(n, int(req.steps))
            if self.runaway is not None:
                n = min(n, self.runaway.interval - self.step % self.runaway.interval)
            due = [r for r, req in requests if int(req.steps) == n]
            fields = frozenset().union(*(req.fields for r, req in requests if int(req.steps) == n))
            self._advance(n, want_stress="stress" in fields)
            guard_due = self.runaway is not None and self.step % self.runaway.interval == 0
            if due or guard_due:
                self._report(due, fields, guard=guard_due or bool(due))

    def run_for(self, time: float | None = None, *, time_ps: float | None = None, time_fs: float | None = None) -> int:
        """Advance by a simulated time (ASE units, or ``time_ps`` / ``time_fs``); returns the steps taken."""
        given = [t for t in (time, time_ps, time_fs) if t is not None]
        if len(given) != 1:
            raise InputError("run_for: give exactly one of `time` (ASE units), `time_ps` or `time_fs`")
        span = time if time is not None else (time_ps * units.ps if time_ps is not None else time_fs * units.fs)
        dt = float(self.integrator.timestep)
        if dt <= 0:
            raise InputError(f"run_for: {type(self.integrator).__name__} has no timestep (Monte Carlo); "
                             "use run(n_steps)")
        if not np.isfinite(span) or span < 0:
            raise InputError(f"run_for: the time must be non-negative and finite, got {span!r}")
        n = int(round(span / dt))
        self.run(n)
        return n

    def _advance(self, n: int, want_stress: bool) -> None:
        integrator, system = self.integrator, self.system
        try:
            for _ in range(n - 1):
                integrator.step(system)
                self.step += 1
            with self._stress_request(want_stress):  # the reported state's evaluation includes the stress
                integrator.step(system)
            self.step += 1
        except (CloseContactError, FloatingPointError) as err:
            # Mid-run these mean the dynamics blew up (overlapping atoms, a learned operator's unstable stride).
            raise RunawayError(f"runaway at step {self.step + 1}: {err}", self.step + 1,
                               getattr(err, "atoms", ())) from err
        except InputError as err:
            # A provider refuses non-finite positions with an InputError: that is a blow-up. Any other
            # InputError is a configuration error and propagates as itself.
            bad = self._non_finite_atoms()
            if len(bad) == 0:
                raise
            raise RunawayError(f"runaway at step {self.step + 1}: {err}", self.step + 1, bad[:10]) from err

    def _non_finite_atoms(self) -> np.ndarray:
        """Indices of atoms whose position or velocity is not finite."""
        state = np.concatenate([self.system.positions, self.system.velocities], axis=1)  # [n, 6]
        return np.flatnonzero(~np.isfinite(state).all(axis=1))

    @contextlib.contextmanager
    def _stress_request(self, wanted: bool):
        """Set ``integrator.want_stress`` for the duration, when the cell has a stress."""
        if not (wanted and self._stress_defined()):
            yield
            return
        self.integrator.want_stress = True
        try:
            yield
        finally:
            self.integrator.want_stress = False

    # -------------------------------------------------------------- reports
    @staticmethod
    def _fields(reporters) -> frozenset:
        return frozenset().union(*(r.describe_next_report(0).fields for r in reporters)) if reporters else frozenset()

    def _stress_defined(self) -> bool:
        """Stress (and pressure) exist only for a fully periodic cell with volume."""
        return bool(self.system.pbc.all() and self.system.volume > 0)

    def snapshot(self, fields=frozenset()) -> Snapshot:
        """The current state with ``fields`` (subset of :data:`~integrators.reporters.base.FIELDS`) computed once."""
        unknown = set(fields) - FIELDS
        if unknown:
            raise InputError(f"unknown report fields {sorted(unknown)}; known: {sorted(FIELDS)}")
        system = self.system
        result = self.integrator.last_result
        stress = "stress" in fields and self._stress_defined()
        needs_eval = bool({"energy", "forces", "stress"} & set(fields)) and (
            result is None or ("forces" in fields and result.forces is None)
            or (stress and result.stress is None))
        if needs_eval:
            if self.provider is None:
                raise InputError("reporters need energies/forces but the simulation has no force provider")
            result = self.provider.compute(system, stress=stress)
        kinetic = system.kinetic_energy()
        temperature = 2.0 * kinetic / (int(self.integrator.degrees_of_freedom(system)) * units.kB)
        pressure = None
        if result is not None and result.stress is not None and system.volume > 0:
            virial_pressure = -np.trace(result.stress) / 3.0
            pressure = (2.0 * kinetic / (3.0 * system.volume) + virial_pressure) / units.GPa
        conserved = math.nan if result is None else float(self.integrator.conserved_energy(result.energy, kinetic))
        extra = dict(self.integrator.thermo_fields())
        return Snapshot(self.step, system.time, system, result, kinetic, temperature, conserved, pressure, extra)

    def _report(self, due, fields, guard: bool) -> None:
        try:
            snap = self.snapshot(fields)
        except (CloseContactError, NonFiniteError) as err:
            # The state the integrator produced cannot even be evaluated (e.g. a learned
            # operator that left its training distribution): the same runaway as mid-step.
            raise RunawayError(f"runaway at step {self.step}: {err}", self.step, getattr(err, "atoms", ())) from err
        if guard and self.runaway is not None:
            self.runaway.check(self.system, self.step, snap.temperature_K, snap.result)
        for r in due:
            r.report(self, snap)

    # ----------------------------------------------------------- checkpoints
    def save_checkpoint(self, path) -> Path:
        """Atomically write the full state (system, step, integrator and provider state) to ``path``."""
        return save_checkpoint(path, self.system, self.step, self.integrator.state_dict(),
                               provider_state_dict(self.provider) if self.provider is not None else None)

    @classmethod
    def from_checkpoint(cls, path, integrator: Integrator, reporters=(), *, runaway: RunawayGuard | None = None,
                        provider=None) -> "Simulation":
        """Resume from ``path`` with a freshly built ``integrator`` (same kind and settings).

        Restores the system, step, integrator state (RNG, cached forces) and the
        provider's neighbor-list reference, so the run continues bit for bit.
        Each reporter's ``resume`` then cuts its files back to the checkpoint's
        step (frames and rows a killed run wrote after it); its note goes to stderr.
        """
        checkpoint = load_checkpoint(path)
        sim = cls(checkpoint.system, integrator, reporters, runaway=runaway, provider=provider, report_initial=False)
        integrator.load_state_dict(checkpoint.integrator_state)
        if sim.provider is not None:
            load_provider_state(sim.provider, checkpoint.provider_state)
        sim.step = checkpoint.step
        sim._initialized = True
        for r in sim.reporters:
            note = r.resume(sim) if callable(getattr(r, "resume", None)) else None
            if note:
                print(f"resuming at step {sim.step}: {note}", file=sys.stderr)
        return sim

    # ------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close every reporter (files flushed and closed)."""
        close_all(self.reporters)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
