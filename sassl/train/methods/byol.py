"""BYOL (Grill et al. 2020): online network + predictor regress an EMA target's projections.

The target momentum follows the cosine schedule from ``base_momentum`` (0.996) to 1; the loss is
symmetrised over the two views (2 - 2 cos per direction). With CASSLE each target projection is
conditioned on its own view's descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sassl.train.augment import BYOL_VIEWS
from sassl.train.heads import Projector, mlp
from sassl.train.losses import normalized_mse
from sassl.train.methods.spec import MethodSpec
from sassl.train.momentum import cosine_momentum, ema_update, make_target
from sassl.train.optim import OptimRecipe


@dataclass
class BYOLOptions:
    proj_hidden: int = 4096
    proj_dim: int = 256
    base_momentum: float = 0.996


class BYOL(nn.Module):
    def __init__(self, backbone: nn.Module, feat_dim: int, opts: BYOLOptions, cond_dim: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = Projector(feat_dim, opts.proj_hidden, opts.proj_dim, 2, cond_dim=cond_dim)
        self.predictor = mlp(opts.proj_dim, opts.proj_hidden, opts.proj_dim, layers=2)
        self.target_backbone = make_target(backbone)
        self.target_projector = make_target(self.projector)
        self.base_momentum = opts.base_momentum

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, d1: torch.Tensor | None = None,
                d2: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        views = torch.cat([v1, v2])
        d = None if d1 is None else torch.cat([d1, d2])
        h = self.backbone(views)
        p1, p2 = self.predictor(self.projector(h, d)).chunk(2)
        with torch.no_grad():
            t1, t2 = self.target_projector(self.target_backbone(views), d).chunk(2)
        loss = normalized_mse(p1, t2) + normalized_mse(p2, t1)
        h1, h2 = h.chunk(2)
        return loss, h1, h2

    def after_step(self, progress: float) -> None:
        m = cosine_momentum(self.base_momentum, progress)
        ema_update(self.target_backbone, self.backbone, m)
        ema_update(self.target_projector, self.projector, m)


# LARS 0.2 x batch / 256, wd 1.5e-6, 10 warmup epochs (Grill et al. 2020)
SPEC = MethodSpec(BYOL, BYOLOptions, BYOL_VIEWS, OptimRecipe("lars", 0.2, 1.5e-6, 10), "Grill et al. 2020, BYOL")
