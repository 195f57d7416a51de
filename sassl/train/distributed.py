"""torch.distributed helpers that degrade to the identity in a single process.

Contrastive losses need every process's embeddings as negatives. ``all_gather`` alone returns
tensors without a gradient path; :func:`gather_with_grad` adds one (all-reduce of the gradient,
local slice kept), so DDP's gradient averaging reproduces the single-process gradient of the
global-batch loss.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every process's gradient for the local slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        parts = [torch.empty_like(x) for _ in range(world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.n = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[rank() * ctx.n : (rank() + 1) * ctx.n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (same shape on every process) along dim 0, differentiably.

    Each process's loss uses every embedding, so the backward pass sums, for the local slice, the
    gradients of all processes' losses; with DDP's gradient averaging the result is the gradient of
    the mean global loss, exactly as in one process with the whole batch.
    """
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all processes along dim 0 (for queues and metrics)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over processes (in place when distributed); returns it."""
    if is_distributed():
        dist.all_reduce(x)
    return x
