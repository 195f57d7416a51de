"""kNN and few-shot on toy features: separable data is classified (nearly) perfectly, noise is not."""

from __future__ import annotations

import numpy as np
import pytest

from sassl.evaluate.fewshot import few_shot, parse_few_shot
from sassl.evaluate.knn import knn_predict


def clusters(classes: int, per_class: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 32))
    y = np.repeat(np.arange(classes), per_class)
    return centres[y] + spread * rng.normal(size=(len(y), 32)), y


@pytest.mark.parametrize("k", [20, 200])
def test_knn_separable_is_near_perfect(k):
    x, y = clusters(10, 40, 0.1, seed=0)
    q, qy = clusters(10, 10, 0.1, seed=0)
    pred = knn_predict(x, y, q + 0.05 * np.random.default_rng(1).normal(size=q.shape), k, chunk=37)
    assert np.mean(pred == qy) >= 0.99


def test_knn_on_shuffled_labels_is_near_chance():
    x, y = clusters(10, 40, 0.1, seed=0)
    wrong = np.random.default_rng(3).permutation(y)
    assert np.mean(knn_predict(x, wrong, x, 20) == y) < 0.3


def test_few_shot_separable_and_reproducible():
    x, y = clusters(12, 30, 0.2, seed=2)
    res = few_shot(x, y, ways=5, shots=5, episodes=50, seed=7)
    assert res.mean >= 0.99 and res.ci95 < 0.01
    noisy = few_shot(x, np.random.default_rng(0).permutation(y), 5, 1, episodes=50, seed=7)
    assert noisy.mean < 0.5 and noisy.ci95 > 0
    assert few_shot(x, y, 5, 1, episodes=20, seed=1) == few_shot(x, y, 5, 1, episodes=20, seed=1)


def test_few_shot_spec_and_limits():
    assert parse_few_shot("5-way-5-shot") == (5, 5) and parse_few_shot("10way1shot") == (10, 1)
    with pytest.raises(ValueError, match="N-way-K-shot"):
        parse_few_shot("5x5")
    x, y = clusters(3, 30, 0.2, seed=0)
    with pytest.raises(ValueError, match="needs 5 classes"):
        few_shot(x, y, 5, 5)
