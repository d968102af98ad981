"""``surrogate run --replicas B``: B independent runs, one batched force evaluation per step for all of them.

Replica i is the single run the same options describe with ``--seed`` seed + i
(its starting positions, velocities and thermostat noise) and ``--out``
OUT/replica_<iii>; each writes exactly the files of a single run (trajectory,
thermo.csv, run_info.json, config.yaml, checkpoint.npz with
``--checkpoint-interval``) and ``--resume`` resumes each from its own
checkpoint. The replicas run in lock step (:mod:`integrators.lockstep`): every
step's force calls of all replicas are one call of a batch provider, the
batched EGNN (:mod:`surrogate.egnn.batched_provider`) split into memory-sized
batches by the autobatcher (:mod:`surrogate.autobatch`, ``--max-batch-edges``),
or, for a classical potential, each replica's own provider in turn.
OUT/replicas.json lists the replicas, their seeds and whether each finished.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from systems.errors import InputError

#: Integrators a replica may use (MC and the learned operators do not evaluate forces step by step).
REPLICA_INTEGRATORS = ("verlet", "langevin", "bussi")


def replica_dir(out, index: int) -> Path:
    """Where replica ``index`` writes: OUT/replica_000, OUT/replica_001, ..."""
    return Path(out) / f"replica_{index:03d}"


def replica_args(args, index: int):
    """The options of replica ``index``: ``--seed`` seed + index, ``--out`` OUT/replica_<index>; only replica 0
    draws a progress bar."""
    a = copy.copy(args)
    a.seed = int(args.seed) + index
    a.out = str(replica_dir(args.out, index))
    a.no_progress = bool(args.no_progress) or index > 0
    a.replicas = None  # its config.yaml describes the single run it equals
    return a


def run_replicas(args) -> int:
    from integrators import Lockstep, ProviderLoop, ReplicaError, RunawayError

    from .builders import (Setup, build_integrator, build_provider, build_system, check_resume,
                           check_simulation_size, check_size_before_build, default_timestep_fs)
    from .simulate import run_simulation, write_json

    n = int(args.replicas)
    if args.integrator not in REPLICA_INTEGRATORS:
        raise InputError(f"--replicas runs MD with --integrator {', '.join(REPLICA_INTEGRATORS)}, "
                         f"not {args.integrator}")
    if args.force_model:
        raise InputError("--force-model is the EGNN of --integrator lstm; for EGNN MD give the model with --model")
    check_size_before_build(args)
    options = [replica_args(args, i) for i in range(n)]
    built = [build_system(a) for a in options]
    if args.model:
        batch, name = _egnn_batch(args, [system for system, _ in built])
        stress = all(bool(system.pbc.all()) for system, _ in built)
    else:  # a classical (or any single-system) provider per replica, evaluated in turn
        providers = [build_provider(a, system, allow_model=False) for a, (system, _) in zip(options, built)]
        batch, name, stress = ProviderLoop([p for p, _, _ in providers]), providers[0][1], providers[0][2]
    lockstep = Lockstep(batch)
    tasks = []
    for i, (a, (system, topology)) in enumerate(zip(options, built)):
        provider = lockstep.provider(i)
        timestep_fs = args.timestep_fs or default_timestep_fs(system)
        check_simulation_size(a, system, provider, timestep_fs, False)
        integrator = build_integrator(a, provider, system, timestep_fs)
        check_resume(a, system, integrator, provider)
        setup = Setup(system, topology, provider, name, stress)
        description = {"kind": "egnn" if args.model else "classical", "model": args.model, "replica": i,
                       "replicas": n, "batched": True}
        tasks.append(lambda a=a, setup=setup, integrator=integrator, d=description:
                     run_simulation(a, setup, integrator, description=d))
    print(f"running {n} replicas (seeds {args.seed}..{args.seed + n - 1}) in lock step, one batched force "
          f"evaluation per step → {replica_dir(args.out, 0)} ...", file=sys.stderr)
    failures: dict[int, BaseException] = {}
    try:
        lockstep.run(tasks)
    except ReplicaError as err:
        failures = err.errors
    summary = {"replicas": n, "seeds": [a.seed for a in options], "batched_force_calls": lockstep.n_batched_calls,
               "runs": [{"replica": i, "out": replica_dir(args.out, i).name, "seed": options[i].seed,
                         "failed": None if i not in failures else f"{type(failures[i]).__name__}: {failures[i]}"}
                        for i in range(n)]}
    autobatcher = getattr(batch, "max_edges", None)
    if autobatcher is not None:
        summary.update(max_batch_edges=batch.max_edges, out_of_memory_backoffs=batch.n_backoffs)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.out) / "replicas.json", summary)
    if failures:
        for i, err in failures.items():
            print(f"replica {i} ({replica_dir(args.out, i)}): {type(err).__name__}: {err}", file=sys.stderr)
        first = failures[min(failures)]
        # a blow-up exits 1 as for a single run; a bad input 2; anything else is a bug and propagates
        if isinstance(first, (RunawayError, InputError)):
            raise first
        raise ReplicaError(failures)
    print(f"wrote {n} replicas under {args.out} ({lockstep.n_batched_calls} batched force calls)", file=sys.stderr)
    return 0


def _egnn_batch(args, systems):
    """The batched EGNN of ``--model`` behind the autobatcher, checked against every replica's elements."""
    from surrogate.autobatch import AutoBatcher
    from surrogate.egnn.batched_provider import BatchedEGNNProvider

    from .builders import _bond_topology, check_device, model_kind

    kind = model_kind(args.model)
    if kind != "egnn":
        raise InputError(f"--replicas: --model {args.model} holds a {kind!r} model, not an EGNN force model")
    batch = BatchedEGNNProvider(args.model, device=check_device(args.device), dtype=args.dtype,
                                topology=_bond_topology(args))
    for i, system in enumerate(systems):
        try:
            batch.model.species_index(system.numbers)
        except InputError as err:
            raise InputError(f"--model {args.model} cannot simulate replica {i}: {err}") from None
    return AutoBatcher(batch, max_edges=args.max_batch_edges), f"EGNN {args.model}"
