"""BYOL (Grill et al. 2020): online network + predictor regress an EMA target's projections.

The target momentum follows the cosine schedule from ``base_momentum`` (0.996) to 1; the loss is
symmetrised over the two views (2 - 2 cos per direction).
"""

from __future__ import annotations

import torch
from torch import nn

from sassl.train.heads import mlp
from sassl.train.losses import normalized_mse
from sassl.train.momentum import cosine_momentum, ema_update, make_target


class BYOL(nn.Module):
    def __init__(
        self, backbone: nn.Module, feat_dim: int, proj_hidden: int = 4096, proj_dim: int = 256,
        base_momentum: float = 0.996,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = mlp(feat_dim, proj_hidden, proj_dim, layers=2)
        self.predictor = mlp(proj_dim, proj_hidden, proj_dim, layers=2)
        self.target_backbone = make_target(backbone)
        self.target_projector = make_target(self.projector)
        self.base_momentum = base_momentum

    def forward(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = v1.shape[0]
        views = torch.cat([v1, v2])
        h = self.backbone(views)
        p1, p2 = self.predictor(self.projector(h)).chunk(2)
        with torch.no_grad():
            t1, t2 = self.target_projector(self.target_backbone(views)).chunk(2)
        loss = normalized_mse(p1, t2) + normalized_mse(p2, t1)
        return loss, h[:n].detach()

    def after_step(self, progress: float) -> None:
        m = cosine_momentum(self.base_momentum, progress)
        ema_update(self.target_backbone, self.backbone, m)
        ema_update(self.target_projector, self.projector, m)
