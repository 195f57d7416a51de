"""Turning one unit of raw inputs into one bank shard with a loaded encoder (no Ray here).

CPU work per image (decode, resize + centre crop, JPEG encode/decode of the canonical image) runs in
a thread pool one batch ahead of the stylizer's encoder, so that image preparation overlaps the forward
pass (PIL and torch both release the GIL). Codes and content inputs are computed on the pixels of the
*stored* JPEG, so the image, code and features a trainer reads belong together exactly.
"""

from __future__ import annotations

import io
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from sassl.bank.codecs import Codec, encode_batch, npy_bytes
from sassl.bank.format import IMAGE_FIELD, STYLE_FIELD, BankSettings
from sassl.bank.writer import ShardWriter
from sassl.precompute.units import WorkUnit
from sassl.sources import ImageError, RawSample, ShardError, resize_center_crop
from sassl.style.stylizer import Stylizer


@dataclass(frozen=True)
class ShardResult:
    """Outcome of one unit: ``failed`` carries the one-line reason (e.g. a corrupt tar)."""

    name: str
    images: int = 0
    errors: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failed: str | None = None


@dataclass(frozen=True)
class Prepared:
    """One input after CPU preparation: canonical JPEG (content banks) and pixels, or an error."""

    raw: RawSample
    jpeg: bytes | None = None
    pixels: np.ndarray | None = None  # (S, S, 3) uint8
    error: str | None = None


def prepare(raw: RawSample, size: int, jpeg_quality: int | None) -> Prepared:
    """Decode, resize + centre crop; for content banks round-trip through the stored JPEG."""
    try:
        img = resize_center_crop(raw.decode(), size)
    except ImageError as exc:
        return Prepared(raw, error=str(exc))
    if jpeg_quality is None:
        return Prepared(raw, pixels=np.asarray(img))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=jpeg_quality)
    jpeg = buf.getvalue()
    return Prepared(raw, jpeg=jpeg, pixels=np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))


def _lookahead(items: Iterable[RawSample], fn: Callable[[RawSample], Prepared], pool: ThreadPoolExecutor, depth: int) -> Iterator[Prepared]:
    """``map(fn, items)`` on the pool, in order, with at most ``depth`` items in flight."""
    window: deque = deque()
    for item in items:
        window.append(pool.submit(fn, item))
        if len(window) >= depth:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


class ShardEncoder:
    """Holds the loaded stylizer and writes whole shards; one per Ray actor (or per process)."""

    def __init__(self, stylizer: Stylizer, settings: BankSettings, device: str | torch.device, batch_size: int, threads: int) -> None:
        if stylizer.fingerprint != settings.stylizer_fingerprint:
            raise ValueError(
                f"worker stylizer {stylizer.fingerprint} differs from the bank's {settings.stylizer_fingerprint}"
            )
        self.device = torch.device(device)
        self.stylizer = stylizer.to(self.device).to(memory_format=torch.channels_last)
        self.settings = settings
        self.codec = Codec(settings.codec) if settings.codec is not None else None
        self.batch_size = batch_size
        self.pool = ThreadPoolExecutor(max(1, threads))

    @torch.inference_mode()
    def encode(self, batch: list[Prepared]) -> list[dict[str, bytes]]:
        """Member fields for a batch of prepared images: style code, and for content banks the canonical
        image and (when the stylizer stores one) the coded content input."""
        x = torch.from_numpy(np.stack([p.pixels for p in batch])).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255).contiguous(memory_format=torch.channels_last)
        encoded = self.stylizer.encode(x)
        fields = [{STYLE_FIELD: npy_bytes(c)} for c in encoded.code.float().cpu().numpy()]
        if self.codec is not None:
            for f, coded in zip(fields, encode_batch(encoded.content, self.codec)):
                f.update(coded)
        if self.settings.kind == "content":
            for f, p in zip(fields, batch):
                f[IMAGE_FIELD] = p.jpeg
        return fields

    def run(self, unit: WorkUnit, out_dir: str | Path) -> ShardResult:
        """Write ``out_dir/<unit>.tar`` and its manifest; a corrupt input shard fails only this unit."""
        s = self.settings
        jpeg_quality = s.jpeg_quality if s.kind == "content" else None
        prep = lambda raw: prepare(raw, s.image_size, jpeg_quality)  # noqa: E731
        return write_unit(unit, out_dir, prep, self.encode, self.batch_size, self.pool)


# Turns a batch of prepared inputs into member fields per item, or a one-line reason to skip the item.
BatchEncoder = Callable[[list[Prepared]], list["dict[str, bytes] | str"]]


def write_unit(unit: WorkUnit, out_dir: str | Path, prep: Callable[[RawSample], Prepared], encode: BatchEncoder,
               batch_size: int, pool: ThreadPoolExecutor) -> ShardResult:
    """The shard loop every worker shares: prepare inputs on ``pool`` one batch ahead, ``encode``
    full batches, write ``out_dir/<unit>.tar`` + manifest; unusable items are recorded, a corrupt
    input shard fails only this unit."""
    start = time.perf_counter()
    try:
        with ShardWriter(Path(out_dir) / f"{unit.name}.tar", unit.source) as writer:
            batch: list[Prepared] = []
            for item in _lookahead(unit.samples(), prep, pool, 2 * batch_size):
                if item.error is not None:
                    writer.add_error(item.raw.key, item.raw.label, item.error)
                    continue
                batch.append(item)
                if len(batch) == batch_size:
                    _flush(writer, batch, encode)
            if batch:
                _flush(writer, batch, encode)
            if not any(row["error"] is None for row in writer.rows):  # nothing usable: fail, write nothing
                first = f"; first: {writer.rows[0]['error']}" if writer.rows else ""
                raise ShardError(f"{unit.source}: no readable image ({len(writer.rows)} unreadable{first})")
    except ShardError as exc:
        return ShardResult(unit.name, failed=str(exc), seconds=time.perf_counter() - start)
    meta = writer.meta
    return ShardResult(unit.name, meta.num_samples, meta.num_errors, meta.tar_bytes, time.perf_counter() - start)


def _flush(writer: ShardWriter, batch: list[Prepared], encode: BatchEncoder) -> None:
    for item, fields in zip(batch, encode(batch)):
        if isinstance(fields, str):
            writer.add_error(item.raw.key, item.raw.label, fields)
        else:
            writer.add(item.raw.key, item.raw.label, fields)
    batch.clear()
