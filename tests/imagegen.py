"""Tiny generated inputs in the real on-disk layouts (image folders, ImageNet-style shards)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(seed: int, size: int = 48, fmt: str = "JPEG") -> bytes:
    """A smooth random colour pattern (decodable, not constant), encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(0, 1, (3, 3))
    img = np.stack([np.sin(6 * (base[c, 0] * xx + base[c, 1] * yy) + 6 * base[c, 2]) for c in range(3)], -1)
    img = ((img * 0.5 + 0.5) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    return buf.getvalue()


def write_image_folder(root: Path, classes: int = 2, per_class: int = 3, size: int = 48, flat: bool = False) -> Path:
    """``root/<class>/<i>.jpg`` (or ``root/<i>.jpg`` when ``flat``)."""
    for c in range(classes):
        folder = root if flat else root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (folder / f"img{c}_{i}.jpg").write_bytes(image_bytes(c * 100 + i, size))
    return root


def write_shard(path: Path, items: list[tuple[str, bytes, int | None]], ext: str = "jpg") -> Path:
    """An ImageNet-style WebDataset shard: ``key.jpg`` + ``key.cls`` per sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, data, label in items:
            members = [(f"{key}.{ext}", data)]
            if label is not None:
                members.append((f"{key}.cls", str(label).encode()))
            for name, payload in members:
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path
