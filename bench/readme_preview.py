"""The preview PNGs shown in the README: real Ghiasi weights on public-domain / CC0 photographs.

Contents: scikit-image's astronaut (NASA, public domain), chelsea (CC0, Stefan van der Walt), coffee (CC0,
Rachel Michetti) and rocket (SpaceX, public domain); styles: hubble_deep_field (NASA, public domain),
immunohistochemistry (no known copyright restrictions) and colorwheel (scikit-image, generated). Writes
``docs/preview.png`` and ``docs/preview-sweep.png`` through the same function as `sassl stylizer preview`.

    python bench/readme_preview.py [--size 128] [--out docs/preview.png]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from sassl.sources import pil_to_uint8, resize_center_crop
from sassl.style import StylizerSpec, load_stylizer
from sassl.style.preview import write_previews

CONTENTS = ("astronaut", "chelsea", "coffee", "rocket")
STYLES = ("hubble_deep_field", "immunohistochemistry", "colorwheel")


def photos(names: tuple[str, ...], size: int) -> torch.Tensor:
    import skimage.data

    images = [Image.fromarray(np.asarray(getattr(skimage.data, name)())[..., :3]) for name in names]
    return torch.stack([pil_to_uint8(resize_center_crop(img, size)) for img in images]).float() / 255


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--out", default="docs/preview.png")
    args = ap.parse_args()
    stylizer = load_stylizer(StylizerSpec("ghiasi"))
    with torch.no_grad():
        grid, sweep = write_previews(stylizer, photos(CONTENTS, args.size), photos(STYLES, args.size), args.out)
    for path in (grid, sweep):  # the README's copies: 256 colours keep the repository small
        Image.open(path).quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {grid} and {sweep} ({stylizer.describe()})")


if __name__ == "__main__":
    main()
