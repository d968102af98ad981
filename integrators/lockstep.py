"""Run B independent replicas in lock step so that their force calls become one batched call.

Each replica runs its own, unchanged code (an integrator's ``step``, a whole
:class:`~integrators.simulation.Simulation` with its reporters and checkpoints)
in a worker thread. Its force provider is a :class:`ReplicaProvider`: its
``compute`` does not evaluate anything, it hands the system to the
:class:`Lockstep` coordinator and waits. Once every live replica is waiting (or
finished), the coordinator evaluates all waiting systems with ONE
``compute_batch`` call of a :class:`~integrators.protocols.BatchForceProvider`
and hands each replica its own result.

Why threads rather than a batched copy of every integrator: the replica's
arithmetic is then the single-system integrator's arithmetic, whatever it
is (velocity Verlet, BAOAB, Bussi, a constraint hook added later), and each
replica draws its own RNG's numbers in the same order as an unbatched run.
Only one thread runs Python at a time (the GIL), and a replica's arithmetic is
independent of every other's, so the interleaving cannot change any number.
The threads cost a few tens of µs per replica and step, the price of not
duplicating the integrators.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from systems.forces import ForceResult


class _Request:
    __slots__ = ("system", "stress", "result", "error", "done")

    def __init__(self, system, stress: bool):
        self.system = system
        self.stress = bool(stress)
        self.result = None
        self.error = None
        self.done = False


class ReplicaProvider:
    """The force provider of replica ``index``: ``compute`` is served by the coordinator's batched call.

    Outside :meth:`Lockstep.run` (in the calling thread, e.g. while a run is being set up) it evaluates
    its system alone, as a batch of one, through the same batch provider.
    Attributes it does not define (``neighbor_list``, ``state_dict``, ``cutoff``, ``model``, ...) are those
    of ``batch_provider.replica_state(index)``, so a checkpoint stores exactly what an unbatched run of the
    same provider stores.
    """

    def __init__(self, lockstep: "Lockstep", index: int):
        self._lockstep = lockstep
        self.index = int(index)

    def compute(self, system, stress: bool = False) -> ForceResult:
        """Energy (eV), forces [n, 3] (eV/Å), stress [3, 3] (eV/Å³) of ``system`` from the batched evaluation."""
        return self._lockstep.request(self.index, system, stress)

    def __getattr__(self, name):
        if name.startswith("_"):  # private and special names are never the slot's (and copy/pickle probe them)
            raise AttributeError(name)
        return getattr(self._lockstep.batch_provider.replica_state(self.index), name)


class ReplicaError(RuntimeError):
    """One or more replicas failed; ``errors`` maps the replica index to its exception."""

    def __init__(self, errors: dict[int, BaseException]):
        self.errors = dict(sorted(errors.items()))
        text = "; ".join(f"replica {i}: {type(e).__name__}: {e}" for i, e in self.errors.items())
        super().__init__(f"{len(self.errors)} replica(s) failed: {text}")


class Lockstep:
    """Coordinator of replicas whose force calls are batched.

    Parameters
    ----------
    batch_provider : :class:`~integrators.protocols.BatchForceProvider`
        Called from the coordinating (calling) thread only, so a torch model never sees two threads.

    ``provider(i)`` gives replica ``i``'s :class:`ReplicaProvider`; ``run(tasks)`` runs ``tasks[i]()``
    for every replica in lock step. ``n_batched_calls`` counts the ``compute_batch`` calls.
    """

    def __init__(self, batch_provider):
        if not callable(getattr(batch_provider, "compute_batch", None)):
            raise TypeError(f"`batch_provider` must have compute_batch(systems, stress=False, replicas=None), "
                            f"got {type(batch_provider).__name__}")
        self.batch_provider = batch_provider
        self.n_batched_calls = 0
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the coordinator waits here until no replica runs
        self._served = threading.Condition(lock)  # replicas wait here for their results
        self._pending: dict[int, _Request] = {}
        self._workers: dict[int, threading.Thread] = {}  # replica -> its worker while a run is in progress
        self._running = 0  # workers neither waiting for forces nor finished
        self._providers: dict[int, ReplicaProvider] = {}

    def provider(self, index: int) -> ReplicaProvider:
        """Replica ``index``'s force provider (the same object on every call)."""
        if index not in self._providers:
            self._providers[index] = ReplicaProvider(self, index)
        return self._providers[index]

    # ------------------------------------------------------------ replicas
    def request(self, index: int, system, stress: bool) -> ForceResult:
        """Called by a replica's provider: wait for the batched evaluation that includes ``system``."""
        if self._workers.get(index) is not threading.current_thread():
            # not inside run(): evaluate at once, a batch of one
            self.n_batched_calls += 1
            return self.batch_provider.compute_batch([system], stress, replicas=[index])[0]
        req = _Request(system, stress)
        with self._cond:
            if index in self._pending:
                raise RuntimeError(f"replica {index} asked for forces twice at once")
            self._pending[index] = req
            self._running -= 1
            if self._running == 0:
                self._cond.notify()  # the coordinator: every live replica now waits
            while not req.done:
                self._served.wait()
        if req.error is not None:
            raise req.error
        return req.result

    # --------------------------------------------------------- coordinator
    def run(self, tasks: Sequence[Callable[[], object]], indices: Sequence[int] | None = None) -> list:
        """Run ``tasks[k]()`` as replica ``indices[k]`` (default k), each in its own thread, in lock step.

        Returns the tasks' return values in order. A task that raises does not stop the others; once all
        have ended, :class:`ReplicaError` names every failed replica (``errors`` holds the exceptions).
        A KeyboardInterrupt in the coordinator propagates (the worker threads are daemons).
        """
        indices = list(range(len(tasks))) if indices is None else [int(i) for i in indices]
        if len(indices) != len(tasks) or len(set(indices)) != len(indices):
            raise ValueError("run: one distinct replica index per task")
        if self._workers:
            raise RuntimeError("Lockstep.run is already running")
        results: list = [None] * len(tasks)
        errors: dict[int, BaseException] = {}

        def work(k: int, task) -> None:
            try:
                results[k] = task()
            except BaseException as err:  # noqa: BLE001 - handed to the coordinator, re-raised there
                errors[indices[k]] = err
            finally:
                with self._cond:
                    self._running -= 1
                    if self._running == 0:
                        self._cond.notify()

        with self._cond:
            self._running = len(tasks)
            for k, task in enumerate(tasks):
                thread = threading.Thread(target=work, args=(k, task), daemon=True,
                                          name=f"replica-{indices[k]}")
                self._workers[indices[k]] = thread
        try:
            for thread in self._workers.values():
                thread.start()
            self._serve()
        finally:
            self._workers = {}
        if errors:
            raise ReplicaError(errors)
        return results

    def _serve(self) -> None:
        """Evaluate the waiting replicas whenever none is running; return when all have finished."""
        while True:
            with self._cond:
                while self._running > 0:
                    self._cond.wait()
                if not self._pending:
                    return
                batch = sorted(self._pending.items())  # replica order: the same batch in every run
                self._pending = {}
            replicas = [i for i, _ in batch]
            self._evaluate(replicas, [r for _, r in batch])
            with self._cond:
                self._running += len(batch)
                for _, req in batch:
                    req.done = True
                self._served.notify_all()

    def _evaluate(self, replicas: list[int], requests: list[_Request]) -> None:
        """Fill each request's result; when the batch fails, each system alone, so the error reaches
        only the replica it belongs to (e.g. one replica's atoms on top of each other)."""
        try:
            self.n_batched_calls += 1
            results = self.batch_provider.compute_batch([r.system for r in requests],
                                                        [r.stress for r in requests], replicas=replicas)
            if len(results) != len(requests):
                raise RuntimeError(f"compute_batch returned {len(results)} results for {len(requests)} systems")
        except Exception as err:  # noqa: BLE001 - attributed below, or handed to the one replica
            if len(requests) == 1:
                requests[0].error = err
                return
            for index, req in zip(replicas, requests):
                self._evaluate([index], [req])
            return
        for req, result in zip(requests, results):
            req.result = result
