"""Endless streams of random image crops, for training the decoder from folders or shards."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from sassl.sources import (
    ImageError,
    RawSample,
    ShardError,
    expand_urls,
    iter_image_folder,
    iter_shard,
    pil_to_uint8,
    resize_center_crop,
)


def iter_source(spec: str, rng: random.Random | None) -> Iterator[RawSample]:
    """One pass over an image folder (a directory) or a shard spec; shuffled by ``rng`` unless it is None."""
    if Path(spec).is_dir():
        yield from iter_image_folder(spec, rng)
        return
    urls = expand_urls(spec)
    if rng is not None:
        rng.shuffle(urls)
    for url in urls:
        try:
            yield from iter_shard(url)
        except ShardError as exc:
            print(f"skipping shard: {exc}")


class RandomCrops(IterableDataset):
    """Forever: images resized so the short side is ``load_size``, randomly cropped to ``crop``.

    Reference AdaIN training uses 512 -> 256. DataLoader workers split each seeded pass between them;
    undecodable images are skipped with a message naming them.
    """

    def __init__(self, spec: str, load_size: int = 512, crop: int = 256, seed: int = 0) -> None:
        if crop > load_size:
            raise ValueError(f"crop {crop} larger than load size {load_size}")
        self.spec, self.load_size, self.crop, self.seed = spec, load_size, crop, seed

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        wid = info.id if info else 0
        n = info.num_workers if info else 1
        crop_rng = random.Random(f"{self.seed}-crop-{wid}")
        for epoch in itertools.count():
            got = False
            # all workers share the pass order and take every n-th item: a partition, not overlap
            order_rng = random.Random(f"{self.seed}-order-{epoch}")
            for i, sample in enumerate(iter_source(self.spec, order_rng)):
                if i % n != wid:
                    continue
                try:
                    img = sample.decode()
                except ImageError as exc:
                    print(f"skipping: {exc}")
                    continue
                got = True
                yield self._crop(img, crop_rng)
            if not got:
                raise RuntimeError(f"{self.spec}: no readable images")

    def _crop(self, img: Image.Image, rng: random.Random) -> torch.Tensor:
        w, h = img.size
        s = self.load_size / min(w, h)
        img = img.resize((max(self.load_size, round(w * s)), max(self.load_size, round(h * s))), Image.BILINEAR)
        x = rng.randint(0, img.size[0] - self.crop)
        y = rng.randint(0, img.size[1] - self.crop)
        return pil_to_uint8(img.crop((x, y, x + self.crop, y + self.crop)))


def first_images(spec: str, n: int, size: int) -> torch.Tensor:
    """The first ``n`` readable images of a folder or shard spec, centre-cropped: (n, 3, size, size) in [0, 1]."""
    out = []
    for sample in iter_source(spec, None):
        try:
            img = sample.decode()
        except ImageError as exc:
            print(f"skipping: {exc}")
            continue
        out.append(pil_to_uint8(resize_center_crop(img, size)))
        if len(out) == n:
            break
    if not out:
        raise ValueError(f"{spec}: no readable images")
    return torch.stack(out).float().div(255)
