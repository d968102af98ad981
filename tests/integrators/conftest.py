"""Shared fixtures for the integrator tests."""

import numba
import pytest


@pytest.fixture(autouse=True)
def one_numba_thread():
    """Small systems: one Numba thread avoids thread-pool waits on a busy 2-core machine."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)
