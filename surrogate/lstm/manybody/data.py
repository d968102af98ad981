"""Training samples of the many-body operator: neighbor graphs, windows, noisy copies, forces."""

from __future__ import annotations

import numpy as np
import torch

from systems.errors import InputError
from systems.neighbor_list import build_pairs
from systems.state import System

from ..warmup import verlet_warmup

def graph(positions: np.ndarray, cell, pbc, cutoff: float, dtype=torch.float32, device="cpu"):
    """(edge_index [2, E], edge_vec [E, 3]) of all pairs within ``cutoff`` (full list, r_ij = x_j − x_i + shift)."""
    nb = build_pairs(positions, cell, pbc, cutoff, full=True)
    edge_index = torch.as_tensor(np.stack([nb.i, nb.j]).astype(np.int64), device=device)
    return edge_index, torch.as_tensor(nb.vectors, dtype=dtype, device=device)


class _WindowSamples(torch.utils.data.Dataset):
    """Training samples (x_window, v_window, f_window, masses, edge_index, edge_vec, Δx, Δv) of trajectories.

    ``runs`` : list of (positions [T,n,3], velocities [T,n,3], forces [T,n,3] or None, frame indices t).
    Without forces f_window is an empty [n, W, 0] tensor.
    """

    def __init__(self, runs, masses, cell, pbc, cutoff, window, dtype):
        self.items = []
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
        m = as_t(masses)
        for positions, velocities, forces, indices in runs:
            for t in indices:
                win = slice(t - window + 1, t + 1)
                fw = (as_t(forces[win].transpose(1, 0, 2)) if forces is not None
                      else torch.zeros(positions.shape[1], window, 0, dtype=dtype))
                ei, ev = graph(positions[t], cell, pbc, cutoff, dtype)
                self.items.append((as_t(positions[win].transpose(1, 0, 2)), as_t(velocities[win].transpose(1, 0, 2)),
                                   fw, m, ei, ev, as_t(positions[t + 1] - positions[t]),
                                   as_t(velocities[t + 1] - velocities[t])))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return self.items[k]


def _collate(items):
    """Disjoint union of the samples' graphs (node offsets added to edge indices)."""
    xs, vs, fs, ms, eis, evs, dxs, dvs = zip(*items)
    offsets = np.cumsum([0] + [x.shape[0] for x in xs[:-1]])
    ei = torch.cat([e + int(o) for e, o in zip(eis, offsets)], dim=1)
    return (torch.cat(xs), torch.cat(vs), torch.cat(fs), torch.cat(ms), ei, torch.cat(evs), torch.cat(dxs),
            torch.cat(dvs))


def _augmented_runs(runs, masses, cell, pbc, numbers, copies, position_noise, velocity_noise, v_scale, provider,
                    reference_map, window, seed):
    """Noisy copies of training windows with EXACT targets, so the operator learns how the true dynamics
    responds to the off-manifold windows its own rollouts produce.

    Every window state gets independent Gaussian noise (positions ``position_noise`` Å, velocities
    ``velocity_noise``·v_s); forces are re-evaluated at the noisy positions with ``provider`` (if the run has
    forces); the target is ``reference_map(x_c', v_c')`` (the reference integrator over one stride from the
    noisy current state) minus that state. Returns runs in the layout of :class:`_WindowSamples`: one
    pseudo-trajectory [W+1, n, 3] per noisy window (frame W holds the target state).
    """
    rng = np.random.default_rng(seed)
    numbers = np.zeros(len(masses), dtype=np.int64) if numbers is None else numbers
    out = []
    for positions, velocities, forces, indices in runs:
        for _ in range(copies):
            for t in indices:
                win = slice(t - window + 1, t + 1)
                x = positions[win] + rng.normal(0.0, position_noise, positions[win].shape)
                v = velocities[win] + rng.normal(0.0, velocity_noise * v_scale, velocities[win].shape)
                x_next, v_next = reference_map(x[-1].copy(), v[-1].copy())
                f = None
                if forces is not None:
                    f = trajectory_forces(np.concatenate([x, x_next[None]]), masses, cell, pbc, provider, numbers)
                out.append((np.concatenate([x, x_next[None]]), np.concatenate([v, v_next[None]]), f,
                            np.array([window - 1])))
    return out


def verlet_stride_map(template: System, provider, timestep: float, steps: int):
    """A ``reference_map`` for :func:`train_manybody`: (x [n,3] Å, v [n,3] Å/time) → the state ``steps``
    velocity-Verlet steps of ``timestep`` (ASE time) later with ``provider``, in the cell of ``template``."""

    def advance(x, v):
        s = template.copy()
        s.positions[:], s.velocities[:] = x, v
        verlet_warmup(s, provider, timestep, steps, 1, lambda *_: None)
        return s.positions.copy(), s.velocities.copy()

    return advance


def _as_runs(name, a, n_atoms=None):
    """[T,n,3], [R,T,n,3] or a list of [T,n,3] → list of float64 arrays [T,n,3]."""
    if a is None:
        return None
    if isinstance(a, (list, tuple)):
        runs = [np.asarray(r, dtype=np.float64) for r in a]
    else:
        arr = np.asarray(a, dtype=np.float64)
        runs = [arr] if arr.ndim == 3 else list(arr) if arr.ndim == 4 else None
        if runs is None:
            raise InputError(f"train_manybody: {name} must be [T, n, 3], [R, T, n, 3] or a list, got {arr.shape}")
    for r in runs:
        if r.ndim != 3 or r.shape[2] != 3 or (n_atoms is not None and r.shape[1] != n_atoms):
            raise InputError(f"train_manybody: {name} trajectory of shape {r.shape}, expected [T, {n_atoms}, 3]")
    return runs


def trajectory_forces(positions, masses, cell, pbc, provider, numbers=None) -> np.ndarray:
    """Forces [T, n, 3] eV/Å of ``provider`` at every frame of positions [T, n, 3] Å."""
    numbers = np.zeros(len(masses), dtype=np.int64) if numbers is None else numbers
    system = System(numbers=numbers, masses=masses, positions=positions[0], cell=cell, pbc=pbc)
    out = np.empty_like(positions)
    for t, x in enumerate(positions):
        system.positions[:] = x
        out[t] = provider.compute(system).forces
    return out
