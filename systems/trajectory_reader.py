"""Stream frames from any trajectory file that MDTraj or ASE reads, in ASE units.

Formats
-------
MDTraj (nm and ps are converted to Å and ASE time here, at the edge):
    xtc, trr (with velocities and forces when present), dcd, nc/netcdf/ncdf
    (AMBER), lammpstrj/dump, pdb, gro, h5 (needs PyTables) and any other
    extension MDTraj registers except xyz. Formats without atom types (xtc,
    trr, dcd, nc, lammpstrj, ...) need ``top``: a PDB path, an
    ``mdtraj.Topology`` or an ``mdtraj.Trajectory``.
ASE:
    extxyz/xyz, traj, castep (``castep-castep``), FHI-aims output
    (``aims-output``, recognised from ``.out`` files that mention FHI-aims or
    control.in in their first 64 kB) and
    anything else ``ase.io.iread`` knows. Energies, forces, velocities and
    masses come through when the file has them.

Streaming: xtc, trr, dcd, nc and lammpstrj are read in chunks of
``CHUNK_FRAMES`` frames; ASE formats through ``ase.io.iread``. PDB and GRO are
read whole by MDTraj (they are text files with topology, rarely large).

Damaged files (policy)
----------------------
- A file that *ends inside a frame* (a writer killed mid-frame, a copy cut
  short) yields all complete frames, then issues a
  :class:`TruncatedTrajectoryWarning` naming the file and the number of frames
  read. This keeps the output of a killed simulation usable.
- XTC: damage before the end (bad magic number, inconsistent atom count or
  sizes in a frame header) raises :class:`InputError` naming the file, the
  frame and its byte offset *before any frame is yielded*. Damage inside the
  compressed coordinates is found when that frame is decoded (a run past the
  atom count, a stream that ends early or does not fill its byte count): the
  frames before it are yielded, then :class:`InputError` names the frame.
  XTC has no checksums, so a few flipped coordinate bits that still decode
  consistently cannot be detected.
  XTC frames are decoded by :mod:`systems.xtc_codec`, a bounds-checked Numba
  transcription of xdrfile (bit-identical output): MDTraj 1.11's own decoder
  crashes the interpreter on damaged frames (segfault, heap corruption).
- For the other formats, the underlying reader's error is turned into
  :class:`InputError` when no frame could be read, and into the warning above
  (naming the frame where reading stopped and the reason) after frames were
  read: from the outside, a truncated tail and a damaged tail look alike.
- A frame with NaN or inf positions, cell, velocities or forces raises
  :class:`InputError` naming the file, frame and atom.
"""

from __future__ import annotations

import array
import os
import struct
import warnings
from typing import Iterator, Optional

import numpy as np

from .errors import InputError
from .frame import Frame
from .state import System
from .units import ANGSTROM_PER_NM, TIME_PER_PS

#: Frames decoded per MDTraj call while streaming.
CHUNK_FRAMES = 256


class TruncatedTrajectoryWarning(UserWarning):
    """A trajectory file ends inside a frame; the complete frames before it were read."""


# extension -> MDTraj format name (the registry extension without the dot)
_MDTRAJ_EXTENSIONS = {
    "xtc": "xtc",
    "trr": "trr",
    "dcd": "dcd",
    "nc": "nc",
    "netcdf": "nc",
    "ncdf": "nc",
    "lammpstrj": "lammpstrj",
    "dump": "lammpstrj",
    "pdb": "pdb",
    "pdb.gz": "pdb.gz",
    "gro": "gro",
    "h5": "h5",
    "hdf5": "h5",
}
# MDTraj formats that carry atom types themselves (no `top` needed).
_MDTRAJ_WITH_TOPOLOGY = {"pdb", "pdb.gz", "gro", "h5", "lh5", "mol2", "hoomdxml", "pdbx", "cif", "mmcif", "gsd", "arc"}
# MDTraj formats that store a real simulation time (the others get time None).
_MDTRAJ_WITH_TIME = {"xtc", "trr", "nc", "h5"}
# extension -> ASE format name, where ASE's own guess is not what users mean.
_ASE_EXTENSIONS = {"xyz": "extxyz", "extxyz": "extxyz", "traj": "traj", "castep": "castep-castep"}


