"""ImageNet-style WebDataset shards (image + .cls) as an evaluation task, full or K-shot.

The shards are first scanned without decoding to list (shard, key, label) in a fixed order; every
sample then has an integer id (its position in that list), which is what feature extraction
carries instead of the label, so train/val/K-shot selections are plain id sets. The K-shot subset
(K labelled images per class, as in the SASSL paper's 1- and 10-shot results) and the held-out
validation images are drawn with a fixed seed and written to JSON as (shard, key) pairs, so the
exact subset can be passed back in and reused by other runs.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from sassl.evaluate.datasets import TOP1, per_class_split
from sassl.evaluate.features import Extractor, FeatureCache, Features, IterablePreprocessed
from sassl.evaluate.tasks import Source, Task
from sassl.sources import ImageError, ShardError, expand_urls, iter_shard, pil_to_uint8, resize_center_crop


class ShardIndex:
    """Every labelled sample of a shard list, in read order: ``urls[shard[i]]``, ``keys[i]``, ``labels[i]``."""

    def __init__(self, urls: list[str], shard: np.ndarray, keys: list[str], labels: np.ndarray, unlabelled: int) -> None:
        self.urls, self.shard, self.keys, self.labels, self.unlabelled = urls, shard, keys, labels, unlabelled

    def __len__(self) -> int:
        return len(self.keys)

    def ids_of(self, pairs: list[list[str]]) -> np.ndarray:
        """Ids of (shard url, key) pairs; raises naming the first pair not in these shards."""
        where = {(self.urls[s], k): i for i, (s, k) in enumerate(zip(self.shard, self.keys))}
        missing = [p for p in pairs if tuple(p) not in where]
        if missing:
            raise ValueError(f"subset entry {missing[0]} is not in the given shards ({len(missing)} missing)")
        return np.asarray([where[tuple(p)] for p in pairs], dtype=np.int64)

    def pairs(self, ids: np.ndarray) -> list[list[str]]:
        return [[self.urls[self.shard[i]], self.keys[i]] for i in ids]


def scan_shards(spec: str) -> ShardIndex:
    """Read keys and labels of all shards (no image decoding). Unreadable shards stop with their name."""
    urls = expand_urls(spec)
    shard, keys, labels, unlabelled = [], [], [], 0
    for si, url in enumerate(tqdm(urls, desc="scan shards", unit="shard", leave=False)):
        for s in iter_shard(url):
            if s.label is None:
                unlabelled += 1
                continue
            shard.append(si)
            keys.append(s.key)
            labels.append(s.label)
    if not keys:
        raise ValueError(f"{spec}: no labelled samples (.cls) in {len(urls)} shard(s)")
    return ShardIndex(urls, np.asarray(shard), keys, np.asarray(labels, dtype=np.int64), unlabelled)


def _shard_items(task: tuple[int, str, int], size: int, keep: frozenset[int] | None) -> Iterator[tuple[torch.Tensor, int, bool]]:
    """(uint8 image, sample id, ok) for one shard; ids continue from the shard's offset in the index."""
    _, url, offset = task
    i = offset
    try:
        for s in iter_shard(url):
            if s.label is None:
                continue
            if keep is None or i in keep:
                try:
                    img = resize_center_crop(s.decode(), size)
                    yield pil_to_uint8(img), i, True
                except ImageError as exc:
                    print(f"skipped: {exc}", file=sys.stderr)
                    yield torch.zeros(3, size, size, dtype=torch.uint8), i, False
            i += 1
    except ShardError as exc:
        print(f"skipped rest of shard: {exc}", file=sys.stderr)
        yield torch.zeros(3, size, size, dtype=torch.uint8), -1, False


