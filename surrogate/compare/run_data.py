"""One run loaded into memory for comparison: frames as arrays, plus its log and metadata.

Everything here is in the units a person reads off a plot: positions Å, time ps,
velocities Å/ps, energies eV, forces eV/Å, masses amu. Conversion from the
package's internal ASE time unit happens once, in this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from systems.errors import InputError
from systems.units import TIME_PER_PS

from .thermo_log import ThermoLog, read_thermo_log

#: Metadata file a `surrogate generate`/`run` writes beside its trajectory.
RUN_INFO_NAME = "run_info.json"


@dataclass
class RunData:
    """Frames of one trajectory as stacked arrays (shapes use T frames, n atoms).

    numbers : int64 [n]; masses : float64 [n], amu
    positions : float64 [T, n, 3], Å (as stored; wrapped or not)
    cells : float64 [T, 3, 3], Å, or None when the run has no periodic box
    pbc : bool [3]
    times_ps : float64 [T], ps
    energies_eV : float64 [T] potential energy per frame, or None
    forces : float64 [T, n, 3], eV/Å, or None
    velocities : float64 [T, n, 3], Å/ps, or None (then finite differences are used)
    topology : mdtraj.Topology or None (bonds → bond and angle distributions)
    log : ThermoLog or None (the run's thermodynamic CSV)
    info : dict, run metadata (``wall_time_s``, ``simulated_ps``, ...) when known
    """

    name: str
    numbers: np.ndarray
    masses: np.ndarray
    positions: np.ndarray
    times_ps: np.ndarray
    cells: Optional[np.ndarray] = None
    pbc: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=bool))
    energies_eV: Optional[np.ndarray] = None
    forces: Optional[np.ndarray] = None
    velocities: Optional[np.ndarray] = None
    topology: object = None
    log: Optional[ThermoLog] = None
    info: dict = field(default_factory=dict)
    source: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[1])

    @property
    def periodic(self) -> bool:
        return self.cells is not None and bool(np.all(self.pbc))

    @property
    def frame_interval_ps(self) -> float:
        """Median spacing of the frame times in ps."""
        if self.n_frames < 2:
            return 0.0
        return float(np.median(np.diff(self.times_ps)))

    def frames(self, selection: slice) -> "RunData":
        """The same run restricted to ``selection`` of its frames (the log and metadata are dropped)."""
        pick = lambda a: None if a is None else a[selection]  # noqa: E731
        return RunData(self.name, self.numbers, self.masses, self.positions[selection], self.times_ps[selection],
                       pick(self.cells), self.pbc, pick(self.energies_eV), pick(self.forces), pick(self.velocities),
                       self.topology, None, {}, self.source)

    @property
    def duration_ps(self) -> float:
        """Simulated time from the first to the last frame, ps."""
        return float(self.times_ps[-1] - self.times_ps[0]) if self.n_frames else 0.0

    def window(self, start_ps: float, end_ps: float) -> "RunData":
        """The frames with ``start_ps <= time <= end_ps`` (absolute times, ps, with a 1e-6 relative slack),
        keeping the same span of the log and the metadata."""
        slack = 1e-6 * max(abs(end_ps), abs(start_ps), self.frame_interval_ps, 1e-12)
        keep = np.flatnonzero((self.times_ps >= start_ps - slack) & (self.times_ps <= end_ps + slack))
        if len(keep) == 0:
            raise InputError(f"{self.name}: no frames between {start_ps:g} and {end_ps:g} ps")
        part = self.frames(slice(int(keep[0]), int(keep[-1]) + 1))
        part.log = None if self.log is None else self.log.between(start_ps - slack, end_ps + slack)
        part.info = self.info
        return part

    def mdtraj_topology(self):
        """The run's topology, or one single-atom residue per atom named by element."""
        if self.topology is not None:
            return self.topology
        from systems.state import topology_from_numbers

        return topology_from_numbers(self.numbers)

    def to_mdtraj(self, frames: slice | np.ndarray = slice(None)):
        """An ``mdtraj.Trajectory`` (nm, ps, unit cells in nm) of the selected frames."""
        import mdtraj

        traj = mdtraj.Trajectory(self.positions[frames] * 0.1, self.mdtraj_topology(), time=self.times_ps[frames])
        if self.periodic:
            traj.unitcell_vectors = self.cells[frames] * 0.1
        return traj

    # -------------------------------------------------------------- builders
    @classmethod
    def from_frames(cls, frames: Iterable, name: str, *, topology=None, dt_ps: float | None = None,
                    source: str = "") -> "RunData":
        """Stack frames: anything with ``numbers, positions, cell, pbc`` and optional
        ``time`` (ASE units), ``energy``, ``forces``, ``velocities`` (Å/ASE time), ``masses``.

        ``systems.trajectory_reader.Frame``, :class:`systems.state.System` and
        ``ase.Atoms`` are all accepted. Frames without time get ``index * dt_ps``.
        """
        numbers = masses = None
        pos, cells, times, energies, forces, vels = [], [], [], [], [], []
        pbc = np.zeros(3, dtype=bool)
        for k, frame in enumerate(frames):
            f = _frame_fields(frame)
            if numbers is None:
                numbers, masses, pbc = f["numbers"], f["masses"], f["pbc"]
            elif len(f["numbers"]) != len(numbers) or np.any(f["numbers"] != numbers):
                raise InputError(f"{source or name}: frame {k} has different atoms from frame 0 "
                                 f"({len(f['numbers'])} vs {len(numbers)} atoms)")
            pos.append(f["positions"])
            cells.append(f["cell"])
            times.append(f["time"])
            energies.append(f["energy"])
            forces.append(f["forces"])
            vels.append(f["velocities"])
        if numbers is None:
            raise InputError(f"{source or name}: no frames to compare")
        n_frames = len(pos)
        if any(t is None for t in times):
            if dt_ps is None:
                if n_frames > 1:
                    raise InputError(f"{source or name}: frames carry no time; pass the frame interval "
                                     "(`dt_ps`, or --dt-ps of `surrogate compare`) in ps")
                dt_ps = 0.0
            times_ps = np.arange(n_frames) * float(dt_ps)
        else:
            times_ps = np.asarray(times, dtype=np.float64) / TIME_PER_PS
        if n_frames > 1 and np.any(np.diff(times_ps) <= 0):
            raise InputError(f"{source or name}: frame times are not increasing")
        if masses is None:
            from ase.data import atomic_masses

            masses = np.where(numbers > 0, atomic_masses[np.clip(numbers, 0, None)], 1.0)
        has_cell = all(c is not None and np.abs(c).sum() > 0 for c in cells) and bool(np.all(pbc))
        if has_cell:  # a periodic box must have a volume: unwrapping and g(r) divide by it
            volumes = np.abs(np.linalg.det(np.asarray(cells, dtype=np.float64)))
            scale = np.max(np.abs(np.asarray(cells, dtype=np.float64)), axis=(1, 2)) ** 3
            flat = np.flatnonzero(~(volumes > 1e-9 * scale))
            if len(flat):
                k = int(flat[0])
                raise InputError(f"{source or name}: frame {k} has a periodic cell with no volume (its cell "
                                 f"vectors {np.round(np.asarray(cells[k], dtype=float), 4).tolist()} Å lie in one "
                                 "plane or line); fix the cell or mark the axes non-periodic")
        return cls(
            name=name,
            numbers=np.asarray(numbers, dtype=np.int64),
            masses=np.asarray(masses, dtype=np.float64),
            positions=np.asarray(pos, dtype=np.float64),
            times_ps=times_ps,
            cells=np.asarray(cells, dtype=np.float64) if has_cell else None,
            pbc=np.asarray(pbc, dtype=bool),
            energies_eV=None if any(e is None for e in energies) else np.asarray(energies, dtype=np.float64),
            forces=None if any(x is None for x in forces) else np.asarray(forces, dtype=np.float64),
            velocities=None if any(v is None for v in vels) else np.asarray(vels, dtype=np.float64) * TIME_PER_PS,
            topology=topology,
            source=source,
        )


def _frame_fields(frame) -> dict:
    """Fields of a Frame, System or ase.Atoms in package units (time in ASE units)."""
    if hasattr(frame, "get_positions"):  # ase.Atoms
        calc = frame.calc
        energy = forces = None
        if calc is not None:
            results = getattr(calc, "results", {})
            energy = results.get("energy")
            forces = results.get("forces")
        vel = frame.get_velocities() if frame.has("momenta") else None
        return dict(numbers=frame.get_atomic_numbers(), masses=frame.get_masses(), positions=frame.get_positions(),
                    cell=np.asarray(frame.get_cell()), pbc=np.asarray(frame.get_pbc()), time=frame.info.get("time"),
                    energy=energy, forces=forces, velocities=vel)
    info = getattr(frame, "info", None) or {}
    velocities = getattr(frame, "velocities", None)
    return dict(
        numbers=np.asarray(frame.numbers),
        masses=getattr(frame, "masses", None),
        positions=np.asarray(frame.positions),
        cell=None if getattr(frame, "cell", None) is None else np.asarray(frame.cell),
        pbc=np.asarray(getattr(frame, "pbc", None) if getattr(frame, "pbc", None) is not None else np.zeros(3, bool)),
        time=getattr(frame, "time", None),
        energy=getattr(frame, "energy", info.get("energy")),
        forces=getattr(frame, "forces", info.get("forces")),
        velocities=velocities,
    )


def load_run(path, *, name: str | None = None, top=None, log=None, info=None, dt_ps: float | None = None,
             start: int = 0, stop: int | None = None, stride: int = 1, fmt: str | None = None,
             progress: bool = False) -> RunData:
    """Read a trajectory file (any format ``systems.trajectory_reader`` opens) into a :class:`RunData`.

    top : topology file (PDB) for formats without atoms (xtc, dcd); its bonds
        enable bond-length and angle distributions. Default: ``topology.pdb``
        or ``<trajectory name>.pdb`` beside the trajectory, if present.
    log : the run's thermo CSV; default ``thermo.csv`` beside the trajectory if present.
    info : run metadata JSON; default ``run_info.json`` beside the trajectory if present.
    dt_ps : frame interval for files whose frames carry no time.
    """
    from systems.trajectory_reader import count_frames, load_topology, read_frames

    path = Path(path)
    if not path.exists():
        raise InputError(f"trajectory file {str(path)!r} does not exist")
    topology = None
    if top is None:
        # `surrogate generate/run` write topology.pdb for systems with bonds, and <name>.pdb beside xtc/dcd/...
        for candidate in (path.parent / "topology.pdb", path.with_suffix(".pdb")):
            if candidate.exists() and candidate != path:
                top = candidate
                break
    if top is not None:
        if not Path(top).exists():
            raise InputError(f"topology file {str(top)!r} does not exist")
        topology = load_topology(str(top), path)  # an empty or atom-less PDB is a named InputError
    frames = read_frames(path, top=top, start=start, stop=stop, stride=stride, format=fmt)
    if progress:
        from tqdm.auto import tqdm

        try:
            total = count_frames(path, top=top, format=fmt)
            total = len(range(*slice(start, stop, stride).indices(total)))
        except Exception:  # noqa: BLE001 - the count is only for the progress bar
            total = None
        frames = tqdm(frames, total=total, desc=f"reading {path.name}", unit="frame", leave=False,
                      disable=None)  # None: no bar when stderr is not a terminal (logs, CI)
    run = RunData.from_frames(frames, name or _default_name(path), topology=topology, dt_ps=dt_ps, source=str(path))
    log_path = Path(log) if log is not None else path.parent / "thermo.csv"
    if log is not None and not log_path.exists():
        raise InputError(f"log file {str(log_path)!r} does not exist")
    if log_path.exists():
        run.log = read_thermo_log(log_path)
        if start:  # skipped frames (equilibration): skip the same span of the log
            run.log = run.log.since(run.times_ps[0])
    info_path = Path(info) if info is not None else path.parent / RUN_INFO_NAME
    if info is not None and not info_path.exists():
        raise InputError(f"run metadata file {str(info_path)!r} does not exist")
    if info_path.exists():
        try:
            run.info = json.loads(info_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{info_path}: not valid JSON ({exc})") from None
    return run


def _default_name(path: Path) -> str:
    """``out/egnn/trajectory.extxyz`` → ``egnn``; ``ref.xtc`` → ``ref``."""
    generic = {"trajectory", "traj", "frames", "md", "output"}
    return path.parent.name if path.stem.lower() in generic and path.parent.name else path.stem
