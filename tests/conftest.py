"""Test-wide settings: no Ray token authentication, no Hugging Face hub; shared fixtures (one torch thread for
tiny-tensor modules, tiny diffusers pipelines)."""

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the Hugging Face hub is never contacted
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module of tiny-tensor tests: two threads gain nothing there, and on a
    shared 2-core machine they spin against each other (measured 5-40x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_pipelines(tmp_path_factory) -> dict[str, Path]:
    """Tiny random unCLIP and image-variation pipelines saved in the diffusers layout (built once: slowish)."""
    from sassl.generate.tiny import save_image_variation, save_unclip

    root = tmp_path_factory.mktemp("pipelines")
    return {"unclip": save_unclip(root / "unclip"), "image-variation": save_image_variation(root / "image-variation")}
