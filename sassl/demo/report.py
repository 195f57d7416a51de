"""The demo's report: accuracies with bootstrap intervals, the gap to the untrained row, a labelled chart.

Intervals: a bootstrap over the test samples. Resampling n test outcomes with replacement from a
row with k of n correct gives a Binomial(n, k/n) count, so the resampled accuracies are drawn from
that directly (2,000 draws, 2.5-97.5 percentiles). A gap between two rows is resampled the same way,
each row on its own resample (unpaired: the per-sample predictions are not kept), which makes the
gap's interval a little wider than a paired one: conservative.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sassl.atomic import atomic_open

RESAMPLES = 2000
PROBES = {"linear": "linear probe", "knn20": "kNN-20"}


@dataclass(frozen=True)
class Score:
    """One row's test accuracy on one probe (fraction) and the test set size."""

    acc: float
    n: int

    def resample(self, rng: np.random.Generator) -> np.ndarray:
        return rng.binomial(self.n, self.acc, RESAMPLES) / self.n

    def interval(self, seed: int = 0) -> tuple[float, float]:
        lo, hi = np.percentile(self.resample(np.random.default_rng(seed)), [2.5, 97.5])
        return float(lo), float(hi)


def gap_interval(a: Score, b: Score, seed: int = 0) -> tuple[float, float, float]:
    """(a - b, and its 95% bootstrap interval), fractions."""
    rng = np.random.default_rng(seed)
    diff = a.resample(rng) - b.resample(rng)
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return a.acc - b.acc, float(lo), float(hi)


def scores(result: dict) -> dict[str, Score]:
    """The linear-probe and kNN-20 test scores of one ``sassl.evaluate.evaluate`` result."""
    n = int(result["splits"]["test"])
    return {"linear": Score(float(result["linear"]["test"]), n), "knn20": Score(float(result["knn"]["test"]["20"]), n)}


PALETTE = [(150, 150, 150), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


def chart(rows: dict[str, dict[str, Score]], chance: float, path: str | Path, title: str) -> Path:
    """Horizontal bars (one group per probe, one bar per row, full row labels), 95% intervals as
    whiskers, a dashed chance line; PNG written atomically."""
    font = ImageFont.load_default()
    names = list(rows)
    label_w, plot_w, bar_h, gap, top = 330, 420, 22, 6, 40
    group_h = len(names) * (bar_h + gap) + 24
    height = top + len(PROBES) * group_h + 50
    img = Image.new("RGB", (label_w + plot_w + 40, height), "white")
    d = ImageDraw.Draw(img)
    x0 = label_w

    def x(v: float) -> float:
        return x0 + plot_w * max(0.0, min(1.0, v))

    d.text((10, 10), title, fill="black", font=font)
    bottom = top + len(PROBES) * group_h
    for t in range(0, 101, 20):
        d.line([(x(t / 100), top), (x(t / 100), bottom)], fill=(230, 230, 230))
        d.text((x(t / 100) - 8, bottom + 4), f"{t}%", fill="black", font=font)
    d.text((x0 + plot_w / 2 - 60, bottom + 20), "test accuracy (95% bootstrap interval)", fill="black", font=font)
    for gi, (probe, probe_name) in enumerate(PROBES.items()):
        gy = top + gi * group_h
        d.text((10, gy + 2), probe_name, fill="black", font=font)
        for ri, name in enumerate(names):
            s = rows[name][probe]
            y = gy + 18 + ri * (bar_h + gap)
            d.rectangle([x0, y, x(s.acc), y + bar_h], fill=PALETTE[ri % len(PALETTE)])
            lo, hi = s.interval()
            d.line([(x(lo), y + bar_h / 2), (x(hi), y + bar_h / 2)], fill="black", width=2)
            for v in (lo, hi):
                d.line([(x(v), y + 5), (x(v), y + bar_h - 5)], fill="black", width=2)
            d.text((x(hi) + 6, y + 5), f"{100 * s.acc:.1f}", fill="black", font=font)
            d.text((20, y + 5), name, fill="black", font=font)
    for yy in range(top, bottom, 8):  # dashed chance line
        d.line([(x(chance), yy), (x(chance), yy + 4)], fill=(200, 0, 0), width=2)
    d.text((x(chance) + 4, top - 14), f"chance {100 * chance:.0f}%", fill=(200, 0, 0), font=font)
    path = Path(path)
    with atomic_open(path, "wb") as f:
        img.save(f, format="PNG")
    return path
