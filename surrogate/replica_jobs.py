"""Independent replicas of one CLI job (``surrogate generate --replicas N``) as Dask tasks.

Replica i is the same command line with ``--seed SEED+i`` and
``--out OUT/replica_{i:03d}``, run by :func:`surrogate.cli.main` inside a Dask
worker process (an embedded ``LocalCluster`` by default, or ``--scheduler
ADDRESS``; see :mod:`surrogate.dask_cluster`). So replica i writes exactly
what ``surrogate generate ... --seed SEED+i --out OUT/replica_{i:03d}`` writes
on its own.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from systems.errors import InputError

from .dask_cluster import dask_client, worker_threads

#: True inside a replica's task: its command runs once even if a --config file sets ``replicas``.
_in_replica = False

#: Options of the fan-out itself: removed from the command each replica runs (they take one value).
FAN_OUT_OPTIONS = ("--replicas", "--scheduler", "--workers")


def strip_options(argv: list[str], names=FAN_OUT_OPTIONS) -> list[str]:
    """``argv`` without the options ``names`` and their values (``--name VALUE`` or ``--name=VALUE``)."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in names:
            skip = True
            continue
        if any(token.startswith(name + "=") for name in names):
            continue
        out.append(token)
    return out


def replica_argv(argv: list[str], index: int, seed: int, out) -> list[str]:
    """The command line of replica ``index``: ``argv`` without the fan-out options, with ``--seed seed+index``
    and ``--out OUT/replica_NNN`` appended (argparse keeps the last value given)."""
    return strip_options(list(argv)) + ["--seed", str(int(seed) + int(index)), "--out", str(replica_dir(out, index))]


def replica_dir(out, index: int) -> Path:
    """``OUT/replica_{index:03d}``."""
    return Path(out) / f"replica_{int(index):03d}"


def in_replica() -> bool:
    """Whether this process is running one replica's command (the command must not fan out again)."""
    return _in_replica


def run_cli(argv: list[str], threads: int | None) -> tuple[int, str]:
    """Dask task: ``surrogate`` with ``argv`` in this worker process (``--threads`` added unless given).

    Returns (exit status, the last line the command wrote to stderr), so a failed replica's reason reaches
    the user instead of a worker's log.
    """
    global _in_replica
    import contextlib
    import io
    import sys

    from .cli import main

    if threads is not None and not any(t == "--threads" or t.startswith("--threads=") for t in argv):
        argv = list(argv) + ["--threads", str(int(threads))]
    _in_replica = True
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = int(main(argv))
    finally:
        _in_replica = False
    sys.stderr.write(err.getvalue())
    lines = err.getvalue().strip().splitlines()
    return code, lines[-1] if lines else ""


def run_replicas(argv: list[str], n_replicas: int, seed: int, out, *, scheduler=None, n_workers: int | None = None,
                 threads: int | None = None) -> list[Path]:
    """Run ``n_replicas`` seeds of the command ``argv`` (arguments after ``surrogate``) as Dask tasks.

    Local workers default to min(n_replicas, usable CPUs), each with the usable CPUs shared out as its
    ``--threads`` (unless the command gives ``--threads``). Returns the replica folders; raises
    :class:`InputError` naming every replica that did not exit 0, with the last line of its error output.
    """
    n_replicas = int(n_replicas)
    if n_replicas < 1:
        raise InputError(f"--replicas must be at least 1, got {n_replicas!r}")
    argvs = [replica_argv(argv, i, seed, out) for i in range(n_replicas)]
    if scheduler is None and n_workers is None:
        from .threads import usable_cpus

        n_workers = max(1, min(n_replicas, usable_cpus()))
    per_worker = worker_threads(n_workers, threads) if scheduler is None else threads
    Path(out).mkdir(parents=True, exist_ok=True)
    call = uuid.uuid4().hex[:8]  # keys unique to this call on a shared cluster
    with dask_client(scheduler, n_workers, 1) as client:
        futures = [client.submit(run_cli, a, per_worker, key=f"replica-{call}-{i:03d}", pure=False)
                   for i, a in enumerate(argvs)]
        results = client.gather(futures)
    failed = [f"replica {i} (--seed {int(seed) + i}, exit status {code}: {message})"
              for i, (code, message) in enumerate(results) if code != 0]
    if failed:
        raise InputError(f"{len(failed)} of {n_replicas} replicas failed: {', '.join(failed)}; "
                         f"their folders are under {out}")
    return [replica_dir(out, i) for i in range(n_replicas)]
