"""Training trajectories of the paper's LJ16 (:mod:`systems.lj16_paper`) for the flat and many-body operators.

Every trajectory starts at rest from the paper's 16 lattice sites, each coordinate
displaced by a seeded Gaussian of ``displacement`` σ (trajectory i uses seed
``seed + i``), and runs with the fused Numba Verlet at Δ = 0.001τ. The evaluation
start is the undisplaced lattice, so it is not one of the training starts (it lies
inside their spread, as the paper's test trajectories lie inside their training ranges).
The same sites keep their particle index in every start: the flat operator reads
particle i at a fixed place of its input vector, so the starts must not permute it.
"""

from __future__ import annotations

import numpy as np

from integrators.fused_verlet import PeriodicLJ, verlet_lj
from systems.lj16_paper import PAPER_TIMESTEP, lj16_paper_system

from .data import OperatorData, lj_description


def lj16_potential():
    """(System at the paper's start, LennardJones provider, fused :class:`PeriodicLJ`) of the paper's box."""
    system, provider = lj16_paper_system()
    return system, provider, PeriodicLJ.from_system(system, provider)


def lj16_trajectories(n_trajectories: int, t_max: float, *, save_every: int = 100, displacement: float = 0.05,
                      seed: int = 0, timestep: float = PAPER_TIMESTEP) -> OperatorData:
    """``n_trajectories`` Verlet runs of ``t_max`` (τ) from displaced lattice starts, a state every ``save_every``
    steps.

    Returns :class:`~surrogate.lstm.data.OperatorData` (positions unwrapped, Å; velocities Å/τ) whose
    system description is the paper's box, so :func:`~surrogate.lstm.train.train_lstm` accepts it and the
    trained model refuses any other box, ε, σ or cut-off.
    """
    starts = [lj16_paper_system(displacement=displacement, seed=seed + i)[0] for i in range(int(n_trajectories))]
    system, _, pot = lj16_potential()
    x0 = np.stack([s.positions for s in starts])
    n_steps = int(round(t_max / timestep / save_every)) * save_every
    tr = verlet_lj(x0, np.zeros_like(x0), system.masses, pot, timestep, n_steps, save_every)
    n = len(starts)
    return OperatorData(np.ascontiguousarray(tr.positions.transpose(1, 0, 2, 3)),
                        np.ascontiguousarray(tr.velocities.transpose(1, 0, 2, 3)),
                        np.repeat(system.masses[None], n, 0), np.ascontiguousarray(tr.potential_energy.T),
                        np.zeros((n, 0)), float(timestep), int(save_every), lj_description(pot, system.masses))


def stride_runs(data: OperatorData, stride_steps: int, phases: int = 1):
    """Split trajectories into runs of states one stride apart: (positions, velocities) lists of [T, 16, 3].

    ``phases`` > 1 also starts runs at offsets of ``save_every`` steps inside the first stride, so one
    trajectory gives several interleaved stride-spaced runs (more distinct windows for the same Verlet cost).
    """
    k = stride_steps // data.save_every
    if k * data.save_every != stride_steps:
        raise ValueError(f"stride {stride_steps} is not a multiple of save_every {data.save_every}")
    offsets = np.unique(np.linspace(0, k, int(phases), endpoint=False).astype(int))
    xs, vs = [], []
    for t in range(data.n_trajectories):
        for o in offsets:
            xs.append(data.positions[t, o::k])
            vs.append(data.velocities[t, o::k])
    return xs, vs


def fused_stride_map(pot: PeriodicLJ, masses, stride_steps: int, timestep: float = PAPER_TIMESTEP):
    """``(x [n,3] Å, v [n,3] Å/τ) -> (x, v)`` one stride of ``stride_steps`` fused Verlet steps later
    (the exact targets of noisy training windows; milliseconds instead of a Python Verlet loop)."""
    masses = np.asarray(masses, dtype=np.float64)

    def advance(x, v):
        tr = verlet_lj(x, v, masses, pot, timestep, stride_steps, stride_steps)
        return tr.positions[-1].copy(), tr.velocities[-1].copy()

    return advance

