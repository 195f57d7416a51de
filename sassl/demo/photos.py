"""The demo's data set: crops of real photographs that scikit-image ships, one class per photo, in grey.

Why this data (measured; README "sassl demo"): the demo must show, in a few CPU minutes, that
pretraining learns something an untrained network does not have. Generated textures (the demo's
first data set) could not show it: their images differ only in colour, phase and frequency, which
crops and colour jitter erase, so neither sassl's recipe nor a peer library's learned in 200 steps.
Crops of real photographs have content to learn. They are converted to grey: in colour, the photos'
palettes would separate them without any learning; re-tinting each crop at random (tried) hid the
colour but made SimCLR's result depend on the seed (kNN-20 from 24% to 69% over two seeds), as the
tint became a shortcut the colour jitter could not fully remove.

Photos (all bundled inside scikit-image, public domain or CC0 by its data README): NASA's astronaut,
the CC0 textures brick, grass and gravel, the cameraman (CC0), the cat Chelsea (CC0), coffee (CC0),
coins, the Hubble deep field (NASA) and a SpaceX rocket (public domain).

Written in the real layouts the tool reads: ImageNet-style WebDataset shards (``key.jpg`` +
``key.cls``) and class folders.
"""

from __future__ import annotations

import io
import tarfile
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
           "rocket")
CROP_AREA = (0.1, 0.4)  # a crop's area, as a fraction of the largest square that fits in the photo


@cache
def photo(name: str) -> Image.Image:
    """The luminance of one bundled photograph (loaded once per process)."""
    import skimage.data  # a dependency for its photographs; imported here, only when the demo runs

    rgb = np.asarray(getattr(skimage.data, name)())
    if rgb.ndim == 2:
        return Image.fromarray(rgb.astype(np.uint8))
    return Image.fromarray(rgb[..., :3].astype(np.uint8)).convert("L")


def grey_crop(source: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """One (size, size, 3) uint8 sample: a random square crop of ``source``, flipped at random, grey in RGB."""
    w, h = source.size
    side = min(w, h) * float(np.sqrt(rng.uniform(*CROP_AREA)))
    x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
    crop = source.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.BICUBIC)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    return np.repeat(np.asarray(crop, np.uint8)[..., None], 3, axis=2)


def jpeg(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def samples(n_per_class: int, size: int, seed: int, classes: int = len(CLASSES)) -> list[tuple[str, int, bytes]]:
    """(key, label, jpeg bytes), classes interleaved so any prefix is balanced; the same for the same seed."""
    rng = np.random.default_rng(seed)
    sources = [photo(name) for name in CLASSES[:classes]]
    return [(f"photo{seed}_{i:05d}_{c}", c, jpeg(grey_crop(sources[c], size, rng)))
            for i in range(n_per_class) for c in range(classes)]


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
