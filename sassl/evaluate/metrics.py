"""Classification metrics of the transfer protocol: top-1, and mean per-class accuracy.

Mean per-class accuracy is used for the data sets whose test sets are class-imbalanced (Pets,
Flowers-102, Caltech-101, Aircraft) so that large classes do not dominate the score.
"""

from __future__ import annotations

import numpy as np

from sassl.evaluate.datasets import MEAN_PER_CLASS, TOP1


def top1(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def mean_per_class(pred: np.ndarray, y: np.ndarray) -> float:
    """Average over the classes present in ``y`` of each class's accuracy."""
    pred, y = np.asarray(pred), np.asarray(y)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def score(metric: str, pred: np.ndarray, y: np.ndarray) -> float:
    if metric == TOP1:
        return top1(pred, y)
    if metric == MEAN_PER_CLASS:
        return mean_per_class(pred, y)
    raise ValueError(f"unknown metric {metric!r}")
