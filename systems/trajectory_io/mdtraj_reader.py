"""Frames from the formats MDTraj reads, in ASE units: file objects (dcd, nc, lammpstrj) and
``mdtraj.iterload`` (pdb, gro, h5, ...) here; XTC and TRR in their own modules."""

from __future__ import annotations

import warnings
from typing import Iterator

from ..errors import InputError
from ..frame import Frame
from . import formats
from .damage import raise_or_warn, warn_truncated
from .dcd_tail import dcd_partial_tail
from .formats import MDTRAJ_WITH_TIME
from .nm_frame import frame_from_nm_ps
from .topology import atomic_numbers, check_atom_count, topology_for
from .trr_reader import selected, trr_frames
from .xtc_scan import xtc_frames


def mdtraj_frames(path: str, fmt: str, top, start: int, stop, stride: int) -> Iterator[Frame]:
    """Frames ``start:stop:stride`` of ``path`` (MDTraj format ``fmt``), in ASE units.

    top : topology for formats without atom types (a PDB path, ``mdtraj.Topology`` or ``mdtraj.Trajectory``).
    """
    topology = topology_for(top, path, fmt)
    if fmt == "h5":
        try:
            import tables  # noqa: F401
        except ImportError:
            raise InputError(f"{path}: reading HDF5 trajectories needs PyTables (pip install tables)") from None
    if fmt == "xtc":
        yield from xtc_frames(path, topology, top, start, stop, stride)
    elif fmt == "trr":
        yield from trr_frames(path, topology, top, start, stop, stride)
    elif fmt in ("dcd", "nc", "lammpstrj"):
        yield from _fileobject_frames(path, fmt, topology, top, start, stop, stride)
    else:
        yield from _iterload_frames(path, fmt, topology, top, start, stop, stride)


def count_fileobject_frames(path: str, fmt: str) -> int:
    """Frame count of a trr, dcd or nc file from MDTraj's index."""
    from mdtraj.formats.registry import FormatRegistry

    with quiet_netcdf(), FormatRegistry.fileobjects["." + fmt](path) as fh:
        return len(fh)


def _fileobject_frames(path, fmt, topology, top, start, stop, stride) -> Iterator[Frame]:
    """dcd, nc, lammpstrj: MDTraj's file object, read in chunks of contiguous frames."""
    from mdtraj.formats.registry import FormatRegistry

    cls = FormatRegistry.fileobjects["." + fmt]
    numbers = atomic_numbers(topology)
    try:
        with quiet_netcdf():
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
            chunk = formats.CHUNK_FRAMES
            n_want = chunk if stop is None else min(chunk, stop - index)
            try:
                with quiet_netcdf():
                    traj = fh.read_as_traj(topology, n_frames=n_want)
            except Exception as err:  # noqa: BLE001
                raise_or_warn(path, fmt, n_read, index, err, topology, top)
                return
            if traj.n_frames == 0:
                return
            check_atom_count(path, topology, top, traj.n_atoms)
            times = traj.time if fmt in MDTRAJ_WITH_TIME else [None] * traj.n_frames
            boxes = traj.unitcell_vectors
            for k in range(traj.n_frames):
                if selected(index, start, stop, stride):
                    yield frame_from_nm_ps(numbers, traj.xyz[k], None if boxes is None else boxes[k], times[k], index)
                    n_read += 1
                index += 1
            if traj.n_frames < n_want:
                break
    if fmt == "dcd" and (stop is None or index < stop):
        # MDTraj's DCD plugin stops silently before a partial last frame
        partial = dcd_partial_tail(path)
        if partial:
            warn_truncated(path, n_read, index, f"{partial} bytes of an incomplete frame at the end")


def _iterload_frames(path, fmt, topology, top, start, stop, stride) -> Iterator[Frame]:
    """pdb, gro, h5 and other MDTraj formats through ``mdtraj.iterload``."""
    import mdtraj

    n_read = 0
    index = 0
    try:
        chunk = formats.CHUNK_FRAMES
        chunks = mdtraj.iterload(path, top=topology, chunk=chunk) if topology is not None \
            else mdtraj.iterload(path, chunk=chunk)
        for traj in chunks:
            numbers = atomic_numbers(traj.topology)
            check_atom_count(path, topology, top, traj.n_atoms)
            times = traj.time if fmt in MDTRAJ_WITH_TIME else [None] * traj.n_frames
            boxes = traj.unitcell_vectors
            for k in range(traj.n_frames):
                if stop is not None and index >= stop:
                    return
                if selected(index, start, stop, stride):
                    yield frame_from_nm_ps(numbers, traj.xyz[k], None if boxes is None else boxes[k], times[k], index)
                    n_read += 1
                index += 1
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001
        raise_or_warn(path, fmt, n_read, index, err, topology, top)


class quiet_netcdf(warnings.catch_warnings):
    """Silence MDTraj's 'netCDF4 is not installed, using scipy' notice (scipy works)."""

    def __enter__(self):
        out = super().__enter__()
        warnings.filterwarnings("ignore", message=".*netCDF4.*")
        return out
