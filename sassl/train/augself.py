"""AugSelf (Lee et al. 2021): auxiliary heads predict how the two views' augmentations differ.

One MLP per group (Linear-BN-ReLU x 2, hidden 512, then Linear) on the concatenated backbone
features of the two views, applied in both orders (symmetric); regression groups are trained with
MSE on tanh outputs, ``flip`` ("same flip?") with BCE on logits; the loss is the weighted sum
(hankook/AugSelf ``trainers.py``: ``SSObjective``). The targets are :func:`record.augself_targets`.
Here the ``style`` group also predicts the difference of SASSL's (applied, alpha, beta).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sassl.choices import AUGSELF_GROUPS  # defined in the light module: the CLI reads it without torch
from sassl.train.heads import mlp
from sassl.train.record import GROUPS, augself_targets

DEFAULT_WEIGHT = 0.5  # the authors' ImageNet-100 / ResNet-50 setting (crop and colour)
HIDDEN = 512


def parse_augself(spec: str, style: bool) -> dict[str, float]:
    """``crop,color`` or ``crop:1.0,color:0.5,style`` -> {group: weight} (default weight 0.5)."""
    weights: dict[str, float] = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        name, _, weight = item.partition(":")
        if name not in AUGSELF_GROUPS:
            raise ValueError(f"--augself: unknown group {name!r}; expected some of {', '.join(AUGSELF_GROUPS)}")
        if name in weights:
            raise ValueError(f"--augself: group {name!r} is named twice in {spec!r}")
        try:
            w = float(weight) if weight else DEFAULT_WEIGHT
        except ValueError:
            raise ValueError(f"--augself: weight of {name!r} is not a number: {weight!r}") from None
        if not w > 0:  # also refuses NaN
            raise ValueError(f"--augself: weight of {name!r} must be > 0, got {weight}")
        weights[name] = w
    if not weights:
        raise ValueError("--augself needs at least one group, e.g. crop,color")
    if "style" in weights and not style:
        raise ValueError("--augself style: the views carry no style with --style none")
    return weights


class AugSelf(nn.Module):
    """The auxiliary heads and their loss; ``weights`` maps group -> loss weight."""

    def __init__(self, feat_dim: int, weights: dict[str, float]) -> None:
        super().__init__()
        self.weights = dict(weights)
        self.heads = nn.ModuleDict({g: mlp(2 * feat_dim, HIDDEN, GROUPS[g][1], layers=3) for g in weights})

    def forward(self, h1: torch.Tensor, h2: torch.Tensor, rec1: torch.Tensor, rec2: torch.Tensor) -> torch.Tensor:
        groups = tuple(self.weights)
        z = torch.cat([torch.cat([h1, h2], 1), torch.cat([h2, h1], 1)])
        d12, d21 = augself_targets(rec1, rec2, groups), augself_targets(rec2, rec1, groups)
        total = h1.new_zeros((), dtype=torch.float32)
        for g in groups:
            pred = self.heads[g](z).float()
            target = torch.cat([d12[g], d21[g]]).float()
            if g == "flip":
                loss = F.binary_cross_entropy_with_logits(pred, target)
            else:
                loss = F.mse_loss(torch.tanh(pred), target)
            total = total + self.weights[g] * loss
        return total
