"""Real photographs for the benchmarks: random square crops of scikit-image's bundled photos.

scikit-image (a dependency, for the demo) ships its sample photographs inside the package, so benchmarks measure
codecs and stylizers on real image statistics without downloading anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def photo_crops(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    """``n`` RGB crops (random box of half to all of the short side) resized to ``size``."""
    import skimage.data

    rng = np.random.default_rng(seed)
    sources = [np.asarray(getattr(skimage.data, name)())[..., :3] for name in PHOTOS]
    out = []
    for i in range(n):
        img = sources[i % len(sources)]
        h, w = img.shape[:2]
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        out.append(Image.fromarray(img[y : y + side, x : x + side]).resize((size, size), Image.BICUBIC))
    return out


def write_photo_folder(folder: Path, n: int, size: int, seed: int = 0) -> Path:
    """A flat image folder of ``n`` photo crops (JPEG q95)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(photo_crops(n, size, seed)):
        img.save(folder / f"photo-{i:04d}.jpg", quality=95)
    return folder
