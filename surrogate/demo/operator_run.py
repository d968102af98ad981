"""Rolling out a force-input many-body operator on any force provider (an EGNN, or the xTB reference itself).

``surrogate run --integrator lstm`` takes the operator's per-stride forces from a classical potential. The water
demo needs two other sources: the EGNN (cheap, the operator's whole dynamics is then learned) and GFN2-xTB (one
reference call per stride instead of one per Verlet step). With the reference, the usual Verlet warm-up of the
first window (W−1 strides of Verlet, e.g. 80 xTB calls of ~3 s for W = 5 and 20 steps per stride) would cost
more than the rollout, so :class:`ReferenceWindowOperator` takes its first window from stored reference frames
one stride apart (positions, velocities and forces of the shipped trajectory): the run then costs one reference
call per stride and nothing else.

The run writes what ``surrogate run`` writes (trajectory, ``thermo.csv``, ``run_info.json`` with the wall time
of production only, ``config.yaml``), through the same driver, so ``surrogate compare`` reads it like any run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from systems import units
from systems.errors import InputError
from systems.state import System

from surrogate.lstm.manybody import ManyBodyOperatorIntegrator


class ReferenceWindowOperator(ManyBodyOperatorIntegrator):
    """A force-input :class:`ManyBodyOperatorIntegrator` whose first window is given, not warmed up.

    window_positions, window_velocities, window_forces : float64 [n, W, 3] in Å, Å/ASE time and eV/Å: W states
        one operator stride apart, oldest first, the last being the state the system starts from; positions
        continuous (unwrapped) across the window.
    window_energy : float, eV: potential energy of the last state (for the thermo log's first row), or None.
    Other arguments as for :class:`ManyBodyOperatorIntegrator`.
    """

    name = "ManyBodyOperator (reference window)"

    def __init__(self, model, provider, *, window_positions, window_velocities, window_forces,
                 window_energy=None, verlet_timestep: float, device: str = "cpu"):
        super().__init__(model, provider, verlet_timestep=verlet_timestep, device=device)
        if not self.force_input:
            raise InputError(f"{self.name}: the operator does not read forces; run it with surrogate run")
        w = self.model.window
        arrays = [np.asarray(a, dtype=np.float64) for a in (window_positions, window_velocities, window_forces)]
        for label, a in zip(("positions", "velocities", "forces"), arrays):
            if a.ndim != 3 or a.shape[1:] != (w, 3):
                raise InputError(f"{self.name}: window {label} must have shape [n, {w}, 3] (the operator's "
                                 f"window W = {w}), got {list(a.shape)}")
        self._given = arrays
        self._given_energy = window_energy

    def initialize(self, system: System) -> None:
        from systems.forces import ForceResult

        xw, vw, fw = (a.copy() for a in self._given)
        if xw.shape[0] != system.n_atoms:
            raise InputError(f"{self.name}: the window has {xw.shape[0]} atoms, the system {system.n_atoms}")
        if not np.allclose(vw[:, -1], system.velocities, atol=1e-9):
            raise InputError(f"{self.name}: the system must start at the window's last state (velocities differ)")
        self._xw, self._vw, self._fw = xw, vw, fw
        self._p0 = system.momenta.sum(0)
        self._e0 = None
        self.n_strides = 0
        energy = float("nan") if self._given_energy is None else float(self._given_energy)
        self.last_result = ForceResult(energy, fw[:, -1].copy())


def reference_window(trajectory, model_path, start_frame: int = 0):
    """The operator window from a stored trajectory: ``(frame index of the last state, positions, velocities,
    forces, energy)``, arrays [n, W, 3] taken every stride starting at ``start_frame``.

    The trajectory must hold velocities and forces, and its frame interval must divide the operator's stride.
    """
    from surrogate.compare.dynamics import unwrap
    from surrogate.lstm.manybody.model import load_manybody
    from systems.trajectory_reader import read_frames

    model, _ = load_manybody(model_path)
    frames = list(read_frames(trajectory))
    if len(frames) < 2 or frames[0].time is None:
        raise InputError(f"{trajectory}: an operator window needs at least 2 frames with times")
    interval = frames[1].time - frames[0].time
    every = model.stride / interval
    if abs(every - round(every)) > 1e-6 or round(every) < 1:
        raise InputError(f"{trajectory}: the operator stride {model.stride / units.fs:g} fs is not a whole multiple "
                         f"of the frame interval {interval / units.fs:g} fs")
    picks = [start_frame + i * int(round(every)) for i in range(model.window)]
    if picks[-1] >= len(frames):
        raise InputError(f"{trajectory}: a window of {model.window} states from frame {start_frame} needs frame "
                         f"{picks[-1]}, the file has {len(frames)}")
    chosen = [frames[i] for i in picks]
    for f in chosen:
        if f.velocities is None or f.forces is None:
            raise InputError(f"{trajectory}: frame {f.index} has no velocities or forces; the operator window "
                             "needs both")
    cells = np.array([f.cell for f in chosen]) if chosen[0].pbc.all() else None
    xw = unwrap(np.array([f.positions for f in chosen]), cells)
    # unwrap keeps the first frame in the box; shift so that the last state is the file's own positions
    xw += (chosen[-1].positions - xw[-1])[None]
    vw = np.array([f.velocities for f in chosen])
    fw = np.array([f.forces for f in chosen])
    return picks[-1], xw.transpose(1, 0, 2), vw.transpose(1, 0, 2), fw.transpose(1, 0, 2), chosen[-1].energy


def run_operator(model_path, provider, provider_name: str, trajectory, out, *, n_strides: int,
                 verlet_timestep_fs: float, window_from_reference: bool, start_frame: int = 0, seed: int = 0,
                 device: str = "cpu", progress: bool = False) -> dict:
    """Roll out the force-input operator ``model_path`` for ``n_strides`` strides into ``out``; returns
    ``run_info.json``'s content.

    provider : force provider (``compute(system)``) of the per-stride forces; provider_name : its description.
    trajectory : the reference extxyz; the run starts from its frame ``start_frame`` (a Verlet warm-up with
        ``provider`` fills the window), or, with ``window_from_reference``, from the window of stored frames that
        begins there (no warm-up: one ``provider`` call per stride and nothing else).
    verlet_timestep_fs : the Verlet step of a warm-up (and the step the stride is counted in).
    """
    from surrogate.cli import build_parser
    from surrogate.cli.builders import Setup, build_system
    from surrogate.cli.simulate import run_simulation
    from surrogate.config import parse_args

    frame = start_frame
    window = None
    if window_from_reference:
        frame, *window = reference_window(trajectory, model_path, start_frame)
    argv = ["run", "--system", str(trajectory), "--frame", str(frame), "--integrator", "lstm", "--model",
            str(model_path), "--steps", str(int(n_strides)), "--traj-interval", "1", "--timestep-fs",
            str(verlet_timestep_fs), "--seed", str(seed), "--device", device, "--out", str(out)]
    if not progress:
        argv.append("--no-progress")
    args = parse_args(build_parser(), argv)
    args._argv = argv
    system, topology = build_system(args)
    if window is not None:
        xw, vw, fw, energy = window
        integrator = ReferenceWindowOperator(model_path, provider, window_positions=xw, window_velocities=vw,
                                             window_forces=fw, window_energy=energy,
                                             verlet_timestep=verlet_timestep_fs * units.fs, device=device)
        start = f"first window: frames {start_frame}…{frame} of {Path(trajectory).name}, no warm-up"
    else:
        integrator = ManyBodyOperatorIntegrator(model_path, provider, verlet_timestep=verlet_timestep_fs * units.fs,
                                                device=device)
        start = f"first window: Verlet warm-up with {provider_name} from frame {frame}"
    if not integrator.force_input:
        raise InputError(f"{model_path}: the operator does not read forces (train it with --force-input)")
    setup = Setup(system, topology, provider, f"LSTM operator {model_path}, stride "
                                              f"{integrator.timestep / units.fs:.4g} fs, forces: {provider_name} "
                                              f"(one call per stride; {start})", False)
    description = {"kind": "lstm_manybody", "model": str(model_path), "stride_fs": integrator.timestep / units.fs,
                   "verlet_timestep_fs": verlet_timestep_fs, "stride_forces": provider_name, "window": start,
                   "driver": "surrogate.demo.operator_run (surrogate run --integrator lstm takes classical "
                             "per-stride forces only)"}
    return run_simulation(args, setup, integrator, description=description)
