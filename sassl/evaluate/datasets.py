"""Transfer targets: where each data set lives on disk, how it splits into train/val/test, and its metric.

Splits follow the linear-evaluation protocol of Kornblith et al. (2019), used by SimCLR, BYOL and
AugSelf: official train/val/test where the data set has them (DTD, Flowers-102, FGVC-Aircraft);
otherwise a fixed-seed, class-stratified hold-out of the training set for validation, of the size
that paper used (10% for CIFAR and Food-101, 20% for Pets, Cars and SUN397); Caltech-101 takes 30
random images per class for training (25 train + 5 val) and tests on the rest. Pets, Flowers-102,
Caltech-101 and Aircraft are scored by mean per-class accuracy, the rest by top-1.

Images are read through torchvision's data set classes with downloads off, except CIFAR: its
classes unpickle the Python batches, and we never unpickle files, so CIFAR is read from the
official *binary* distribution (``cifar-10-batches-bin`` / ``cifar-100-binary``) instead.
Every split yields ``(PIL RGB image, label)``; labels are remapped to one class list shared by
all splits (torchvision's DTD numbers classes per split file).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torchvision.datasets as tvd
from PIL import Image
from torch.utils.data import Dataset, Subset

from sassl.choices import EVAL_TARGETS, IMAGEFOLDER

SPLITS = ("train", "val", "test")
MEAN_PER_CLASS = "mean_per_class"
TOP1 = "top1"


class DatasetLayoutError(ValueError):
    """A transfer data root that is missing or not laid out as expected (the message shows the layout)."""


@dataclass(frozen=True)
class Split:
    """One split: a data set of ``(PIL image, label)`` and its labels (known without reading images)."""

    dataset: Dataset
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TransferData:
    """A transfer target ready to evaluate: its three splits, class names, metric and split rule."""

    target: str
    root: Path
    metric: str
    classes: list[str]
    splits: dict[str, Split]
    split_rule: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class _Target:
    metric: str
    layout: str
    required: tuple[str, ...]
    build: Callable[[Path, int, int], tuple[dict[str, Split], list[str], str]]


# ---------------------------------------------------------------------------------------------
# Split arithmetic (pure)


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): ``fraction`` of each class goes to val, at least one item stays in train."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = min(int(round(fraction * len(idx))), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def per_class_split(labels: np.ndarray, counts: Sequence[int], seed: int) -> list[np.ndarray]:
    """Per class, the first ``counts[0]``, next ``counts[1]``, ... of a seeded permutation; the rest last.

    Returns ``len(counts) + 1`` sorted index arrays (the last is the remainder).
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(counts) + 1)]
    bounds = np.cumsum([0, *counts])
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        for i in range(len(counts)):
            parts[i].append(idx[bounds[i] : bounds[i + 1]])
        parts[-1].append(idx[bounds[-1] :])
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


# ---------------------------------------------------------------------------------------------
# Building splits from torchvision data sets


def _labels_of(ds: Any) -> np.ndarray:
    """The labels torchvision already parsed from the annotation files (no image is opened)."""
    for attr in ("_labels", "targets", "y"):
        if hasattr(ds, attr):
            return np.asarray(getattr(ds, attr), dtype=np.int64)
    if hasattr(ds, "_samples"):  # StanfordCars
        return np.asarray([s[1] for s in ds._samples], dtype=np.int64)
    raise TypeError(f"cannot read labels of {type(ds).__name__}")


class _Relabelled(Dataset):
    """A data set whose labels are mapped through ``mapping`` (to a class list shared by all splits)."""

    def __init__(self, ds: Dataset, mapping: np.ndarray) -> None:
        self.ds, self.mapping = ds, mapping

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        img, y = self.ds[i]
        return img, int(self.mapping[y])


def _shared_classes(parts: dict[str, Any]) -> tuple[dict[str, Split], list[str]]:
    """Splits labelled against the sorted union of the per-split ``classes`` lists."""
    classes = sorted({c for ds in parts.values() for c in ds.classes})
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for name, ds in parts.items():
        mapping = np.asarray([index[c] for c in ds.classes], dtype=np.int64)
        out[name] = Split(_Relabelled(ds, mapping), mapping[_labels_of(ds)])
    return out, classes


