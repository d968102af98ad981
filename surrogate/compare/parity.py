"""Force parity of a force provider (e.g. an EGNN model) on the reference run's own frames.

Two independent runs visit different configurations, so their forces cannot
be compared frame by frame. Instead the model is evaluated on reference
frames that carry reference forces: that is the standard accuracy figure of a
learned force field (MAE/RMSE in eV/Å).
"""

from __future__ import annotations

import numpy as np

from systems.errors import InputError
from systems.state import System

from .run_data import RunData

#: Reference frames evaluated at most (evenly spaced).
MAX_PARITY_FRAMES = 50


def provider_forces_on(run: RunData, provider, max_frames: int = MAX_PARITY_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """``(reference forces [m, n, 3], provider forces [m, n, 3])`` in eV/Å on up to ``max_frames`` frames."""
    if run.forces is None:
        raise InputError(f"{run.name}: the reference frames carry no forces, so there is nothing to compare a "
                         "model's forces with (write the reference as extxyz or traj)")
    frames = np.unique(np.linspace(0, run.n_frames - 1, min(max_frames, run.n_frames)).round().astype(int))
    predicted = []
    for k in frames:
        cell = run.cells[k] if run.cells is not None else np.zeros((3, 3))
        system = System(run.numbers, run.masses, run.positions[k], None, cell, run.pbc)
        predicted.append(np.asarray(provider.compute(system).forces, dtype=np.float64))
    return run.forces[frames], np.asarray(predicted)
