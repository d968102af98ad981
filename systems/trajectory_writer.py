"""Write trajectories frame by frame, flushing each frame so a killed process leaves a readable file.

Formats and what each stores (units converted here, at the edge):

========  =======================================================  ==========================
format    stores                                                   flushing
========  =======================================================  ==========================
extxyz    positions, cell, pbc, time, masses, velocities (as       Python file handle, flushed
          ``momenta``), energy, forces, stress; full float64       after each frame
          precision (ASE's own writer rounds to 8 decimals)
traj      the same, through ``ase.io.Trajectory`` (float64)        ASE's ulm flushes per frame
xtc       positions (float32, 0.001 nm precision), time, box      ``XTCTrajectoryFile.flush``
trr       positions, velocities, forces (float32), time, box      each frame is encoded, then
                                                                   appended with one flushed write
dcd       positions (float32), box as lengths and angles          MDTraj's DCD plugin writes
                                                                   unbuffered and updates the
                                                                   frame count in the header
nc        AMBER NetCDF: positions (float32), time, box            ``NetCDFTrajectoryFile.flush``
                                                                   (without netCDF4, scipy
                                                                   rewrites the file each flush:
                                                                   fine for short runs only)
pdb       positions, box (one MODEL per frame)                     the file object is flushed
h5        MDTraj HDF5 (needs PyTables): positions, time, box,     ``HDF5TrajectoryFile.flush``
          velocities, potential energy
========  =======================================================  ==========================

Box: formats that store lengths and angles (dcd, nc, pdb, h5) give the cell back
in MDTraj's standard orientation (a along x, b in the xy plane); the positions
are not rotated, so write cells in that orientation (lower-triangular) to get
them back unchanged. XTC/TRR store the three vectors as given.

The file is created at the first frame (so a writer that fails before writing
leaves no empty or half-written header behind); if writing the first frame
fails, the new file is removed. ``append=True`` continues an existing file of
any format (an incomplete last frame is cut off first). To continue from a
checkpoint, first cut the file back with
:func:`systems.trajectory_truncate.truncate_trajectory`.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Optional

import numpy as np

from .errors import InputError
from .forces import ForceResult
from .frame import Frame
from .state import System, topology_from_numbers
from .trajectory_reader import detect_format, load_topology
from .trajectory_truncate import (_cut_bytes, _cut_dcd, _cut_pdb, _dcd_layout, _scan_dcd, _scan_pdb, _scan_trr,
                                  _scan_xtc_frames)
from .units import ANGSTROM_PER_NM, NM_PER_ANGSTROM, TIME_PER_PS

#: format -> may an existing file be appended to?
WRITABLE_FORMATS = {
    ("ase", "extxyz"): True,
    ("ase", "traj"): True,
    ("mdtraj", "xtc"): True,
    ("mdtraj", "trr"): True,
    ("mdtraj", "dcd"): True,
    ("mdtraj", "nc"): True,
    ("mdtraj", "pdb"): True,
    ("mdtraj", "h5"): True,
}


class TrajectoryWriter:
    """Append frames one by one, flushing each, so a killed process leaves a readable file.

    path : output file; the format comes from the extension or ``format``.
    numbers : int [n], atomic numbers, optional; checked against each frame.
    topology : ``mdtraj.Topology`` or a PDB path, for pdb/h5 atom names; else
        one is built from the atomic numbers (one residue per atom).
    format : override the extension (``"xtc"``, ``"extxyz"``, ...).
    append : continue an existing file (any format).
    overwrite : if False, an existing file (without ``append``) is an error.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path, *, numbers=None, topology=None, format: Optional[str] = None,
                 append: bool = False, overwrite: bool = True):
        self.path = os.fspath(path)
        self.library, self.format = detect_format(self.path, format)
        key = (self.library, self.format)
        if key not in WRITABLE_FORMATS:
            names = ", ".join(fmt for _, fmt in WRITABLE_FORMATS)
            raise InputError(f"{self.path}: cannot write {self.format} trajectories; writable formats: {names}")
        exists = os.path.exists(self.path)
        if append and not WRITABLE_FORMATS[key]:
            raise InputError(f"{self.path}: appending to {self.format} files is not supported; write a new file")
        if exists and not append and not overwrite:
            raise InputError(f"{self.path} already exists; pass overwrite=True to replace it or append=True")
        if self.format == "h5":
            try:
                import tables  # noqa: F401
            except ImportError:
                raise InputError(
                    f"{self.path}: writing HDF5 trajectories needs PyTables (pip install tables)"
                ) from None
        self.append = bool(append and exists and os.path.getsize(self.path) > 0)
        self._numbers = None if numbers is None else np.asarray(numbers, dtype=np.int64).reshape(-1)
        self._topology = _resolve_topology(topology, self.path)
        if self._topology is not None and self._numbers is not None and self._topology.n_atoms != len(self._numbers):
            raise InputError(f"{self.path}: topology has {self._topology.n_atoms} atoms but `numbers` has "
                             f"{len(self._numbers)}")
        self._backend = None
        self._n_written = 0
        self._closed = False

    # ------------------------------------------------------------------ public
    @property
    def n_written(self) -> int:
        """Frames written (and flushed) by this writer."""
        return self._n_written

    def write(self, system: System, result: Optional[ForceResult] = None) -> None:
        """Write one frame: ``system``'s state and, if given, ``result``'s energy, forces and stress; then flush."""
        if self._closed:
            raise InputError(f"{self.path}: write() after close()")
        system.validate()
        frame = Frame.from_system(system, result, index=self._n_written)
        self._check_atoms(frame)
        if self._backend is None:
            self._open(frame, result)
        else:
            self._backend.write(frame, result)
        self._n_written += 1

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        self._closed = True

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ---------------------------------------------------------------- private
    def _check_atoms(self, frame: Frame) -> None:
        expected = self._numbers
        if expected is None and self._topology is not None:
            if self._topology.n_atoms != frame.n_atoms:
                raise InputError(f"{self.path}: topology has {self._topology.n_atoms} atoms but the system has "
                                 f"{frame.n_atoms}")
            return
        if expected is None:
            self._numbers = frame.numbers.copy()
            return
        if len(expected) != frame.n_atoms:
            raise InputError(f"{self.path}: frame {self._n_written} has {frame.n_atoms} atoms; the file has "
                             f"{len(expected)}")
        if not np.array_equal(expected, frame.numbers):
            atom = int(np.flatnonzero(expected != frame.numbers)[0])
            raise InputError(f"{self.path}: frame {self._n_written}: atom {atom} has atomic number "
                             f"{frame.numbers[atom]}, the file has {expected[atom]}")

    def _open(self, frame: Frame, result: Optional[ForceResult]) -> None:
        """Create the backend with the first frame; remove a new file if that frame cannot be written."""
        existed = os.path.exists(self.path)
        topology = self._topology if self._topology is not None else topology_from_numbers(frame.numbers)
        backend = None
        try:
            backend = _BACKENDS[self.format](self.path, topology, self.append)
            backend.write(frame, result)
        except BaseException:
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
            if not (self.append and existed) and os.path.exists(self.path):
                os.remove(self.path)
            raise
        self._backend = backend


