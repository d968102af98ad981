"""What is simulated: state, units, neighbor lists, classical potentials,
ready-made systems and trajectory I/O. Imports nothing from ``integrators`` or
``surrogate``.

The names below are imported on first use (PEP 562), so that ``import
systems.errors`` (every command-line entry point needs it) does not pull in
Numba, ASE or MDTraj.
"""

from __future__ import annotations

import importlib

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "units": None,
    "InputError": "errors", "CloseContactError": "errors",
    "ForceResult": "forces",
    "NeighborList": "neighbor_list", "Neighbors": "neighbor_list", "build_pairs": "neighbor_list",
    "Frame": "frame",
    "System": "state",
    "TruncatedTrajectoryWarning": "trajectory_reader", "count_frames": "trajectory_reader",
    "detect_format": "trajectory_reader", "read_frames": "trajectory_reader", "read_systems": "trajectory_reader",
    "TrajectoryWriter": "trajectory_writer",
}

__all__ = [
    "System", "ForceResult", "NeighborList", "Neighbors", "build_pairs", "InputError", "CloseContactError", "units",
    "Frame", "read_frames", "read_systems", "count_frames", "detect_format", "TruncatedTrajectoryWarning",
    "TrajectoryWriter",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'systems' has no attribute {name!r}")
    module = _EXPORTS[name]
    value = importlib.import_module(f".{name}" if module is None else f".{module}", __name__)
    if module is not None:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
