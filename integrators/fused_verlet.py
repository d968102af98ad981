"""Fused velocity-Verlet loops: many steps inside one Numba kernel call.

The speed anchor for the learned large-stride operators. A learned operator
that replaces ``stride`` Verlet steps must beat *these* loops, which pay no
Python cost per step: the whole trajectory (``n_steps`` steps, keeping every
``save_every``-th state) runs inside one compiled call, in parallel over
independent particles (1D) or independent replicas (periodic Lennard-Jones).

Velocity Verlet (Swope et al. 1982), per step of length Δ:
    v ← v + ½Δ F(x)/m;  x ← x + Δ v;  v ← v + ½Δ F(x)/m
with the force at the new position carried to the next step (one force
evaluation per step).

Two engines:

* :func:`verlet_1d` — a batch of independent particles on a line, each in one
  of the 1D external potentials (harmonic, double well, Lennard-Jones wall,
  rugged), with per-particle parameters and masses. The forces are
  :func:`systems.potentials.external_1d.external_1d_terms`, the same Numba
  function the ``Harmonic1D`` … ``Rugged1D`` providers call.
* :func:`verlet_lj` — a batch of independent small periodic Lennard-Jones
  systems (all pairs, minimum image in an orthorhombic box, cut and shifted
  exactly like :class:`systems.potentials.LennardJones`), N up to ~64.

Units are ASE's (Å, eV, amu, ASE time), which are reduced LJ units when
σ = 1 Å, ε = 1 eV, m = 1 amu.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from systems.boundary import free_displacement, minimum_image_orthorhombic
from systems.errors import InputError
from systems.potentials.external_1d import (
    DOUBLE_WELL_1D,
    HARMONIC_1D,
    LENNARD_JONES_1D,
    RUGGED_1D,
    DoubleWell1D,
    External1D,
    Harmonic1D,
    LennardJones1D,
    Rugged1D,
    external_1d_terms,
)

#: 1D potential kinds: the codes of :func:`systems.potentials.external_1d.external_1d_terms`.
HARMONIC = HARMONIC_1D
DOUBLE_WELL = DOUBLE_WELL_1D
LENNARD_JONES_WALL = LENNARD_JONES_1D
RUGGED = RUGGED_1D
POTENTIALS_1D = {"harmonic": HARMONIC, "double_well": DOUBLE_WELL, "lennard_jones": LENNARD_JONES_WALL,
                 "rugged": RUGGED}
#: The provider class of each kind: its parameter names and defaults are those of :func:`params_1d`.
_PROVIDERS_1D = {HARMONIC: Harmonic1D, DOUBLE_WELL: DoubleWell1D, LENNARD_JONES_WALL: LennardJones1D,
                 RUGGED: Rugged1D}
#: Length of one particle's parameter row for the 1D kernels.
N_PARAMS_1D = 8


class Trajectory1D(NamedTuple):
    """Saved states of a batch of 1D particles.

    positions : float64 [n_saved, n_particles], Å
    velocities : float64 [n_saved, n_particles], Å / ASE time
    potential_energy : float64 [n_saved, n_particles], eV
    times : float64 [n_saved], ASE time (from 0)
    """

    positions: np.ndarray
    velocities: np.ndarray
    potential_energy: np.ndarray
    times: np.ndarray


class TrajectoryLJ(NamedTuple):
    """Saved states of a batch of periodic LJ replicas (unwrapped positions).

    positions : float64 [n_saved, n_replicas, n_atoms, 3], Å (never wrapped)
    velocities : float64 [n_saved, n_replicas, n_atoms, 3], Å / ASE time
    potential_energy : float64 [n_saved, n_replicas], eV
    kinetic_energy : float64 [n_saved, n_replicas], eV
    times : float64 [n_saved], ASE time (from 0)
    """

    positions: np.ndarray
    velocities: np.ndarray
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    times: np.ndarray


# ---------------------------------------------------------------------- 1D
@numba.njit(cache=True, parallel=True)
def _verlet_1d_kernel(x0, v0, masses, kind, params, dt, n_steps, save_every):
    n = x0.shape[0]
    n_saved = n_steps // save_every + 1
    xs = np.empty((n_saved, n))
    vs = np.empty((n_saved, n))
    us = np.empty((n_saved, n))
    for i in numba.prange(n):
        p = params[i]
        x = x0[i]
        v = v0[i]
        half = 0.5 * dt / masses[i]
        u, f = external_1d_terms(kind, x, p)
        xs[0, i] = x
        vs[0, i] = v
        us[0, i] = u
        k = 1
        for s in range(1, n_steps + 1):
            v += half * f
            x += dt * v
            u, f = external_1d_terms(kind, x, p)
            v += half * f
            if s % save_every == 0:
                xs[k, i] = x
                vs[k, i] = v
                us[k, i] = u
                k += 1
    return xs, vs, us


def params_1d(potential: str, n_particles: int, **values) -> np.ndarray:
    """Parameter rows [n_particles, 8] for :func:`verlet_1d`.

    ``harmonic``: k (eV/Å², scalar or [n]; required); ``double_well``: a, b;
    ``lennard_jones``: sigma (Å), epsilon (eV); ``rugged``: coefficients c0..c4
    of the polynomial, amplitude, wavenumber, offset. The names and defaults
    are those of the providers in :mod:`systems.potentials.external_1d`
    (``DoubleWell1D``, ``LennardJones1D``, ``Rugged1D``).
    """
    kind = kind_1d(potential)
    provider = _PROVIDERS_1D[kind]
    names = list(provider.parameter_names)
    unknown = set(values) - set(names)
    if unknown:
        raise InputError(f"params_1d: unknown parameter(s) {sorted(unknown)} for potential {potential!r}; expected {names}")
    if kind == HARMONIC and "k" not in values:
        raise InputError("params_1d: harmonic potential needs the spring constant `k` (eV/Å²)")
    default = provider() if kind != HARMONIC else None  # the provider with its default parameters
    defaults = {name: getattr(default, name) for name in names} if default is not None else {}
    p = np.zeros((n_particles, N_PARAMS_1D))
    for col, name in enumerate(names):
        value = values[name] if name in values else defaults[name]
        p[:, col] = np.broadcast_to(np.asarray(value, dtype=np.float64), (n_particles,))
    return p


def params_from_provider(provider, n_particles: int):
    """``(kind, params [n, 8])`` for a ``systems.potentials.external_1d`` provider
    (Harmonic1D, DoubleWell1D, LennardJones1D, Rugged1D): its own parameter rows."""
    if not isinstance(provider, External1D):
        raise InputError(f"the fused 1D Verlet has no kernel for force provider {type(provider).__name__}")
    rows = provider.parameter_rows(n_particles)
    p = np.zeros((n_particles, N_PARAMS_1D))
    p[:, : rows.shape[1]] = rows
    return provider.kind, p


def kind_1d(potential) -> int:
    """The kernel code of a 1D potential given by name or code."""
    if isinstance(potential, str):
        if potential not in POTENTIALS_1D:
            raise InputError(f"unknown 1D potential {potential!r}; choose one of {sorted(POTENTIALS_1D)}")
        return POTENTIALS_1D[potential]
    if int(potential) not in POTENTIALS_1D.values():
        raise InputError(f"unknown 1D potential code {potential!r}")
    return int(potential)


def verlet_1d(positions, velocities, masses, potential, params, timestep: float, n_steps: int,
              save_every: int = 1) -> Trajectory1D:
    """Run ``n_steps`` velocity-Verlet steps for a batch of independent 1D particles.

    positions, velocities, masses : [n_particles] (Å, Å/time, amu)
    potential : "harmonic" | "double_well" | "lennard_jones" | "rugged" (or its code)
    params : float64 [n_particles, 8] from :func:`params_1d`
    timestep : Δ in ASE time units; the state is kept every ``save_every`` steps
    (frame 0 is the initial state). Parallel over particles.
    """
    x = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1)
    n = x.shape[0]
    v = np.ascontiguousarray(velocities, dtype=np.float64).reshape(-1)
    m = np.ascontiguousarray(np.broadcast_to(np.asarray(masses, dtype=np.float64), (n,)))
    params = np.ascontiguousarray(params, dtype=np.float64)
    if v.shape != (n,):
        raise InputError(f"verlet_1d: `velocities` must have shape ({n},), got {v.shape}")
    if params.shape != (n, N_PARAMS_1D):
        raise InputError(f"verlet_1d: `params` must have shape ({n}, {N_PARAMS_1D}), got {params.shape}")
    if not (m > 0).all():
        raise InputError(f"verlet_1d: masses must be positive, got min {m.min()!r}")
    _check_steps(timestep, n_steps, save_every)
    xs, vs, us = _verlet_1d_kernel(x, v, m, kind_1d(potential), params, float(timestep), int(n_steps), int(save_every))
    return Trajectory1D(xs, vs, us, np.arange(xs.shape[0]) * save_every * float(timestep))


# ----------------------------------------------------------- periodic LJ
@numba.njit(cache=True, inline="always")
def _pair(energy, f, i, j, rx, ry, rz, s2, epsilon, cut2, shift, weight):
    """Add one LJ pair image r_ij (Å) to f [n,3] (eV/Å); return the updated energy (eV)."""
    r2 = rx * rx + ry * ry + rz * rz
    if r2 >= cut2:
        return energy
    ir2 = s2 / r2
    s6 = ir2 * ir2 * ir2
    s12 = s6 * s6
    energy += weight * (4.0 * epsilon * (s12 - s6) - shift)
    if i != j:
        # F_j = −dU/dr r̂ = 24ε(2s12 − s6)/r² r_ij ; F_i = −F_j
        g = 24.0 * epsilon * (2.0 * s12 - s6) / r2
        f[j, 0] += g * rx
        f[j, 1] += g * ry
        f[j, 2] += g * rz
        f[i, 0] -= g * rx
        f[i, 1] -= g * ry
        f[i, 2] -= g * rz
    return energy


@numba.njit(cache=True, inline="always")
def _lj_forces(x, box, sigma, epsilon, cut2, shift, n_img, f):
    """Fill f [n,3] with LJ forces (eV/Å) on unwrapped positions x [n,3]; return energy (eV).

    Each pair starts from its minimum image; ``n_img`` [3] further images per
    side and axis are visited when the cutoff exceeds half the box (every image
    within the cutoff counts once, as in the neighbor list). Self-images count
    half (each appears at +shift and −shift) and exert no net force.
    """
    n = x.shape[0]
    for i in range(n):
        f[i, 0] = 0.0
        f[i, 1] = 0.0
        f[i, 2] = 0.0
    energy = 0.0
    s2 = sigma * sigma
    multi = n_img[0] + n_img[1] + n_img[2] > 0
    # Self-images exist only when the cutoff exceeds an edge.
    first = 0 if cut2 > min(box[0], box[1], box[2]) ** 2 else 1
    for i in range(n):
        for j in range(i + first, n):
            dx, dy, dz = free_displacement(x, i, j)
            rx, ry, rz = minimum_image_orthorhombic(dx, dy, dz, box)
            if not multi:
                if i != j:
                    energy = _pair(energy, f, i, j, rx, ry, rz, s2, epsilon, cut2, shift, 1.0)
                continue
            weight = 0.5 if i == j else 1.0
            # Prune image by image: a component alone beyond the cutoff rules out the image.
            for a in range(-n_img[0], n_img[0] + 1):
                ax = rx + a * box[0]
                if ax * ax >= cut2:
                    continue
                for b in range(-n_img[1], n_img[1] + 1):
                    ay = ry + b * box[1]
                    if ax * ax + ay * ay >= cut2:
                        continue
                    rem = cut2 - ax * ax - ay * ay
                    for c in range(-n_img[2], n_img[2] + 1):
                        az = rz + c * box[2]
                        if az * az >= rem or (i == j and a == 0 and b == 0 and c == 0):
                            continue
                        energy = _pair(energy, f, i, j, ax, ay, az, s2, epsilon, cut2, shift, weight)
    return energy


@numba.njit(cache=True, parallel=True)
def _verlet_lj_kernel(x0, v0, masses, box, sigma, epsilon, cutoff, shift, n_img, dt, n_steps, save_every):
    n_rep, n, _ = x0.shape
    n_saved = n_steps // save_every + 1
    xs = np.empty((n_saved, n_rep, n, 3))
    vs = np.empty((n_saved, n_rep, n, 3))
    us = np.empty((n_saved, n_rep))
    ks = np.empty((n_saved, n_rep))
    cut2 = cutoff * cutoff
    half = 0.5 * dt / masses
    for b in numba.prange(n_rep):
        x = x0[b].copy()
        v = v0[b].copy()
        f = np.empty((n, 3))
        u = _lj_forces(x, box, sigma, epsilon, cut2, shift, n_img, f)
        xs[0, b] = x
        vs[0, b] = v
        us[0, b] = u
        ks[0, b] = _kinetic(v, masses)
        k = 1
        for s in range(1, n_steps + 1):
            for i in range(n):
                for a in range(3):
                    v[i, a] += half[i] * f[i, a]
                    x[i, a] += dt * v[i, a]
            u = _lj_forces(x, box, sigma, epsilon, cut2, shift, n_img, f)
            for i in range(n):
                for a in range(3):
                    v[i, a] += half[i] * f[i, a]
            if s % save_every == 0:
                xs[k, b] = x
                vs[k, b] = v
                us[k, b] = u
                ks[k, b] = _kinetic(v, masses)
                k += 1
    return xs, vs, us, ks


@numba.njit(cache=True, inline="always")
def _kinetic(v, masses):
    e = 0.0
    for i in range(v.shape[0]):
        e += 0.5 * masses[i] * (v[i, 0] ** 2 + v[i, 1] ** 2 + v[i, 2] ** 2)
    return e


@numba.njit(cache=True, parallel=True)
def lj_energy_batch(x, box, sigma, epsilon, cutoff, shift, n_img):
    """Potential energies [n_replicas] (eV) of unwrapped positions x [n_replicas, n, 3] (Å)."""
    n_rep, n, _ = x.shape
    out = np.empty(n_rep)
    for b in numba.prange(n_rep):
        f = np.empty((n, 3))
        out[b] = _lj_forces(x[b], box, sigma, epsilon, cutoff * cutoff, shift, n_img, f)
    return out


class PeriodicLJ(NamedTuple):
    """A cut-and-shifted LJ in an orthorhombic periodic box, as the fused kernel sees it.

    box : float64 [3], Å (edge lengths); sigma Å; epsilon eV; cutoff Å (any: beyond
    half an edge the kernel also visits further periodic images); shift eV (U(r_c),
    subtracted from every pair energy); n_images : int64 [3], images per side
    beyond the minimum image that the cutoff reaches.
    """

    box: np.ndarray
    sigma: float
    epsilon: float
    cutoff: float
    shift: float
    n_images: np.ndarray

    @classmethod
    def make(cls, box, sigma: float = 1.0, epsilon: float = 1.0, cutoff: float | None = None,
             shift_energy: bool = True) -> "PeriodicLJ":
        """Validate and build; ``cutoff`` (Å) defaults to 3σ."""
        box = np.broadcast_to(np.asarray(box, dtype=np.float64), (3,)).copy()
        if not (box > 0).all() or not np.isfinite(box).all():
            raise InputError(f"periodic LJ: box edges must be positive and finite, got {box.tolist()}")
        cutoff = 3.0 * sigma if cutoff is None else float(cutoff)
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise InputError(f"periodic LJ: `cutoff` must be a positive distance in Å, got {cutoff!r}")
        # A minimum-image component is at most L/2, so a further image is at least |n|L − L/2 away.
        n_images = np.floor((cutoff + 0.5 * box) / box).astype(np.int64)
        n_images[cutoff <= 0.5 * box] = 0
        if n_images.max() > 8:
            raise InputError(f"periodic LJ: cutoff {cutoff} Å needs {n_images.max()} images per side of a "
                             f"{box.min()} Å box; the box is too small for this cutoff")
        shift = 4.0 * epsilon * ((sigma / cutoff) ** 12 - (sigma / cutoff) ** 6) if shift_energy else 0.0
        return cls(box, float(sigma), float(epsilon), float(cutoff), float(shift), n_images)

    @classmethod
    def from_system(cls, system, potential) -> "PeriodicLJ":
        """From a periodic orthorhombic :class:`~systems.state.System` and a
        :class:`~systems.potentials.LennardJones` provider (same σ, ε, cutoff, shift)."""
        cell = np.asarray(system.cell)
        if not np.all(system.pbc) or np.abs(cell - np.diag(np.diag(cell))).max() > 0:
            raise InputError("fused periodic LJ needs a fully periodic orthorhombic cell, got "
                             f"cell={cell.tolist()} pbc={list(system.pbc)}")
        out = cls.make(np.diag(cell), potential.sigma, potential.epsilon, potential.cutoff)
        return out._replace(shift=float(potential.params[2]))

    def energy(self, positions) -> np.ndarray:
        """Potential energies [n_replicas] (eV) of positions [n_replicas, n, 3] (Å)."""
        x = np.ascontiguousarray(positions, dtype=np.float64)
        return lj_energy_batch(x, self.box, self.sigma, self.epsilon, self.cutoff, self.shift, self.n_images)


def verlet_lj(positions, velocities, masses, potential: PeriodicLJ, timestep: float, n_steps: int,
              save_every: int = 1) -> TrajectoryLJ:
    """Run ``n_steps`` velocity-Verlet steps for independent periodic LJ replicas.

    positions, velocities : [n_replicas, n_atoms, 3] (or [n_atoms, 3] for one), Å and Å/time
    masses : [n_atoms] amu (shared by all replicas)
    potential : :class:`PeriodicLJ` (all pairs, minimum image, cut and shifted)
    timestep : Δ, ASE time. Keeps every ``save_every``-th state; positions are never
    wrapped. Parallel over replicas (one replica runs on one thread).
    """
    x = np.asarray(positions, dtype=np.float64)
    single = x.ndim == 2
    x = np.ascontiguousarray(x[None] if single else x)
    v = np.asarray(velocities, dtype=np.float64)
    v = np.ascontiguousarray(v[None] if v.ndim == 2 else v)
    if x.ndim != 3 or x.shape[2] != 3 or v.shape != x.shape:
        raise InputError(f"verlet_lj: positions/velocities must be [n_replicas, n_atoms, 3], got {x.shape} and {v.shape}")
    m = np.ascontiguousarray(np.broadcast_to(np.asarray(masses, dtype=np.float64), (x.shape[1],)))
    if not (m > 0).all():
        raise InputError("verlet_lj: masses must be positive")
    _check_steps(timestep, n_steps, save_every)
    xs, vs, us, ks = _verlet_lj_kernel(x, v, m, potential.box, potential.sigma, potential.epsilon, potential.cutoff,
                                       potential.shift, potential.n_images, float(timestep), int(n_steps),
                                       int(save_every))
    times = np.arange(xs.shape[0]) * save_every * float(timestep)
    if single:
        return TrajectoryLJ(xs[:, 0], vs[:, 0], us[:, 0], ks[:, 0], times)
    return TrajectoryLJ(xs, vs, us, ks, times)


def _check_steps(timestep, n_steps, save_every):
    if not np.isfinite(timestep) or timestep <= 0:
        raise InputError(f"`timestep` must be a positive time (ASE units), got {timestep!r}")
    if int(n_steps) < 0 or int(save_every) < 1:
        raise InputError(f"need n_steps ≥ 0 and save_every ≥ 1, got n_steps={n_steps}, save_every={save_every}")
