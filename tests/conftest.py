"""Test-wide settings: tests never need Ray's token authentication, real weights or the network."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the Hugging Face hub is never contacted
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def tiny_pipelines(tmp_path_factory) -> dict[str, Path]:
    """Tiny random unCLIP and image-variation pipelines saved in the diffusers layout (built once: slowish)."""
    from sassl.generate.tiny import save_image_variation, save_unclip

    root = tmp_path_factory.mktemp("pipelines")
    return {"unclip": save_unclip(root / "unclip"), "image-variation": save_image_variation(root / "image-variation")}