# --------------------------------------------------------------------------- format detection
def _extension(path: str) -> str:
    name = os.path.basename(path).lower()
    if name.endswith(".gz") and name.count(".") >= 2:
        return ".".join(name.rsplit(".", 2)[-2:])
    return name.rsplit(".", 1)[-1] if "." in name else ""


def _mdtraj_registry_extensions() -> set:
    from mdtraj.formats.registry import FormatRegistry

    return {ext.lstrip(".") for ext in list(FormatRegistry.loaders) + list(FormatRegistry.fileobjects)}


def _ase_formats() -> dict:
    from ase.io.formats import ioformats

    return ioformats


def detect_format(path, format: Optional[str] = None) -> tuple:
    """Which library reads ``path`` and under which format name.

    Returns ``("mdtraj", ext)`` (e.g. ``"xtc"``) or ``("ase", ase_format)``
    (e.g. ``"extxyz"``, ``"aims-output"``). ``format`` overrides the extension:
    an MDTraj extension or any ASE format name. Raises :class:`InputError`
    naming the file for an unknown format.
    """
    path = os.fspath(path)
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt in _MDTRAJ_EXTENSIONS:
            return "mdtraj", _MDTRAJ_EXTENSIONS[fmt]
        if fmt in _ASE_EXTENSIONS:
            return "ase", _ASE_EXTENSIONS[fmt]
        if fmt in _ase_formats():
            return "ase", fmt
        if fmt in _mdtraj_registry_extensions():
            return "mdtraj", fmt
        raise InputError(
            f"{path}: unknown trajectory format {format!r}; use an MDTraj extension "
            f"({', '.join(sorted(_MDTRAJ_EXTENSIONS))}) or an ASE format name (see `ase info --formats`)"
        )
    ext = _extension(path)
    if ext in _MDTRAJ_EXTENSIONS:
        return "mdtraj", _MDTRAJ_EXTENSIONS[ext]
    if ext in _ASE_EXTENSIONS:
        return "ase", _ASE_EXTENSIONS[ext]
    if ext == "out" and _mentions(path, (b"FHI-aims", b"control.in")):
        # ASE's content sniffing takes aims MD output for espresso output.
        return "ase", "aims-output"
    if ext and ext in _mdtraj_registry_extensions():
        return "mdtraj", ext
    if os.path.exists(path):
        from ase.io.formats import UnknownFileTypeError, filetype

        try:
            return "ase", filetype(path, guess=False)
        except (UnknownFileTypeError, OSError, ValueError) as err:
            raise InputError(f"{path}: cannot tell the trajectory format from the extension or contents ({err}); "
                             f"pass format=") from None
    if ext in _ase_formats():
        return "ase", ext
    raise InputError(f"{path}: unknown trajectory extension {ext!r}; pass format= (an MDTraj extension or ASE format)")


def _mentions(path: str, needles: tuple, n_bytes: int = 65536) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(n_bytes)
        return any(needle in head for needle in needles)
    except OSError:
        return False


