"""The linear probe: multinomial logistic regression by full-batch L-BFGS, regularisation chosen on val.

Objective (Kornblith et al. 2019): mean cross-entropy + w * ||theta||^2, where theta holds the
weights *and* the bias. It equals scikit-learn's ``LogisticRegression(C=1 / (2 w n),
fit_intercept=False)`` on the features with a column of ones appended (sklearn minimises
C * sum CE + ||theta||^2 / 2; divide by C n). w sweeps 45 log-spaced values from 1e5 down to 1e-6,
each fit warm-started from the previous solution (strong regularisation first, where the optimum
is near zero, so each later fit starts close to its optimum). Computation is float64: the weakly
regularised fits are ill-conditioned and float32 stalls the line search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sassl.evaluate.features import Features
from sassl.evaluate.metrics import score
from sassl.evaluate.tasks import Task

WD_GRID = np.logspace(-6, 5, 45)


@dataclass(frozen=True)
class LBFGSConfig:
    """Stopping rules for one fit (max iterations per w, gradient and change tolerances)."""

    max_iter: int = 1000
    tolerance_grad: float = 1e-6
    tolerance_change: float = 1e-9
    history_size: int = 20


@dataclass
class ProbeResult:
    """Test score, the chosen w and its val score, and the whole val curve (w, score)."""

    test: float
    val: float
    wd: float
    sweep: list[tuple[float, float]] = field(default_factory=list)


def _design(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Features with a column of ones, so the bias is part of theta (and is regularised)."""
    x = torch.as_tensor(x, dtype=torch.float64, device=device)
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype, device=device)], 1)


def fit_logreg(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    wd: float,
    init: torch.Tensor | None = None,
    config: LBFGSConfig = LBFGSConfig(),
) -> torch.Tensor:
    """theta (D+1, K) minimising mean CE(x theta, y) + wd ||theta||^2; ``x`` already has the ones column."""
    theta = (init.clone() if init is not None else x.new_zeros(x.shape[1], num_classes)).requires_grad_(True)
    opt = torch.optim.LBFGS(
        [theta],
        lr=1.0,
        max_iter=config.max_iter,
        tolerance_grad=config.tolerance_grad,
        tolerance_change=config.tolerance_change,
        history_size=config.history_size,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ theta, y) + wd * theta.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return theta.detach()


def predict(theta: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    return (x @ theta).argmax(1).cpu().numpy()


def linear_probe(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    metric: str,
    num_classes: int | None = None,
    grid: np.ndarray = WD_GRID,
    device: torch.device | str = "cpu",
    config: LBFGSConfig = LBFGSConfig(),
    refit: bool = True,
) -> ProbeResult:
    """Sweep w on (train -> val), then fit train+val (``refit``) or train alone at the best w; score test.

    Each argument pair is (features (N, D), labels (N,)). Ties on val go to the stronger regulariser.
    ``refit=False`` is for K-shot evaluation, where val images must not join the labelled set.
    """
    device = torch.device(device)
    k = num_classes or int(max(train[1].max(), val[1].max(), test[1].max())) + 1
    xt, yt = _design(train[0], device), torch.as_tensor(train[1], device=device)
    xv = _design(val[0], device)
    theta = None
    sweep: list[tuple[float, float]] = []
    best: tuple[float, float, torch.Tensor] | None = None
    for wd in tqdm(sorted(grid, reverse=True), desc="probe sweep", leave=False):
        theta = fit_logreg(xt, yt, k, float(wd), theta, config)
        s = score(metric, predict(theta, xv), val[1])
        sweep.append((float(wd), s))
        if best is None or s > best[1]:
            best = (float(wd), s, theta)
    assert best is not None
    wd, val_score, theta = best
    if refit:
        xf = torch.cat([xt, xv])
        yf = torch.cat([yt, torch.as_tensor(val[1], device=device)])
        theta = fit_logreg(xf, yf, k, wd, theta, config)
    test_score = score(metric, predict(theta, _design(test[0], device)), test[1])
    return ProbeResult(test_score, val_score, wd, sorted(sweep))


@dataclass(frozen=True, eq=False)
class LinearProbe:
    """The linear probe as a protocol step: its w grid and L-BFGS settings; the task supplies the rest
    (metric, what w is chosen on, whether val joins the final fit)."""

    grid: np.ndarray = field(default_factory=lambda: WD_GRID)
    lbfgs: LBFGSConfig = LBFGSConfig()
    key: ClassVar[str] = "linear"

    def protocol(self, task: Task, pre: str) -> str:
        g = np.asarray(self.grid)
        return (
            f"linear probe: {pre}, L-BFGS, {len(g)} wd values {g.min():.0e}..{g.max():.0e} chosen on {task.val_rule}, "
            f"{task.fit_rule}, metric {task.metric} on test"
        )

    def run(self, feats: dict[str, Features], task: Task, pre: str, device: torch.device) -> dict[str, Any]:
        t0 = time.perf_counter()
        xy = {s: (f.x, f.y) for s, f in feats.items()}
        res = linear_probe(xy["train"], xy["val"], xy["test"], task.metric, task.num_classes, self.grid, device,
                           self.lbfgs, refit=task.refit)
        return {"test": res.test, "val": res.val, "wd": res.wd, "sweep": res.sweep,
                "fit_seconds": time.perf_counter() - t0, "protocol": self.protocol(task, pre)}
