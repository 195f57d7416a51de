"""MoCo v2 (Chen et al. 2020b): query encoder, momentum key encoder, a queue of negatives, T=0.2.

The queue is a buffer, so it travels with ``state_dict`` into checkpoints; under DDP the keys of all
processes are gathered before they are enqueued, as in the reference implementation. With CASSLE the
key projector is conditioned on view 2's descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sassl.train.augment import MOCO_V2_VIEWS
from sassl.train.distributed import gather_no_grad
from sassl.train.heads import Projector
from sassl.train.losses import info_nce
from sassl.train.methods.spec import MethodSpec
from sassl.train.momentum import ema_update, make_target
from sassl.train.optim import OptimRecipe


@dataclass
class MoCoOptions:
    proj_hidden: int = 2048
    proj_dim: int = 128
    queue_size: int = 65536
    temperature: float = 0.2
    momentum: float = 0.999


class MoCo(nn.Module):
    def __init__(self, backbone: nn.Module, feat_dim: int, opts: MoCoOptions, cond_dim: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = Projector(feat_dim, opts.proj_hidden, opts.proj_dim, 2, cond_dim=cond_dim)
        self.key_backbone = make_target(backbone)
        self.key_projector = make_target(self.projector)
        self.temperature, self.momentum = opts.temperature, opts.momentum
        self.register_buffer("queue", F.normalize(torch.randn(opts.queue_size, opts.proj_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, d1: torch.Tensor | None = None,
                d2: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h1 = self.backbone(v1)
        q = self.projector(h1, d1)
        with torch.no_grad():
            h2 = self.key_backbone(v2)
            k = F.normalize(self.key_projector(h2, d2).float(), dim=1)
        loss = info_nce(q, k, self.queue.clone(), self.temperature)  # the queue changes in place below
        if self.training:
            self._enqueue(k)
        return loss, h1, h2

    @torch.no_grad()
    def _enqueue(self, k: torch.Tensor) -> None:
        keys = gather_no_grad(k)
        size = self.queue.shape[0]
        idx = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)

    def after_step(self, progress: float) -> None:
        ema_update(self.key_backbone, self.backbone, self.momentum)
        ema_update(self.key_projector, self.projector, self.momentum)


# SGD 0.03 x batch / 256, wd 1e-4, cosine, no warmup (Chen et al. 2020b)
SPEC = MethodSpec(MoCo, MoCoOptions, MOCO_V2_VIEWS, OptimRecipe("sgd", 0.03, 1e-4, 0),
                  "Chen et al. 2020b, MoCo v2")
