"""Where fanned-out work runs: an embedded Dask ``LocalCluster`` by default, or an existing cluster.

Both :mod:`surrogate.labelling` and :mod:`surrogate.replica_jobs` take a
``scheduler`` that is one of

* ``None``: start a ``LocalCluster`` of ``n_workers`` worker *processes*
  (default: the usable CPUs, :func:`surrogate.threads.usable_cpus`), each with
  ``threads_per_worker`` Dask threads, and close it afterwards;
* a scheduler address (``tcp://host:8786``), the ``--scheduler`` option: an
  existing cluster, left running;
* a ``distributed.Client`` (used as is, left open), so tests and notebooks can
  share one cluster between calls.

Worker processes are separate interpreters: each applies the ``--threads``
rule for itself (:func:`worker_threads`), so that N workers on N cores do not
each start one OpenMP thread per core.
"""

from __future__ import annotations

import contextlib
import os

from systems.errors import InputError


def worker_threads(n_workers: int, threads: int | None = None) -> int:
    """OpenMP/torch threads for each of ``n_workers`` local workers: ``threads`` if given, else the usable CPUs
    shared out evenly (at least 1), so the workers together do not oversubscribe the machine."""
    if threads is not None:
        return max(1, int(threads))
    from .threads import usable_cpus

    return max(1, usable_cpus() // max(1, int(n_workers)))


@contextlib.contextmanager
def dask_client(scheduler=None, n_workers: int | None = None, threads_per_worker: int = 1):
    """A ``distributed.Client`` for ``scheduler`` (see the module docstring); closes only what it started."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise InputError(f"--scheduler must be an address such as tcp://host:8786, got {scheduler!r}")
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise InputError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler there ({err})") from None
        try:
            yield client
        finally:
            client.close()
        return
    if n_workers is None:
        from .threads import usable_cpus

        n_workers = usable_cpus()
    if int(n_workers) < 1:
        raise InputError(f"--workers must be at least 1, got {n_workers!r}")
    # processes: references (tblite, EMT in numpy) hold the GIL; no dashboard: nothing listens on a port
    cluster = LocalCluster(n_workers=int(n_workers), threads_per_worker=int(threads_per_worker), processes=True,
                           dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def set_worker_threads(threads: int) -> None:
    """Apply the thread count inside a worker process (once; later calls with the same count do nothing)."""
    from . import threads as thread_rule

    info = thread_rule.applied()
    if info is None or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) != int(threads):
        thread_rule.apply_threads(int(threads))