# --------------------------------------------------------------------------- public API
def read_frames(path, top=None, *, start: int = 0, stop: Optional[int] = None, stride: int = 1,
                format: Optional[str] = None) -> Iterator[Frame]:
    """Stream frames ``start:stop:stride`` of a trajectory file, in ASE units.

    path : trajectory file.
    top : topology for formats without atom types (xtc, trr, dcd, nc, lammpstrj):
        a PDB path, ``mdtraj.Topology`` or ``mdtraj.Trajectory``. Ignored by ASE formats.
    start, stop, stride : frame selection, as a Python slice (non-negative).
    format : override the format guessed from the extension (see :func:`detect_format`).

    Yields :class:`Frame` objects: positions Å, cell Å, time in ASE units
    (None where the format stores none), and energy eV, forces eV/Å,
    velocities Å/ASE-time, masses amu where the file has them. Damaged files:
    see the module docstring.
    """
    path = os.fspath(path)
    _check_slice(start, stop, stride)
    library, fmt = detect_format(path, format)
    if not os.path.exists(path):
        raise InputError(f"trajectory file {path} does not exist")
    if library == "ase":
        frames = _ase_frames(path, fmt, start, stop, stride)
    else:
        frames = _mdtraj_frames(path, fmt, top, start, stop, stride)
    for frame in frames:
        _check_finite(path, frame)
        yield frame


def read_systems(path, top=None, **kw) -> Iterator[System]:
    """Like :func:`read_frames`, yielding ``frame.to_system()`` (default masses; zero velocities if absent)."""
    for frame in read_frames(path, top, **kw):
        yield frame.to_system()


def count_frames(path, top=None, format: Optional[str] = None) -> int:
    """Number of frames in ``path``.

    Cheap for xtc (header scan), trr, dcd and nc (MDTraj's index), traj (its
    index) and extxyz (a line scan); other formats are read through once.
    """
    path = os.fspath(path)
    library, fmt = detect_format(path, format)
    if not os.path.exists(path):
        raise InputError(f"trajectory file {path} does not exist")
    try:
        if library == "mdtraj" and fmt == "xtc":
            return len(_scan_xtc(path).offsets)
        if library == "mdtraj" and fmt in ("trr", "dcd", "nc"):
            from mdtraj.formats.registry import FormatRegistry

            with _quiet_netcdf(), FormatRegistry.fileobjects["." + fmt](path) as fh:
                return len(fh)
        if library == "ase" and fmt == "traj":
            from ase.io.trajectory import Trajectory

            with Trajectory(path) as traj:
                return len(traj)
        if library == "ase" and fmt == "extxyz":
            return _count_xyz_frames(path)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure becomes a named input error
        raise InputError(f"{path}: cannot read {fmt} file: {type(err).__name__}: {err}") from None
    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedTrajectoryWarning)
        for _ in read_frames(path, top, format=format):
            n += 1
    return n


# --------------------------------------------------------------------------- checks
def _check_slice(start, stop, stride) -> None:
    if int(start) < 0:
        raise InputError(f"`start` must be >= 0, got {start}")
    if stop is not None and int(stop) < 0:
        raise InputError(f"`stop` must be >= 0 or None, got {stop}")
    if int(stride) < 1:
        raise InputError(f"`stride` must be >= 1, got {stride}")


def _check_finite(path: str, frame: Frame) -> None:
    for name in ("positions", "velocities", "forces"):
        arr = getattr(frame, name)
        if arr is None:
            continue
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            atom = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: frame {frame.index}: {name} of atom {atom} are not finite ({arr[atom].tolist()}); "
                f"{int(bad.sum())} atoms affected"
            )
    if frame.cell is not None and not np.isfinite(frame.cell).all():
        raise InputError(f"{path}: frame {frame.index}: cell is not finite ({frame.cell.tolist()})")


def _warn_truncated(path: str, n_read: int, index: int, reason: str) -> None:
    warnings.warn(
        TruncatedTrajectoryWarning(
            f"{path}: reading stopped at frame {index} ({reason}); the file is truncated or damaged from there. "
            f"{n_read} complete frames were read."
        ),
        stacklevel=3,
    )


