"""Transfer evaluation of a pretraining checkpoint: features -> linear probe (+ kNN, few-shot) -> report.

This is the library entry point the CLI and the end-to-end demo call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from sassl.device import resolve_device
from sassl.evaluate.datasets import IMAGEFOLDER, SPLITS, load_target
from sassl.evaluate.features import FeatureCache, Features, extract_dataset, file_digest, input_normaliser
from sassl.evaluate.fewshot import few_shot as run_few_shot
from sassl.evaluate.fewshot import parse_few_shot
from sassl.evaluate.knn import KS, TEMPERATURE, knn_predict
from sassl.evaluate.metrics import score
from sassl.evaluate.probe import WD_GRID, LBFGSConfig, linear_probe
from sassl.evaluate.report import write_report
from sassl.backbone import load_backbone


PARTITIONED = ("dtd", "sun397")


def task_name(target: str, root: Path, partition: int) -> str:
    """Report name of an evaluation: the target, its partition where it has several, the folder name."""
    if target.startswith(IMAGEFOLDER):
        return f"imagefolder-{Path(root).name}"
    return f"{target}-p{partition}" if target in PARTITIONED else target


def preprocessing_line(image_size: int, normalised: bool) -> str:
    norm = "checkpoint's input normalisation" if normalised else "raw [0,1] RGB"
    return f"frozen features, bicubic {image_size} centre crop, {norm}"


def linear_protocol(pre: str, grid: np.ndarray, metric: str, refit: str = "refit train+val") -> str:
    return (
        f"linear probe: {pre}, L-BFGS, {len(grid)} wd values {grid.min():.0e}..{grid.max():.0e} chosen on val, "
        f"{refit}, metric {metric} on test"
    )


def evaluate_transfer(
    checkpoint: str | Path,
    target: str,
    data_root: str | Path | None = None,
    *,
    partition: int = 1,
    image_size: int = 224,
    knn: bool = False,
    few_shot: str | None = None,
    episodes: int = 600,
    batch_size: int = 64,
    workers: int = 2,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    grid: np.ndarray = WD_GRID,
    lbfgs: LBFGSConfig = LBFGSConfig(),
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on ``target``; writes RUN_DIR/eval/<ckpt>-<task>.{json,md} and returns the result.

    ``out_dir`` defaults to ``<checkpoint folder>/eval``; features are cached under
    ``<out_dir>/features`` unless ``cache_dir`` is given.
    """
    checkpoint = Path(checkpoint)
    dev = resolve_device(device)
    ways_shots = parse_few_shot(few_shot) if few_shot else None  # fail on a bad spec before any work
    data = load_target(target, data_root, partition=partition, seed=seed)
    net, dim, info = load_backbone(checkpoint)
    norm = input_normaliser(info)
    digest = file_digest(checkpoint)
    out_dir = Path(out_dir) if out_dir is not None else checkpoint.parent / "eval"
    cache = FeatureCache(cache_dir if cache_dir is not None else out_dir / "features")
    task = task_name(target, data.root, partition)

    feats: dict[str, Features] = {}
    for split in SPLITS:
        sp = data.splits[split]
        fields = {
            "checkpoint": digest,
            "data": data.target,
            "root": str(Path(data.root).resolve()),
            "partition": partition,
            "seed": seed,
            "split": split,
            "n": len(sp),
            "labels": FeatureCache.key({"y": sp.labels.tolist()}),
            "image_size": image_size,
            "norm": norm is not None,
        }
        feats[split], _ = cache.get_or_compute(
            fields,
            lambda sp=sp, split=split: extract_dataset(
                net, sp.dataset, image_size, dev, batch_size, workers, norm, desc=f"{task} {split}"
            ),
        )

    pre = preprocessing_line(image_size, norm is not None)
    xy = {s: (f.x, f.y) for s, f in feats.items()}
    t0 = time.perf_counter()
    probe = linear_probe(xy["train"], xy["val"], xy["test"], data.metric, data.num_classes, grid, dev, lbfgs)
    result: dict[str, Any] = {
        "kind": "transfer",
        "task": task,
        "target": data.target,
        "partition": partition,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": digest,
        "backbone": {**info, "feature_dim": dim},
        "image_size": image_size,
        "metric": data.metric,
        "num_classes": data.num_classes,
        "split_rule": data.split_rule,
        "splits": {s: len(f) for s, f in feats.items()},
        "skipped": {s: f.skipped for s, f in feats.items()},
        "linear": {
            "test": probe.test,
            "val": probe.val,
            "wd": probe.wd,
            "sweep": probe.sweep,
            "fit_seconds": time.perf_counter() - t0,
            "protocol": linear_protocol(pre, np.asarray(grid), data.metric),
        },
        "device": str(dev),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if knn:
        bank_x = np.concatenate([feats["train"].x, feats["val"].x])
        bank_y = np.concatenate([feats["train"].y, feats["val"].y])
        result["knn"] = {
            "test": {
                str(k): score(data.metric, knn_predict(bank_x, bank_y, feats["test"].x, k, TEMPERATURE,
                                                       data.num_classes, dev), feats["test"].y)
                for k in KS
            },
            "protocol": f"weighted kNN: {pre}, cosine on L2-normalised features, T={TEMPERATURE}, "
            f"train+val as memory, metric {data.metric} on test",
        }
    if ways_shots:
        fs = run_few_shot(feats["test"].x, feats["test"].y, *ways_shots, episodes=episodes, seed=seed)
        result["few_shot"] = {
            **fs.__dict__,
            "protocol": f"few-shot: {pre}, {fs.ways}-way {fs.shots}-shot, {fs.queries} queries/class, "
            f"{fs.episodes} episodes (seed {seed}) from the test split, nearest centroid (cosine), mean +- 95% CI",
        }
    jpath, mpath = write_report(result, out_dir)
    result["report"] = {"json": str(jpath), "markdown": str(mpath)}
    return result
