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

__all__ = ["ForceProvider", "Integrator"]


@runtime_checkable
class ForceProvider(Protocol):
    """Anything that returns energy and forces (and stress on request) for a System.

    ``compute(system, stress=False) -> ForceResult`` with energy in eV, forces
    [n_atoms, 3] in eV/Å and stress [3, 3] in eV/Å³ (ASE sign convention). The
    provider owns its neighbor list and reuses it through its skin.
    """

    def compute(self, system: System, stress: bool = False) -> ForceResult: ...
