"""One thread rule for every command: ``--threads N``, or a default that leaves busy cores alone.

Why: torch's default is one OpenMP thread per core. On a 2-core machine with
another busy process, its threads spin-wait for a core the other process holds:
one EGNN training epoch took 302 s with torch's default against 16–23 s with
``OMP_NUM_THREADS=1`` (15–100× slower), and one evaluation 562 ms against
3.9 ms. Fewer threads than cores costs at most the idle cores; more threads than
free cores can cost 10–100×.

The default rule (:func:`default_thread_count`), when ``--threads`` is not given:

1. an ``OMP_NUM_THREADS`` the user set in the environment wins (the user decides);
2. otherwise the CPUs this process may use (``os.sched_getaffinity``, and the
   cgroup CPU quota of a container) minus the load of the other processes on
   the machine: the larger of the 1-minute load average (``os.getloadavg()[0]``)
   and the processes running right now besides this one (``/proc/loadavg``,
   which sees a busy process at once, where the average takes a minute),
   rounded (scaled to this process's share of the machine's CPUs when it may
   use only some of them), and at least 1.

:func:`apply_threads` sets the count everywhere it matters, once at the start
of a command (``surrogate.cli.main``), before parallel work: torch intra-op and
inter-op threads, Numba's threads (capped at ``numba.config.NUMBA_NUM_THREADS``),
BLAS/OpenMP pools already loaded (threadpoolctl) and the environment variables
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` for the
libraries loaded later (tblite's OpenMP reads it when it starts). Torch and
Numba are not imported for it: when they are imported later, the count is
applied right after their import, so a command that never needs torch does not
pay for importing it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import math
import os
import sys

from systems.errors import InputError

#: Environment variables of OpenMP and the BLAS libraries set to the chosen count.
ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: ``OMP_NUM_THREADS`` as the user started the process (before this module set it).
_USER_OMP = os.environ.get("OMP_NUM_THREADS")
#: What the last :func:`apply_threads` chose (None: not yet called).
_applied: dict | None = None
#: Whether torch's inter-op pool has been sized (it can be set only once per process).
_interop_done = False


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup (v2 or v1) CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup's quota (``cpu.max`` or ``cpu.cfs_quota_us``); None when unlimited or unknown."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        return None if quota == "max" else float(quota) / float(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as fh:
            quota = float(fh.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fh:
            period = float(fh.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def other_load() -> float:
    """Load of the other processes: max(1-minute load average, runnable tasks now besides this one)."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):
        average = 0.0
    running_now = 0
    try:
        with open("/proc/loadavg") as fh:
            running_now = int(fh.read().split()[3].split("/")[0]) - 1  # minus this process's own thread
    except (OSError, ValueError, IndexError):
        pass
    return max(float(average), float(running_now), 0.0)


def parse_thread_env(value: str | None) -> int | None:
    """A positive whole ``OMP_NUM_THREADS`` value, else None (unset, empty, or a list such as ``4,2``)."""
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        return None
    return n if n >= 1 else None


def default_thread_count(cpus: int | None = None, load: float | None = None,
                         env_omp: str | None = ..., host_cpus: int | None = None) -> tuple[int, str]:
    """The default rule: ``(threads, why)``.

    ``cpus``: usable CPUs (default :func:`usable_cpus`); ``load``: load of the
    other processes (default :func:`other_load`); ``env_omp``: the user's
    ``OMP_NUM_THREADS`` (default: as the process started); ``host_cpus``: the
    machine's CPUs (default ``os.cpu_count()``). The load is the whole
    machine's: where this process may use only some of its CPUs (a container
    pinned to 2 of 64 cores), only that share of the load counts
    (``load × cpus / host_cpus``). Returns a count in ``[1, cpus]`` unless the
    user's ``OMP_NUM_THREADS`` says otherwise.
    """
    env_omp = _USER_OMP if env_omp is ... else env_omp
    user = parse_thread_env(env_omp)
    if user is not None:
        return user, f"OMP_NUM_THREADS={user} from the environment"
    cpus = usable_cpus() if cpus is None else max(1, int(cpus))
    host_cpus = max(cpus, int(host_cpus if host_cpus is not None else (os.cpu_count() or cpus)))
    load = other_load() if load is None else max(0.0, float(load))
    share = load * cpus / host_cpus
    n = max(1, min(cpus, cpus - int(round(share))))
    of_host = f" ({load:.1f} on {host_cpus} CPUs)" if host_cpus > cpus else ""
    return n, f"{cpus} usable CPUs - {share:.1f} load of other processes{of_host}"


def check_threads(n) -> int:
    """``n`` as a positive int, else an InputError naming --threads."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"--threads must be a whole number of at least 1, got {n!r}")
    return n


def apply_threads(n: int | None = None) -> dict:
    """Use ``n`` threads (None: :func:`default_thread_count`) in torch, Numba, BLAS and OpenMP.

    Returns what was set: ``{"threads", "rule", "torch", "numba", "blas"}``
    (``torch``/``numba``: "set", "on import" when the library is not imported
    yet, or why not). Call it before parallel work: torch's inter-op pool can
    be sized only once per process (a later call keeps the first size).
    """
    global _applied
    if n is None:
        n, rule = default_thread_count()
    else:
        n, rule = check_threads(n), "--threads"
    for var in ENV_VARS:
        os.environ[var] = str(n)
    info = {"threads": n, "rule": rule, "blas": _limit_blas(n)}
    info["torch"] = _when_imported("torch", lambda module: _set_torch(module, n))
    info["numba"] = _when_imported("numba", lambda module: _set_numba(module, n))
    _applied = info
    return info


def applied() -> dict | None:
    """What the last :func:`apply_threads` chose in this process (None: never called)."""
    return _applied


def summary(info: dict) -> str:
    """One line: ``threads: 2 (2 usable CPUs - 0.0 load of other processes)``."""
    return f"threads: {info['threads']} ({info['rule']})"


def _set_torch(torch, n: int) -> str:
    global _interop_done
    torch.set_num_threads(n)
    if _interop_done:
        return "set (inter-op pool sized earlier)"
    _interop_done = True
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # parallel work has started: the pool's size is fixed now
        return "set (intra-op only: inter-op pool already started)"
    return "set"


def _set_numba(numba, n: int) -> str:
    try:
        limit = int(numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(min(n, limit))
    except (AttributeError, ValueError, RuntimeError, ImportError) as exc:  # no threading layer here
        return f"not set ({exc})"
    return "set" if n <= limit else f"set to {limit} (NUMBA_NUM_THREADS)"


def _limit_blas(n: int) -> str:
    """Limit the BLAS/OpenMP pools already loaded (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return "environment only (threadpoolctl not installed)"
    threadpool_limits(limits=n)
    return "set"


def _when_imported(name: str, action) -> str:
    """Run ``action(module)`` now if ``name`` is imported, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        return action(module)
    for finder in list(sys.meta_path):
        if isinstance(finder, _AfterImport) and finder.name == name:
            sys.meta_path.remove(finder)  # a newer count replaces a pending one
    sys.meta_path.insert(0, _AfterImport(name, action))
    return "on import"


class _AfterImport(importlib.abc.MetaPathFinder):
    """A one-shot import hook: after ``name``'s module has executed, call ``action(module)``."""

    def __init__(self, name: str, action):
        self.name, self.action = name, action

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, action = spec.loader, self.action
        original = loader.exec_module

        def exec_module(module):
            original(module)
            try:
                action(module)
            except Exception:  # noqa: BLE001 - a thread setting must never break the import itself
                pass

        loader.exec_module = exec_module
        return spec
