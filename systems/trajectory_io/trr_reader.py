"""GROMACS TRR frames, with velocities and forces when the file has them."""

from __future__ import annotations

from typing import Iterator

from ..errors import InputError
from ..frame import Frame
from .damage import raise_or_warn
from .nm_frame import frame_from_nm_ps
from .topology import atomic_numbers, check_atom_count


def selected(index: int, start: int, stop, stride: int) -> bool:
    """Whether file frame ``index`` is in the slice ``start:stop:stride``."""
    return index >= start and (stop is None or index < stop) and (index - start) % stride == 0


def trr_frames(path, topology, top, start, stop, stride) -> Iterator[Frame]:
    """TRR frame by frame, in ASE units.

    MDTraj's public TRR ``read`` drops velocities and forces; its ``_read``
    returns them (``xyz, time, step, box, lambd, velocities, forces``).
    """
    from mdtraj.formats import TRRTrajectoryFile

    numbers = atomic_numbers(topology)

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
                raise_or_warn(path, "trr", n_read, index, err)
                return
            if len(xyz) == 0:
                return
            check_atom_count(path, topology, top, xyz.shape[1])
            if selected(index, start, stop, stride):
                yield frame_from_nm_ps(numbers, xyz[0], box[0], time[0], index,
                                       None if vel is None else vel[0], None if frc is None else frc[0])
                n_read += 1
            index += 1
