"""The L-BFGS probe against scikit-learn, and the w sweep."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sassl.evaluate.probe import _design, fit_logreg, linear_probe

sklearn_lm = pytest.importorskip("sklearn.linear_model")


def blobs(n_per_class: int, classes: int, dim: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    y = np.repeat(np.arange(classes), n_per_class)
    return centres[y] + spread * rng.normal(size=(len(y), dim)), y


@pytest.mark.parametrize("wd", [1e-3, 1e-1])
def test_matches_sklearn_logistic_regression(wd):
    x, y = blobs(30, 4, 8, spread=1.5, seed=0)
    n = len(y)
    theta = fit_logreg(_design(x, torch.device("cpu")), torch.as_tensor(y), 4, wd)
    # ours: mean CE + wd ||theta||^2 ; sklearn: C sum CE + ||theta||^2 / 2  =>  C = 1 / (2 wd n)
    ref = sklearn_lm.LogisticRegression(C=1 / (2 * wd * n), fit_intercept=False, tol=1e-10, max_iter=10_000)
    xb = np.hstack([x, np.ones((n, 1))])
    ref.fit(xb, y)
    ours_p = torch.softmax(_design(x, torch.device("cpu")) @ theta, 1).numpy()
    np.testing.assert_allclose(theta.numpy().T, ref.coef_, atol=2e-4, rtol=2e-3)
    np.testing.assert_allclose(ours_p, ref.predict_proba(xb), atol=1e-4)
    assert (ours_p.argmax(1) == ref.predict(xb)).all()


def test_sweep_picks_on_val_and_generalises():
    x, y = blobs(60, 5, 16, spread=1.0, seed=1)
    idx = np.random.default_rng(2).permutation(len(y))
    tr, va, te = idx[:150], idx[150:225], idx[225:]
    grid = np.logspace(-6, 5, 12)
    res = linear_probe((x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]), "top1", grid=grid)
    assert len(res.sweep) == 12 and res.wd in grid
    assert res.val == max(s for _, s in res.sweep)
    assert res.test > 0.9
