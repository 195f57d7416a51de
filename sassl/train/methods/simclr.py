"""SimCLR (Chen et al. 2020): shared encoder + projector, NT-Xent over the global batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sassl.train.augment import SIMCLR_VIEWS
from sassl.train.heads import Projector
from sassl.train.losses import nt_xent
from sassl.train.methods.spec import MethodSpec
from sassl.train.optim import OptimRecipe


@dataclass
class SimCLROptions:
    proj_hidden: int = 2048
    proj_dim: int = 128
    temperature: float = 0.1


class SimCLR(nn.Module):
    def __init__(self, backbone: nn.Module, feat_dim: int, opts: SimCLROptions, cond_dim: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = Projector(feat_dim, opts.proj_hidden, opts.proj_dim, 2, cond_dim=cond_dim)
        self.temperature = opts.temperature

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, d1: torch.Tensor | None = None,
                d2: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.backbone(torch.cat([v1, v2]))
        z1, z2 = self.projector(h, None if d1 is None else torch.cat([d1, d2])).chunk(2)
        h1, h2 = h.chunk(2)
        return nt_xent(z1, z2, self.temperature), h1, h2

    def after_step(self, progress: float) -> None:
        """SimCLR has no momentum target."""


# LARS 0.3 x batch / 256, wd 1e-6, 10 warmup epochs (Chen et al. 2020, Appendix B.9)
SPEC = MethodSpec(SimCLR, SimCLROptions, SIMCLR_VIEWS, OptimRecipe("lars", 0.3, 1e-6, 10),
                  "Chen et al. 2020, SimCLR (Appendix B.9)")
