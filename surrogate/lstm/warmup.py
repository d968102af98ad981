"""The Verlet warm-up that fills a large-stride operator's first window."""

from __future__ import annotations

from typing import Callable

from systems.state import System


def verlet_warmup(system: System, provider, dt: float, stride_steps: int, n_strides: int,
                  record: Callable[[System], None]) -> None:
    """Advance ``system`` in place by ``n_strides`` strides of ``stride_steps`` velocity-Verlet steps.

    dt : ASE time units (negative integrates backwards); provider : a force
    provider (``compute(system).forces`` in eV/Å). ``record(system)`` is called
    on the starting state and after every stride, so the caller keeps the
    window states it needs.
    """
    record(system)
    forces = provider.compute(system).forces
    half_kick = (0.5 * dt / system.masses)[:, None]  # Å/time per eV/Å
    for _ in range(n_strides):
        for _ in range(stride_steps):
            system.velocities += forces * half_kick
            system.positions += dt * system.velocities
            forces = provider.compute(system).forces
            system.velocities += forces * half_kick
        record(system)
