"""The training step, once: forward, loss, backward, update, momentum update.

The loop, ``bench/train_step.py`` and the tests all call :func:`train_step`, so what is measured
and tested is what trains. The step refuses to update on a non-finite loss (the caller decides what
to say), so the model and the last checkpoint stay as they were.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from sassl.train.augment import normalize
from sassl.train.model import Trainee
from sassl.train.views import TrainBatch


class NonFiniteLoss(FloatingPointError):
    """The objective is NaN/inf; nothing was updated."""

    def __init__(self, value: float) -> None:
        super().__init__(f"loss is {value}")
        self.value = value


@dataclass
class StepResult:
    loss: float  # the objective minimised: SSL loss + AugSelf loss
    aux_loss: float  # AugSelf's weighted share of it (0 without AugSelf)
    correct: int  # online probe hits on labelled samples
    known: int  # labelled samples


def train_step(model: nn.Module, trainee: Trainee, optimizers: Sequence[torch.optim.Optimizer], batch: TrainBatch,
               progress: float, autocast: AbstractContextManager) -> StepResult:
    """One optimiser step on ``batch``. ``model`` is ``trainee`` or its DDP wrapper; ``progress`` is the
    fraction of training done after this step (momentum schedules)."""
    v1, v2 = normalize(batch.v1), normalize(batch.v2)
    if v1.device.type == "cuda":
        v1, v2 = (v.contiguous(memory_format=torch.channels_last) for v in (v1, v2))
    with autocast:
        ssl_loss, aux_loss, probe_loss, correct, known = model(v1, v2, batch.rec1, batch.rec2, batch.labels)
    objective = ssl_loss + aux_loss
    if not torch.isfinite(objective):
        raise NonFiniteLoss(objective.item())
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    (objective + probe_loss).backward()
    for opt in optimizers:
        opt.step()
    trainee.method.after_step(progress)
    return StepResult(objective.item(), float(aux_loss), int(correct), int(known))
