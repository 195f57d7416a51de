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
from torchvision.models.resnet import BasicBlock, ResNet

from sassl.choices import ARCHS  # resnet18, resnet18-narrow (NARROW below), resnet50
from sassl.imagenet import IMAGENET_MEAN, IMAGENET_STD
from sassl.weights import WeightsError, load_into, read_torch_file

# resnet18-narrow: ResNet-18 with every stage a quarter as wide (16-32-64-128 channels, 128-d
# features, 0.7 M parameters, ~1/16 of ResNet-18's compute): small data and CPU budgets, where the
# full network does too few steps to learn anything (see README, "Small data").
NARROW = {"resnet18-narrow": 0.25}


class _ScaledResNet(ResNet):
    """torchvision's ResNet-18 layout with every stage's width multiplied by ``width``."""

    def __init__(self, width: float) -> None:
        self._scale = width  # read by _make_layer, which ResNet.__init__ calls
        super().__init__(BasicBlock, [2, 2, 2, 2])
        stem = self.layer1[0].conv1.in_channels
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.fc = nn.Linear(self.inplanes, self.fc.out_features)  # the last stage's width

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):  # noqa: ANN001 (torchvision's signature)
        if planes == 64:  # the first stage: its input is the (scaled) stem's output
            self.inplanes = max(8, int(64 * self._scale))
        return super()._make_layer(block, max(8, int(planes * self._scale)), blocks, stride, dilate)


def build_backbone(arch: str = "resnet50", small_stem: bool = False) -> tuple[nn.Module, int]:
    """A randomly initialised torchvision ResNet without its classifier, and its feature width.

    ``small_stem`` swaps the 7x7/2 conv + max-pool for a 3x3/1 conv, the usual stem for 32-96 px data
    (without it a 32 px input ends as a 1x1 map after the first stage's 8x downsampling).
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown backbone {arch!r}; expected one of {ARCHS}")
    net = _ScaledResNet(NARROW[arch]) if arch in NARROW else getattr(torchvision.models, arch)(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    if small_stem:
        net.conv1 = nn.Conv2d(3, net.bn1.num_features, 3, 1, 1, bias=False)
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