def _resolve_topology(topology, path: str):
    return None if topology is None else load_topology(topology, path)


def _cell_or_none(frame: Frame) -> Optional[np.ndarray]:
    return frame.cell if frame.cell is not None and frame.pbc.any() else None


def _lengths_angles(cell: np.ndarray) -> tuple:
    """Cell rows (any length unit) -> ([1, 3] lengths, [1, 3] angles in degrees)."""
    from mdtraj.utils import box_vectors_to_lengths_and_angles

    a, b, c, alpha, beta, gamma = box_vectors_to_lengths_and_angles(cell[None, 0], cell[None, 1], cell[None, 2])
    return np.stack([a, b, c], axis=1), np.stack([alpha, beta, gamma], axis=1)


# ------------------------------------------------------------------------------- backends
class _Backend:
    """Writes frames to one open file. ``write(frame, result)``, ``close()``."""

    def __init__(self, path: str, topology, append: bool):
        self.path = path
        self.topology = topology
        self.append = append
        self.has_cell = None  # fixed by the first frame for formats that need it constant

    def _check_cell(self, frame: Frame) -> Optional[np.ndarray]:
        cell = _cell_or_none(frame)
        if self.has_cell is None:
            self.has_cell = cell is not None
        elif self.has_cell != (cell is not None):
            state = "has" if self.has_cell else "has no"
            raise InputError(f"{self.path}: frame {frame.index}: the file {state} a periodic box; every frame must "
                             f"match the first")
        return cell

    def close(self) -> None:
        pass


