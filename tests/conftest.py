"""Test-wide settings: tests never need Ray's token authentication or real weights, and run torch on
one thread (tiny tensors: on a shared 2-core machine two threads spin against each other, ~5x slower;
subprocesses inherit it). Export OMP_NUM_THREADS to override."""

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("OMP_NUM_THREADS", "1")
