"""Few-shot episodes: N-way K-shot nearest-centroid classification on frozen features.

Each episode draws N classes, K support and Q query items per class (seeded), classifies the
queries by cosine similarity to the L2-normalised class means of the support, and records the
accuracy. The result is the mean over episodes with a 95% normal confidence interval, the form
used by few-shot papers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from sassl.evaluate.features import Features
from sassl.evaluate.tasks import Task

_SPEC = re.compile(r"^(\d+)-?way-?(\d+)-?shot$")


@dataclass(frozen=True)
class FewShotResult:
    ways: int
    shots: int
    queries: int
    episodes: int
    mean: float
    ci95: float


def parse_few_shot(spec: str) -> tuple[int, int]:
    """``5-way-5-shot`` (or ``5way5shot``) -> (5, 5)."""
    m = _SPEC.match(spec.strip().lower())
    if not m or int(m.group(1)) < 2 or int(m.group(2)) < 1:
        raise ValueError(f"few-shot spec {spec!r}: expected N-way-K-shot with N >= 2, K >= 1 (e.g. 5-way-5-shot)")
    return int(m.group(1)), int(m.group(2))


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def few_shot(
    x: np.ndarray,
    y: np.ndarray,
    ways: int,
    shots: int,
    queries: int = 15,
    episodes: int = 600,
    seed: int = 0,
) -> FewShotResult:
    """Mean accuracy +- 95% CI of nearest-centroid episodes drawn from (x, y)."""
    need = shots + queries
    pools = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    eligible = [c for c, idx in pools.items() if len(idx) >= need]
    if len(eligible) < ways:
        raise ValueError(
            f"{ways}-way {shots}-shot with {queries} queries needs {ways} classes with >= {need} items; "
            f"only {len(eligible)} have that many"
        )
    x = _normalise(np.asarray(x, dtype=np.float64))
    rng = np.random.default_rng(seed)
    accs = np.empty(episodes)
    for e in range(episodes):
        classes = rng.choice(eligible, ways, replace=False)
        picks = [rng.choice(pools[c], need, replace=False) for c in classes]
        centroids = _normalise(np.stack([x[p[:shots]].mean(0) for p in picks]))
        query = np.concatenate([p[shots:] for p in picks])
        truth = np.repeat(np.arange(ways), queries)
        accs[e] = np.mean((x[query] @ centroids.T).argmax(1) == truth)
    ci = 1.96 * accs.std(ddof=1) / np.sqrt(episodes) if episodes > 1 else float("nan")
    return FewShotResult(ways, shots, queries, episodes, float(accs.mean()), float(ci))


@dataclass(frozen=True)
class FewShotProbe:
    """Few-shot episodes as a protocol step, drawn from the task's test split."""

    ways: int
    shots: int
    episodes: int = 600
    queries: int = 15
    seed: int = 0
    key: ClassVar[str] = "few_shot"

    @classmethod
    def parse(cls, spec: str, episodes: int = 600, seed: int = 0) -> FewShotProbe:
        """From an ``N-way-K-shot`` spec (raises ValueError on a bad one, before any work is done)."""
        ways, shots = parse_few_shot(spec)
        return cls(ways, shots, episodes=episodes, seed=seed)

    def run(self, feats: dict[str, Features], task: Task, pre: str, device: torch.device) -> dict[str, Any]:
        fs = few_shot(feats["test"].x, feats["test"].y, self.ways, self.shots, self.queries, self.episodes, self.seed)
        return {
            **fs.__dict__,
            "protocol": f"few-shot: {pre}, {fs.ways}-way {fs.shots}-shot, {fs.queries} queries/class, "
            f"{fs.episodes} episodes (seed {self.seed}) from the test split, nearest centroid (cosine), mean +- 95% CI",
        }
