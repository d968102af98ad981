"""The 16-particle Lennard-Jones system of Kadupitiya, Fox and Jadhao (arXiv 2004.06493), in the paper's box.

Reduced units throughout (σ = 1 Å, ε in eV, m = 1 amu, so ASE's time unit is the reduced time τ):

* periodic cube of edge L = 6.795σ, so ρσ³ = 16 / 6.795³ ≈ 0.051;
* cut-and-shifted LJ, ε = 2 eV, σ = 1 Å, r_c = 2.5σ (the box is wider than 2r_c: minimum image only);
* m = 1 amu; zero initial velocities; Verlet step Δ = 0.001τ (:data:`PAPER_TIMESTEP`).

Which 16 of the 27 simple-cubic sites {−1, 0, 1}³σ: the authors' C++ code
(``softmaterialslab/RNN-MD``, ``src/md-codes/many-particle-c/simulationbox.cpp``,
``put_ljatoms_inside``) fills a 3×3×3 lattice of spacing a = 1σ centred on the box
centre in loop order x (outer), y, z (inner) and stops after 16 atoms. So the start
is the 9 sites with x = −1σ, then the 7 sites with x = 0 and (y, z) = (−1, −1),
(−1, 0), (−1, 1), (0, −1), (0, 0), (0, 1), (1, −1): :func:`paper_sites`. Their box is
[−L/2, L/2]³; ours is [0, L)³ with the lattice centred at L/2 (a pure translation:
identical dynamics under periodic boundaries).
"""

from __future__ import annotations

import itertools

import numpy as np

from .errors import InputError
from .potentials.lennard_jones import LennardJones
from .state import System

#: Box edge (σ = Å) of the paper's 16-particle cube: ρσ³ = 16 / L³ ≈ 0.051.
PAPER_BOX = 6.795
#: ε (eV), σ (Å), cut-off (σ) and mass (amu) of the paper's LJ16.
PAPER_EPSILON, PAPER_SIGMA, PAPER_CUTOFF, PAPER_MASS = 2.0, 1.0, 2.5, 1.0
#: The paper's Verlet step Δ (τ = ASE time) and stride Δ_R = 1000Δ.
PAPER_TIMESTEP = 0.001
PAPER_STRIDE_STEPS = 1000
N_PARTICLES = 16


def lattice_sites(spacing: float = 1.0) -> np.ndarray:
    """The 27 sites {−1, 0, 1}³·spacing [27, 3] (Å) in the authors' loop order (x outer, z inner)."""
    return np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.float64) * float(spacing)


def paper_sites(spacing: float = 1.0) -> np.ndarray:
    """The paper's 16 start sites [16, 3] (Å, relative to the box centre): the first 16 of :func:`lattice_sites`."""
    return lattice_sites(spacing)[:N_PARTICLES].copy()


def lj16_paper_potential(skin: float = 0.3) -> LennardJones:
    """The paper's pair potential: cut-and-shifted LJ, σ = 1 Å, ε = 2 eV, r_c = 2.5 Å; neighbor-list skin Å."""
    return LennardJones(sigma=PAPER_SIGMA, epsilon=PAPER_EPSILON, cutoff=PAPER_CUTOFF * PAPER_SIGMA, skin=skin)


def lj16_paper_system(sites=None, displacement: float = 0.0, seed: int = 0, box_length: float = PAPER_BOX,
                      skin: float = 0.3) -> tuple[System, LennardJones]:
    """The paper's LJ16 start and its potential: ``(System, LennardJones)``.

    sites : [16, 3] site positions (Å) relative to the box centre, default :func:`paper_sites`
        (a training set may pass another choice of 16 of the 27 lattice sites).
    displacement : standard deviation (Å = σ) of a seeded Gaussian displacement of every
        coordinate (0: the paper's exact lattice start); seed : its RNG seed.
    box_length : cube edge (Å), default the paper's 6.795σ. Velocities are zero (the paper's start).
    Positions lie in [0, L)³ (lattice centred at L/2); masses 1 amu; atomic number 0 (reduced units).
    """
    sites = paper_sites() if sites is None else np.asarray(sites, dtype=np.float64)
    if sites.shape != (N_PARTICLES, 3) or not np.isfinite(sites).all():
        raise InputError(f"lj16_paper_system: `sites` must be a finite [16, 3] array of Å, got shape {sites.shape}")
    if not (np.isfinite(displacement) and displacement >= 0):
        raise InputError(f"lj16_paper_system: `displacement` must be a non-negative length in σ, got {displacement!r}")
    if not (np.isfinite(box_length) and box_length > 2 * PAPER_CUTOFF):
        raise InputError(f"lj16_paper_system: `box_length` must exceed twice the cut-off ({2 * PAPER_CUTOFF}σ), "
                         f"got {box_length!r}")
    positions = sites + 0.5 * box_length
    if displacement > 0:
        positions = positions + np.random.default_rng(seed).normal(0.0, displacement, positions.shape)
    info = {"sigma": PAPER_SIGMA, "epsilon": PAPER_EPSILON, "cutoff": PAPER_CUTOFF,
            "units": "reduced LJ (σ=1 Å, ε in eV, m=1 amu)", "start": "paper lattice" if displacement == 0 else
            f"lattice + N(0, {displacement}σ) seed {seed}"}
    system = System(np.zeros(N_PARTICLES), np.full(N_PARTICLES, PAPER_MASS), positions, np.zeros((N_PARTICLES, 3)),
                    np.eye(3) * box_length, True, info=info)
    return system, lj16_paper_potential(skin)
