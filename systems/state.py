"""The simulation state: plain float64 data with documented shapes and units."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .units import ANGSTROM_PER_NM, NM_PER_ANGSTROM, TIME_PER_PS, kB


def degrees_of_freedom(n_atoms: int, *, com_fixed: bool, n_constraints: int = 0) -> int:
    """Degrees of freedom of the kinetic energy of ``n_atoms`` atoms (the one definition).

    3N, less 3 when the centre of mass is fixed (only for N > 1: a single atom
    has nothing left), less ``n_constraints`` holonomic constraints (a fixed
    atom counts 3, a rigid bond 1). Never below 1, so a temperature
    2 K / (N_f k_B) is always defined.
    """
    if n_constraints < 0:
        raise InputError(f"`n_constraints` must be non-negative, got {n_constraints!r}")
    return max(3 * int(n_atoms) - (3 if com_fixed and n_atoms > 1 else 0) - int(n_constraints), 1)


#: The centre of mass counts as at rest when its kinetic energy is below this fraction of the total.
COM_AT_REST_FRACTION = 1e-12


def _as_float_array(name: str, value, shape: tuple) -> np.ndarray:
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.shape != shape:
        raise InputError(f"`{name}` must have shape {shape}, got {arr.shape}")
    return arr


@dataclass
class System:
    """Atoms, their motion and their box.

    Attributes
    ----------
    numbers : int64 [n_atoms]
        Atomic numbers (0 for a pseudo-particle of reduced units).
    masses : float64 [n_atoms], amu
        Strictly positive.
    positions : float64 [n_atoms, 3], Å
    velocities : float64 [n_atoms, 3], Å per ASE time unit
        (multiply by ``units.fs`` for Å/fs).
    cell : float64 [3, 3], Å
        Rows are the lattice vectors (ASE convention). Triclinic allowed; a
        non-periodic axis may have a zero row.
    pbc : bool [3]
        Periodicity per axis.
    time : float, ASE time units
        Simulated time of this state.
    """

    numbers: np.ndarray
    masses: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray = None
    cell: np.ndarray = None
    pbc: np.ndarray = None
    time: float = 0.0
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.numbers = np.array(self.numbers, dtype=np.int64, copy=True).reshape(-1)
        n = len(self.numbers)
        self.positions = _as_float_array("positions", self.positions, (n, 3))
        self.masses = _as_float_array("masses", self.masses, (n,))
        self.velocities = (
            np.zeros((n, 3)) if self.velocities is None else _as_float_array("velocities", self.velocities, (n, 3))
        )
        self.cell = np.zeros((3, 3)) if self.cell is None else _as_float_array("cell", self.cell, (3, 3))
        pbc = np.zeros(3, dtype=bool) if self.pbc is None else np.array(self.pbc, dtype=bool)
        if pbc.shape == ():
            pbc = np.repeat(pbc, 3)
        if pbc.shape != (3,):
            raise InputError(f"`pbc` must be a bool or 3 bools, got shape {pbc.shape}")
        self.pbc = pbc
        self.time = float(self.time)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`InputError` naming the atom for NaN/inf or bad masses."""
        for name in ("positions", "velocities"):
            arr = getattr(self, name)
            bad = ~np.isfinite(arr).all(axis=1)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(f"{name} of atom {i} are not finite: {arr[i].tolist()} ({int(bad.sum())} atoms affected)")
        bad = ~(self.masses > 0) | ~np.isfinite(self.masses)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"mass of atom {i} is {self.masses[i]!r} amu; masses must be positive and finite")
        if not np.isfinite(self.cell).all():
            raise InputError(f"cell is not finite: {self.cell.tolist()}")
        for axis in np.flatnonzero(self.pbc):
            if np.linalg.norm(self.cell[axis]) == 0.0:
                raise InputError(f"axis {axis} is periodic but its cell vector is zero")
        if self.pbc.any() and abs(np.linalg.det(self.cell)) < 1e-12 and self.pbc.all():
            raise InputError(f"cell is singular (volume {np.linalg.det(self.cell):.3g} Å³) but all axes are periodic")

    # -------------------------------------------------------------- properties
    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    def __len__(self) -> int:
        return self.n_atoms

    @property
    def volume(self) -> float:
        """Cell volume in Å³ (0 for a degenerate cell)."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def momenta(self) -> np.ndarray:
        """[n_atoms, 3], amu·Å per ASE time unit."""
        return self.masses[:, None] * self.velocities

    def kinetic_energy(self) -> float:
        """Kinetic energy in eV."""
        return float(0.5 * np.sum(self.masses[:, None] * self.velocities**2))

    def centre_of_mass_at_rest(self) -> bool:
        """True when the centre-of-mass kinetic energy is negligible (< 1e-12 of the total kinetic energy)."""
        momentum = self.momenta.sum(axis=0)  # [3] amu·Å/time
        com_kinetic = 0.5 * float(momentum @ momentum) / float(self.masses.sum()) if self.n_atoms else 0.0
        return com_kinetic <= COM_AT_REST_FRACTION * max(self.kinetic_energy(), 1e-300)

    def temperature(self, remove_com: bool = True) -> float:
        """Instantaneous temperature in K (:func:`degrees_of_freedom`; 3N − 3 if ``remove_com``)."""
        if self.n_atoms == 0:
            return 0.0
        return 2.0 * self.kinetic_energy() / (degrees_of_freedom(self.n_atoms, com_fixed=remove_com) * kB)

    def copy(self) -> "System":
        return System(
            self.numbers, self.masses, self.positions, self.velocities, self.cell, self.pbc, self.time, dict(self.info)
        )

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_atoms(cls, atoms) -> "System":
        """From ``ase.Atoms`` (velocities from its momenta; time from ``atoms.info['time']`` if set)."""
        return cls(
            numbers=atoms.get_atomic_numbers(),
            masses=atoms.get_masses(),
            positions=atoms.get_positions(),
            velocities=atoms.get_velocities(),
            cell=np.asarray(atoms.get_cell()),
            pbc=atoms.get_pbc(),
            time=float(atoms.info.get("time", 0.0)),
        )

    def to_atoms(self):
        """To ``ase.Atoms`` with masses, momenta, cell and pbc; ``info['time']`` holds the time."""
        from ase import Atoms

        atoms = Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc, masses=self.masses)
        atoms.set_velocities(self.velocities)
        atoms.info["time"] = self.time
        return atoms

    @classmethod
    def from_mdtraj(cls, traj, frame: int = 0, velocities_nm_per_ps=None) -> "System":
        """From frame ``frame`` of an ``mdtraj.Trajectory`` (nm, ps → Å, ASE time).

        MDTraj has no velocities; pass them in nm/ps if you have them.
        """
        top = traj.topology
        numbers = [a.element.atomic_number if a.element is not None else 0 for a in top.atoms]
        masses = [a.element.mass if a.element is not None and a.element.mass > 0 else 1.0 for a in top.atoms]
        cell = np.zeros((3, 3))
        pbc = np.zeros(3, dtype=bool)
        if traj.unitcell_vectors is not None:
            cell = traj.unitcell_vectors[frame].astype(np.float64) * ANGSTROM_PER_NM
            pbc[:] = True
        vel = None
        if velocities_nm_per_ps is not None:
            vel = np.asarray(velocities_nm_per_ps, dtype=np.float64) * ANGSTROM_PER_NM / TIME_PER_PS
        time = float(traj.time[frame]) * TIME_PER_PS if traj.time is not None else 0.0
        return cls(numbers, masses, traj.xyz[frame].astype(np.float64) * ANGSTROM_PER_NM, vel, cell, pbc, time)

    def to_mdtraj(self, topology=None):
        """To a one-frame ``mdtraj.Trajectory`` (Å → nm, time → ps).

        Without ``topology`` each atom becomes its own residue named after its element.
        MDTraj stores a box as lengths and angles, i.e. a lower-triangular cell;
        a cell in another orientation is rotated into that form together with the
        positions (distances are unchanged). A left-handed cell is refused.
        """
        import mdtraj

        if topology is None:
            topology = topology_from_numbers(self.numbers)
        positions, cell = self.positions, None
        if self.pbc.all():
            positions, cell = _mdtraj_orientation(self.positions, self.cell)
            cell = cell * NM_PER_ANGSTROM
        traj = mdtraj.Trajectory(positions[None] * NM_PER_ANGSTROM, topology, time=np.array([self.time / TIME_PER_PS]))
        if cell is not None:
            traj.unitcell_vectors = cell[None]
        return traj


def _mdtraj_orientation(positions: np.ndarray, cell: np.ndarray):
    """Rotate positions [n,3] and cell [3,3] (Å) so the cell is lower triangular, as MDTraj stores it."""
    from ase.cell import Cell

    scale = max(1.0, float(np.abs(cell).max()))
    if abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) <= 1e-12 * scale and np.all(np.diag(cell) > 0):
        return positions, cell
    if np.linalg.det(cell) <= 0:
        raise InputError(f"MDTraj cannot store a left-handed or singular cell: {cell.tolist()}")
    rcell, q = Cell(cell).standard_form()  # rcell @ q == cell
    return positions @ q.T, np.asarray(rcell)


def topology_from_numbers(numbers) -> "mdtraj.Topology":  # noqa: F821
    """An MDTraj topology with one single-atom residue per atom, named by element."""
    import mdtraj
    from ase.data import chemical_symbols

    top = mdtraj.Topology()
    chain = top.add_chain()
    for z in numbers:
        symbol = chemical_symbols[int(z)] if 0 < int(z) < len(chemical_symbols) else "X"
        try:
            element = mdtraj.element.Element.getBySymbol(symbol)
        except KeyError:
            element = mdtraj.element.virtual
        residue = top.add_residue(symbol.upper(), chain)
        top.add_atom(symbol, element, residue)
    return top