class _ExtXYZBackend(_Backend):
    """Extended XYZ in full float64 precision, readable by ``ase.io.read``."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        self.fh = open(path, "a" if append else "w")

    def write(self, frame: Frame, result: Optional[ForceResult]) -> None:
        self.fh.write(_extxyz_text(frame, result))
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _extxyz_text(frame: Frame, result: Optional[ForceResult]) -> str:
    from ase.data import chemical_symbols
    from ase.io.extxyz import key_val_dict_to_str

    symbols = [chemical_symbols[z] if 0 < z < len(chemical_symbols) else "X" for z in frame.numbers.tolist()]
    masses = frame.masses[:, None]
    props = ["species:S:1", "pos:R:3", "masses:R:1"]
    columns = [frame.positions, masses]
    if frame.velocities is not None:
        props.append("momenta:R:3")  # ASE's name; velocities = momenta / masses on reading
        columns.append(masses * frame.velocities)
    if frame.forces is not None:
        props.append("forces:R:3")
        columns.append(frame.forces)
    info = {}
    if frame.energy is not None:
        info["energy"] = frame.energy
    if result is not None and result.stress is not None:
        info["stress"] = np.asarray(result.stress, dtype=np.float64)
    if frame.time is not None:
        info["time"] = frame.time
    info["pbc"] = frame.pbc
    header = ""
    if frame.cell is not None:
        header = 'Lattice="' + " ".join(repr(x) for x in frame.cell.reshape(-1).tolist()) + '" '
    header += "Properties=" + ":".join(props) + " " + key_val_dict_to_str(info)
    numeric = np.hstack(columns).tolist()
    # str(float) is the shortest string that parses back to the same float64
    lines = [f"{s} " + " ".join(map(str, row)) for s, row in zip(symbols, numeric)]
    return f"{frame.n_atoms}\n{header}\n" + "\n".join(lines) + "\n"


class _ASETrajBackend(_Backend):
    """ASE ``.traj`` (ulm), which flushes after every frame."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        from ase.io.trajectory import Trajectory

        self.traj = Trajectory(path, "a" if append else "w")

    def write(self, frame: Frame, result: Optional[ForceResult]) -> None:
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.stress import full_3x3_to_voigt_6_stress

        system = frame.to_system()
        atoms = system.to_atoms()
        atoms.info = {} if frame.time is None else {"time": frame.time}
        if result is not None:
            results = {"energy": result.energy}
            if result.forces is not None:
                results["forces"] = np.asarray(result.forces, dtype=np.float64)
            if result.stress is not None:
                results["stress"] = full_3x3_to_voigt_6_stress(np.asarray(result.stress, dtype=np.float64))
            atoms.calc = SinglePointCalculator(atoms, **results)
        self.traj.write(atoms)

    def close(self) -> None:
        self.traj.close()


