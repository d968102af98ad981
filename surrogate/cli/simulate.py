"""Running a simulation for ``generate`` and ``run``: equilibration, reporters, metadata.

Writes into ``--out``: ``trajectory.<format>``, ``thermo.csv`` (the
ThermoLogReporter columns), ``run_info.json`` (wall time, simulated time,
speed: what ``surrogate compare`` reads for the cost), ``config.yaml`` (the
resolved options), ``topology.pdb`` when the system has bonds, and
``checkpoint.npz`` with ``--checkpoint-interval``. Formats without atom types
(xtc, trr, dcd, nc) get ``trajectory.pdb`` beside them from the trajectory
reporter, which ``compare`` picks up.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from systems import units
from systems.atomic_file import atomic_write_text
from systems.errors import InputError

from ..config import write_resolved_config
from .builders import equilibration_integrator, runaway_guard, simulated_steps

RUN_INFO = "run_info.json"
CHECKPOINT = "checkpoint.npz"


def write_json(path: Path, payload: dict) -> Path:
    """``payload`` as indented JSON, written atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


def run_simulation(args, setup, integrator, *, description: dict, equilibrate_timestep_fs: float | None = None) -> dict:
    """Equilibrate (``--equilibrate-ps``), then run production with trajectory,
    thermo log, progress bar and optional checkpoints; returns the run metadata.

    Holds the lock of ``--out`` throughout (a second process writing there is
    refused). With ``--resume`` the trajectory and log are first cut back to the
    checkpoint's step.

    equilibrate_timestep_fs : Langevin timestep of the equilibration (default:
        the production timestep; the system's default for MC and learned operators).
    """
    from systems.output_lock import output_lock

    command = "surrogate " + " ".join(map(str, getattr(args, "_argv", [])))
    with output_lock(args.out, command):
        return _run_simulation(args, setup, integrator, description, equilibrate_timestep_fs)