# --------------------------------------------------------------------------- ASE
def _ase_frames(path: str, fmt: str, start: int, stop, stride: int) -> Iterator[Frame]:
    import ase.io

    index = slice(start, stop, stride)
    frames = ase.io.iread(path, index=index, format=fmt)
    k = 0
    while True:
        file_index = start + k * stride
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except Exception as err:  # noqa: BLE001 - ASE raises many types for bad files
            reason = f"{type(err).__name__}: {err}"
            if k == 0:
                raise InputError(f"{path}: cannot read {fmt} file: {reason}") from None
            _warn_truncated(path, k, file_index, reason)
            return
        yield _frame_from_atoms(atoms, file_index)
        k += 1


def _frame_from_atoms(atoms, index: int) -> Frame:
    results = atoms.calc.results if atoms.calc is not None else {}
    energy = results.get("energy", results.get("free_energy"))
    cell = np.array(atoms.cell, dtype=np.float64)
    time = atoms.info.get("time")
    return Frame(
        numbers=atoms.numbers,
        positions=atoms.positions,
        cell=cell if cell.any() else None,
        pbc=atoms.pbc,
        time=None if time is None else float(time),
        index=index,
        energy=energy,
        forces=results.get("forces"),
        velocities=atoms.get_velocities() if "momenta" in atoms.arrays else None,
        masses=atoms.arrays["masses"] if "masses" in atoms.arrays else None,
    )


def _count_xyz_frames(path: str) -> int:
    """Count complete (ext)xyz frames by skipping atom lines."""
    n = 0
    with open(path, "rb") as fh:
        while True:
            line = fh.readline()
            if not line or not line.strip():
                return n
            try:
                n_atoms = int(line)
            except ValueError:
                raise InputError(f"{path}: frame {n} does not start with an atom count (got {line[:40]!r})") from None
            for _ in range(n_atoms + 1):
                if not fh.readline():
                    return n
            n += 1


# --------------------------------------------------------------------------- MDTraj
def _load_topology(top, path: str, fmt: str):
    if top is None:
        if fmt in _MDTRAJ_WITH_TOPOLOGY:
            return None
        raise InputError(
            f"{path}: {fmt} files hold no atom types; pass top= (a PDB path, mdtraj.Topology or mdtraj.Trajectory)"
        )
    return load_topology(top, path)


def load_topology(top, path) -> "mdtraj.Topology":  # noqa: F821
    """An ``mdtraj.Topology`` from a Topology, a Trajectory or a file path (PDB, GRO, ...).

    ``path`` is the trajectory the topology is for, named in errors.
    """
    import mdtraj

    if isinstance(top, mdtraj.Topology):
        return top
    if isinstance(top, mdtraj.Trajectory):
        return top.topology
    top_path = os.fspath(top)
    if not os.path.exists(top_path):
        raise InputError(f"topology file {top_path} (for {path}) does not exist")
    try:
        return mdtraj.load_topology(top_path)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"cannot read topology file {top_path}: {type(err).__name__}: {err}") from None


def _numbers(topology) -> np.ndarray:
    return np.array(
        [a.element.atomic_number if a.element is not None else 0 for a in topology.atoms], dtype=np.int64
    )


def _check_atom_count(path: str, topology, top, n_atoms_file: int) -> None:
    if topology is not None and topology.n_atoms != n_atoms_file:
        name = top if isinstance(top, (str, os.PathLike)) else "the topology"
        raise InputError(f"{path}: frames have {n_atoms_file} atoms but {name} has {topology.n_atoms}")


def _box_to_cell(box_nm) -> Optional[np.ndarray]:
    if box_nm is None:
        return None
    box = np.asarray(box_nm, dtype=np.float64)
    return box * ANGSTROM_PER_NM if box.any() else None


