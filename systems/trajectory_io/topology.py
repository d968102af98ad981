"""MDTraj topologies for trajectory files: loaded from a path, a Topology or a Trajectory, and checked."""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from .formats import MDTRAJ_WITH_TOPOLOGY, check_content, detect_format


def topology_for(top, path: str, fmt: str):
    """The topology to read ``path`` (MDTraj format ``fmt``) with: None where the file carries its own atoms.

    Raises :class:`InputError` naming the file if ``fmt`` has no atom types and ``top`` is None.
    """
    if top is None:
        if fmt in MDTRAJ_WITH_TOPOLOGY:
            return None
        raise InputError(
            f"{path}: {fmt} files hold no atom types; pass top= (a PDB path, mdtraj.Topology or mdtraj.Trajectory)"
        )
    return load_topology(top, path)


def load_topology(top, path) -> "mdtraj.Topology":  # noqa: F821
    """An ``mdtraj.Topology`` from a Topology, a Trajectory or a file path (PDB, GRO, ...).

    ``path`` is the trajectory the topology is for, named in errors. A file that
    does not exist, is a directory, is empty, holds no atoms or does not match
    its suffix is an :class:`InputError` naming it.
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
        library, fmt = detect_format(top_path)
    except InputError:
        library, fmt = None, None  # let MDTraj judge an unusual suffix
    if library is not None:
        try:
            check_content(top_path, library, fmt)
        except InputError as err:
            raise InputError(f"topology file {err} (for {path})") from None
    elif os.path.isdir(top_path):
        raise InputError(f"topology file {top_path} (for {path}) is a directory")
    try:
        topology = mdtraj.load_topology(top_path)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"cannot read topology file {top_path}: {type(err).__name__}: {err}") from None
    if topology.n_atoms == 0:
        raise InputError(f"topology file {top_path} (for {path}) holds no atoms")
    return topology


def atomic_numbers(topology) -> np.ndarray:
    """int64 [n_atoms] atomic numbers of ``topology`` (0 for atoms without an element)."""
    return np.array(
        [a.element.atomic_number if a.element is not None else 0 for a in topology.atoms], dtype=np.int64
    )


def check_atom_count(path: str, topology, top, n_atoms_file: int) -> None:
    """Raise :class:`InputError` if ``topology`` (given as ``top``) and the file's frames differ in atom count."""
    if topology is not None and topology.n_atoms != n_atoms_file:
        name = top if isinstance(top, (str, os.PathLike)) else "the topology"
        raise InputError(f"{path}: frames have {n_atoms_file} atoms but {name} has {topology.n_atoms}")
