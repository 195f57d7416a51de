"""Test-wide settings: tests never need Ray's token authentication or real weights."""

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
