"""SSL methods: a backbone, heads and a loss (+ a momentum target), behind one small interface.

``forward(v1, v2)`` takes the two normalised views and returns ``(loss, features of view 1)``; the
features (detached) feed the online linear probe. ``after_step(progress)`` runs after each optimiser
step (momentum updates); ``progress`` is the fraction of training done, for schedules.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from sassl.choices import METHOD_NAMES
from sassl.train.methods.byol import BYOL
from sassl.train.methods.moco import MoCo
from sassl.train.methods.simclr import SimCLR

METHODS: dict[str, Callable[..., nn.Module]] = {"simclr": SimCLR, "moco": MoCo, "byol": BYOL}
if sorted(METHODS) != sorted(METHOD_NAMES):  # the CLI offers METHOD_NAMES without importing torch
    raise ImportError(f"sassl.choices.METHOD_NAMES {METHOD_NAMES} differ from the methods {sorted(METHODS)}")


def build_method(name: str, backbone: nn.Module, feat_dim: int, **options: object) -> nn.Module:
    """Instantiate a method by name (``options`` override its published defaults)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; expected one of {sorted(METHODS)}")
    return METHODS[name](backbone, feat_dim, **options)


__all__ = ["BYOL", "METHODS", "MoCo", "SimCLR", "build_method"]