def _mdtraj_frame(numbers, xyz_nm, box_nm, time_ps, index, velocities_nm_ps=None, forces_kj_mol_nm=None) -> Frame:
    cell = _box_to_cell(box_nm)
    return Frame(
        numbers=numbers,
        positions=np.asarray(xyz_nm, dtype=np.float64) * ANGSTROM_PER_NM,
        cell=cell,
        pbc=np.full(3, cell is not None),
        time=None if time_ps is None else float(time_ps) * TIME_PER_PS,
        index=index,
        velocities=None if velocities_nm_ps is None
        else np.asarray(velocities_nm_ps, dtype=np.float64) * (ANGSTROM_PER_NM / TIME_PER_PS),
        forces=None if forces_kj_mol_nm is None
        else np.asarray(forces_kj_mol_nm, dtype=np.float64) * _ev_per_a_per_kj_mol_nm(),
    )


def _ev_per_a_per_kj_mol_nm() -> float:
    from ase import units

    return units.kJ / units.mol / ANGSTROM_PER_NM


def _mdtraj_frames(path: str, fmt: str, top, start: int, stop, stride: int) -> Iterator[Frame]:
    topology = _load_topology(top, path, fmt)
    if fmt == "h5":
        try:
            import tables  # noqa: F401
        except ImportError:
            raise InputError(f"{path}: reading HDF5 trajectories needs PyTables (pip install tables)") from None
    if fmt == "xtc":
        yield from _xtc_frames(path, topology, top, start, stop, stride)
    elif fmt == "trr":
        yield from _trr_frames(path, topology, top, start, stop, stride)
    elif fmt in ("dcd", "nc", "lammpstrj"):
        yield from _fileobject_frames(path, fmt, topology, top, start, stop, stride)
    else:
        yield from _iterload_frames(path, fmt, topology, top, start, stop, stride)


def _selected(index: int, start: int, stop, stride: int) -> bool:
    return index >= start and (stop is None or index < stop) and (index - start) % stride == 0


def _fileobject_frames(path, fmt, topology, top, start, stop, stride) -> Iterator[Frame]:
    """dcd, nc, lammpstrj: MDTraj's file object, read in chunks of contiguous frames."""
    from mdtraj.formats.registry import FormatRegistry

    cls = FormatRegistry.fileobjects["." + fmt]
    numbers = _numbers(topology)
    try:
        with _quiet_netcdf():
            fh = cls(path)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{path}: cannot open {fmt} file: {type(err).__name__}: {err}") from None
    with fh:
        n_read = 0
        index = start
        try:
            if start:
                fh.seek(start)
        except Exception as err:  # noqa: BLE001
            raise InputError(f"{path}: cannot seek to frame {start}: {type(err).__name__}: {err}") from None
        while stop is None or index < stop:
            n_want = CHUNK_FRAMES if stop is None else min(CHUNK_FRAMES, stop - index)
            try:
                with _quiet_netcdf():
                    traj = fh.read_as_traj(topology, n_frames=n_want)
            except Exception as err:  # noqa: BLE001
                _raise_or_warn(path, fmt, n_read, index, err, topology, top)
                return
            if traj.n_frames == 0:
                return
            _check_atom_count(path, topology, top, traj.n_atoms)
            times = traj.time if fmt in _MDTRAJ_WITH_TIME else [None] * traj.n_frames
            boxes = traj.unitcell_vectors
            for k in range(traj.n_frames):
                if _selected(index, start, stop, stride):
                    yield _mdtraj_frame(numbers, traj.xyz[k], None if boxes is None else boxes[k], times[k], index)
                    n_read += 1
                index += 1
            if traj.n_frames < n_want:
                break
    if fmt == "dcd" and (stop is None or index < stop):
        # MDTraj's DCD plugin stops silently before a partial last frame
        partial = _dcd_partial_tail(path)
        if partial:
            _warn_truncated(path, n_read, index, f"{partial} bytes of an incomplete frame at the end")


