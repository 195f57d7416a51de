"""Benchmark of evaluation: linear-probe fit time and feature-extraction throughput (CPU by default).

Probe: synthetic DTD-sized features (47 classes, 1880 train + 1880 val, 1880 test) at 2048-d
(ResNet-50) and 512-d (ResNet-18), full w sweep + refit. Extraction: random-weight ResNets at 224 px
on random images (uint8 -> float on the device, as in evaluation). Prints a Markdown table and the
ratios measured in this run.

    .venv/bin/python bench/eval.py --quick        # about a minute or two on 2 cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sassl.evaluate.features import extract
from sassl.evaluate.probe import WD_GRID, LBFGSConfig, linear_probe
from sassl.backbone import build_backbone


def synthetic(n_per_class: int, classes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative pooled-feature-like data: ReLU of noisy class centres (overlapping classes)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    y = np.repeat(np.arange(classes), n_per_class)
    return np.maximum(0, centres[y] + 2.0 * rng.normal(size=(len(y), dim))).astype(np.float32), y


def bench_probe(dim: int, grid: np.ndarray, config: LBFGSConfig, device: str) -> tuple[float, float]:
    x, y = synthetic(120, 47, dim, seed=0)
    part = np.arange(len(y)) % 120  # per class: 40 train, 40 val, 40 test
    tr, va, te = ((x[m], y[m]) for m in (part < 40, (part >= 40) & (part < 80), part >= 80))
    t0 = time.perf_counter()
    res = linear_probe(tr, va, te, "top1", 47, grid, device, config)
    return time.perf_counter() - t0, res.test


def bench_extract(arch: str, images: int, batch: int, device: str) -> float:
    net, _ = build_backbone(arch)
    data = torch.randint(0, 256, (images, 3, 224, 224), dtype=torch.uint8)
    batches = [(data[i : i + batch], torch.zeros(len(data[i : i + batch]), dtype=torch.long),
                torch.ones(len(data[i : i + batch]), dtype=torch.bool)) for i in range(0, images, batch)]
    extract(net, batches[:1], torch.device(device), desc="warm-up")
    t0 = time.perf_counter()
    extract(net, batches, torch.device(device), total=images, desc=arch)
    return images / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="9 w values, 200 L-BFGS iterations, 32 images")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    grid = WD_GRID[::5] if args.quick else WD_GRID
    config = LBFGSConfig(max_iter=200) if args.quick else LBFGSConfig()
    images, batch = (32, 16) if args.quick else (256, 64)

    print(f"device {args.device}, {torch.get_num_threads()} threads, {len(grid)} w values, "
          f"max_iter {config.max_iter}\n")
    print("| measurement | setting | value |\n|---|---|---|")
    probe = {}
    for dim in (2048, 512):
        secs, acc = bench_probe(dim, grid, config, args.device)
        probe[dim] = secs
        print(f"| probe sweep + refit | 47 classes, 1880+1880 train/val, {dim}-d | {secs:.1f} s "
              f"({secs / (len(grid) + 1):.2f} s/fit, test acc {100 * acc:.1f}) |")
    speed = {}
    for arch in ("resnet18", "resnet50"):
        speed[arch] = bench_extract(arch, images, batch, args.device)
        print(f"| feature extraction | {arch}, 224 px, batch {batch} | {speed[arch]:.1f} img/s |")
    print(f"\nratios: probe 2048-d / 512-d time = {probe[2048] / probe[512]:.2f}; "
          f"extraction resnet18 / resnet50 speed = {speed['resnet18'] / speed['resnet50']:.2f}")


if __name__ == "__main__":
    main()
