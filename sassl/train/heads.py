"""Projector and predictor MLPs of the published methods (Linear-BN-ReLU blocks, last layer linear),
and the projector every method uses, optionally conditioned on a view descriptor (CASSLE)."""

from __future__ import annotations

import torch
from torch import nn

from sassl.train.cassle import WIDTH, conditioning_net


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2, last_bn: bool = False) -> nn.Sequential:
    """``layers`` linear layers with BN + ReLU between them; biases before BN are dropped (redundant).

    ``last_bn`` ends with a BN on the output (SimSiam's projector).
    """
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        dim = hidden
    mods.append(nn.Linear(dim, out_dim, bias=not last_bn))
    if last_bn:
        mods.append(nn.BatchNorm1d(out_dim))
    return nn.Sequential(*mods)


class Projector(nn.Module):
    """A projector MLP on the backbone feature; with ``cond_dim`` > 0 (CASSLE), on the backbone feature
    concatenated with ``condition(descriptor)``, a descriptor of ``cond_dim`` columns.

    The conditioning network is part of the projector, so a momentum target made by copying the
    projector has its own copy, fed with its own view's descriptor, as in the authors' code.
    """

    def __init__(self, feat_dim: int, hidden: int, out_dim: int, layers: int = 2, last_bn: bool = False,
                 cond_dim: int = 0) -> None:
        super().__init__()
        self.condition = conditioning_net(cond_dim) if cond_dim else None
        self.mlp = mlp(feat_dim + (WIDTH if cond_dim else 0), hidden, out_dim, layers, last_bn)

    def forward(self, h: torch.Tensor, descriptor: torch.Tensor | None = None) -> torch.Tensor:
        if self.condition is None:
            return self.mlp(h)
        if descriptor is None:
            raise ValueError("this projector is conditioned (CASSLE) and needs each view's descriptor")
        return self.mlp(torch.cat([h, self.condition(descriptor.to(h.dtype))], 1))
