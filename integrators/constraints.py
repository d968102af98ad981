"""Holonomic constraints of the MD integrators: fixed atoms, a fixed centre of mass, rigid bonds (RATTLE).

A :class:`Constraints` is configuration: the integrators call its two
projections (``after_drift`` on positions, ``project_velocities`` on
velocities) around their moves. Velocity Verlet with them is RATTLE
(H. C. Andersen, J. Comput. Phys. 52, 24 (1983)); Langevin BAOAB projects after
each B, A and O (Leimkuhler and Matthews, Proc. R. Soc. A 472, 20160138 (2016));
Bussi's rescaling keeps every velocity constraint by itself.

The degrees of freedom of the kinetic energy follow from the one rule
:func:`systems.state.degrees_of_freedom`: a fixed atom counts 3, a rigid bond 1,
a fixed centre of mass 3.

Not included: the virial of the constraint forces. The stress a provider
returns (and the pressure the thermo log derives from it) leaves out the rigid
bonds' constraint forces, so a barostat should not yet be combined with rigid
bonds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from systems.boundary import Box
from systems.constraint_bonds import bond_lengths
from systems.errors import InputError
from systems.state import System, degrees_of_freedom

from .constraint_kernels import rattle, shake

#: Default relative tolerance of SHAKE (on squared lengths) and RATTLE (on v_ij·r_ij / (|r_ij| |v_ij|)).
TOLERANCE = 1e-12
#: Default cap on Gauss–Seidel sweeps.
MAX_ITERATIONS = 1000


class ConstraintError(FloatingPointError):
    """SHAKE or RATTLE did not converge; the message and ``atoms`` name the bond (atoms i, j).

    A ``FloatingPointError``: mid-run the driver reports it as a runaway naming the step and both atoms.
    """

    def __init__(self, message: str, atoms=()):
        super().__init__(message)
        self.atoms = tuple(int(a) for a in atoms)


class Constraints:
    """Fixed atoms, fixed centre of mass and rigid bonds, for one system.

    Parameters
    ----------
    n_atoms : int
    fixed_atoms : ints
        Atoms whose positions and velocities never change (forces on them are ignored).
    fix_com : bool
        Remove the centre-of-mass momentum of the moving atoms after every
        velocity update, so the centre of mass does not drift (also under
        Langevin noise). Refused with a rigid bond from a fixed atom to a
        moving one (that bond's force moves the centre of mass).
    bonds : int [n_bonds, 2]
        Rigid pairs (see :mod:`systems.constraint_bonds` for bonds to hydrogen).
    lengths : float [n_bonds], Å
        Their lengths (:meth:`for_system` takes the starting frame's).
    tolerance : float
        Relative tolerance of both iterations (default 1e-12).
    max_iterations : int
    """

    def __init__(self, n_atoms: int, *, fixed_atoms=(), fix_com: bool = False, bonds=None, lengths=None,
                 tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS):
        self.n_atoms = int(n_atoms)
        fixed = np.unique(np.asarray(fixed_atoms, dtype=np.int64).reshape(-1))
        bad = fixed[(fixed < 0) | (fixed >= self.n_atoms)]
        if bad.size:
            raise InputError(f"constraints: fixed atom index {int(bad[0])} is outside 0..{self.n_atoms - 1}")
        self.fixed_atoms = fixed
        self.fix_com = bool(fix_com)
        bonds = np.zeros((0, 2), dtype=np.int64) if bonds is None else np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        lengths = np.zeros(0) if lengths is None else np.asarray(lengths, dtype=np.float64).reshape(-1)
        if len(lengths) != len(bonds):
            raise InputError(f"constraints: {len(bonds)} bonds but {len(lengths)} lengths")
        if bonds.size and (bonds.min() < 0 or bonds.max() >= self.n_atoms):
            raise InputError(f"constraints: a bond names an atom outside 0..{self.n_atoms - 1}")
        if not (np.isfinite(lengths).all() and np.all(lengths > 0)):
            raise InputError("constraints: bond lengths must be positive and finite (Å)")
        if not 0 < tolerance < 1:
            raise InputError(f"constraints: `tolerance` must be in (0, 1), got {tolerance!r}")
        self.moving = np.ones(self.n_atoms, dtype=bool)
        self.moving[fixed] = False
        if self.fix_com and not self.moving.any():
            raise InputError("constraints: every atom is fixed, so there is no centre of mass to hold")
        # A bond between two fixed atoms holds by itself: no constraint, no degree of freedom removed.
        keep = self.moving[bonds[:, 0]] | self.moving[bonds[:, 1]] if bonds.size else np.zeros(0, dtype=bool)
        self.bonds = np.ascontiguousarray(bonds[keep])
        anchored = self.bonds[~(self.moving[self.bonds[:, 0]] & self.moving[self.bonds[:, 1]])]
        if self.fix_com and len(anchored):
            i, j = (int(a) for a in anchored[0])
            raise InputError(f"constraints: the rigid bond of atoms {i} and {j} joins a fixed atom to a moving one; "
                             "its constraint force moves the centre of mass, which fix_com holds: fix neither or both "
                             "atoms, or drop fix_com (the fixed atoms already anchor the system)")
        self.lengths = np.ascontiguousarray(lengths[keep])
        self._lengths_sq = self.lengths**2
        self.tolerance = float(tolerance)
        self.max_iterations = int(max_iterations)
        self._cached_box = None
        self._cached_inv_mass = None

    @classmethod
    def for_system(cls, system: System, *, fixed_atoms=(), fix_com: bool = False, bonds=None,
                   tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS) -> "Constraints":
        """Constraints whose rigid lengths are the bonds' minimum-image lengths in ``system`` (Å)."""
        lengths = None
        if bonds is not None:
            bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
            lengths = bond_lengths(system, bonds)
        return cls(system.n_atoms, fixed_atoms=fixed_atoms, fix_com=fix_com, bonds=bonds, lengths=lengths,
                   tolerance=tolerance, max_iterations=max_iterations)

    # ------------------------------------------------------------ counting
    @property
    def n_constraints(self) -> int:
        """Holonomic constraints besides the centre of mass: 3 per fixed atom, 1 per rigid bond."""
        return 3 * len(self.fixed_atoms) + len(self.bonds)

    def degrees_of_freedom(self, system: System, com_at_rest: bool = False) -> int:
        """N_f of the kinetic energy (:func:`systems.state.degrees_of_freedom`).

        The centre of mass counts as fixed with ``fix_com``, or when
        ``com_at_rest`` (an integrator that conserves momentum) and no atom is
        fixed (a fixed atom takes up momentum).
        """
        com_fixed = self.fix_com or (com_at_rest and len(self.fixed_atoms) == 0)
        return degrees_of_freedom(system.n_atoms, com_fixed=com_fixed, n_constraints=self.n_constraints)

    # ---------------------------------------------------------- projections
    def _check(self, system: System) -> None:
        if system.n_atoms != self.n_atoms:
            raise InputError(f"constraints were built for {self.n_atoms} atoms, the system has {system.n_atoms}")

    def _box(self, system: System):
        """(basis, inverse, periodic) of the system's cell; rebuilt only when the cell changes (a barostat)."""
        cached = self._cached_box
        if cached is None or not (np.array_equal(cached[0], system.cell) and np.array_equal(cached[1], system.pbc)):
            box = Box(system.cell, system.pbc)
            cached = self._cached_box = (system.cell.copy(), system.pbc.copy(), box.basis, box.inverse,
                                         np.ascontiguousarray(system.pbc, dtype=np.bool_))
        return cached[2], cached[3], cached[4]

    def inverse_masses(self, system: System) -> np.ndarray:
        """[n] 1/amu, 0 for fixed atoms (cached while the masses stay the same)."""
        cached = self._cached_inv_mass
        if cached is None or not np.array_equal(cached[0], system.masses):
            cached = self._cached_inv_mass = (system.masses.copy(), np.where(self.moving, 1.0 / system.masses, 0.0))
        return cached[1]

    def after_drift(self, system: System, reference: np.ndarray, dt: float) -> None:
        """SHAKE the positions after a drift of ``dt`` (ASE time) from ``reference`` [n, 3] (Å).

        The position correction Δx enters the velocities as Δx / dt (the
        constraint force over the drift), which are then projected.
        """
        self._check(system)
        if len(self.bonds):
            before = system.positions.copy()
            basis, inverse, periodic = self._box(system)
            _, worst = shake(system.positions, reference, self.inverse_masses(system), self.bonds, self._lengths_sq,
                             basis, inverse, periodic, self.tolerance, self.max_iterations)
            if worst >= 0:
                self._fail("SHAKE (positions)", worst)
            system.velocities += (system.positions - before) / dt
        self.project_velocities(system)

    def project_velocities(self, system: System) -> None:
        """Fixed atoms at rest, no centre-of-mass momentum (``fix_com``), then RATTLE on the bonds."""
        self._check(system)
        v = system.velocities
        if len(self.fixed_atoms):
            v[self.fixed_atoms] = 0.0
        if self.fix_com:
            m = system.masses[self.moving]
            v[self.moving] -= (m @ v[self.moving]) / m.sum()
        if len(self.bonds):
            basis, inverse, periodic = self._box(system)
            _, worst = rattle(v, system.positions, self.inverse_masses(system), self.bonds, self._lengths_sq, basis,
                              inverse, periodic, self.tolerance, self.max_iterations)
            if worst >= 0:
                self._fail("RATTLE (velocities)", worst)

    def apply_to_start(self, system: System) -> None:
        """Make a starting state consistent: positions SHAKEn onto the bonds (from themselves), velocities projected."""
        self._check(system)
        if len(self.bonds):
            basis, inverse, periodic = self._box(system)
            _, worst = shake(system.positions, system.positions.copy(), self.inverse_masses(system), self.bonds,
                             self._lengths_sq, basis, inverse, periodic, self.tolerance, self.max_iterations)
            if worst >= 0:
                self._fail("SHAKE (starting positions)", worst)
        self.project_velocities(system)

    def _fail(self, what: str, k: int) -> None:
        i, j = (int(a) for a in self.bonds[k])
        raise ConstraintError(f"{what} did not converge to relative tolerance {self.tolerance:g} in "
                              f"{self.max_iterations} sweeps at the bond of atoms {i} and {j} (length "
                              f"{self.lengths[k]:.6g} Å): the timestep may be too large, or the forces blew up",
                              atoms=(i, j))

    # -------------------------------------------------------- measurements
    def bond_errors(self, system: System) -> tuple[np.ndarray, np.ndarray]:
        """[n_bonds] |r_ij| − d (Å) and [n_bonds] (v_i − v_j)·r_ij (Å²/time), minimum image."""
        box = Box(system.cell, system.pbc)
        i, j = self.bonds[:, 0], self.bonds[:, 1]
        r = box.minimum_image(system.positions[i] - system.positions[j])
        v = system.velocities[i] - system.velocities[j]
        return np.linalg.norm(r, axis=1) - self.lengths, np.einsum("ij,ij->i", r, v)

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The configuration, so a resume with other constraints is refused (and the lengths stay bit-exact)."""
        return {"fixed_atoms": self.fixed_atoms.copy(), "fix_com": self.fix_com, "bonds": self.bonds.copy(),
                "lengths": self.lengths.copy(), "tolerance": self.tolerance}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Check a checkpoint's constraints against these; adopt its lengths (Å) so the resume is bit-exact."""
        fixed = np.asarray(state["fixed_atoms"], dtype=np.int64).reshape(-1)
        bonds = np.asarray(state["bonds"], dtype=np.int64).reshape(-1, 2)
        if not np.array_equal(fixed, self.fixed_atoms):
            raise ValueError(f"checkpoint fixes atoms {fixed.tolist()}, these constraints {self.fixed_atoms.tolist()}")
        if bool(state["fix_com"]) != self.fix_com:
            raise ValueError(f"checkpoint has fix_com={bool(state['fix_com'])}, these constraints {self.fix_com}")
        if not np.array_equal(bonds, self.bonds):
            raise ValueError(f"checkpoint constrains {len(bonds)} bonds, these constraints {len(self.bonds)} "
                             "(other pairs)")
        self.lengths = np.asarray(state["lengths"], dtype=np.float64).reshape(-1).copy()
        self._lengths_sq = self.lengths**2

    def describe(self) -> str:
        parts = []
        if len(self.bonds):
            parts.append(f"{len(self.bonds)} rigid bonds")
        if len(self.fixed_atoms):
            parts.append(f"{len(self.fixed_atoms)} fixed atoms")
        if self.fix_com:
            parts.append("fixed centre of mass")
        return ", ".join(parts) or "none"
