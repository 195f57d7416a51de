"""Backbones for pretraining and evaluation, and the part of a checkpoint evaluation reads.

A pretraining checkpoint is a dict that loads with ``torch.load(..., weights_only=True)`` and holds
at least ``backbone`` ({"arch": str, "small_stem": bool, "input_mean"/"input_std": the input
normalisation the backbone was trained with}) and ``backbone_state`` (the backbone's
state dict, classifier removed). Evaluation needs nothing else, so it never depends on the method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torchvision
from torch import nn

from sassl.imagenet import IMAGENET_MEAN, IMAGENET_STD
from sassl.weights import WeightsError, load_into, read_torch_file

ARCHS = ("resnet18", "resnet50")


def build_backbone(arch: str = "resnet50", small_stem: bool = False) -> tuple[nn.Module, int]:
    """A randomly initialised torchvision ResNet without its classifier, and its feature width.

    ``small_stem`` swaps the 7x7/2 conv + max-pool for a 3x3/1 conv, the usual stem for 32-96 px data.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown backbone {arch!r}; expected one of {ARCHS}")
    net = getattr(torchvision.models, arch)(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    if small_stem:
        net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    return net, dim


def backbone_record(arch: str, small_stem: bool, backbone: nn.Module) -> dict[str, Any]:
    """The checkpoint entries evaluation needs (merge them into the trainer's checkpoint dict).

    Backbones see ImageNet-normalised inputs; recording it lets evaluation do the same.
    """
    return {
        "backbone": {
            "arch": arch,
            "small_stem": bool(small_stem),
            "input_mean": list(IMAGENET_MEAN),
            "input_std": list(IMAGENET_STD),
        },
        "backbone_state": {k: v.detach().cpu() for k, v in backbone.state_dict().items()},
    }


def load_backbone(path: str | Path) -> tuple[nn.Module, int, dict[str, Any]]:
    """Rebuild the backbone of a pretraining checkpoint (weights-only load); returns (net, dim, info)."""
    ckpt = read_torch_file(path, "checkpoint")
    if not isinstance(ckpt, dict) or "backbone" not in ckpt or "backbone_state" not in ckpt:
        raise WeightsError(f"{path}: not a sassl pretraining checkpoint (needs 'backbone' and 'backbone_state')")
    info = dict(ckpt["backbone"])
    net, dim = build_backbone(info["arch"], info.get("small_stem", False))
    load_into(net, ckpt["backbone_state"], str(path))
    return net.eval(), dim, info