class _XTCBackend(_Backend):
    """XTC through ``XTCTrajectoryFile`` (flushed per frame); appending encodes frames via :class:`_XDRAppender`."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        from mdtraj.formats import XTCTrajectoryFile

        self.first_index = 0
        if append:
            self.file = _XDRAppender(path, "xtc")
            self.first_index = self.file.first_index
        else:
            self.file = XTCTrajectoryFile(path, "w", force_overwrite=True)

    def write(self, frame: Frame, result) -> None:
        cell = self._check_cell(frame)
        box = np.zeros((1, 3, 3)) if cell is None else cell[None] * NM_PER_ANGSTROM
        self.file.write(
            (frame.positions * NM_PER_ANGSTROM)[None].astype(np.float32),
            time=np.array([_time_ps(frame)], dtype=np.float32),
            step=np.array([self.first_index + frame.index], dtype=np.int32),
            box=box.astype(np.float32),
        )
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class _TRRBackend(_Backend):
    """TRR with velocities and forces; MDTraj's TRR class cannot flush, so every frame goes through
    :class:`_XDRAppender` (encoded to bytes, then appended with one flushed write)."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        self.file = _XDRAppender(path, "trr", truncate=not append)

    def write(self, frame: Frame, result) -> None:
        cell = self._check_cell(frame)
        box = np.zeros((1, 3, 3)) if cell is None else cell[None] * NM_PER_ANGSTROM
        velocities = forces = None
        if frame.velocities is not None:
            velocities = (frame.velocities * (TIME_PER_PS * NM_PER_ANGSTROM))[None].astype(np.float32)
        if frame.forces is not None:
            forces = (frame.forces / _ev_per_a_per_kj_mol_nm())[None].astype(np.float32)
        self.file.write_trr(
            (frame.positions * NM_PER_ANGSTROM)[None].astype(np.float32),
            np.array([_time_ps(frame)], dtype=np.float32),
            np.array([self.file.first_index + frame.index], dtype=np.int32),
            box.astype(np.float32),
            velocities,
            forces,
        )
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class _XDRAppender:
    """Append XTC/TRR frames to a file through a Python file handle.

    MDTraj's XDR classes can only create files (mode 'w') and its TRR class has
    no flush, so each frame is encoded by MDTraj into a scratch file in the
    system's temporary folder (never the output folder, where a kill would leave
    it among the user's files) and its bytes appended here. XDR frames are self-contained
    records, so concatenation is a valid file.
    """

    def __init__(self, path: str, kind: str, truncate: bool = False):
        self.path = path
        self.kind = kind
        self.first_index = 0  # frames already in the file: the step field of new frames continues from it
        if not truncate and os.path.exists(path) and os.path.getsize(path) > 0:
            frames, torn = (_scan_xtc_frames if kind == "xtc" else _scan_trr)(path)
            if torn:
                warnings.warn(f"{path}: cutting off an incomplete last frame before appending")
                _cut_bytes(path, frames, len(frames))
            self.first_index = len(frames)
        self.fh = open(path, "wb" if truncate else "ab")

    def _encode(self, write) -> bytes:
        fd, scratch = tempfile.mkstemp(prefix="surrogate-frame-", suffix="." + self.kind)
        os.close(fd)
        try:
            write(scratch)
            with open(scratch, "rb") as fh:
                return fh.read()
        finally:
            os.remove(scratch)

    def write(self, xyz, time, step, box) -> None:
        from mdtraj.formats import XTCTrajectoryFile

        def write_xtc(scratch):
            with XTCTrajectoryFile(scratch, "w", force_overwrite=True) as fh:
                fh.write(xyz, time=time, step=step, box=box)

        self.fh.write(self._encode(write_xtc))

    def write_trr(self, xyz, time, step, box, velocities, forces) -> None:
        from mdtraj.formats import TRRTrajectoryFile

        def write_trr(scratch):
            with TRRTrajectoryFile(scratch, "w", force_overwrite=True) as fh:
                # the public write() drops velocities and forces; _write takes them
                fh._write(xyz, time, step, box, np.zeros(1, dtype=np.float32), velocities, forces)

        self.fh.write(self._encode(write_trr))

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


