"""B independent simulations advanced together, with one batched force call per step.

Each replica is an ordinary :class:`~integrators.simulation.Simulation` (its
own System, integrator, seed, reporters, runaway guard and checkpoint); its
integrator's force provider is the replica's
:class:`~integrators.lockstep.ReplicaProvider`, so every step's force
evaluations of all replicas become one ``compute_batch`` call of the batch
provider (see :mod:`integrators.lockstep`). A replica therefore computes
exactly what the same Simulation computes unbatched with the same seed:
bit for bit when the batch provider gives each system the same numbers as the
single provider (:class:`~integrators.provider_loop.ProviderLoop`), to float
rounding when a model sums the batch in another order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from systems.errors import InputError

from ._common import close_all
from .lockstep import Lockstep, ReplicaError
from .simulation import Simulation

__all__ = ["BatchedSimulation", "ReplicaError"]


def _per_replica(value, i: int, default):
    """``value(i)`` for a callable, ``value[i]`` for a sequence, ``default`` for None."""
    if value is None:
        return default
    if callable(value):
        return value(i)
    return value[i]


class BatchedSimulation:
    """Run B replicas in lock step: one batched force evaluation per step for all of them.

    Parameters
    ----------
    systems : sequence of System (sizes may differ), advanced in place.
    integrators : callable ``(i, provider) -> Integrator``: replica i's integrator built around
        ``provider`` (its :class:`~integrators.lockstep.ReplicaProvider`), e.g.
        ``lambda i, p: LangevinBAOAB(p, timestep_fs=2, temperature_K=300, friction_per_fs=0.01, seed=seed + i)``.
    batch_provider : :class:`~integrators.protocols.BatchForceProvider` (e.g.
        :class:`~integrators.provider_loop.ProviderLoop`, the batched EGNN provider, an autobatcher).
    reporters : per replica: a callable ``i -> list of reporters`` or a sequence of lists (None: none).
    runaway : per replica: a callable ``i -> RunawayGuard or None`` or a sequence (None: no guard).
    report_initial : as for Simulation.

    ``simulations[i]`` is replica i's Simulation (its ``system``, ``step``, ``integrator``).
    A replica that fails (e.g. a :class:`~integrators.runaway.RunawayError`) does not stop the others;
    :meth:`run` then raises :class:`~integrators.lockstep.ReplicaError` naming every failed replica.
    """

    def __init__(self, systems: Sequence, integrators: Callable, batch_provider, reporters=None, *, runaway=None,
                 report_initial: bool = True, _simulations: Sequence[Simulation] | None = None,
                 _lockstep: Lockstep | None = None):
        self.lockstep = _lockstep if _lockstep is not None else Lockstep(batch_provider)
        if _simulations is not None:
            self.simulations = list(_simulations)
            return
        if not callable(integrators):
            raise TypeError("`integrators` must be a callable (i, provider) -> Integrator, so that each replica's "
                            "integrator is built around its own replica provider")
        if len(systems) == 0:
            raise InputError("BatchedSimulation needs at least one system")
        self.simulations = []
        for i, system in enumerate(systems):
            provider = self.lockstep.provider(i)
            integrator = integrators(i, provider)
            if integrator.provider is not provider:
                raise InputError(f"replica {i}: its integrator must use the replica provider it was given, "
                                 "or its forces would not be batched")
            self.simulations.append(Simulation(system, integrator, _per_replica(reporters, i, ()),
                                               runaway=_per_replica(runaway, i, None), report_initial=report_initial))

    @classmethod
    def from_checkpoints(cls, paths: Sequence, integrators: Callable, batch_provider, reporters=None, *,
                         runaway=None) -> "BatchedSimulation":
        """Resume every replica from its own checkpoint (``paths[i]``, written by :meth:`save_checkpoints`
        or by an unbatched Simulation: the format is the same) with freshly built integrators."""
        lockstep = Lockstep(batch_provider)
        sims = []
        for i, path in enumerate(paths):
            provider = lockstep.provider(i)
            sims.append(Simulation.from_checkpoint(path, integrators(i, provider), _per_replica(reporters, i, ()),
                                                   runaway=_per_replica(runaway, i, None), provider=provider))
        return cls((), integrators, batch_provider, _simulations=sims, _lockstep=lockstep)

    # ------------------------------------------------------------------ run
    @property
    def n_replicas(self) -> int:
        return len(self.simulations)

    @property
    def systems(self) -> list:
        return [s.system for s in self.simulations]

    @property
    def step(self) -> int:
        """The step every replica has reached (they advance together)."""
        return self.simulations[0].step

    def run(self, n_steps: int) -> None:
        """Advance every replica by ``n_steps`` steps, one batched force call per step."""
        self.lockstep.run([lambda sim=sim: sim.run(n_steps) for sim in self.simulations])

    def save_checkpoints(self, paths: Sequence) -> list[Path]:
        """One checkpoint per replica (the unbatched Simulation's format), ``paths[i]`` for replica i."""
        if len(paths) != self.n_replicas:
            raise InputError(f"save_checkpoints: {len(paths)} paths for {self.n_replicas} replicas")
        return [sim.save_checkpoint(path) for sim, path in zip(self.simulations, paths)]

    # ------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close every replica's reporters."""
        close_all(self.simulations)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
