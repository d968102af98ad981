"""A charge-free flexible water box: a classical test system with bonds to hydrogen.

For tests and benchmarks of rigid-bond constraints (RATTLE), not a water model
for science: each molecule has harmonic O–H bonds (k 48 eV/Å², r0 1 Å) and a
harmonic H–H bond that stands in for the H–O–H bend (k 10 eV/Å², r0 1.633 Å,
109.47°), and oxygens of different molecules interact by Lennard-Jones
(σ 3.166 Å, ε 6.74 meV, SPC's, cut and shifted at 3σ, where the force is
2·10⁻⁵ eV/Å). Hydrogens have no intermolecular interaction.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_masses

from .errors import InputError
from .forces import ForceResult, check_finite
from .potentials.lennard_jones import LennardJones
from .state import System
from .velocities import maxwell_boltzmann

OH_LENGTH = 1.0  # Å
HH_LENGTH = 2.0 * OH_LENGTH * np.sin(np.radians(109.47) / 2.0)  # Å
SIGMA_OO = 3.166  # Å
EPSILON_OO = 0.0067400  # eV (0.1554 kcal/mol)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def water_box(n_per_side: int = 3, spacing: float = 6.5, temperature_K: float = 300.0, seed: int = 0,
              jitter: float = 0.05) -> tuple[System, np.ndarray]:
    """``n_per_side³`` water molecules on a cubic grid of ``spacing`` (Å) in a periodic cube.

    Randomly oriented (seeded), O–H bonds of ``OH_LENGTH`` perturbed by
    ``jitter`` (Å), the whole box shifted by half a spacing so that molecules
    straddle the periodic faces (bond vectors need the minimum image).
    Maxwell–Boltzmann velocities at ``temperature_K`` (COM removed).
    Returns ``(system, molecules [n_mol, 3] int: O, H, H indices)``.
    """
    if n_per_side < 1:
        raise InputError(f"water_box: `n_per_side` must be at least 1, got {n_per_side}")
    rng = np.random.default_rng(seed)
    half = np.radians(109.47) / 2.0
    local = np.array([[0.0, 0.0, 0.0], [np.sin(half), np.cos(half), 0.0], [-np.sin(half), np.cos(half), 0.0]])
    length = n_per_side * spacing
    positions, numbers = [], []
    for a in range(n_per_side):
        for b in range(n_per_side):
            for c in range(n_per_side):
                centre = np.array([a, b, c], dtype=float) * spacing
                xyz = local * (OH_LENGTH + rng.normal(scale=jitter, size=(3, 1))) @ _random_rotation(rng).T
                positions.extend(centre + xyz)
                numbers.extend([8, 1, 1])
    numbers = np.array(numbers)
    masses = atomic_masses[numbers]
    positions = np.mod(np.array(positions) + 0.3, length)  # the first layer of molecules crosses the faces
    system = System(numbers, masses, positions, maxwell_boltzmann(masses, temperature_K, rng), np.eye(3) * length, True)
    molecules = np.arange(len(numbers)).reshape(-1, 3)
    return system, molecules


class ToyWaterPotential:
    """Energy and forces (eV, eV/Å) of :func:`water_box` systems (periodic cubes); ``molecules`` [n_mol, 3]."""

    name = "ToyWaterPotential"

    def __init__(self, molecules, cutoff: float = 3.0 * SIGMA_OO):
        """``molecules`` [n_mol, 3] (O, H, H indices); ``cutoff`` (Å) of the O–O Lennard-Jones."""
        molecules = np.asarray(molecules, dtype=np.int64).reshape(-1, 3)
        self.oxygens = molecules[:, 0].copy()
        oh = np.concatenate([molecules[:, [0, 1]], molecules[:, [0, 2]]])
        hh = molecules[:, [1, 2]]
        self.bonds = np.concatenate([oh, hh])  # [m, 2]
        self.k = np.r_[np.full(len(oh), 48.0), np.full(len(hh), 10.0)]  # eV/Å²
        self.r0 = np.r_[np.full(len(oh), OH_LENGTH), np.full(len(hh), HH_LENGTH)]  # Å
        self.lj = LennardJones(SIGMA_OO, EPSILON_OO, cutoff)

    @property
    def neighbor_list(self):
        """The oxygen Lennard-Jones neighbor list (its build reference goes into checkpoints)."""
        return self.lj.neighbor_list

    def compute(self, system: System, stress: bool = False) -> ForceResult:
        """Energy (eV) and forces [n, 3] (eV/Å); no stress."""
        pair = self.lj.compute_arrays(system.positions[self.oxygens], system.cell, system.pbc)
        forces = np.zeros_like(system.positions)
        forces[self.oxygens] = pair.forces
        i, j = self.bonds[:, 0], self.bonds[:, 1]
        d = system.positions[j] - system.positions[i]  # [m, 3] Å
        edges = np.diag(system.cell)  # the box of water_box is a periodic cube: minimum image by rounding
        d -= edges * np.rint(d / edges)
        r = np.linalg.norm(d, axis=1)
        stretch = r - self.r0
        f = (self.k * stretch / r)[:, None] * d  # force on i; −f on j
        np.add.at(forces, i, f)
        np.add.at(forces, j, -f)
        energy = float(pair.energy + 0.5 * np.sum(self.k * stretch**2))
        return check_finite(ForceResult(energy, forces), self.name)