class _DCDBackend(_Backend):
    """DCD (Å). MDTraj's DCD plugin writes each frame straight to the file and updates the header count;
    appending goes through :class:`_DCDAppender`."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        from mdtraj.formats import DCDTrajectoryFile

        if append:
            self.file = _DCDAppender(path)
            self.has_cell = self.file.has_cell
        else:
            self.file = DCDTrajectoryFile(path, "w", force_overwrite=True)

    def write(self, frame: Frame, result) -> None:
        cell = self._check_cell(frame)
        lengths, angles = (None, None) if cell is None else _lengths_angles(cell)
        self.file.write(frame.positions[None].astype(np.float32), lengths, angles)

    def close(self) -> None:
        self.file.close()


class _DCDAppender:
    """Append DCD frames: MDTraj encodes each frame into a scratch file, its frame records (after the
    header) are appended here, then the frame count (NSET) and last step (NSTEP) in the header are updated.
    An incomplete last frame is cut off first."""

    def __init__(self, path: str):
        self.path = path
        frames, torn = _scan_dcd(path)
        if torn:
            warnings.warn(f"{path}: cutting off an incomplete last frame before appending")
            _cut_dcd(path, frames, len(frames))
        self.n_frames = len(frames)
        self.has_cell = bool(_dcd_layout(path)[3][10])

    def write(self, xyz, lengths, angles) -> None:
        from mdtraj.formats import DCDTrajectoryFile

        fd, scratch = tempfile.mkstemp(prefix="surrogate-frame-", suffix=".dcd")
        os.close(fd)
        try:
            with DCDTrajectoryFile(scratch, "w", force_overwrite=True) as fh:
                fh.write(xyz, lengths, angles)
            header = _dcd_layout(scratch)[1]
            with open(scratch, "rb") as fh:
                fh.seek(header)
                data = fh.read()
        finally:
            os.remove(scratch)
        with open(self.path, "ab") as fh:
            fh.write(data)
        self.n_frames += 1
        frames, _ = _scan_dcd(self.path)
        _cut_dcd(self.path, frames, self.n_frames)  # writes the header count; cuts nothing

    def close(self) -> None:
        pass


class _NetCDFBackend(_Backend):
    """AMBER NetCDF (Å, ps)."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        from mdtraj.formats import NetCDFTrajectoryFile

        if append:
            self.file = _NetCDFAppender(path)
            self.has_cell = self.file.has_cell
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*netCDF4.*")
            self.file = NetCDFTrajectoryFile(path, "w", force_overwrite=True)

    def write(self, frame: Frame, result) -> None:
        cell = self._check_cell(frame)
        lengths, angles = (None, None) if cell is None else _lengths_angles(cell)
        self.file.write(frame.positions[None].astype(np.float32), time=np.array([_time_ps(frame)]),
                        cell_lengths=lengths, cell_angles=angles)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class _NetCDFAppender:
    """Append frames to an AMBER NetCDF file with ``scipy.io.netcdf_file`` in mode 'a' (the record
    dimension grows; each flush rewrites the file, as MDTraj's scipy fallback does)."""

    def __init__(self, path: str):
        from scipy.io import netcdf_file

        try:
            self.nc = netcdf_file(path, "a", mmap=False)
        except (OSError, ValueError, TypeError) as err:
            raise InputError(f"{path}: cannot append to this NetCDF trajectory ({err})") from None
        self.has_cell = "cell_lengths" in self.nc.variables

    def write(self, xyz, time, cell_lengths, cell_angles) -> None:
        variables = self.nc.variables
        n = variables["coordinates"].shape[0]
        variables["coordinates"][n] = xyz[0]
        if "time" in variables:
            variables["time"][n] = time[0]
        if cell_lengths is not None and self.has_cell:
            variables["cell_lengths"][n] = cell_lengths[0]
            variables["cell_angles"][n] = cell_angles[0]

    def flush(self) -> None:
        self.nc.flush()

    def close(self) -> None:
        self.nc.close()


