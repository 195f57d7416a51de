"""Self-supervised losses as functions of embeddings (no modules, no state).

Contrastive losses draw negatives from every process: under ``torch.distributed`` the embeddings
are gathered with :func:`sassl.train.distributed.gather_with_grad`, so the loss each process returns
is its share of the global-batch loss. In a single process the gather is the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sassl.train.distributed import gather_with_grad, rank


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy over the 2N views of the (global) batch.

    Each embedding's positive is the other view of its image; the other 2N - 2 embeddings are the
    negatives. Returns the mean over this process's 2n anchors.
    """
    z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    n = z1.shape[0]
    all1, all2 = gather_with_grad(z1), gather_with_grad(z2)
    big_n = all1.shape[0]
    candidates = torch.cat([all1, all2])  # (2N, d)
    anchors = torch.cat([z1, z2])  # (2n, d)
    logits = anchors @ candidates.T / temperature
    local = torch.arange(n, device=z1.device) + rank() * n
    self_idx = torch.cat([local, local + big_n])
    pos_idx = torch.cat([local + big_n, local])
    rows = torch.arange(2 * n, device=z1.device)
    logits[rows, self_idx] = float("-inf")
    return F.cross_entropy(logits, pos_idx)


def info_nce(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """MoCo's InfoNCE: the key of the same image is the positive, the queue (K, d) the negatives.

    ``q``, ``k`` are (n, d); ``k`` and ``queue`` carry no gradient (momentum encoder). Vectors are
    L2-normalised here; the queue is expected normalised already.
    """
    q, k = F.normalize(q.float(), dim=1), F.normalize(k.float(), dim=1).detach()
    pos = (q * k).sum(1, keepdim=True)
    neg = q @ queue.detach().float().T
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


def normalized_mse(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's regression loss ||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z), averaged; ``z`` is the target."""
    cos = F.cosine_similarity(p.float(), z.detach().float(), dim=1)
    return (2 - 2 * cos).mean()



def negative_cosine(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """SimSiam's symmetrised loss D(p1, z2)/2 + D(p2, z1)/2 with D(p, z) = -cos(p, stopgrad(z))."""
    d = lambda p, z: -F.cosine_similarity(p.float(), z.detach().float(), dim=1).mean()  # noqa: E731
    return 0.5 * d(p1, z2) + 0.5 * d(p2, z1)


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3, eps: float = 1e-5) -> torch.Tensor:
    """Barlow Twins: sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2, C the cross-correlation of the
    two views' embeddings, each standardised per dimension over the global batch.

    Under DDP the embeddings of all processes are gathered (differentiably), so every process returns
    the global-batch loss, as the authors' all-reduce of C does.
    """
    a, b = gather_with_grad(z1.float()), gather_with_grad(z2.float())
    n = a.shape[0]
    a = (a - a.mean(0)) / (a.var(0) + eps).sqrt()
    b = (b - b.mean(0)) / (b.var(0) + eps).sqrt()
    c = a.T @ b / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + lambd * off
