"""Helpers, no tests: tiny training inputs in the real layouts (image folders, banks made by the
real precompute job run in-process without Ray; AdaIN with random weights unless a test asks for Ghiasi's
real ones) and a small run config."""

from __future__ import annotations

import warnings
from pathlib import Path

from imagegen import write_image_folder

from sassl.precompute.job import PrecomputeConfig, precompute


def make_bank(root: Path, folder: Path, size: int = 24, style_only: bool = False, shard_size: int = 8,
              stylizer: str = "adain") -> Path:
    cfg = PrecomputeConfig(out=str(root), image_folder=str(folder), style_only=style_only, image_size=size,
                           codec="fp16", stylizer=stylizer, encoder_weights="random", allow_random_weights=True,
                           batch_size=8, shard_size=shard_size, progress=False, in_process=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert precompute(cfg).ok
    return root


def content_bank(tmp: Path, classes: int = 2, per_class: int = 8, stylizer: str = "adain") -> Path:
    folder = write_image_folder(tmp / "images", classes=classes, per_class=per_class, size=32)
    return make_bank(tmp / "bank", folder, stylizer=stylizer)


def small_config(out: Path, **overrides):
    from sassl.train.loop import TrainConfig

    base = dict(method="moco", out=str(out), arch="resnet18", small_stem=True, image_size=16, batch_size=4,
                workers=0, log_every=1, lr=0.05, stylizer="adain", decoder="random", encoder_weights="random",
                allow_random_weights=True, progress=False, ckpt_every=100,
                method_options={"proj_hidden": 32, "proj_dim": 16, "queue_size": 8})
    base.update(overrides)
    return TrainConfig(**base)
