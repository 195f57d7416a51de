"""Tiny inputs in the real ImageNet WebDataset layout (``key.jpg`` + ``key.cls``), for bank tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg(seed: int, h: int = 40, w: int = 52) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_shard(path: Path, keys: list[str], corrupt: set[str] = frozenset(), seed: int = 0) -> Path:
    """A shard with one JPEG + label per key; keys in ``corrupt`` get truncated JPEG bytes."""
    with tarfile.open(path, "w") as tar:
        for i, key in enumerate(keys):
            data = jpeg(seed * 1000 + i)
            if key in corrupt:
                data = data[: len(data) // 3]
            for ext, blob in (("jpg", data), ("cls", str(i % 5).encode())):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    return path
