"""The two small interfaces through which anything plugs into the driver.

A classical potential, any ASE calculator (through an adapter), an EGNN model,
or a learned large-stride operator: the driver sees only a :class:`ForceProvider`
and an :class:`~integrators.integrator_base.Integrator` (a base class that
declares every optional member with its default; re-exported here).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from systems.forces import ForceResult
from systems.state import System

from .integrator_base import Integrator

__all__ = ["ForceProvider", "BatchForceProvider", "Integrator"]


@runtime_checkable
class ForceProvider(Protocol):
    """Anything that returns energy and forces (and stress on request) for a System.

    ``compute(system, stress=False) -> ForceResult`` with energy in eV, forces
    [n_atoms, 3] in eV/Å and stress [3, 3] in eV/Å³ (ASE sign convention). The
    provider owns its neighbor list and reuses it through its skin.
    """

    def compute(self, system: System, stress: bool = False) -> ForceResult: ...


@runtime_checkable
class BatchForceProvider(Protocol):
    """Evaluates many independent systems (replicas) at once, e.g. one model call over a batch of graphs.

    ``compute_batch(systems, stress=False, *, replicas=None) -> list[ForceResult]``: one
    :class:`ForceResult` per system, in order, each as :class:`ForceProvider.compute` would give it
    (energy eV, forces [n_i, 3] eV/Å, stress [3, 3] eV/Å³). ``stress`` is one flag for all systems or one
    per system. ``replicas`` (default ``range(len(systems))``) names the replica slot of each system: the
    provider keeps per-slot state (its neighbor list with skin) so a replica's list is reused from step
    to step whatever else shares the batch. ``replica_state(replica)`` returns the object whose
    ``neighbor_list`` (or ``state_dict``/``load_state_dict``) a checkpoint of that replica stores.
    """

    def compute_batch(self, systems, stress=False, *, replicas=None) -> list[ForceResult]: ...

    def replica_state(self, replica: int): ...