def _run_simulation(args, setup, integrator, description: dict, equilibrate_timestep_fs: float | None) -> dict:
    from integrators import (CheckpointReporter, ProgressReporter, RunawayError, Simulation, ThermoLogReporter,
                             TrajectoryReporter)

    out = Path(args.out)
    system = setup.system
    if not args.resume and setup.provider is not None:
        # One evaluation of the start state before anything is written into --out: atoms on top of each other
        # or non-finite input are refused here and leave no config.yaml or empty thermo.csv behind.
        setup.provider.compute(system)
    out.mkdir(parents=True, exist_ok=True)
    write_resolved_config(args, out)
    is_md = float(integrator.timestep) > 0
    timestep_fs = float(integrator.timestep) / units.fs
    n_steps = simulated_steps(args, timestep_fs if is_md else 1.0, not is_md)
    traj_interval = args.traj_interval or (max(1, int(round(10.0 / timestep_fs))) if is_md else 10)
    log_interval = args.log_interval or traj_interval
    traj_path = out / f"trajectory.{args.format.lstrip('.')}"
    checkpoint = out / CHECKPOINT
    show = not args.no_progress
    if setup.topology is not None and setup.topology.n_bonds > 0:
        _write_topology(setup, out / "topology.pdb")  # bonds: compare shows bond and angle distributions

    resume = bool(args.resume)
    if resume and not checkpoint.exists():
        raise InputError(f"--resume: no checkpoint {checkpoint} (write one with --checkpoint-interval)")
    equilibrate_steps = 0
    if not resume and args.equilibrate_ps > 0:
        eq_dt = equilibrate_timestep_fs or (timestep_fs if is_md else _default_eq_timestep(setup))
        eq = equilibration_integrator(args, setup.provider, eq_dt, getattr(integrator, "constraints", None))
        equilibrate_steps = int(round(args.equilibrate_ps * 1000.0 / eq_dt))
        print(f"equilibrating {args.equilibrate_ps:g} ps ({equilibrate_steps} steps of {eq_dt:g} fs, Langevin at "
              f"{args.temperature_K:g} K)", file=sys.stderr)
        with Simulation(system, eq, [ProgressReporter(equilibrate_steps, interval=max(1, equilibrate_steps // 100),
                                                      disable=not show)], report_initial=False) as sim:
            sim.run(equilibrate_steps)
        system.time = 0.0  # production starts the clock; its integrator initialises at these positions

    reporters = [
        TrajectoryReporter(traj_path, traj_interval, topology=setup.topology, append=resume),
        ThermoLogReporter(out / "thermo.csv", log_interval, pressure=setup.supports_stress, append=resume),
        ProgressReporter(n_steps, interval=max(1, n_steps // 200), disable=not show),
    ]
    if args.checkpoint_interval:
        reporters.append(CheckpointReporter(checkpoint, args.checkpoint_interval))
    previous_wall = 0.0
    if resume:
        sim = Simulation.from_checkpoint(checkpoint, integrator, reporters, provider=setup.provider)
        info_path = out / RUN_INFO
        if info_path.exists():
            previous_wall = float(json.loads(info_path.read_text()).get("wall_time_s", 0.0))
    else:
        sim = Simulation(system, integrator, reporters, provider=setup.provider)
    sim.runaway = runaway_guard(args, system, integrator)
    remaining = max(0, n_steps - sim.step)
    print(f"running {remaining} {'steps' if is_md else 'sweeps'} of {type(integrator).__name__} with "
          f"{setup.provider_name} on {system.n_atoms} atoms → {traj_path}", file=sys.stderr)
    start = time.perf_counter()
    failure = None
    with sim:
        try:
            sim.run(remaining)
        except RunawayError as err:  # keep what was written and say so; the caller reports it
            failure = err
        if args.checkpoint_interval and failure is None:
            sim.save_checkpoint(checkpoint)
    wall = time.perf_counter() - start + previous_wall
    simulated_ps = sim.step * timestep_fs / 1000.0 if is_md else 0.0
    info = {
        "command": " ".join(["surrogate"] + [shlex.quote(str(a)) for a in getattr(args, "_argv", [])]),
        "integrator": type(integrator).__name__, "force_provider": setup.provider_name,
        "n_atoms": int(system.n_atoms), "n_steps": int(sim.step), "timestep_fs": timestep_fs if is_md else None,
        "simulated_ps": simulated_ps, "wall_time_s": wall,
        "wall_s_per_ns": wall / (simulated_ps / 1000.0) if simulated_ps > 0 else None,
        "ns_per_day": 86400.0 * simulated_ps / 1000.0 / wall if simulated_ps > 0 and wall > 0 else None,
        "equilibration_steps": equilibrate_steps, "trajectory": traj_path.name,
        "trajectory_interval_steps": traj_interval,
        "thermo_log": "thermo.csv", "log_interval_steps": log_interval, "temperature_K": args.temperature_K,
        "seed": args.seed, "wall_time_note": "production only, including trajectory and log output",
        **description,
    }
    if hasattr(integrator, "acceptance_rate"):
        rate = float(integrator.acceptance_rate)  # nan while the step size is still adapting
        info["mc_acceptance_rate"] = rate if rate == rate else None
        info["mc_step_size_A"] = float(getattr(integrator, "step_size", float("nan")))
    if failure is not None:
        info["failed"] = str(failure)
    write_json(out / RUN_INFO, info)
    if failure is not None:
        raise failure
    speed = f", {info['ns_per_day']:.3g} ns/day" if info["ns_per_day"] else ""
    print(f"wrote {traj_path} ({sim.step} steps, {wall:.1f} s{speed})", file=sys.stderr)
    return info


def _default_eq_timestep(setup) -> float:
    from .builders import default_timestep_fs

    return default_timestep_fs(setup.system)


def _write_topology(setup, path: Path) -> None:
    """The first frame with bonds, so ``compare`` finds bond and angle distributions."""
    from systems.trajectory_writer import pdb_text

    atomic_write_text(path, pdb_text(setup.system.to_mdtraj(setup.topology)))
