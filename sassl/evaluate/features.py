"""Frozen-backbone features: preprocessing, batched extraction, and an on-disk cache.

Extraction is the expensive part of evaluation (a ResNet-50 forward per image) while the probes are
cheap, so features are cached per (checkpoint contents, data, split, resolution) and re-used by
every probe and every rerun. Cache entries are ``.npy`` files (read with ``allow_pickle=False``)
written atomically; a small JSON file written last marks the entry complete, so a killed run
recomputes only what it had not finished.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset
from tqdm import tqdm

from sassl.atomic import atomic_write_bytes, atomic_write_text
from sassl.sources import pil_to_uint8, resize_center_crop

# Errors PIL raises for unreadable, truncated or non-image files.
IMAGE_ERRORS = (OSError, ValueError, SyntaxError)


@dataclass(frozen=True)
class Features:
    """Pooled backbone features (N, D) float32, labels (N,) int64, and how many items were unreadable."""

    x: np.ndarray
    y: np.ndarray
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.y)


def input_normaliser(info: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The checkpoint's input normalisation, if it declares one.

    sassl backbones are trained on raw [0, 1] RGB, so none is applied unless the checkpoint's
    ``backbone`` record holds ``input_mean`` and ``input_std`` (3 values each).
    """
    if "input_mean" not in info:
        return None
    mean = torch.tensor(info["input_mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(info["input_std"], dtype=torch.float32).view(1, 3, 1, 1)
    return mean, std


class PreprocessedImages(Dataset):
    """Wraps a ``(PIL image, label)`` data set: bicubic short-side resize + centre crop -> uint8 tensor.

    Items that fail to load come back with ``ok=False`` (and a black image) so a single bad file
    is counted and skipped instead of stopping the run.
    """

    def __init__(self, ds: Dataset, size: int) -> None:
        self.ds, self.size = ds, size

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, bool]:
        try:
            img, label = self.ds[i]
            return pil_to_uint8(resize_center_crop(img.convert("RGB"), self.size)), int(label), True
        except IMAGE_ERRORS:
            return torch.zeros(3, self.size, self.size, dtype=torch.uint8), -1, False


@torch.inference_mode()
def extract(
    net: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    device: torch.device,
    norm: tuple[torch.Tensor, torch.Tensor] | None = None,
    total: int | None = None,
    desc: str = "features",
) -> Features:
    """Run the frozen ``net`` over batches of (uint8 images, labels, ok); drop and count the bad items."""
    net = net.to(device).eval()
    if norm is not None:
        norm = (norm[0].to(device), norm[1].to(device))
    xs, ys, skipped = [], [], 0
    with tqdm(total=total, desc=desc, unit="img", leave=False) as bar:
        for images, labels, ok in batches:
            ok = ok.bool()
            skipped += int((~ok).sum())
            if ok.any():
                x = images[ok].to(device, non_blocking=True).float().div_(255)
                if norm is not None:
                    x = (x - norm[0]) / norm[1]
                xs.append(net(x).float().flatten(1).cpu())
                ys.append(labels[ok].long())
            bar.update(len(ok))
    if not xs:
        raise ValueError(f"{desc}: no readable images ({skipped} skipped)")
    return Features(torch.cat(xs).numpy(), torch.cat(ys).numpy(), skipped)


@dataclass(frozen=True)
class Extractor:
    """A frozen backbone and how images reach it: everything feature extraction needs except the data.

    Tasks get one of these instead of a list of settings, so adding a task never adds parameters.
    """

    net: nn.Module
    norm: tuple[torch.Tensor, torch.Tensor] | None
    image_size: int
    device: torch.device
    batch_size: int = 64
    workers: int = 2

    @property
    def protocol(self) -> str:
        """The preprocessing half of every protocol line (the probes add their own half)."""
        norm = "checkpoint's input normalisation" if self.norm is not None else "raw [0,1] RGB"
        return f"frozen features, bicubic {self.image_size} centre crop, {norm}"

    def run(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], total: int | None,
            desc: str) -> Features:
        return extract(self.net, batches, self.device, self.norm, total=total, desc=desc)

    def dataset(self, ds: Dataset, desc: str) -> Features:
        """Features of a ``(PIL image, label)`` data set, decoded by ``workers`` processes."""
        loader = DataLoader(
            PreprocessedImages(ds, self.image_size),
            batch_size=self.batch_size,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            shuffle=False,
        )
        return self.run(loader, len(ds), desc)  # type: ignore[arg-type]


def batched(items: Iterator[tuple[torch.Tensor, int, bool]], batch_size: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Group (image, label, ok) triples from an iterator into stacked batches."""
    buf: list[tuple[torch.Tensor, int, bool]] = []
    for item in items:
        buf.append(item)
        if len(buf) == batch_size:
            yield _stack(buf)
            buf = []
    if buf:
        yield _stack(buf)


def _stack(buf: list[tuple[torch.Tensor, int, bool]]) -> tuple[torch.Tensor, ...]:
    return torch.stack([b[0] for b in buf]), torch.tensor([b[1] for b in buf]), torch.tensor([b[2] for b in buf])


class IterablePreprocessed(IterableDataset):
    """An iterator factory of (uint8 image, label, ok) split across DataLoader workers by a shard list."""

    def __init__(self, shards: list[Any], items_of: Callable[[Any], Iterator[tuple[torch.Tensor, int, bool]]]) -> None:
        self.shards, self.items_of = shards, items_of

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int, bool]]:
        info = torch.utils.data.get_worker_info()
        mine = self.shards if info is None else self.shards[info.id :: info.num_workers]
        for shard in mine:
            yield from self.items_of(shard)


# ---------------------------------------------------------------------------------------------
# Cache


def file_digest(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes: the cache key for a checkpoint (its name may be reused)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class FeatureCache:
    """Features stored as ``<key>.x.npy`` / ``<key>.y.npy`` plus ``<key>.json`` (the completion marker)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(fields: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def get(self, fields: dict[str, Any]) -> Features | None:
        k = self.key(fields)
        meta = self.root / f"{k}.json"
        if not meta.is_file():
            return None
        try:
            info = json.loads(meta.read_text())
            x = np.load(self.root / f"{k}.x.npy", allow_pickle=False)
            y = np.load(self.root / f"{k}.y.npy", allow_pickle=False)
        except (OSError, ValueError):
            return None  # a damaged entry is recomputed
        if x.shape[0] != y.shape[0] or x.shape[0] != info.get("n"):
            return None
        return Features(x, y, int(info.get("skipped", 0)))

    def put(self, fields: dict[str, Any], feats: Features) -> None:
        k = self.key(fields)
        for suffix, arr in ((".x.npy", feats.x.astype(np.float32)), (".y.npy", feats.y.astype(np.int64))):
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            atomic_write_bytes(self.root / f"{k}{suffix}", buf.getvalue())
        meta = {"fields": fields, "n": len(feats), "dim": int(feats.x.shape[1]), "skipped": feats.skipped}
        atomic_write_text(self.root / f"{k}.json", json.dumps(meta, indent=1, default=str))

    def get_or_compute(self, fields: dict[str, Any], compute: Callable[[], Features]) -> tuple[Features, bool]:
        """The cached features for ``fields``, or compute and store them; also says whether it was a hit."""
        hit = self.get(fields)
        if hit is not None:
            return hit, True
        feats = compute()
        self.put(fields, feats)
        return feats, False
