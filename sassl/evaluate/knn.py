"""Weighted k-nearest-neighbour classification on L2-normalised features (Wu et al. 2018).

A probe with no fitting and no hyperparameter sweep: each of the k nearest training features
(cosine similarity s) votes for its class with weight exp(s / T). It tracks the linear probe
cheaply and is the usual second number of SSL papers (k = 20 and 200, T = 0.07).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from sassl.evaluate.features import Features
from sassl.evaluate.metrics import score
from sassl.evaluate.tasks import Task

KS = (20, 200)
TEMPERATURE = 0.07


@torch.inference_mode()
def knn_predict(
    train_x: np.ndarray,
    train_y: np.ndarray,
    query_x: np.ndarray,
    k: int,
    temperature: float = TEMPERATURE,
    num_classes: int | None = None,
    device: torch.device | str = "cpu",
    chunk: int = 1024,
) -> np.ndarray:
    """Predicted labels of ``query_x``; ``k`` is capped at the number of training items."""
    device = torch.device(device)
    bank = F.normalize(torch.as_tensor(train_x, dtype=torch.float32, device=device), dim=1)
    labels = torch.as_tensor(train_y, dtype=torch.long, device=device)
    c = num_classes or int(labels.max()) + 1
    k = min(k, len(bank))
    preds = []
    for start in range(0, len(query_x), chunk):
        q = F.normalize(torch.as_tensor(query_x[start : start + chunk], dtype=torch.float32, device=device), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(q), c, device=device)
        votes.scatter_add_(1, labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(1).cpu())
    return torch.cat(preds).numpy()


@dataclass(frozen=True)
class KNNProbe:
    """kNN as a protocol step: the task's labelled splits are the memory, its test split the queries."""

    ks: tuple[int, ...] = KS
    temperature: float = TEMPERATURE
    key: ClassVar[str] = "knn"

    def run(self, feats: dict[str, Features], task: Task, pre: str, device: torch.device) -> dict[str, Any]:
        bank_x = np.concatenate([feats[s].x for s in task.labelled])
        bank_y = np.concatenate([feats[s].y for s in task.labelled])
        test = feats["test"]
        return {
            "test": {
                str(k): score(task.metric, knn_predict(bank_x, bank_y, test.x, k, self.temperature, task.num_classes,
                                                       device), test.y)
                for k in self.ks
            },
            "protocol": f"weighted kNN: {pre}, cosine on L2-normalised features, T={self.temperature}, "
            f"{'+'.join(task.labelled)} as memory, metric {task.metric} on test",
        }