def _whole(ds: Any) -> Split:
    return Split(ds, _labels_of(ds))


def _subset(split: Split, idx: np.ndarray) -> Split:
    return Split(Subset(split.dataset, idx.tolist()), split.labels[idx])


def _carve_val(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    tr, va = stratified_holdout(train.labels, fraction, seed)
    return _subset(train, tr), _subset(train, va)


def _holdout_rule(fraction: float, seed: int) -> str:
    return f"official train/test; val = class-stratified {fraction:.0%} of train (seed {seed})"


def _build_dtd(root: Path, partition: int, seed: int):
    parts = {s: tvd.DTD(root, split=s, partition=partition, download=False) for s in SPLITS}
    splits, classes = _shared_classes(parts)
    return splits, classes, f"official DTD partition {partition} train/val/test"


def _build_flowers(root: Path, partition: int, seed: int):
    splits = {s: _whole(tvd.Flowers102(root, split=s, download=False)) for s in SPLITS}
    classes = [str(c) for c in np.unique(np.concatenate([sp.labels for sp in splits.values()]))]
    return splits, classes, "official train/val/test"


def _build_aircraft(root: Path, partition: int, seed: int):
    parts = {s: tvd.FGVCAircraft(root, split=s, annotation_level="variant", download=False) for s in SPLITS}
    return {s: _whole(ds) for s, ds in parts.items()}, parts["train"].classes, "official train/val/test (variant)"


def _holdout_builder(make: Callable[[Path, bool], Any], fraction: float) -> Callable:
    """Targets with official train/test only: val is carved from train."""

    def build(root: Path, partition: int, seed: int):
        train_ds, test_ds = make(root, True), make(root, False)
        train, val = _carve_val(_whole(train_ds), fraction, seed)
        classes = list(getattr(train_ds, "classes", [])) or [str(c) for c in np.unique(train.labels)]
        return {"train": train, "val": val, "test": _whole(test_ds)}, classes, _holdout_rule(fraction, seed)

    return build


def _build_caltech(root: Path, partition: int, seed: int):
    ds = tvd.Caltech101(root, target_type="category", download=False)
    whole = _whole(ds)
    tr, va, te = per_class_split(whole.labels, (25, 5), seed)
    splits = {"train": _subset(whole, tr), "val": _subset(whole, va), "test": _subset(whole, te)}
    return splits, list(ds.categories), f"per class 25 train + 5 val random images (seed {seed}), the rest test"


def _build_sun397(root: Path, partition: int, seed: int):
    """torchvision's SUN397 has no splits: use the official partition files (``Training_0N.txt``)."""
    ds = tvd.SUN397(root, download=False)
    base = Path(ds._data_dir)
    files = {}
    for kind in ("Training", "Testing"):
        name = f"{kind}_{partition:02d}.txt"
        found = [p for p in (base / "Partitions" / name, base / name) if p.is_file()]
        if not found:
            raise FileNotFoundError(f"partition file {name} not found in {base}/Partitions or {base}")
        files[kind] = [line.strip() for line in found[0].read_text().splitlines() if line.strip()]
    position = {"/" + p.relative_to(base).as_posix(): i for i, p in enumerate(ds._image_files)}
    whole = _whole(ds)
    missing = [f for kind in files.values() for f in kind if f not in position]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images listed in the partition files are missing, e.g. {missing[0]}")
    train = _subset(whole, np.asarray([position[f] for f in files["Training"]]))
    test = _subset(whole, np.asarray([position[f] for f in files["Testing"]]))
    train, val = _carve_val(train, 0.2, seed)
    return {"train": train, "val": val, "test": test}, list(ds.classes), (
        f"official partition {partition} train/test; val = class-stratified 20% of train (seed {seed})"
    )


class CifarBinary(Dataset):
    """CIFAR-10/100 from the official binary files (fixed-size records; nothing is unpickled)."""

    def __init__(self, root: Path, hundred: bool, train: bool) -> None:
        folder = Path(root) / ("cifar-100-binary" if hundred else "cifar-10-batches-bin")
        if hundred:
            names = ["train.bin" if train else "test.bin"]
        else:
            names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
        label_bytes = 2 if hundred else 1
        record = label_bytes + 3072
        chunks = []
        for name in names:
            raw = np.fromfile(folder / name, dtype=np.uint8)
            if raw.size == 0 or raw.size % record:
                raise ValueError(f"{folder / name}: size {raw.size} is not a multiple of the {record}-byte record")
            chunks.append(raw.reshape(-1, record))
        data = np.concatenate(chunks)
        self.targets = data[:, label_bytes - 1].astype(np.int64)  # CIFAR-100: (coarse, fine) -> fine
        self.images = data[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        meta = folder / ("fine_label_names.txt" if hundred else "batches.meta.txt")
        self.classes = [c for c in meta.read_text().split() if c] if meta.is_file() else []

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.images[i]), int(self.targets[i])


class _ImageFolderTarget:
    """``imagefolder:PATH``: PATH/{train,val,test}/<class>/*.jpg; without val, 10% of train is held out."""

    FRACTION = 0.1

    def __call__(self, root: Path, partition: int, seed: int):
        present = {s: tvd.ImageFolder(root / s) for s in SPLITS if (root / s).is_dir()}
        unknown = set(present.get("val", present["train"]).classes) | set(present["test"].classes)
        unknown -= set(present["train"].classes)
        if unknown:
            raise FileNotFoundError(f"classes {sorted(unknown)[:5]} have no training images")
        splits, classes = _shared_classes(present)
        rule = "train/val/test folders as given"
        if "val" not in splits:
            splits["train"], splits["val"] = _carve_val(splits["train"], self.FRACTION, seed)
            rule = f"train/test folders as given; val = class-stratified {self.FRACTION:.0%} of train (seed {seed})"
        return splits, classes, rule


_LAYOUT_IMAGEFOLDER = """PATH/
  train/<class>/*.jpg
  val/<class>/*.jpg      (optional: without it 10% of train is held out)
  test/<class>/*.jpg"""

TARGETS: dict[str, _Target] = {
    "dtd": _Target(
        TOP1,
        "DATA_ROOT/dtd/dtd/images/<class>/*.jpg\nDATA_ROOT/dtd/dtd/labels/{train,val,test}{1..10}.txt",
        ("dtd/dtd/images", "dtd/dtd/labels"),
        _build_dtd,
    ),
    "cifar10": _Target(
        TOP1,
        "DATA_ROOT/cifar-10-batches-bin/data_batch_{1..5}.bin, test_batch.bin  (the binary version)",
        ("cifar-10-batches-bin",),
        _holdout_builder(lambda r, t: CifarBinary(r, False, t), 0.1),
    ),
    "cifar100": _Target(
        TOP1,
        "DATA_ROOT/cifar-100-binary/train.bin, test.bin  (the binary version)",
        ("cifar-100-binary",),
        _holdout_builder(lambda r, t: CifarBinary(r, True, t), 0.1),
    ),
    "food101": _Target(
        TOP1,
        "DATA_ROOT/food-101/images/<class>/*.jpg\nDATA_ROOT/food-101/meta/{train,test}.json",
        ("food-101/images", "food-101/meta"),
        _holdout_builder(lambda r, t: tvd.Food101(r, split="train" if t else "test", download=False), 0.1),
    ),
    "flowers102": _Target(
        MEAN_PER_CLASS,
        "DATA_ROOT/flowers-102/jpg/image_00001.jpg ...\nDATA_ROOT/flowers-102/{imagelabels,setid}.mat (official md5)",
        ("flowers-102/jpg", "flowers-102/imagelabels.mat", "flowers-102/setid.mat"),
        _build_flowers,
    ),
    "pets": _Target(
        MEAN_PER_CLASS,
        "DATA_ROOT/oxford-iiit-pet/images/*.jpg\nDATA_ROOT/oxford-iiit-pet/annotations/{trainval,test}.txt",
        ("oxford-iiit-pet/images", "oxford-iiit-pet/annotations"),
        _holdout_builder(
            lambda r, t: tvd.OxfordIIITPet(r, split="trainval" if t else "test", download=False), 0.2
        ),
    ),
    "caltech101": _Target(
        MEAN_PER_CLASS,
        "DATA_ROOT/caltech101/101_ObjectCategories/<class>/image_0001.jpg ...",
        ("caltech101/101_ObjectCategories",),
        _build_caltech,
    ),
    "cars": _Target(
        TOP1,
        "DATA_ROOT/stanford_cars/{cars_train,cars_test}/*.jpg\n"
        "DATA_ROOT/stanford_cars/devkit/{cars_meta,cars_train_annos}.mat\n"
        "DATA_ROOT/stanford_cars/cars_test_annos_withlabels.mat",
        ("stanford_cars/devkit", "stanford_cars/cars_train", "stanford_cars/cars_test"),
        _holdout_builder(lambda r, t: tvd.StanfordCars(r, split="train" if t else "test", download=False), 0.2),
    ),
    "aircraft": _Target(
        MEAN_PER_CLASS,
        "DATA_ROOT/fgvc-aircraft-2013b/data/images/*.jpg\n"
        "DATA_ROOT/fgvc-aircraft-2013b/data/{variants.txt,images_variant_{train,val,test}.txt}",
        ("fgvc-aircraft-2013b/data/images",),
        _build_aircraft,
    ),
    "sun397": _Target(
        TOP1,
        "DATA_ROOT/SUN397/ClassName.txt\nDATA_ROOT/SUN397/<letter>/<class>/sun_*.jpg\n"
        "DATA_ROOT/SUN397/Partitions/{Training,Testing}_{01..10}.txt  (official partitions)",
        ("SUN397/ClassName.txt",),
        _build_sun397,
    ),
}
if tuple(TARGETS) != EVAL_TARGETS:  # the CLI lists EVAL_TARGETS without importing torchvision
    raise ImportError(f"sassl.choices.EVAL_TARGETS {EVAL_TARGETS} differ from the targets {tuple(TARGETS)}")


def target_names() -> list[str]:
    return [*EVAL_TARGETS, IMAGEFOLDER + "PATH"]


def target_metric(target: str) -> str:
    return TOP1 if target.startswith(IMAGEFOLDER) else _spec(target).metric


def _spec(target: str) -> _Target:
    if target not in TARGETS:
        raise ValueError(f"unknown transfer target {target!r}; expected one of {', '.join(target_names())}")
    return TARGETS[target]


def load_target(target: str, data_root: str | Path | None = None, partition: int = 1, seed: int = 0) -> TransferData:
    """Open a transfer target's splits; raises :class:`DatasetLayoutError` showing the expected layout.

    ``target`` is one of :data:`TARGETS` (read under ``data_root``) or ``imagefolder:PATH``.
    ``partition`` picks DTD's (and SUN397's) official partition 1..10. ``seed`` fixes carved splits.
    """
    if target.startswith(IMAGEFOLDER):
        root = Path(target[len(IMAGEFOLDER) :])
        metric, layout, required, build = TOP1, _LAYOUT_IMAGEFOLDER, ("train", "test"), _ImageFolderTarget()
        name = f"{IMAGEFOLDER}{root}"
    else:
        spec = _spec(target)
        if data_root is None:
            raise ValueError(f"{target}: --data-root is required")
        root = Path(data_root)
        metric, layout, required, build, name = spec.metric, spec.layout, spec.required, spec.build, target
    if not 1 <= partition <= 10:
        raise ValueError(f"partition must be in 1..10, got {partition}")

    def fail(reason: str) -> DatasetLayoutError:
        label = "imagefolder" if name.startswith(IMAGEFOLDER) else name
        return DatasetLayoutError(f"{label}: {root}: {reason}\nexpected layout:\n{layout}")

    if not root.is_dir():
        raise fail("data root not found")
    missing = [r for r in required if not (root / r).exists()]
    if missing:
        raise fail(f"missing {', '.join(missing)}")
    try:
        with contextlib.redirect_stdout(None):
            splits, classes, rule = build(root, partition, seed)
    except (RuntimeError, OSError, KeyError, ValueError, IndexError, TypeError) as exc:
        raise fail(f"malformed ({type(exc).__name__}: {exc})") from None
    empty = [s for s in SPLITS if len(splits[s]) == 0]
    if empty:
        raise fail(f"empty split(s): {', '.join(empty)}")
    return TransferData(name, root, metric, list(classes), splits, rule)
