"""What is simulated: state, units, neighbor lists, classical potentials,
ready-made systems and trajectory I/O. Imports nothing from ``integrators`` or
``surrogate``."""

from . import units
from .errors import CloseContactError, InputError
from .forces import ForceResult
from .neighbor_list import NeighborList, Neighbors, build_pairs
from .state import System

__all__ = ["System", "ForceResult", "NeighborList", "Neighbors", "build_pairs", "InputError", "CloseContactError", "units"]
