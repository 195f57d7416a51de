"""SimSiam (Chen & He 2021): projector + predictor, stop-gradient on the other view, no negatives.

Projector 3 x (fc, BN) with ReLU between and BN on its 2048-d output; predictor 2048-512-2048
(bottleneck); loss -cos(p1, sg(z2))/2 - cos(p2, sg(z1))/2; SGD with momentum 0.9, lr 0.05 x batch/256,
wd 1e-4, cosine decay; MoCo v2 augmentations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sassl.train.augment import MOCO_V2_VIEWS
from sassl.train.heads import Projector, mlp
from sassl.train.losses import negative_cosine
from sassl.train.methods.spec import MethodSpec
from sassl.train.optim import OptimRecipe


@dataclass
class SimSiamOptions:
    proj_hidden: int = 2048
    proj_dim: int = 2048
    pred_hidden: int = 512


class SimSiam(nn.Module):
    def __init__(self, backbone: nn.Module, feat_dim: int, opts: SimSiamOptions, cond_dim: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = Projector(feat_dim, opts.proj_hidden, opts.proj_dim, 3, last_bn=True, cond_dim=cond_dim)
        self.predictor = mlp(opts.proj_dim, opts.pred_hidden, opts.proj_dim, layers=2)

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, d1: torch.Tensor | None = None,
                d2: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.backbone(torch.cat([v1, v2]))
        z = self.projector(h, None if d1 is None else torch.cat([d1, d2]))
        p1, p2 = self.predictor(z).chunk(2)
        z1, z2 = z.chunk(2)
        h1, h2 = h.chunk(2)
        return negative_cosine(p1, p2, z1, z2), h1, h2

    def after_step(self, progress: float) -> None:
        """SimSiam has no momentum target (the stop-gradient replaces it)."""


# SGD 0.05 x batch / 256, wd 1e-4, cosine, no warmup (Chen & He 2021, Sec. 4)
SPEC = MethodSpec(SimSiam, SimSiamOptions, MOCO_V2_VIEWS, OptimRecipe("sgd", 0.05, 1e-4, 0),
                  "Chen & He 2021, SimSiam")