def _raise_or_warn(path, fmt, n_read, index, err, topology=None, top=None) -> None:
    message = str(err)
    if topology is not None and "must be shape" in message:
        # mdtraj's message for an atom-count mismatch between file and topology
        name = top if isinstance(top, (str, os.PathLike)) else "the topology"
        raise InputError(f"{path}: the frames' atom count does not match {name} ({topology.n_atoms} atoms): "
                         f"{message}") from None
    reason = f"{type(err).__name__}: {message}"
    if n_read == 0:
        raise InputError(f"{path}: cannot read {fmt} frame {index}: {reason}") from None
    _warn_truncated(path, n_read, index, reason)


def _iterload_frames(path, fmt, topology, top, start, stop, stride) -> Iterator[Frame]:
    """pdb, gro, h5 and other MDTraj formats through ``mdtraj.iterload``."""
    import mdtraj

    n_read = 0
    index = 0
    try:
        chunks = mdtraj.iterload(path, top=topology, chunk=CHUNK_FRAMES) if topology is not None \
            else mdtraj.iterload(path, chunk=CHUNK_FRAMES)
        for traj in chunks:
            numbers = _numbers(traj.topology)
            _check_atom_count(path, topology, top, traj.n_atoms)
            times = traj.time if fmt in _MDTRAJ_WITH_TIME else [None] * traj.n_frames
            boxes = traj.unitcell_vectors
            for k in range(traj.n_frames):
                if stop is not None and index >= stop:
                    return
                if _selected(index, start, stop, stride):
                    yield _mdtraj_frame(numbers, traj.xyz[k], None if boxes is None else boxes[k], times[k], index)
                    n_read += 1
                index += 1
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001
        _raise_or_warn(path, fmt, n_read, index, err, topology, top)


class _quiet_netcdf(warnings.catch_warnings):
    """Silence MDTraj's 'netCDF4 is not installed, using scipy' notice (scipy works)."""

    def __enter__(self):
        out = super().__enter__()
        warnings.filterwarnings("ignore", message=".*netCDF4.*")
        return out


# --------------------------------------------------------------------------- TRR
def _trr_frames(path, topology, top, start, stop, stride) -> Iterator[Frame]:
    """TRR frame by frame, with velocities and forces when the file has them.

    MDTraj's public TRR ``read`` drops velocities and forces; its ``_read``
    returns them (``xyz, time, step, box, lambd, velocities, forces``).
    """
    from mdtraj.formats import TRRTrajectoryFile

    numbers = _numbers(topology)

    def open_trr():
        try:
            return TRRTrajectoryFile(path)
        except Exception as err:  # noqa: BLE001
            raise InputError(f"{path}: cannot open trr file: {type(err).__name__}: {err}") from None

    has = []
    for want in ((True, False), (False, True)):
        with open_trr() as fh:
            try:
                fh._read(1, None, *want)
                has.append(True)
            except RuntimeError:
                has.append(False)
    has_v, has_f = has
    with open_trr() as fh:
        index = 0
        n_read = 0
        while stop is None or index < stop:
            try:
                xyz, time, _step, box, _lambd, vel, frc = fh._read(1, None, has_v, has_f)
            except Exception as err:  # noqa: BLE001
                _raise_or_warn(path, "trr", n_read, index, err)
                return
            if len(xyz) == 0:
                return
            _check_atom_count(path, topology, top, xyz.shape[1])
            if _selected(index, start, stop, stride):
                yield _mdtraj_frame(numbers, xyz[0], box[0], time[0], index,
                                    None if vel is None else vel[0], None if frc is None else frc[0])
                n_read += 1
            index += 1


# --------------------------------------------------------------------------- XTC
_XTC_MAGIC = 1995
_XTC_HEADER = struct.Struct(">iiif9fi")  # magic, natoms, step, time, box[9], natoms again: 56 bytes
_XTC_COMPRESSED = struct.Struct(">f3i3iii")  # precision, minint[3], maxint[3], smallidx, byte count: 36 bytes
_XTC_N_MAGICINTS = 73  # length of xdrfile's magicints table; smallidx indexes it


