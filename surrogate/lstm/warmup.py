"""The Verlet warm-up that fills a large-stride operator's first window."""

from __future__ import annotations

from typing import Callable

from systems.forces import ForceResult
from systems.state import System


def verlet_warmup(system: System, provider, dt: float, stride_steps: int, n_strides: int,
                  record: Callable[[System, ForceResult], None]) -> None:
    """Advance ``system`` in place by ``n_strides`` strides of ``stride_steps`` velocity-Verlet steps.

    dt : ASE time units (negative integrates backwards); provider : a force
    provider (``compute(system).forces`` in eV/Å). ``record(system, result)`` is
    called on the starting state and after every stride, with the provider's
    result at that state (Verlet needs it anyway), so the caller keeps the window
    states, and their energies and forces, without evaluating them again.
    """
    result = provider.compute(system)
    record(system, result)
    half_kick = (0.5 * dt / system.masses)[:, None]  # Å/time per eV/Å
    for _ in range(n_strides):
        for _ in range(stride_steps):
            system.velocities += result.forces * half_kick
            system.positions += dt * system.velocities
            result = provider.compute(system)
            system.velocities += result.forces * half_kick
        record(system, result)
