"""What the registry knows about a method: its class, published views, optimiser recipe, options.

A method class takes ``(backbone, feat_dim, options, cond_dim)`` (``cond_dim`` > 0: CASSLE conditions
its projectors on a descriptor of that width) and its ``forward(v1, v2, d1, d2)`` returns
``(loss, h1, h2)``: the SSL loss and the backbone features of both views (``h1`` keeps its gradient,
for AugSelf; ``h2`` may come from a momentum encoder). ``after_step(progress)`` runs after every
optimiser step (momentum targets).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from sassl.train.augment import AugConfig
from sassl.train.optim import OptimRecipe


@dataclass(frozen=True)
class MethodSpec:
    cls: type[nn.Module]
    options: type  # a dataclass of the method's options with the published defaults
    views: tuple[AugConfig, AugConfig]
    recipe: OptimRecipe
    source: str  # the paper (and where its defaults are stated)
