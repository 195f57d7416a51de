"""Transfer targets read from generated trees in the real on-disk layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sassl.evaluate.datasets import (
    DatasetLayoutError,
    load_target,
    per_class_split,
    stratified_holdout,
)

DTD_CLASSES = ("banded", "dotted", "zigzagged")


def _jpeg(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (20, 14)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)


def class_colour(c: int) -> tuple[int, int, int]:
    """Well separated colours, so that even a random backbone separates the classes."""
    return [(230, 20, 20), (20, 230, 20), (20, 20, 230), (230, 230, 20), (20, 230, 230)][c]


def make_dtd(root: Path, per_split: int = 4, partitions: int = 2) -> Path:
    """torchvision's DTD layout: dtd/dtd/images/<class>/*.jpg and dtd/dtd/labels/{train,val,test}N.txt.

    Partition N rotates which images go to which split, like the real ten partitions.
    """
    base = root / "dtd" / "dtd"
    names = {c: [f"{c}_{i:04d}.jpg" for i in range(3 * per_split)] for c in DTD_CLASSES}
    for ci, c in enumerate(DTD_CLASSES):
        for i, n in enumerate(names[c]):
            _jpeg(base / "images" / c / n, class_colour(ci), (16 + i, 14))  # width identifies the file
    (base / "labels").mkdir(parents=True)
    for p in range(1, partitions + 1):
        for si, split in enumerate(("train", "val", "test")):
            lines = []
            for c in DTD_CLASSES:
                rot = names[c][(p - 1) * per_split :] + names[c][: (p - 1) * per_split]
                lines += [f"{c}/{n}" for n in rot[si * per_split : (si + 1) * per_split]]
            (base / "labels" / f"{split}{p}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_dtd_splits_follow_the_partition_files(tmp_path):
    make_dtd(tmp_path)
    data = load_target("dtd", tmp_path, partition=1)
    assert data.metric == "top1" and data.classes == list(DTD_CLASSES)
    assert {s: len(sp) for s, sp in data.splits.items()} == {"train": 12, "val": 12, "test": 12}
    for split in ("train", "val", "test"):
        sp = data.splits[split]
        assert np.bincount(sp.labels).tolist() == [4, 4, 4]
        img, label = sp.dataset[5]
        assert isinstance(img, Image.Image) and img.mode == "RGB" and label == sp.labels[5]
        # the label matches the colour the generator drew for that class
        assert np.argmax(np.asarray(img).reshape(-1, 3).mean(0)) == [0, 1, 2][label]
    p2 = load_target("dtd", tmp_path, partition=2)

    def widths(d, split):
        return sorted(d.splits[split].dataset[i][0].size[0] for i in range(len(d.splits[split])))

    assert widths(p2, "train") == widths(data, "val") != widths(data, "train")  # partition 2 rotates
    assert "partition 2" in p2.split_rule


def test_wrong_root_shows_expected_layout(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        load_target("dtd", tmp_path / "nowhere")
    msg = str(err.value)
    assert "data root not found" in msg and "expected layout" in msg and "dtd/dtd/labels" in msg
    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetLayoutError, match="missing dtd/dtd/images"):
        load_target("dtd", tmp_path / "x")


def test_malformed_dtd_gives_one_clear_error(tmp_path):
    make_dtd(tmp_path, partitions=1)
    with pytest.raises(DatasetLayoutError, match="malformed"):
        load_target("dtd", tmp_path, partition=3)  # no labels/train3.txt
    with pytest.raises(ValueError, match="unknown transfer target"):
        load_target("imagenet-z", tmp_path)


def test_missing_partition_file_for_other_targets_names_layout(tmp_path):
    for target in ("pets", "caltech101", "cifar10", "sun397", "cars", "aircraft", "food101", "flowers102"):
        with pytest.raises(DatasetLayoutError, match="expected layout"):
            load_target(target, tmp_path)
    assert not any(tmp_path.iterdir())  # no side effects (torchvision's Caltech101 would mkdir)


def make_imagefolder(root: Path, splits=("train", "test"), per_class: int = 10, classes: int = 3) -> Path:
    for split in splits:
        for c in range(classes):
            for i in range(per_class):
                _jpeg(root / split / f"class{c}" / f"{i}.jpg", class_colour(c))
    return root


def test_imagefolder_carves_val_from_train(tmp_path):
    make_imagefolder(tmp_path)
    data = load_target(f"imagefolder:{tmp_path}")
    assert len(data.splits["train"]) == 27 and len(data.splits["val"]) == 3 and len(data.splits["test"]) == 30
    assert np.bincount(data.splits["val"].labels).tolist() == [1, 1, 1]
    again = load_target(f"imagefolder:{tmp_path}")
    assert again.splits["val"].dataset.indices == data.splits["val"].dataset.indices
    with pytest.raises(DatasetLayoutError, match="train: missing train, test"):
        load_target(f"imagefolder:{tmp_path / 'train'}")


def test_cifar_binary_records(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [*((f"data_batch_{i}.bin", 20) for i in range(1, 6)), ("test_batch.bin", 10)]:
        labels = np.arange(n) % 10
        pixels = rng.integers(0, 256, (n, 3072))
        np.concatenate([labels[:, None], pixels], 1).astype(np.uint8).tofile(folder / name)
    (folder / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    data = load_target("cifar10", tmp_path)
    assert len(data.splits["train"]) == 90 and len(data.splits["val"]) == 10 and len(data.splits["test"]) == 10
    img, label = data.splits["test"].dataset[3]
    assert img.size == (32, 32) and label == 3 and data.classes[0] == "c0"
    (folder / "test_batch.bin").write_bytes(b"\x01" * 100)
    with pytest.raises(DatasetLayoutError, match="not a multiple"):
        load_target("cifar10", tmp_path)


def test_split_helpers_are_disjoint_and_stratified():
    labels = np.repeat(np.arange(4), 40)
    tr, va = stratified_holdout(labels, 0.2, seed=0)
    assert not set(tr) & set(va) and len(tr) + len(va) == 160
    assert np.bincount(labels[va]).tolist() == [8] * 4
    a, b, rest = per_class_split(labels, (25, 5), seed=1)
    assert np.bincount(labels[a]).tolist() == [25] * 4 and np.bincount(labels[b]).tolist() == [5] * 4
    assert len(set(a) | set(b) | set(rest)) == 160
