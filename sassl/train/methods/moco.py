"""MoCo v2 (Chen et al. 2020b): query encoder, momentum key encoder, a queue of negatives, T=0.2.

The queue is a buffer, so it travels with ``state_dict`` into checkpoints; under DDP the keys of all
processes are gathered before they are enqueued, as in the reference implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sassl.train.distributed import gather_no_grad
from sassl.train.heads import mlp
from sassl.train.losses import info_nce
from sassl.train.momentum import ema_update, make_target


class MoCo(nn.Module):
    def __init__(
        self, backbone: nn.Module, feat_dim: int, proj_hidden: int = 2048, proj_dim: int = 128,
        queue_size: int = 65536, temperature: float = 0.2, momentum: float = 0.999,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = mlp(feat_dim, proj_hidden, proj_dim, layers=2)
        self.key_backbone = make_target(backbone)
        self.key_projector = make_target(self.projector)
        self.temperature, self.momentum = temperature, momentum
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, proj_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(v1)
        q = self.projector(h)
        with torch.no_grad():
            k = F.normalize(self.key_projector(self.key_backbone(v2)).float(), dim=1)
        loss = info_nce(q, k, self.queue.clone(), self.temperature)  # the queue changes in place below
        if self.training:
            self._enqueue(k)
        return loss, h.detach()

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