class _XTCScan:
    """Byte offsets of the complete, well-formed frames of an XTC file."""

    def __init__(self, offsets: np.ndarray, end: int, n_atoms: int, truncated: Optional[str]):
        self.offsets = offsets  # int64 [n_frames], byte offset of each complete frame
        self.end = end  # byte just after the last complete frame
        self.n_atoms = n_atoms
        self.truncated = truncated  # why the tail is incomplete, or None

    def frame_bytes(self, first: int, last: int) -> tuple:
        """Byte range [lo, hi) holding frames first..last-1."""
        hi = int(self.offsets[last]) if last < len(self.offsets) else self.end
        return int(self.offsets[first]), hi


def _scan_xtc(path: str, limit: Optional[int] = None) -> _XTCScan:
    """Walk the XTC frame headers (the first ``limit`` frames, or all), checking every size field.

    Only headers are read (about 100 bytes per frame); offsets take 8 bytes
    per frame. A damaged header raises InputError naming frame and byte.
    """
    size = os.path.getsize(path)
    offsets = array.array("q")
    n_atoms = None
    pos = 0
    truncated = None
    with open(path, "rb") as fh:
        while pos < size and (limit is None or len(offsets) < limit):
            frame = len(offsets)
            fh.seek(pos)
            head = fh.read(_XTC_HEADER.size)
            if len(head) < _XTC_HEADER.size:
                truncated = f"frame header cut after {len(head)} bytes"
                break
            magic, natoms, _step, _time, *_box, natoms2 = _XTC_HEADER.unpack(head)
            problem = None
            if magic != _XTC_MAGIC:
                problem = f"bad magic number {magic} (an XTC frame starts with {_XTC_MAGIC})"
            elif natoms <= 0 or natoms2 != natoms or (n_atoms is not None and natoms != n_atoms):
                problem = f"inconsistent atom count {natoms}/{natoms2} (file has {n_atoms or natoms})"
            length = _XTC_HEADER.size
            if problem is None and natoms <= 9:
                length += 12 * natoms  # small frames are stored uncompressed
            elif problem is None:
                comp = fh.read(_XTC_COMPRESSED.size)
                if len(comp) < _XTC_COMPRESSED.size:
                    truncated = "frame cut inside its compression header"
                    break
                precision, *ints, smallidx, n_bytes = _XTC_COMPRESSED.unpack(comp)
                minint, maxint = ints[:3], ints[3:]
                if not (np.isfinite(precision) and precision > 0):
                    problem = f"invalid precision {precision}"
                elif any(lo > hi for lo, hi in zip(minint, maxint)):
                    problem = f"invalid coordinate range {minint}..{maxint}"
                elif not 0 <= smallidx < _XTC_N_MAGICINTS:
                    problem = f"invalid size index {smallidx}"
                elif not 0 <= n_bytes <= 14 * natoms:
                    # xdrfile's buffer holds 1.2 ints per coordinate (14.4 bytes per atom)
                    problem = f"invalid compressed size {n_bytes} bytes for {natoms} atoms"
                length += _XTC_COMPRESSED.size + (n_bytes + 3) // 4 * 4
            if problem is not None:
                raise InputError(f"{path}: XTC frame {frame} at byte {pos} is corrupt: {problem}")
            if pos + length > size:
                truncated = f"last frame needs {length} bytes but only {size - pos} remain"
                break
            n_atoms = natoms
            offsets.append(pos)
            pos += length
    if not offsets and truncated is not None:
        raise InputError(f"{path}: no complete XTC frame ({truncated})")
    return _XTCScan(np.frombuffer(offsets, dtype=np.int64) if offsets else np.zeros(0, np.int64), pos,
                    n_atoms or 0, truncated)


