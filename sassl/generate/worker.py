"""One generated-bank shard: decode sources, generate K views each, check them, store them as JPEGs.

Runs the same shard loop as precompute (:func:`sassl.precompute.shard.write_unit`): inputs are
prepared on a thread pool one batch ahead of the generator, so decoding overlaps generation; the
generated images are resized and JPEG-encoded on the same pool. A sample whose generated views are
not finite or not images of the expected shape is skipped and recorded in the manifest (reason
included); the rest of the batch is stored.
"""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from sassl.bank.format import GeneratedSettings, generated_field
from sassl.generate.generators import GeneratorSpec, ImageGenerator
from sassl.precompute.shard import Prepared, ShardResult, prepare, write_unit
from sassl.precompute.units import WorkUnit
from sassl.sources import resize_center_crop


def view_seed(seed: int, key: str, view: int) -> int:
    """The seed of generated view ``view`` of the source sample ``key``: a pure function of the three,
    so a rerun (after a crash, on another machine, with other batches) regenerates the same image."""
    digest = hashlib.sha256(f"{seed}\0{key}\0{view}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def check_outputs(outputs: Sequence[np.ndarray], count: int, size: int) -> list[str | None]:
    """Per output: None if it is a finite (size, size, 3) image, else the reason it is unusable."""
    if len(outputs) != count:
        return [f"generator returned {len(outputs)} images for {count} inputs"] * count
    problems: list[str | None] = []
    for out in outputs:
        out = np.asarray(out)
        if out.shape != (size, size, 3):
            problems.append(f"generator output has shape {out.shape}, expected {(size, size, 3)}")
        elif not np.isfinite(out).all():
            problems.append("generator output has NaN/inf values")
        else:
            problems.append(None)
    return problems


def to_jpeg(image: np.ndarray, size: int, quality: int) -> bytes:
    """Float [0, 1] (H, W, 3) -> JPEG of the bank's canonical size (bicubic resize + centre crop)."""
    pixels = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    img = resize_center_crop(Image.fromarray(pixels), size)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


class ShardGenerator:
    """Holds a loaded generator and writes whole generated-bank shards; one per Ray actor (or process)."""

    def __init__(self, generator: ImageGenerator, settings: GeneratedSettings, gen_size: int, batch_size: int,
                 threads: int) -> None:
        self.generator, self.settings, self.gen_size = generator, settings, gen_size
        self.batch_size = batch_size  # source images per generator call (each gives K outputs)
        self.pool = ThreadPoolExecutor(max(1, threads))

    def run(self, unit: WorkUnit, out_dir: str | Path) -> ShardResult:
        size = self.settings.image_size
        return write_unit(unit, out_dir, lambda raw: prepare(raw, size, None), self.encode, self.batch_size, self.pool)

    def encode(self, batch: list[Prepared]) -> list[dict[str, bytes] | str]:
        s, k = self.settings, self.settings.views_per_image
        images = [Image.fromarray(p.pixels) for p in batch]
        outputs = self.generator([img for img in images for _ in range(k)],
                                 [view_seed(s.seed, p.raw.key, v) for p in batch for v in range(k)])
        problems = check_outputs(outputs, len(batch) * k, self.gen_size)
        jpegs = list(self.pool.map(lambda i: None if problems[i] else to_jpeg(outputs[i], s.image_size, s.jpeg_quality),
                                   range(len(problems))))
        result: list[dict[str, bytes] | str] = []
        for i in range(len(batch)):
            bad = [(v, problems[i * k + v]) for v in range(k) if problems[i * k + v]]
            if bad:
                result.append(f"{batch[i].raw.source}:{batch[i].raw.key}: view {bad[0][0]}: {bad[0][1]}")
            else:
                result.append({generated_field(v): jpegs[i * k + v] for v in range(k)})
        return result


@dataclass(frozen=True)
class GeneratorFactory:
    """Builds a :class:`ShardGenerator` inside an actor: the pipeline is loaded there, once."""

    spec: GeneratorSpec
    settings: GeneratedSettings
    batch_size: int

    def __call__(self, device: str, threads: int) -> ShardGenerator:
        return ShardGenerator(self.spec.load(device), self.settings, self.spec.size, self.batch_size, threads)
