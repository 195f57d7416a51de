"""SimCLR (Chen et al. 2020): shared encoder + projector, NT-Xent over the global batch."""

from __future__ import annotations

import torch
from torch import nn

from sassl.train.heads import mlp
from sassl.train.losses import nt_xent


class SimCLR(nn.Module):
    def __init__(
        self, backbone: nn.Module, feat_dim: int, proj_hidden: int = 2048, proj_dim: int = 128,
        temperature: float = 0.1,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = mlp(feat_dim, proj_hidden, proj_dim, layers=2)
        self.temperature = temperature

    def forward(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(torch.cat([v1, v2]))
        z1, z2 = self.projector(h).chunk(2)
        return nt_xent(z1, z2, self.temperature), h[: v1.shape[0]].detach()

    def after_step(self, progress: float) -> None:
        """SimCLR has no momentum target."""