def extract_ids(ex: Extractor, index: ShardIndex, ids: np.ndarray | None, desc: str) -> Features:
    """Features of the samples ``ids`` (all when None), returned sorted by id, with ``y`` = the labels."""
    keep = None if ids is None else frozenset(int(i) for i in ids)
    offsets = np.searchsorted(index.shard, np.arange(len(index.urls)))
    needed = set(range(len(index.urls))) if keep is None else {int(index.shard[i]) for i in keep}
    tasks = [(si, url, int(offsets[si])) for si, url in enumerate(index.urls) if si in needed]
    ds = IterablePreprocessed(tasks, partial(_shard_items, size=ex.image_size, keep=keep))
    loader = DataLoader(ds, batch_size=ex.batch_size, num_workers=min(ex.workers, len(tasks)))
    total = len(index) if ids is None else len(ids)
    raw = ex.run(loader, total, desc)
    order = np.argsort(raw.y, kind="stable")
    got = raw.y[order]
    return Features(raw.x[order], index.labels[got], total - len(got))


def choose_subset(labels: np.ndarray, k: int | None, val_per_class: int, seed: int) -> dict[str, np.ndarray]:
    """Ids for train and val: K per class + ``val_per_class`` disjoint val per class (K=None: the rest)."""
    if k is None:
        val, train = per_class_split(labels, (val_per_class,), seed)
    else:
        train, val, _ = per_class_split(labels, (k, val_per_class), seed)
        short = [int(c) for c in np.unique(labels) if np.sum(labels[train] == c) < k]
        if short:
            raise ValueError(f"{k}-shot: classes {short[:5]} have fewer than {k} labelled images")
    return {"train": train, "val": val}


def shards_task(
    train_shards: str,
    test_shards: str,
    k_shot: int | None = None,
    subset: str | Path | None = None,
    val_per_class: int = 5,
    seed: int = 0,
) -> Task:
    """The shard task: linear evaluation on ``k_shot`` labelled images per class (or all), test on ``test_shards``.

    The regularisation is chosen on ``val_per_class`` held-out labelled train images per class
    (disjoint from the training subset). Full evaluation refits on train+val; K-shot fits on the
    K-shot subset only. A K-shot task leaves ``subset-<k>shot-seed<seed>.json`` in the report folder;
    pass such a file as ``subset`` to reuse it (its k, seed and val are then taken from the file).
    """
    train_index, test_index = scan_shards(train_shards), scan_shards(test_shards)
    if subset is not None:
        chosen = json.loads(Path(subset).read_text())
        k_shot, seed, val_per_class = chosen["k"], chosen["seed"], chosen["val_per_class"]
        ids = {s: train_index.ids_of(chosen[s]) for s in ("train", "val")}
    else:
        ids = choose_subset(train_index.labels, k_shot, val_per_class, seed)
    subset_file = None
    if k_shot is not None:
        record = {"k": k_shot, "seed": seed, "val_per_class": val_per_class,
                  **{s: train_index.pairs(ids[s]) for s in ("train", "val")}}
        subset_file = (f"subset-{k_shot}shot-seed{seed}.json", json.dumps(record) + "\n")

    def source(index: ShardIndex, sel: np.ndarray | None) -> Source:
        fields = {"shards": index.urls, "ids": None if sel is None else FeatureCache.key({"ids": np.sort(sel).tolist()})}
        return Source(fields, lambda ex, desc: extract_ids(ex, index, sel, desc))

    shots = "all" if k_shot is None else f"{k_shot}-shot"
    return Task(
        kind="shards",
        name=f"shards-{shots}",
        metric=TOP1,
        num_classes=int(max(train_index.labels.max(), test_index.labels.max())) + 1,
        split_rule=f"{shots} labelled train images/class; val {val_per_class}/class held out (seed {seed})",
        sources={"train": source(train_index, ids["train"]), "val": source(train_index, ids["val"]),
                 "test": source(test_index, None)},
        val_rule=f"{val_per_class} held-out train images/class",
        refit=k_shot is None,
        fit_rule="refit train+val" if k_shot is None else f"fit on the {k_shot}-shot subset only (seed {seed})",
        info={"train_shards": train_shards, "test_shards": test_shards},
        files={"subset_file": subset_file},
    )
