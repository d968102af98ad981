"""What is simulated: state, units, neighbor lists, classical potentials,
ready-made systems and trajectory I/O. Imports nothing from ``integrators`` or
``surrogate``.

The names below are imported on first use (PEP 562), so that ``import
systems.errors`` (every command-line entry point needs it) does not pull in
Numba, ASE or MDTraj.
"""

from __future__ import annotations

from .lazy_exports import lazy_exports

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "units": None,
    "InputError": ".errors", "CloseContactError": ".errors",
    "ForceResult": ".forces",
    "NeighborList": ".neighbor_list", "Neighbors": ".neighbor_list", "build_pairs": ".neighbor_list",
    "Frame": ".frame",
    "System": ".state",
    "TruncatedTrajectoryWarning": ".trajectory_reader", "count_frames": ".trajectory_reader",
    "detect_format": ".trajectory_reader", "read_frames": ".trajectory_reader", "read_systems": ".trajectory_reader",
    "TrajectoryWriter": ".trajectory_writer",
}

__all__ = [
    "System", "ForceResult", "NeighborList", "Neighbors", "build_pairs", "InputError", "CloseContactError", "units",
    "Frame", "read_frames", "read_systems", "count_frames", "detect_format", "TruncatedTrajectoryWarning",
    "TrajectoryWriter",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
