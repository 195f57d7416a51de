"""Test-wide settings: no Ray token authentication; an opt-in one-thread fixture for tiny-tensor modules."""

import os

import pytest
import torch

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module of tiny-tensor tests: two threads gain nothing there, and on a
    shared 2-core machine they spin against each other (measured 5-40x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
