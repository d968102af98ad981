"""Classical liquid-argon MD from the command line (the interim main job until the CLI exists).

    python -m integrators.run_argon --steps 10000 --out runs/argon

writes ``trajectory.xtc`` (+ ``trajectory.pdb`` topology), ``trajectory.extxyz``,
``thermo.csv`` and ``checkpoint.npz`` into ``--out``, with a progress bar.
``--resume`` continues from ``checkpoint.npz`` bit for bit, appending to the
trajectories and the log. Open the result with
``mdtraj.load('trajectory.xtc', top='trajectory.pdb')`` or
``ase.io.read('trajectory.extxyz', ':')``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from systems import units
from systems.catalogue import liquid_argon
from systems.potentials import LennardJones

from .bussi import Bussi
from .langevin import LangevinBAOAB
from .reporters import CheckpointReporter, ProgressReporter, ThermoLogReporter, TrajectoryReporter
from .runaway import RunawayError, RunawayGuard
from .simulation import Simulation
from .verlet import VelocityVerlet

INTEGRATORS = ("langevin", "bussi", "verlet")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m integrators.run_argon", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, required=True, help="number of MD steps to run")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--n-atoms", type=int, default=500, help="argon atoms in the liquid box (default 500)")
    p.add_argument("--temperature-K", type=float, default=94.4, help="temperature in K (default 94.4)")
    p.add_argument("--density-g-cm3", type=float, default=1.374, help="density in g/cm³ (default 1.374)")
    p.add_argument("--timestep-fs", type=float, default=5.0, help="timestep in fs (default 5)")
    p.add_argument("--integrator", choices=INTEGRATORS, default="langevin")
    p.add_argument("--friction-per-fs", type=float, default=0.01, help="Langevin friction in 1/fs (default 0.01)")
    p.add_argument("--tau-fs", type=float, default=100.0, help="Bussi relaxation time in fs (default 100)")
    p.add_argument("--cutoff", type=float, default=8.5, help="LJ cutoff in Å (default 8.5)")
    p.add_argument("--traj-interval", type=int, default=100, help="steps between trajectory frames")
    p.add_argument("--log-interval", type=int, default=100, help="steps between thermo-log lines")
    p.add_argument("--checkpoint-interval", type=int, default=1000, help="steps between checkpoints")
    p.add_argument("--max-temperature-K", type=float, default=5000.0, help="runaway guard limit in K")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial state and the thermostat")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def make_integrator(args):
    provider = LennardJones.argon(cutoff=args.cutoff)
    if args.integrator == "verlet":
        return VelocityVerlet(provider, timestep_fs=args.timestep_fs)
    if args.integrator == "bussi":
        return Bussi(provider, timestep_fs=args.timestep_fs, temperature_K=args.temperature_K, tau_fs=args.tau_fs,
                     seed=args.seed)
    return LangevinBAOAB(provider, timestep_fs=args.timestep_fs, temperature_K=args.temperature_K,
                         friction_per_fs=args.friction_per_fs, seed=args.seed)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.npz"
    append = bool(args.resume)
    reporters = [
        TrajectoryReporter(out / "trajectory.xtc", args.traj_interval, append=append),
        TrajectoryReporter(out / "trajectory.extxyz", args.traj_interval, append=append),
        ThermoLogReporter(out / "thermo.csv", args.log_interval, append=append),
        CheckpointReporter(checkpoint, args.checkpoint_interval),
        ProgressReporter(args.steps, max(1, min(args.log_interval, args.steps // 100 or 1)), disable=args.no_progress),
    ]
    guard = RunawayGuard(max_temperature_K=args.max_temperature_K, min_distance=2.0, interval=args.log_interval)
    integrator = make_integrator(args)
    if args.resume:
        if not checkpoint.exists():
            print(f"--resume: no checkpoint at {checkpoint}", file=sys.stderr)
            return 2
        sim = Simulation.from_checkpoint(checkpoint, integrator, reporters, runaway=guard)
    else:
        system = liquid_argon(args.n_atoms, density_g_cm3=args.density_g_cm3, temperature_K=args.temperature_K,
                              seed=args.seed)
        sim = Simulation(system, integrator, reporters, runaway=guard)
    with sim:
        try:
            sim.run(args.steps)
        except RunawayError as err:
            print(f"stopped: {err}; last good checkpoint: {checkpoint}", file=sys.stderr)
            return 1
        sim.save_checkpoint(checkpoint)
    print(f"{sim.step} steps, {sim.time / units.ps:.6g} ps; "
          f"T = {sim.system.temperature():.1f} K; wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
