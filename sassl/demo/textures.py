"""A small labelled data set that the tool generates itself, so the demo needs no download.

Each class is a texture family (stripes at an orientation, checks, dots, rings, ...). Colours,
frequency, phase and noise vary per image, so the label lives in the pattern and not in the colour:
what SSL with colour jitter (and style transfer) is meant to learn. Written in the real layouts the
tool reads: ImageNet-style WebDataset shards (``key.jpg`` + ``key.cls``) and class folders.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("hstripes", "vstripes", "diagonal", "checks", "dots", "rings", "grid", "zigzag", "waves", "blobs")


def texture(cls: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One (size, size, 3) uint8 image of texture family ``cls``."""
    yy, xx = (np.mgrid[0:size, 0:size] / size).astype(np.float32)
    f = rng.uniform(3, 7)
    ph = rng.uniform(0, 2 * np.pi)
    name = CLASSES[cls]
    if name == "hstripes":
        m = np.sin(2 * np.pi * f * yy + ph)
    elif name == "vstripes":
        m = np.sin(2 * np.pi * f * xx + ph)
    elif name == "diagonal":
        m = np.sin(2 * np.pi * f * (xx + yy) / 1.4 + ph)
    elif name == "checks":
        m = np.sin(2 * np.pi * f * xx + ph) * np.sin(2 * np.pi * f * yy + ph)
    elif name == "dots":
        m = np.cos(2 * np.pi * f * xx) + np.cos(2 * np.pi * f * yy) - 1.2
    elif name == "rings":
        cx, cy = rng.uniform(0.2, 0.8, 2)
        m = np.sin(2 * np.pi * f * np.hypot(xx - cx, yy - cy) * 1.5 + ph)
    elif name == "grid":
        m = np.maximum(np.cos(2 * np.pi * f * xx), np.cos(2 * np.pi * f * yy)) - 0.8
    elif name == "zigzag":
        m = np.sin(2 * np.pi * f * yy + 0.8 * np.abs(((xx * f * 2) % 2) - 1) * 2 * np.pi + ph)
    elif name == "waves":
        m = np.sin(2 * np.pi * f * yy + 1.5 * np.sin(2 * np.pi * 2 * xx + ph))
    else:  # blobs: low-frequency smooth noise
        g = rng.normal(size=(5, 5))
        m = np.asarray(Image.fromarray(g.astype(np.float32)).resize((size, size), Image.BICUBIC)) / 1.5
    m = np.clip(m, -1, 1)[..., None] * 0.5 + 0.5
    fg, bg = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    img = m * fg + (1 - m) * bg + rng.normal(0, 0.04, (size, size, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def jpeg(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def samples(n_per_class: int, size: int, seed: int, classes: int = len(CLASSES)) -> list[tuple[str, int, bytes]]:
    """(key, label, jpeg bytes), classes interleaved so any prefix is balanced."""
    rng = np.random.default_rng(seed)
    return [(f"tex{seed}_{i:05d}_{c}", c, jpeg(texture(c, size, rng))) for i in range(n_per_class) for c in range(classes)]


def write_shards(out: Path, items: list[tuple[str, int, bytes]], per_shard: int, prefix: str = "train") -> list[Path]:
    """ImageNet-style shards ``prefix-000000.tar`` ... with ``key.jpg`` and ``key.cls`` members."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(0, len(items), per_shard):
        path = out / f"{prefix}-{s // per_shard:06d}.tar"
        with tarfile.open(path, "w") as tar:
            for key, label, data in items[s : s + per_shard]:
                for name, payload in ((f"{key}.jpg", data), (f"{key}.cls", str(label).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
        paths.append(path)
    return paths


def write_folder(out: Path, items: list[tuple[str, int, bytes]]) -> Path:
    """``out/<class name>/<key>.jpg``: the layout of torchvision's ImageFolder."""
    for key, label, data in items:
        folder = out / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{key}.jpg").write_bytes(data)
    return out
