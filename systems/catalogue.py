"""Ready-made systems, each reproducible from its ``seed``.

- :func:`argon_fcc`, :func:`liquid_argon`: argon boxes of any size (Å, eV, amu);
- :func:`charged_nbody`: the 5-particle charged system of the EGNN benchmark;
- :func:`lj_cluster` and :func:`lj_cluster_potential`: 3, 8 or 16 Lennard-Jones
  particles in a periodic cube, in reduced units, as in the large-timestep RNN paper;
- :func:`oscillator_1d`: the 1D oscillators of that paper, one or a batch.

Reduced units: σ = 1 Å, ε = 1 eV and m = 1 amu make ASE's internal time unit
the reduced time τ; such particles have atomic number 0.
"""

from __future__ import annotations

import numpy as np
from ase import units as ase_units
from ase.build import bulk
from ase.data import atomic_masses, atomic_numbers

from .errors import InputError
from .potentials.external_1d import DoubleWell1D, Harmonic1D, LennardJones1D, Rugged1D
from .potentials.lennard_jones import LennardJones
from .state import System
from .velocities import maxwell_boltzmann

#: Argon lattice constant (Å) of the neighbor-list benchmark's FCC box.
ARGON_FCC_A = 5.26
#: Liquid argon near its triple point: 1.374 g/cm³ at 94.4 K.
LIQUID_ARGON_DENSITY_G_CM3 = 1.374
LIQUID_ARGON_TEMPERATURE_K = 94.4
#: Default reduced number density ρσ³ of :func:`lj_cluster` (a dense gas; see there).
LJ_CLUSTER_DENSITY = 0.2
#: Å³ per cm³.
_A3_PER_CM3 = 1.0e24
#: Grams per amu.
_G_PER_AMU = ase_units._amu * 1.0e3


def argon_fcc(repeat=(3, 3, 3), a: float = ARGON_FCC_A, jitter: float = 0.05, seed: int = 0,
              temperature_K: float | None = None) -> System:
    """FCC argon: ``ase.build.bulk('Ar', 'fcc', a, cubic=True).repeat(repeat)``, 4·n₁n₂n₃ atoms.

    repeat : int or 3 ints; a : lattice constant Å; jitter : standard deviation
    (Å) of Gaussian displacements; temperature_K : Maxwell–Boltzmann velocities
    (COM removed) if given, else at rest. Fully periodic cubic cell.
    """
    repeat = (int(repeat),) * 3 if np.ndim(repeat) == 0 else tuple(int(r) for r in repeat)
    if len(repeat) != 3 or min(repeat) < 1:
        raise InputError(f"argon_fcc: `repeat` must be a positive int or 3 positive ints, got {repeat}")
    if not (np.isfinite(a) and a > 0):
        raise InputError(f"argon_fcc: lattice constant `a` must be positive (Å), got {a!r}")
    rng = np.random.default_rng(seed)
    atoms = bulk("Ar", "fcc", a=a, cubic=True).repeat(repeat)
    atoms.positions += rng.normal(scale=jitter, size=atoms.positions.shape)
    system = System.from_atoms(atoms)
    if temperature_K is not None:
        system.velocities = maxwell_boltzmann(system.masses, temperature_K, rng)
    return system


