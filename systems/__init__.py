"""What is simulated: state, units, neighbor lists, classical potentials,
ready-made systems and trajectory I/O. Imports nothing from ``integrators`` or
``surrogate``."""

from . import units
from .errors import CloseContactError, InputError
from .forces import ForceResult
from .neighbor_list import NeighborList, Neighbors, build_pairs
from .frame import Frame
from .state import System
from .trajectory_reader import TruncatedTrajectoryWarning, count_frames, detect_format, read_frames, read_systems
from .trajectory_writer import TrajectoryWriter

__all__ = [
    "System", "ForceResult", "NeighborList", "Neighbors", "build_pairs", "InputError", "CloseContactError", "units",
    "Frame", "read_frames", "read_systems", "count_frames", "detect_format", "TruncatedTrajectoryWarning",
    "TrajectoryWriter",
]
