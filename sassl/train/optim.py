"""Optimisers and the learning-rate schedule of the published recipes.

Each method's registry entry holds its :class:`OptimRecipe`: LARS (layer-wise trust ratio, biases and
norm parameters excluded from both weight decay and adaptation) for SimCLR, BYOL and Barlow Twins, SGD
for MoCo v2 and SimSiam. The base learning rate is scaled by the global batch size over 256, then
follows a linear warmup and a cosine decay to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn


@dataclass(frozen=True)
class OptimRecipe:
    """Published per-method settings: optimiser, base lr (per 256 images), weight decay, warmup epochs."""

    optimizer: str
    base_lr: float
    weight_decay: float
    warmup_epochs: float


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a per-layer trust ratio eta * ||w|| / ||g + wd w|| (You et al. 2017).

    Parameter groups with ``lars=False`` (biases, BN) get plain SGD with momentum and no decay.
    """

    def __init__(self, params: Iterable, lr: float, weight_decay: float = 0.0, momentum: float = 0.9, eta: float = 0.001) -> None:
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta, lars=True))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 (torch's signature)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["lars"]:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = p.norm(), g.norm()
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, torch.ones_like(w_norm))
                    g = g.mul(trust)
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                mu = state["mu"].mul_(group["momentum"]).add_(g)
                p.add_(mu, alpha=-group["lr"])
        return None


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Weights (ndim > 1) get decay and LARS adaptation; biases and norm parameters get neither."""
    decay, plain = [], []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else plain).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "lars": True},
        {"params": plain, "weight_decay": 0.0, "lars": False},
    ]


def build_optimizer(module: nn.Module, recipe: OptimRecipe, lr: float) -> torch.optim.Optimizer:
    groups = param_groups(module, recipe.weight_decay)
    if recipe.optimizer == "lars":
        return LARS(groups, lr=lr)
    for g in groups:
        g.pop("lars")
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def scaled_lr(base_lr: float, global_batch: int) -> float:
    """The linear scaling rule: lr = base_lr * batch / 256."""
    return base_lr * global_batch / 256


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warmup from 0 to ``peak`` over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * 0.5 * (1 + math.cos(math.pi * progress))
