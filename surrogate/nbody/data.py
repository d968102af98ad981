"""The charged N-body data set of the EGNN paper (Satorras et al. 2021, §5.1).

It is the charged-particle simulation of Kipf et al.'s NRI code as the EGNN
authors ran it (``generate_dataset.py --n_balls 5 --initial_vel 1 --length 5000``):

* 5 particles in 3D, unit mass, charges ±1 with equal probability,
  interaction strength 1, free space: F_i = Σ_j q_i q_j (x_i − x_j) / r_ij³;
* positions ~ N(0, 1) per coordinate, folded once into [−5, 5] (a reflection
  that also turns the velocity component inward); velocities random with norm 0.5;
* leapfrog with dt = 0.001 and every force component clipped to ±100 (= 0.1/dt):
  an initial kick v += dt F(x₀), then for steps i = 1..4999: x += dt v, record
  (x, v) when i is a multiple of 100, v += dt F(x). That keeps 49 frames,
  frame k at step 100 (k + 1); the recorded velocity lags the position by half a step,
  exactly as in the reference generator.

Reduced units throughout (unit mass and charge, time unit 1).
The integration is one Numba kernel over a batch of trajectories, parallel over
trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
import torch
from torch.utils.data import Dataset

from systems.boundary import free_displacement
from systems.errors import InputError

FRAME_IN = 30
"""Frame the model sees (step 3100)."""
FRAME_OUT = 40
"""Frame whose positions the model predicts (step 4100), 1000 steps = 1 time unit later."""


@dataclass(frozen=True)
class ChargedNBodySetup:
    """Parameters of the charged N-body simulation (defaults: the EGNN paper's).

    Attributes
    ----------
    n_particles : int
    box_size : float
        Initial positions are folded once into [−box_size, box_size].
    loc_std : float
        Standard deviation of the initial positions.
    vel_norm : float
        Norm of every initial velocity.
    interaction_strength : float
        Prefactor of the Coulomb force.
    dt : float
        Leapfrog time step.
    n_steps : int
        Steps per trajectory (the loop runs i = 1..n_steps−1).
    sample_every : int
        Record a frame every this many steps; n_steps // sample_every − 1 frames.
    max_force : float
        Each force component is clipped to ±max_force.
    """

    n_particles: int = 5
    box_size: float = 5.0
    loc_std: float = 1.0
    vel_norm: float = 0.5
    interaction_strength: float = 1.0
    dt: float = 1e-3
    n_steps: int = 5000
    sample_every: int = 100
    max_force: float = 100.0

    @property
    def n_frames(self) -> int:
        return self.n_steps // self.sample_every - 1

    def frame_time(self, frame: int) -> float:
        """Simulation time of a recorded frame (frame k is step sample_every·(k+1))."""
        return self.dt * self.sample_every * (frame + 1)


class NBodyTrajectories(NamedTuple):
    """A batch of simulated trajectories.

    positions : float64 [n_traj, n_frames, n_particles, 3]
    velocities : float64 [n_traj, n_frames, n_particles, 3] (half a step behind the positions)
    charges : float64 [n_traj, n_particles]
    """

    positions: np.ndarray
    velocities: np.ndarray
    charges: np.ndarray


@numba.njit(cache=True)
def clipped_coulomb_forces(positions, charges, strength, max_force, out):
    """F_i = strength Σ_j q_i q_j (x_i − x_j)/r³, each component clipped to ±max_force.

    positions [n,3], charges [n]; writes forces [n,3] into ``out``.
    """
    n = positions.shape[0]
    out[:] = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            rx, ry, rz = free_displacement(positions, i, j)  # r_ij = x_j − x_i
            r2 = rx * rx + ry * ry + rz * rz
            g = strength * charges[i] * charges[j] / (r2 * np.sqrt(r2))  # F_i = −g r_ij, F_j = +g r_ij
            out[i, 0] -= g * rx
            out[i, 1] -= g * ry
            out[i, 2] -= g * rz
            out[j, 0] += g * rx
            out[j, 1] += g * ry
            out[j, 2] += g * rz
    for i in range(n):
        for k in range(3):
            if out[i, k] > max_force:
                out[i, k] = max_force
            elif out[i, k] < -max_force:
                out[i, k] = -max_force


@numba.njit(cache=True, parallel=True)
def integrate_charged_batch(positions0, velocities0, charges, strength, dt, max_force, n_steps, sample_every):
    """Leapfrog a batch of charged N-body trajectories (the reference generator's loop).

    positions0, velocities0 : [n_traj, n, 3]; charges : [n_traj, n].
    Returns positions, velocities [n_traj, n_steps // sample_every − 1, n, 3].
    """
    n_traj, n, _ = positions0.shape
    n_frames = n_steps // sample_every - 1
    loc = np.empty((n_traj, n_frames, n, 3))
    vel = np.empty((n_traj, n_frames, n, 3))
    for b in numba.prange(n_traj):
        x = positions0[b].copy()
        v = velocities0[b].copy()
        f = np.empty((n, 3))
        clipped_coulomb_forces(x, charges[b], strength, max_force, f)
        v += dt * f
        frame = 0
        for step in range(1, n_steps):
            x += dt * v
            if step % sample_every == 0 and frame < n_frames:
                loc[b, frame] = x
                vel[b, frame] = v
                frame += 1
            clipped_coulomb_forces(x, charges[b], strength, max_force, f)
            v += dt * f
    return loc, vel


def fold_into_box(positions: np.ndarray, velocities: np.ndarray, box_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Reflect coordinates beyond ±box_size back inside, turning those velocity components inward.

    The reference generator's ``_clamp``; it accepts |x| < 3·box_size (one reflection).
    positions, velocities : [..., 3]; returns new arrays.
    """
    x = np.array(positions, dtype=np.float64)
    v = np.array(velocities, dtype=np.float64)
    if np.any(np.abs(x) >= 3 * box_size):
        raise InputError(f"fold_into_box: positions beyond ±{3 * box_size} cannot be folded by one reflection")
    over = x > box_size
    x[over] = 2 * box_size - x[over]
    v[over] = -np.abs(v[over])
    under = x < -box_size
    x[under] = -2 * box_size - x[under]
    v[under] = np.abs(v[under])
    return x, v


def sample_initial_conditions(n_traj: int, rng: np.random.Generator, setup: ChargedNBodySetup = ChargedNBodySetup()):
    """Initial positions, velocities [n_traj, n, 3] and charges [n_traj, n] as in the paper."""
    n = setup.n_particles
    charges = rng.choice(np.array([1.0, -1.0]), size=(n_traj, n))
    positions = rng.standard_normal((n_traj, n, 3)) * setup.loc_std
    velocities = rng.standard_normal((n_traj, n, 3))
    velocities *= setup.vel_norm / np.linalg.norm(velocities, axis=-1, keepdims=True)
    positions, velocities = fold_into_box(positions, velocities, setup.box_size)
    return positions, velocities, charges


def simulate_charged_nbody(n_traj: int, seed: int, setup: ChargedNBodySetup = ChargedNBodySetup()) -> NBodyTrajectories:
    """Simulate ``n_traj`` seeded trajectories (float64, reduced units).

    Returns :class:`NBodyTrajectories` with ``setup.n_frames`` frames each.
    """
    if n_traj < 1:
        raise InputError(f"simulate_charged_nbody: `n_traj` must be >= 1, got {n_traj}")
    if setup.n_frames < 1:
        raise InputError(f"simulate_charged_nbody: n_steps={setup.n_steps} keeps no frame at sample_every={setup.sample_every}")
    positions0, velocities0, charges = sample_initial_conditions(n_traj, np.random.default_rng(seed), setup)
    loc, vel = integrate_charged_batch(positions0, velocities0, charges, setup.interaction_strength, setup.dt,
                                       setup.max_force, setup.n_steps, setup.sample_every)
    return NBodyTrajectories(loc, vel, charges)


class NBodyDataset(Dataset):
    """Frame ``frame_in`` (positions, velocities, charges) → positions at ``frame_out``.

    Items are tuples ``(positions [n,3], velocities [n,3], charges [n], target [n,3])``
    of ``dtype`` tensors; torch's default collate stacks them to ``[batch, n, ...]``.
    Build it from arrays ``positions, velocities, targets [B, n, 3]`` and ``charges [B, n]``,
    or from simulated trajectories with :meth:`from_trajectories`.
    """

    def __init__(self, positions, velocities, charges, targets, dtype: torch.dtype = torch.float32):
        self.positions = torch.as_tensor(np.asarray(positions), dtype=dtype)  # [B, n, 3]
        self.velocities = torch.as_tensor(np.asarray(velocities), dtype=dtype)  # [B, n, 3]
        self.charges = torch.as_tensor(np.asarray(charges), dtype=dtype)  # [B, n]
        self.targets = torch.as_tensor(np.asarray(targets), dtype=dtype)  # [B, n, 3]
        b, n = self.charges.shape[:2] if self.charges.dim() == 2 else (None, None)
        for name in ("positions", "velocities", "targets"):
            shape = tuple(getattr(self, name).shape)
            if b is None or shape != (b, n, 3):
                raise InputError(f"NBodyDataset: `{name}` must be [n_samples, n_particles, 3] matching charges "
                                 f"{tuple(self.charges.shape)}, got {shape}")

    @classmethod
    def from_trajectories(cls, trajectories: NBodyTrajectories, frame_in: int = FRAME_IN, frame_out: int = FRAME_OUT,
                          dtype: torch.dtype = torch.float32) -> "NBodyDataset":
        """Samples (frame ``frame_in`` → positions at ``frame_out``) of every trajectory."""
        n_frames = trajectories.positions.shape[1]
        for name, frame in (("frame_in", frame_in), ("frame_out", frame_out)):
            if not 0 <= frame < n_frames:
                raise InputError(f"NBodyDataset: `{name}`={frame} is outside the {n_frames} recorded frames")
        return cls(trajectories.positions[:, frame_in], trajectories.velocities[:, frame_in], trajectories.charges,
                   trajectories.positions[:, frame_out], dtype=dtype)

    def __len__(self) -> int:
        return self.positions.shape[0]

    def __getitem__(self, index):
        return self.positions[index], self.velocities[index], self.charges[index], self.targets[index]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The whole set as batched tensors (positions, velocities, charges, targets)."""
        return self.positions, self.velocities, self.charges, self.targets
