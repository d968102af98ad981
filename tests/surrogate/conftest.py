"""Shared fixtures for the surrogate tests."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """One torch thread for a test (modules opt in with ``pytestmark = pytest.mark.usefixtures(...)``).

    Numba's OpenMP start-up (e.g. tests/integrators/conftest.py's numba.set_num_threads) can reset the OpenMP
    thread count torch shares, and two spinning threads on a busy machine make small-model tests 50x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