class _PDBBackend(_Backend):
    """Multi-model PDB (Å) with the topology's atom names."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        from mdtraj.formats import PDBTrajectoryFile

        self.first_model = 0
        if append:  # continue after the last whole MODEL, without the END/CONECT footer
            frames, _torn = _scan_pdb(path)
            _cut_pdb(path, frames, len(frames))
            self.first_model = len(frames)
            self.file = _PDBAppender(path, topology)
        else:
            self.file = PDBTrajectoryFile(path, "w", force_overwrite=True)

    def write(self, frame: Frame, result) -> None:
        cell = self._check_cell(frame)
        lengths, angles = (None, None) if cell is None else _lengths_angles(cell)
        self.file.write(frame.positions, self.topology, modelIndex=self.first_model + frame.index,
                        unitcell_lengths=None if lengths is None else tuple(lengths[0]),
                        unitcell_angles=None if angles is None else tuple(angles[0]))
        self.file._file.flush()  # PDBTrajectoryFile exposes no flush(); its text handle does

    def close(self) -> None:
        self.file.close()


class _PDBAppender:
    """Append MODEL blocks: MDTraj writes each into a scratch PDB, whose MODEL … ENDMDL lines are
    appended here; ``close`` adds the END line."""

    def __init__(self, path: str, topology):
        self.path = path
        self._file = open(path, "a")

    def write(self, positions, topology, **kwargs) -> None:
        from mdtraj.formats import PDBTrajectoryFile

        fd, scratch = tempfile.mkstemp(prefix="surrogate-frame-", suffix=".pdb")
        os.close(fd)
        try:
            with PDBTrajectoryFile(scratch, "w", force_overwrite=True) as fh:
                fh.write(positions, topology, **kwargs)
            with open(scratch) as fh:
                text = fh.read()
        finally:
            os.remove(scratch)
        start, end = text.index("MODEL"), text.index("ENDMDL")
        self._file.write(text[start:text.index("\n", end) + 1])

    def close(self) -> None:
        if not self._file.closed:
            self._file.write("END\n")
            self._file.close()


class _HDF5Backend(_Backend):
    """MDTraj HDF5 (nm, ps, kJ/mol); needs PyTables."""

    def __init__(self, path, topology, append):
        super().__init__(path, topology, append)
        from mdtraj.formats import HDF5TrajectoryFile

        if append:
            self.file = HDF5TrajectoryFile(path, "a")
            self.has_cell = "cell_lengths" in self.file.root
        else:
            self.file = HDF5TrajectoryFile(path, "w", force_overwrite=True)
            self.file.topology = topology

    def write(self, frame: Frame, result) -> None:
        from ase import units

        cell = self._check_cell(frame)
        lengths, angles = (None, None) if cell is None else _lengths_angles(cell * NM_PER_ANGSTROM)
        kwargs = {}
        if frame.velocities is not None:
            kwargs["velocities"] = (frame.velocities * (TIME_PER_PS * NM_PER_ANGSTROM))[None].astype(np.float32)
        if frame.energy is not None:
            kwargs["potentialEnergy"] = np.array([frame.energy / (units.kJ / units.mol)], dtype=np.float32)
        self.file.write((frame.positions * NM_PER_ANGSTROM)[None].astype(np.float32),
                        time=np.array([_time_ps(frame)], dtype=np.float32),
                        cell_lengths=lengths, cell_angles=angles, **kwargs)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


_BACKENDS = {
    "extxyz": _ExtXYZBackend,
    "traj": _ASETrajBackend,
    "xtc": _XTCBackend,
    "trr": _TRRBackend,
    "dcd": _DCDBackend,
    "nc": _NetCDFBackend,
    "pdb": _PDBBackend,
    "h5": _HDF5Backend,
}


def _time_ps(frame: Frame) -> float:
    return 0.0 if frame.time is None else frame.time / TIME_PER_PS


def _ev_per_a_per_kj_mol_nm() -> float:
    from ase import units

    return units.kJ / units.mol / ANGSTROM_PER_NM


def pdb_text(traj) -> str:
    """An ``mdtraj.Trajectory`` as PDB text, for :func:`systems.atomic_file.atomic_write_text`
    (MDTraj writes PDB only to a path: a scratch directory here)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frame.pdb")
        traj.save_pdb(path)
        with open(path) as fh:
            return fh.read()