def liquid_argon(n_atoms: int, density_g_cm3: float = LIQUID_ARGON_DENSITY_G_CM3,
                 temperature_K: float = LIQUID_ARGON_TEMPERATURE_K, seed: int = 0, jitter: float = 0.05) -> System:
    """A cubic periodic box of ``n_atoms`` argon atoms at ``density_g_cm3`` (not yet equilibrated).

    Atoms sit on ``n_atoms`` sites spread evenly over the m³ sites of a simple
    cubic grid (m = ⌈n^{1/3}⌉; vacancies are spaced out rather than bunched in
    the last plane), displaced by Gaussian ``jitter`` (Å). Velocities are
    Maxwell–Boltzmann at ``temperature_K`` with the centre-of-mass momentum removed.
    Run it (e.g. with a thermostat and :meth:`LennardJones.argon`) before measuring.
    """
    n_atoms = int(n_atoms)
    if n_atoms < 1:
        raise InputError(f"liquid_argon: `n_atoms` must be at least 1, got {n_atoms}")
    if not (np.isfinite(density_g_cm3) and density_g_cm3 > 0):
        raise InputError(f"liquid_argon: `density_g_cm3` must be positive, got {density_g_cm3!r}")
    rng = np.random.default_rng(seed)
    z = atomic_numbers["Ar"]
    mass = atomic_masses[z]
    length = (n_atoms * mass * _G_PER_AMU / density_g_cm3 * _A3_PER_CM3) ** (1.0 / 3.0)
    m = int(np.ceil(round(n_atoms ** (1.0 / 3.0), 9)))
    grid = np.stack(np.meshgrid(*(np.arange(m),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    sites = grid[np.linspace(0, m**3, n_atoms, endpoint=False).astype(np.int64)]
    positions = (sites + 0.5) * (length / m) + rng.normal(scale=jitter, size=(n_atoms, 3))
    masses = np.full(n_atoms, mass)
    velocities = maxwell_boltzmann(masses, temperature_K, rng)
    return System(np.full(n_atoms, z), masses, positions, velocities, np.eye(3) * length, True)


def charged_nbody(seed: int = 0, n_particles: int = 5) -> tuple[System, np.ndarray]:
    """The charged N-body system of the EGNN benchmark; returns ``(system, charges [n])``.

    Unit masses, charges ±1 with equal probability, positions N(0, 1) per
    coordinate folded once into [−5, 5] (a coordinate beyond ±5 is reflected
    back and its velocity component turned inwards, as the benchmark's
    generator does), velocities in random directions with norm 0.5, no box.
    Reduced units: atomic numbers 0, positions in Å.
    Pair it with :class:`~systems.potentials.coulomb.ChargedNBody`.
    """
    rng = np.random.default_rng(seed)
    charges = rng.choice(np.array([-1.0, 1.0]), size=n_particles)
    positions = rng.standard_normal((n_particles, 3))
    velocities = rng.standard_normal((n_particles, 3))
    velocities *= 0.5 / np.linalg.norm(velocities, axis=1, keepdims=True)
    box = 5.0
    over = positions > box
    positions[over] = 2.0 * box - positions[over]
    velocities[over] = -np.abs(velocities[over])
    under = positions < -box
    positions[under] = -2.0 * box - positions[under]
    velocities[under] = np.abs(velocities[under])
    system = System(np.zeros(n_particles), np.ones(n_particles), positions, velocities, None, False,
                    info={"charges": charges.copy()})
    return system, charges


def lj_cluster_epsilon(n_particles: int) -> float:
    """Default ε (eV, reduced units) of :func:`lj_cluster`: 2 for 16 particles (as in the paper's figure), else 1."""
    return 2.0 if int(n_particles) == 16 else 1.0


def lj_cluster(n_particles: int = 16, box_length: float | None = None, epsilon: float | None = None, seed: int = 0,
               reduced_density: float = LJ_CLUSTER_DENSITY, min_separation: float = 0.9) -> System:
    """N Lennard-Jones particles in a periodic cube, reduced units (σ = 1 Å, ε = 1 eV, m = 1 amu).

    Positions are uniform in the box, drawn one at a time and redrawn while
    closer than ``min_separation`` (σ) to an earlier one (minimum image);
    velocities are zero, as in the large-timestep RNN paper. The paper studies
    N = 3, 8 and 16 but does not fix the box here, so by default
    ``box_length = (N / reduced_density)^{1/3}`` with ρσ³ = 0.2, a dense gas
    (L ≈ 2.47σ, 3.42σ and 4.31σ for N = 3, 8, 16). The box is smaller than
    twice the 2.5σ cutoff of :func:`lj_cluster_potential`, whose neighbor list
    includes every periodic image. ``epsilon`` (eV) only goes into
    ``info['epsilon']`` (default :func:`lj_cluster_epsilon`); pass it to
    :func:`lj_cluster_potential`.
    """
    n_particles = int(n_particles)
    if n_particles < 1:
        raise InputError(f"lj_cluster: `n_particles` must be at least 1, got {n_particles}")
    if box_length is None:
        if not (np.isfinite(reduced_density) and reduced_density > 0):
            raise InputError(f"lj_cluster: `reduced_density` must be positive, got {reduced_density!r}")
        box_length = (n_particles / reduced_density) ** (1.0 / 3.0)
    if not (np.isfinite(box_length) and box_length > 0):
        raise InputError(f"lj_cluster: `box_length` must be a positive length in σ, got {box_length!r}")
    epsilon = lj_cluster_epsilon(n_particles) if epsilon is None else float(epsilon)
    rng = np.random.default_rng(seed)
    positions = np.empty((n_particles, 3))
    batch, max_batches = 1024, 100  # candidates are drawn in batches; the first acceptable one is kept
    for i in range(n_particles):
        for _ in range(max_batches):
            trials = rng.uniform(0.0, box_length, size=(batch, 3))
            d = positions[None, :i] - trials[:, None]  # [batch, i, 3]
            d -= box_length * np.round(d / box_length)
            ok = np.flatnonzero((np.einsum("tpc,tpc->tp", d, d) >= min_separation**2).all(axis=1))
            if len(ok):
                positions[i] = trials[ok[0]]
                break
        else:
            raise InputError(
                f"lj_cluster: could not place particle {i} at least {min_separation}σ from the others in a box "
                f"of {box_length:.4g}σ after {batch * max_batches} tries; lower `min_separation` or enlarge the box"
            )
    info = {"sigma": 1.0, "epsilon": epsilon, "units": "reduced LJ (σ=1 Å, ε=1 eV, m=1 amu)"}
    return System(np.zeros(n_particles), np.ones(n_particles), positions, None, np.eye(3) * box_length, True,
                  info=info)


def lj_cluster_potential(n_particles: int = 16, epsilon: float | None = None, cutoff: float = 2.5,
                         skin: float = 0.3) -> LennardJones:
    """The cut-and-shifted LJ potential of :func:`lj_cluster`: σ = 1 Å, ε (eV, default :func:`lj_cluster_epsilon`),
    cutoff 2.5σ, neighbor-list skin in σ."""
    epsilon = lj_cluster_epsilon(n_particles) if epsilon is None else float(epsilon)
    return LennardJones(sigma=1.0, epsilon=epsilon, cutoff=cutoff, skin=skin)


_OSCILLATORS = {"harmonic": Harmonic1D, "double_well": DoubleWell1D, "lj": LennardJones1D, "rugged": Rugged1D}


def oscillator_1d(kind: str, x0, v0=0.0, mass=1.0, k=1.0, n: int = 1):
    """Independent 1D particles in an external potential; returns ``(system, potential)``.

    kind : 'harmonic' (U = ½kx²), 'double_well' (x⁴/4 − x²/2), 'lj' (4[x⁻¹² − x⁻⁶])
        or 'rugged' (see :class:`~systems.potentials.external_1d.Rugged1D`).
    x0 Å, v0 Å per ASE time unit, mass amu, k eV/Å² (harmonic only): scalars or
    [n] arrays, broadcast together with ``n``, so one system can hold a batch
    of oscillators with different x0, masses and spring constants. Motion is
    along x; y = z = 0. Non-periodic, reduced units (atomic number 0).
    """
    if kind not in _OSCILLATORS:
        raise InputError(f"oscillator_1d: unknown `kind` {kind!r}; choose one of {sorted(_OSCILLATORS)}")
    if kind != "harmonic" and np.any(np.asarray(k) != 1.0):
        raise InputError(f"oscillator_1d: `k` only applies to kind 'harmonic', not {kind!r}")
    try:
        shape = np.broadcast_shapes(np.shape(x0), np.shape(v0), np.shape(mass), np.shape(k), (int(n),))
    except ValueError:
        raise InputError(
            f"oscillator_1d: x0, v0, mass, k and n do not broadcast together (shapes {np.shape(x0)}, {np.shape(v0)}, "
            f"{np.shape(mass)}, {np.shape(k)} and n={n})"
        ) from None
    if len(shape) != 1:
        raise InputError(f"oscillator_1d: parameters must be scalars or 1D arrays, got broadcast shape {shape}")
    count = shape[0]
    positions = np.zeros((count, 3))
    positions[:, 0] = np.broadcast_to(x0, shape)
    velocities = np.zeros((count, 3))
    velocities[:, 0] = np.broadcast_to(v0, shape)
    masses = np.broadcast_to(np.asarray(mass, dtype=np.float64), shape)
    system = System(np.zeros(count), masses, positions, velocities, None, False, info={"oscillator": kind})
    if kind == "harmonic":
        potential = Harmonic1D(np.broadcast_to(np.asarray(k, dtype=np.float64), shape).copy() if np.ndim(k) else k)
    else:
        potential = _OSCILLATORS[kind]()
    return system, potential
