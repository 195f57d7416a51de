"""What a run trains: the method, the optional AugSelf heads and the online linear probe, one module
so that DDP synchronises all of them. CASSLE lives inside the method's projectors."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sassl.train.augself import AugSelf
from sassl.backbone import build_backbone
from sassl.train.cassle import descriptor_width
from sassl.train.methods import build_method
from sassl.train.record import descriptor


class Trainee(nn.Module):
    """``forward`` returns (SSL loss, AugSelf loss (0 without it), probe loss, probe hits, labelled)."""

    def __init__(self, method: nn.Module, feat_dim: int, num_classes: int, augself: AugSelf | None = None,
                 cassle: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.method = method
        self.augself = augself
        self.cassle = cassle
        self.probe = nn.Linear(feat_dim, num_classes)

    def ssl_modules(self) -> nn.ModuleList:
        """The parameters the method's optimiser updates (AugSelf heads included, probe not)."""
        return nn.ModuleList([m for m in (self.method, self.augself) if m is not None])

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, rec1: torch.Tensor, rec2: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d1 = descriptor(rec1, self.cassle) if self.cassle else None
        d2 = descriptor(rec2, self.cassle) if self.cassle else None
        ssl_loss, h1, h2 = self.method(v1, v2, d1, d2)
        aux = self.augself(h1, h2, rec1, rec2) if self.augself is not None else ssl_loss.new_zeros(())
        logits = self.probe(h1.detach().float())
        known = (labels >= 0) & (labels < logits.shape[1])
        probe_loss = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")
        probe_loss = (probe_loss * known).sum() / known.sum().clamp(min=1)
        correct = ((logits.argmax(1) == labels) & known).sum()
        return ssl_loss, aux, probe_loss, correct, known.sum()


def build_trainee(method: str, arch: str, small_stem: bool, num_classes: int, method_options: dict[str, Any],
                  augself: dict[str, float] | None = None, cassle: tuple[str, ...] = ()) -> Trainee:
    """A freshly initialised backbone, method (CASSLE-conditioned when ``cassle`` names groups),
    AugSelf heads (when ``augself`` maps groups to weights) and probe."""
    backbone, feat_dim = build_backbone(arch, small_stem)
    net = build_method(method, backbone, feat_dim, method_options, descriptor_width(cassle))
    heads = AugSelf(feat_dim, augself) if augself else None
    return Trainee(net, feat_dim, num_classes, heads, tuple(cassle))
