"""Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' embeddings is pushed
to the identity (invariance on the diagonal, redundancy reduction off it, lambda = 5e-3).

Projector 8192-8192-8192 (Linear-BN-ReLU x 2, Linear); LARS, lr 0.2 x batch/256, wd 1.5e-6, 10 warmup
epochs; BYOL's augmentations (as in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sassl.train.augment import BYOL_VIEWS
from sassl.train.heads import Projector
from sassl.train.losses import barlow_twins
from sassl.train.methods.spec import MethodSpec
from sassl.train.optim import OptimRecipe


@dataclass
class BarlowTwinsOptions:
    proj_hidden: int = 8192
    proj_dim: int = 8192
    lambd: float = 5e-3


class BarlowTwins(nn.Module):
    def __init__(self, backbone: nn.Module, feat_dim: int, opts: BarlowTwinsOptions, cond_dim: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = Projector(feat_dim, opts.proj_hidden, opts.proj_dim, 3, cond_dim=cond_dim)
        self.lambd = opts.lambd

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, d1: torch.Tensor | None = None,
                d2: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.backbone(torch.cat([v1, v2]))
        z1, z2 = self.projector(h, None if d1 is None else torch.cat([d1, d2])).chunk(2)
        h1, h2 = h.chunk(2)
        return barlow_twins(z1, z2, self.lambd), h1, h2

    def after_step(self, progress: float) -> None:
        """Barlow Twins has no momentum target."""


# LARS 0.2 x batch / 256 (the paper's biases/BN lr 0.0048 is not separate here), wd 1.5e-6, 10 warmup epochs
SPEC = MethodSpec(BarlowTwins, BarlowTwinsOptions, BYOL_VIEWS, OptimRecipe("lars", 0.2, 1.5e-6, 10),
                  "Zbontar et al. 2021, Barlow Twins")