def _xtc_frames(path, topology, top, start, stop, stride) -> Iterator[Frame]:
    """XTC frames decoded by :mod:`systems.xtc_codec` (bit-identical to MDTraj, bounds-checked)."""
    scan = _scan_xtc(path, limit=stop)  # with `stop`, the headers after it are never read
    _check_atom_count(path, topology, top, scan.n_atoms)
    numbers = _numbers(topology)
    n_frames = len(scan.offsets)
    end = n_frames if stop is None else min(stop, n_frames)
    wanted = range(start, end, stride)
    if stride == 1:
        blocks = [(i, min(CHUNK_FRAMES, end - i)) for i in range(start, end, CHUNK_FRAMES)]
    else:
        blocks = [(i, 1) for i in wanted]
    with open(path, "rb") as fh:
        for first, count in blocks:
            lo, hi = scan.frame_bytes(first, first + count)
            fh.seek(lo)
            data = fh.read(hi - lo)
            for index in range(first, first + count):
                yield _decode_xtc_frame(path, data, int(scan.offsets[index]) - lo, lo, numbers, index)
    if scan.truncated is not None and end == n_frames:
        _warn_truncated(path, len(wanted), n_frames, scan.truncated)


def _decode_xtc_frame(path: str, data: bytes, rel: int, base: int, numbers, index: int) -> Frame:
    """One XTC frame from ``data[rel:]`` (a header already checked by :func:`_scan_xtc`); nm, ps in the file."""
    from .xtc_codec import MESSAGES, OK, decode_xtc_coordinates

    _magic, n_atoms, _step, time_ps, *box, _ = _XTC_HEADER.unpack_from(data, rel)
    if n_atoms <= 9:
        xyz = np.frombuffer(data, dtype=">f4", count=3 * n_atoms, offset=rel + _XTC_HEADER.size).reshape(n_atoms, 3)
    else:
        precision, *ints, smallidx, n_bytes = _XTC_COMPRESSED.unpack_from(data, rel + _XTC_HEADER.size)
        xyz = np.empty((n_atoms, 3), dtype=np.float32)
        status = decode_xtc_coordinates(
            np.frombuffer(data, dtype=np.uint8), rel + _XTC_HEADER.size + _XTC_COMPRESSED.size, n_bytes, n_atoms,
            precision, np.array(ints[:3], dtype=np.int64), np.array(ints[3:], dtype=np.int64), smallidx, xyz,
        )
        if status != OK:
            raise InputError(f"{path}: XTC frame {index} at byte {base + rel} is corrupt: {MESSAGES[status]}")
    box_nm = np.array(box, dtype=np.float32).reshape(3, 3)
    return _mdtraj_frame(numbers, xyz.astype(np.float32), box_nm, np.float32(time_ps), index)


def _dcd_partial_tail(path: str) -> int:
    """Bytes after the last complete DCD frame (0 for an intact file).

    Layout (Fortran records): [84] 'CORD' 20 control ints [84] · [L] titles [L] ·
    [4] n_atoms [4] · then per frame an optional unit-cell record of 6 doubles
    (control int 10) and x, y, z records of n_atoms float32 (plus a 4th when
    control int 11 is set).
    """
    with open(path, "rb") as fh:
        head = fh.read(8192)
    for endian in ("<", ">"):
        if len(head) >= 96 and struct.unpack_from(endian + "i", head, 0)[0] == 84:
            break
    else:
        return 0  # not a layout we know; MDTraj already read what it could
    control = struct.unpack_from(endian + "20i", head, 8)
    title_len = struct.unpack_from(endian + "i", head, 92)[0]
    atoms_at = 92 + 4 + title_len + 4
    if title_len < 0 or atoms_at + 12 > len(head):
        return 0
    n_atoms = struct.unpack_from(endian + "i", head, atoms_at + 4)[0]
    header = atoms_at + 12
    frame = 3 * (8 + 4 * n_atoms) + (8 + 48 if control[10] else 0) + ((8 + 4 * n_atoms) if control[11] else 0)
    return (os.path.getsize(path) - header) % frame if frame > 0 else 0
