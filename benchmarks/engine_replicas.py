"""Batched replicas: 64 replicas of 64-atom liquid argon with an EGNN, batched against 64 sequential runs.

Issue #14, Deliver 3. Same process, CPU, one torch / Numba thread, float32, the
repo's EGNN defaults (``surrogate train egnn``: 64 features, 4 layers, 5 Å cutoff,
8 radial functions; untrained: a trained model costs the same), velocity Verlet
at 5 fs, provider skin 1 Å:

* batched: :class:`integrators.batched_simulation.BatchedSimulation` of the 64
  replicas with :class:`surrogate.egnn.batched_provider.BatchedEGNNProvider`
  behind the :class:`surrogate.autobatch.AutoBatcher` (budget from free memory:
  one model call per step for all 4096 atoms);
* sequential: each replica as its own :class:`integrators.Simulation` with its
  own :class:`surrogate.egnn.provider.EGNNForceProvider`, one after another
  (quick mode: the first 16 replicas; the per-replica cost is the same).

The target row is the one-call-per-step run of the default model (the autobatcher's budget from
the free memory holds all 4096 atoms).

Both warm up (TorchScript, Numba) with 2 steps before the timed steps. Speed is
atom-steps per CPU second of the process (``time.process_time``: every thread,
and on a machine shared with other jobs far closer to the quiet wall time than
the wall clock); the wall-clock figures are stored beside. Goal: batched ≥ 4×
sequential.

Usage: ``python -m benchmarks.engine_replicas [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import time

N_REPLICAS = 64
N_ATOMS = 64
TIMESTEP_FS = 5.0
WARMUP_STEPS = 2


def _setup():
    import torch

    torch.set_num_threads(1)
    try:
        import numba

        numba.set_num_threads(1)
    except (ImportError, ValueError):
        pass
    torch.set_num_threads(1)  # after Numba: its OpenMP start-up can reset the shared OpenMP thread count
    from surrogate.egnn.model import EGNNEnergyModel

    torch.manual_seed(0)
    return EGNNEnergyModel([18], 5.0, hidden=64, layers=4, n_radial=8, avg_num_neighbors=12.0)


def _systems(n):
    from systems.catalogue import liquid_argon

    return [liquid_argon(N_ATOMS, seed=100 + i, temperature_K=94.4) for i in range(n)]


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _measure(model, steps: int, n_sequential: int, max_edges: int | None = None) -> dict:
    """Batched and sequential atom-steps per CPU second (and per wall second) of ``model``."""
    from integrators import Simulation, VelocityVerlet
    from integrators.batched_simulation import BatchedSimulation
    from surrogate.autobatch import AutoBatcher
    from surrogate.egnn.batched_provider import BatchedEGNNProvider
    from surrogate.egnn.provider import EGNNForceProvider

    auto = AutoBatcher(BatchedEGNNProvider(model, skin=1.0), max_edges=max_edges)
    bsim = BatchedSimulation(_systems(N_REPLICAS), lambda i, p: VelocityVerlet(p, timestep_fs=TIMESTEP_FS), auto)
    bsim.run(WARMUP_STEPS)
    calls_before, model_calls_before = bsim.lockstep.n_batched_calls, auto.n_calls
    b_wall, b_cpu = _timed(lambda: bsim.run(steps))
    atom_steps = N_REPLICAS * N_ATOMS * steps

    sims = []
    for system in _systems(n_sequential):
        sim = Simulation(system, VelocityVerlet(EGNNForceProvider(model, skin=1.0), timestep_fs=TIMESTEP_FS))
        sim.run(WARMUP_STEPS)
        sims.append(sim)
    s_wall, s_cpu = _timed(lambda: [sim.run(steps) for sim in sims])
    seq_atom_steps = n_sequential * N_ATOMS * steps
    return {
        "batched_atom_steps_per_cpu_s": atom_steps / b_cpu, "sequential_atom_steps_per_cpu_s": seq_atom_steps / s_cpu,
        "speedup": (atom_steps / b_cpu) / (seq_atom_steps / s_cpu),
        "batched_atom_steps_per_wall_s": atom_steps / b_wall,
        "sequential_atom_steps_per_wall_s": seq_atom_steps / s_wall,
        "speedup_wall": (atom_steps / b_wall) / (seq_atom_steps / s_wall),
        "lockstep_calls_per_step": (bsim.lockstep.n_batched_calls - calls_before) / steps,
        "model_calls_per_step": (auto.n_calls - model_calls_before) / steps,
        "autobatch_max_edges": auto.max_edges,
        "batched_cpu_ms_per_step": 1e3 * b_cpu / steps,
        "sequential_cpu_ms_per_replica_step": 1e3 * s_cpu / (n_sequential * steps),
    }


def run(quick: bool) -> tuple[dict, list[dict]]:
    """Measure batched and sequential EGNN MD; returns (figures, targets).

    Also measured, as figures: a 32-feature, 2-layer model (the small model of benchmarks/egnn_speed.py),
    where the per-call overhead weighs more, and (full mode) the default model in batches of 16 replicas
    (an autobatcher budget of 16 replicas' edges: smaller activations, better cache use on a CPU).
    """
    from ._common import target

    model = _setup()
    steps = 4 if quick else 20
    n_sequential = 16 if quick else N_REPLICAS
    figures = {"replicas": N_REPLICAS, "atoms_per_replica": N_ATOMS, "timed_steps": steps,
               "sequential_replicas_timed": n_sequential, "threads": 1,
               "model": "EGNN 64 features x 4 layers, 8 radial, 5 A cutoff, float32 (surrogate train egnn defaults)"}
    main = _measure(model, steps, n_sequential)
    figures.update(main)
    from surrogate.egnn.batched_provider import BatchedEGNNProvider
    from surrogate.egnn.model import EGNNEnergyModel

    if not quick:
        edges = BatchedEGNNProvider(model, skin=1.0).count_edges(_systems(1)[0], 0)
        for key, value in _measure(model, steps, 16, max_edges=16 * int(edges * 1.1)).items():
            figures[f"batches_of_16_{key}"] = value
    small = EGNNEnergyModel([18], 5.0, hidden=32, layers=2, n_radial=8, avg_num_neighbors=12.0)
    for key, value in _measure(small, steps, 16).items():
        figures[f"small_32x2_{key}"] = value
    figures["load_average_1min"] = os.getloadavg()[0]
    targets = [target("batched replicas: EGNN MD atom-steps/s, 64 x 64-atom argon, vs 64 sequential runs (CPU)",
                      main["speedup"], 4.0, "higher")]
    return figures, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 timed steps, 16 sequential replicas")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    figures, targets = run(args.quick)
    for key, value in figures.items():
        print(f"{key:<40} {value:.4g}" if isinstance(value, float) else f"{key:<40} {value}")
    for t in targets:
        print(f"{t['name']:<90} {t['value']:8.3g}  goal ≥ {t['target']:g}  {'met' if t['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
