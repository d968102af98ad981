"""Training data for the EGNN energy model: graphs from files, frames, ase.Atoms, or fresh MD.

Every structure must carry a reference energy (eV) and forces (eV/Å). A structure periodic
along all three axes may also carry its stress (eV/Å³, ASE's sign); its graph then holds
``stress`` float64 [1, 3, 3] (batched to [B, 3, 3]), which the trainer fits when every
training structure has one.

* :func:`load_graphs` reads any file ``systems.trajectory_reader`` opens (extxyz, ``.traj``...).
* :func:`graphs_from_frames` / :func:`graphs_from_atoms` convert in-memory data.
* :func:`generate_frames` runs Langevin MD with any force provider or ASE calculator
  (e.g. EMT) at one or more temperatures and samples frames with their energies and forces.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from systems.errors import InputError
from systems.frame import Frame

from .graph import build_graph


def graphs_from_frames(frames: Iterable[Frame], cutoff: float, source: str = "frames") -> list[Data]:
    """One graph per :class:`systems.frame.Frame` (positions Å, energy eV, forces eV/Å, and the stress
    eV/Å³ of a fully periodic frame that has one); ``source`` names the data in errors."""
    graphs = []
    for k, frame in enumerate(frames):
        if frame.energy is None or frame.forces is None:
            missing = " and ".join(n for n, v in (("energy", frame.energy), ("forces", frame.forces)) if v is None)
            raise InputError(f"{source}: frame {frame.index if frame.index is not None else k} has no {missing}; "
                             "EGNN training needs reference energies and forces")
        cell = np.zeros((3, 3)) if frame.cell is None else frame.cell
        graph = build_graph(frame.numbers, frame.positions, cell, frame.pbc, cutoff,
                            energy=frame.energy, forces=frame.forces)
        stress = getattr(frame, "stress", None)
        if stress is not None and frame.cell is not None and np.asarray(frame.pbc).all():
            graph.stress = torch.as_tensor(np.asarray(stress, dtype=np.float64).reshape(1, 3, 3))
        graphs.append(graph)
    if not graphs:
        raise InputError(f"{source}: no frames")
    return graphs


def frame_from_atoms(atoms, index: int = 0) -> Frame:
    """A Frame from an ase.Atoms whose calculator (or ``info['energy']``/``arrays['forces']``) holds energy and forces.

    The stress (eV/Å³) is taken when the calculator has already computed it (``calc.results``;
    it is not computed here) or from ``info['stress']``.
    """
    energy = forces = None
    if atoms.calc is not None:
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
        stress = atoms.calc.results.get("stress")
    else:
        energy = atoms.info.get("energy")
        forces = atoms.arrays.get("forces")
        stress = atoms.info.get("stress")
    cell = atoms.cell.array if atoms.cell.rank == 3 or atoms.pbc.any() else None
    return Frame(atoms.numbers, atoms.positions, cell, atoms.pbc, None, index, energy=energy, forces=forces,
                 stress=stress)


def graphs_from_atoms(atoms_list: Sequence, cutoff: float) -> list[Data]:
    """Graphs from a list of ase.Atoms carrying energies and forces (see :func:`frame_from_atoms`)."""
    return graphs_from_frames((frame_from_atoms(a, k) for k, a in enumerate(atoms_list)), cutoff, "atoms list")


def load_graphs(path, cutoff: float, *, start: int = 0, stop: int | None = None, stride: int = 1) -> list[Data]:
    """Graphs from a trajectory file with energies and forces (any format the systems reader opens)."""
    from systems.trajectory_reader import read_frames

    path = os.fspath(path)
    return graphs_from_frames(read_frames(path, start=start, stop=stop, stride=stride), cutoff, f"file {path}")


def _as_provider(calculator_or_provider):
    """A force provider from a provider (has ``compute``) or an ASE calculator."""
    if callable(getattr(calculator_or_provider, "compute", None)):
        return calculator_or_provider
    if callable(getattr(calculator_or_provider, "get_potential_energy", None)):
        from integrators.ase_provider import AseCalculatorProvider

        return AseCalculatorProvider(calculator_or_provider)
    raise InputError(
        f"`calculator` must be a force provider (compute(system)) or an ASE calculator, "
        f"got {type(calculator_or_provider).__name__}"
    )


def generate_frames(atoms, calculator, *, temperatures_K: Sequence[float], frames_per_temperature: int,
                    interval_steps: int = 20, equilibration_steps: int = 100, timestep_fs: float = 2.0,
                    friction_per_fs: float = 0.02, seed: int = 0) -> list[Frame]:
    """Sample frames with reference energies and forces from Langevin MD.

    atoms : ase.Atoms, the starting structure (not modified).
    calculator : force provider (``compute(system)``) or ASE calculator (e.g. ``EMT()``).
    temperatures_K : one run per temperature (K), each started from ``atoms`` with
        Maxwell–Boltzmann velocities, equilibrated for ``equilibration_steps``, then
        sampled every ``interval_steps`` for ``frames_per_temperature`` frames.
    timestep_fs, friction_per_fs : Langevin (BAOAB) step in fs and friction in 1/fs.
    seed : seeds velocities and noise (run k uses ``seed + k``).

    Energies and forces come from the integrator's own evaluation at each sampled
    state, so sampling costs no extra force calls.
    """
    from integrators.langevin import LangevinBAOAB
    from systems.state import System
    from systems.velocities import maxwell_boltzmann

    if frames_per_temperature < 1 or interval_steps < 1 or equilibration_steps < 0:
        raise InputError("generate_frames: frames_per_temperature and interval_steps must be >= 1, "
                         f"equilibration_steps >= 0; got {frames_per_temperature}, {interval_steps}, {equilibration_steps}")
    provider = _as_provider(calculator)
    frames: list[Frame] = []
    for k, temperature in enumerate(temperatures_K):
        rng = np.random.default_rng(seed + k)
        system = System.from_atoms(atoms)
        system.velocities = maxwell_boltzmann(system.masses, temperature, rng)
        integrator = LangevinBAOAB(provider, timestep_fs=timestep_fs, temperature_K=temperature,
                                   friction_per_fs=friction_per_fs, seed=rng)
        integrator.initialize(system)
        for _ in range(equilibration_steps):
            integrator.step(system)
        for _ in range(frames_per_temperature):
            for _ in range(interval_steps):
                integrator.step(system)
            frames.append(Frame.from_system(system, integrator.last_result, index=len(frames)))
    return frames


def has_stress(graphs: Sequence[Data]) -> bool:
    """True when every graph carries a reference stress (so all are periodic along all three axes)."""
    return len(graphs) > 0 and all(getattr(g, "stress", None) is not None for g in graphs)


def without_stress(graphs: Sequence[Data]) -> list[Data]:
    """The graphs with any ``stress`` removed (shallow copies), so a mixed set batches together."""
    out = []
    for g in graphs:
        if getattr(g, "stress", None) is not None:
            g = g.clone()
            del g.stress
        out.append(g)
    return out
