"""Compile one kernel twice: ``parallel=True`` for big inputs, serial for small ones.

A parallel Numba kernel pays a thread-pool launch on every call (tens of µs,
more on a loaded machine); for a 16-atom system that is most of the cost. The
serial twin is the same source compiled without ``parallel`` (``prange`` runs
as ``range``), cached under its own name so the two never share a cache entry.
"""

from __future__ import annotations

import types

import numba

#: Loops over fewer items than this (pairs, or atoms for cheap per-atom work) run on the serial twin.
SERIAL_BELOW = 20_000
#: The neighbor search does ~400 distance checks per atom, so it pays to go parallel much earlier.
SERIAL_SEARCH_BELOW_ATOMS = 500


def parallel_and_serial(fn):
    """Return ``(parallel, serial)`` cached njit dispatchers of ``fn``."""
    parallel = numba.njit(cache=True, parallel=True)(fn)
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    twin.__module__ = fn.__module__
    twin.__doc__ = fn.__doc__
    serial = numba.njit(cache=True)(twin)
    return parallel, serial
