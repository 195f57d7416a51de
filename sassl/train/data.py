"""Streaming training data: bank shards, image shards or an image folder, as one IterableDataset.

Every sample comes out as a canonical square uint8 image of side S (the bank's, or decoded, resized
on the short side and centre-cropped for plain images), plus, from a bank, its style code and (AdaIN)
its stored content features. Augmentation happens later, batched on the device.

Streaming rules (webdataset conventions, implemented here so resumption is exact):
- units (shards, or files of a folder) are shuffled per epoch with a seed derived from (seed, epoch);
- units are split by process (rank) and DataLoader worker; with fewer units than readers, every
  reader reads all units and keeps every n-th sample instead, so nobody starves;
- each reader's stream repeats (a fresh shuffle per pass) so every rank yields the same number of
  batches per epoch, which DDP needs; the trainer decides where an epoch ends;
- a corrupt sample or shard is skipped and counted: each sample carries the number of errors its
  reader met since the previous sample, so counts survive worker processes and collation;
- ``start_batch`` skips what a resumed run already consumed in the current epoch.

Generated views (``--generated``): every sample carries the key that ties it to a generated bank
(the bank key, or the sanitised shard key / folder path, as ``sassl generate`` stored it) and, when
the bank has views of it, one of them as ``gen_image`` with its index ``gen_view``; the view is drawn
per (seed, epoch, key), so it changes every epoch and is the same after a resume. Samples without
views carry ``gen_view = -1`` (and a blank ``gen_image`` so batches stack); the trainer counts them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torchvision.transforms.functional import to_pil_image
from tqdm import tqdm

from sassl.bank.format import manifest_path, sanitise_key
from sassl.bank.generated import GeneratedBank
from sassl.bank.manifest import read_rows
from sassl.bank.reader import BankError, BankInfo, iter_bank_items, open_bank
from sassl.sources import (
    ImageError,
    RawSample,
    ShardError,
    expand_urls,
    iter_shard,
    list_image_folder,
    pil_to_uint8,
    resize_center_crop,
)
from sassl.train.distributed import rank, world_size
from sassl.train.preempt import ignore_stop_signals


@dataclass(frozen=True)
class DataSpec:
    """What to stream: ``kind`` is "bank", "shards" or "folder"; ``units`` are shard paths/URLs or
    (file, label) pairs; ``size`` the canonical side S."""

    kind: str
    units: tuple[Any, ...]
    size: int
    num_samples: int
    num_classes: int | None = None
    bank: BankInfo | None = field(default=None, compare=False)
    root: str | None = None  # the image folder (keys are paths relative to it)
    generated: GeneratedBank | None = field(default=None, compare=False)


def bank_spec(bank_dir: str | Path) -> DataSpec:
    """A content bank's finished shards; raises :class:`BankError` for a missing or unusable bank."""
    info = open_bank(bank_dir)
    if info.kind != "content":
        raise BankError(f"{info.root}: a {info.kind} bank has no images to train on; pass a content bank")
    if not info.shards:
        raise BankError(f"{info.root}: no finished shards (is `sassl precompute` still running?)")
    return DataSpec("bank", tuple(info.shards), info.image_size, info.num_samples, bank=info)


def images_spec(spec: str, size: int, num_samples: int | None = None) -> DataSpec:
    """An image folder (class sub-folders give labels) or an ImageNet-style shard spec.

    The sample count of shards is ``num_samples`` when given (ImageNet-1k: 1281167), else found by
    one pass over them (no image decoding), which costs a full read of the data set.
    """
    path = Path(spec)
    if path.is_dir():
        files, classes = list_image_folder(path)
        return DataSpec("folder", tuple((str(p), lab) for p, lab in files), size, len(files), len(classes) or None,
                        root=str(path))
    urls = expand_urls(spec)
    if num_samples is not None:
        return DataSpec("shards", tuple(urls), size, num_samples)
    count = 0
    for url in tqdm(urls, desc="counting samples", unit="shard", disable=len(urls) < 10):
        try:
            for _ in iter_shard(url):
                count += 1
        except ShardError:
            continue  # counted as skipped by the stream, which meets the same error
    if count == 0:
        raise ShardError(f"{spec}: no readable image samples in {len(urls)} shard(s)")
    return DataSpec("shards", tuple(urls), size, count)


def _unit_samples(spec: DataSpec, unit: Any) -> Iterator[dict | Exception]:
    """Decoded samples of one unit; a failure is yielded as the exception (to be counted)."""
    try:
        if spec.kind == "bank":
            # checksummed per sample: a flipped byte is an error; items carry key, image, code,
            # content (when stored), label (the key ties them to a generated bank; collated as a list)
            yield from iter_bank_items(unit, spec.bank)
            return
        raws = iter_shard(unit) if spec.kind == "shards" else [_read_file(*unit, spec.root)]
        for raw in raws:
            if isinstance(raw, Exception):
                yield raw
                continue
            try:
                img = resize_center_crop(raw.decode(), spec.size)
            except ImageError as exc:
                yield exc
                continue
            yield {"image": pil_to_uint8(img), "label": -1 if raw.label is None else raw.label,
                   "key": sanitise_key(raw.key)}
    except (ShardError, BankError) as exc:
        yield exc


def _read_file(path: str, label: int | None, root: str | None) -> RawSample | ImageError:
    """One file of a folder; its key is its path relative to the folder without the extension,
    as ``sassl precompute|generate --image-folder`` key it."""
    p = Path(path)
    key = p.relative_to(root).with_suffix("").as_posix() if root is not None else p.stem
    try:
        return RawSample(key, p.read_bytes(), p.suffix[1:], label, path)
    except OSError as exc:
        return ImageError(f"{path}: unreadable ({exc})")


def spec_keys(spec: DataSpec) -> tuple[list[str], str]:
    """The training samples' keys as far as they are known without decoding: all of them for a bank
    (manifests) or a folder, the first shard's for shards; plus a note saying which."""
    if spec.kind == "bank":
        keys = [k for shard in spec.units for k in read_rows(manifest_path(shard)).column("key").to_pylist()
                if k is not None]
        return keys, f"all {len(keys)} samples of the bank"
    if spec.kind == "folder":
        root = Path(spec.root)
        return [sanitise_key(Path(p).relative_to(root).with_suffix("").as_posix()) for p, _ in spec.units], \
            f"all {len(spec.units)} images of the folder"
    try:
        keys = [sanitise_key(raw.key) for raw in iter_shard(spec.units[0])]
    except ShardError as exc:
        raise BankError(f"cannot check the generated bank's keys against {spec.units[0]} ({exc})") from None
    return keys, f"the {len(keys)} samples of the first shard {spec.units[0]}"


def attach_generated(spec: DataSpec, gen_dir: str | Path) -> tuple[DataSpec, str]:
    """``spec`` streaming generated views from ``gen_dir``, and a line on how many samples have them.

    Keys no generated view matches are refused outright (the bank was made from other data); when
    only some match, the line gives the count, and the trainer counts the samples without views.
    """
    bank = GeneratedBank(gen_dir)
    keys, which = spec_keys(spec)
    matched = sum(k in bank for k in keys)
    if matched == 0:
        example = next(iter(bank.index), "")
        raise BankError(f"{gen_dir}: none of {which} has generated views (training keys look like "
                        f"{keys[0] if keys else '-'!r}, the bank's like {example!r}); was it generated from this data?")
    line = (f"generated views: {bank.views_per_image} per sample from {gen_dir}; {matched} of {which} have them"
            + (f", {len(keys) - matched} do not (they use the real image; counted as without_generated)"
               if matched < len(keys) else ""))
    return replace(spec, generated=bank), line


class StreamDataset(IterableDataset):
    """The per-reader sample stream described in the module docstring."""

    def __init__(self, spec: DataSpec, seed: int = 0, shuffle_buffer: int = 256) -> None:
        self.spec, self.seed, self.shuffle_buffer = spec, seed, shuffle_buffer
        self.epoch = 0
        self.worker_shift = 0
        self.skip_samples_per_reader: list[int] = []

    def set_position(self, epoch: int, start_batch: int, batch_size: int, num_workers: int) -> None:
        """Start epoch ``epoch`` after ``start_batch`` batches already consumed on this rank.

        DataLoader takes batches from its workers round-robin starting at worker 0, so logical
        reader l produced ceil((start_batch - l) / W) of them, and the next batch is due from
        reader ``start_batch % W``: worker w of the new loader plays reader (w + start_batch) % W.
        """
        self.epoch = epoch
        w = max(num_workers, 1)
        self.worker_shift = start_batch % w
        self.skip_samples_per_reader = [max(0, -(-(start_batch - i) // w)) * batch_size for i in range(w)]

    def _reader(self) -> tuple[int, int, int]:
        """(global reader index, number of readers, logical worker id) of the calling worker."""
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        logical = (wid + self.worker_shift) % nw
        return rank() * nw + logical, world_size() * nw, logical

    def __iter__(self) -> Iterator[dict]:
        index, total, logical = self._reader()
        skip = self.skip_samples_per_reader[logical] if self.skip_samples_per_reader else 0
        stream = self._stream(index, total)
        for _ in range(skip):
            next(stream)
        self._errors = 0  # errors met while skipping were counted by the run that consumed them
        yield from stream

    def _stream(self, index: int, total: int) -> Iterator[dict]:
        self._errors = 0
        for pass_no in range(1 << 62):
            rng = random.Random(f"{self.seed}/{self.epoch}/{pass_no}")
            order = list(self.spec.units)
            rng.shuffle(order)
            if len(order) >= total:
                mine, stride, offset = order[index::total], 1, 0
                self._count_errors = pass_no == 0
            else:
                mine, stride, offset = order, total, index
                # all readers share the units: only reader 0 counts their errors
                self._count_errors = pass_no == 0 and offset == 0
            buf_rng = random.Random(f"{self.seed}/{self.epoch}/{pass_no}/{index}")
            got = 0
            for sample in self._shuffled(self._samples(mine, stride, offset), buf_rng):
                got += 1
                sample["errors"], self._errors = self._errors, 0
                yield sample
            if got == 0:
                raise RuntimeError(f"reader {index}: no readable samples in {len(mine)} unit(s) of {self.spec.kind}")

    def _samples(self, units: list[Any], stride: int, offset: int) -> Iterator[dict]:
        n = 0
        for unit in units:
            for item in _unit_samples(self.spec, unit):
                if isinstance(item, Exception):
                    self._errors += self._count_errors
                    continue
                if n % stride == offset:
                    if self.spec.generated is not None:
                        self._attach_view(item)
                    yield item
                n += 1

    def _attach_view(self, item: dict) -> None:
        """One generated view of the item's own key (drawn per seed, epoch and key), or gen_view -1."""
        bank, key = self.spec.generated, item["key"]
        item["gen_view"], item["gen_image"] = -1, torch.zeros_like(item["image"])
        if key not in bank:
            return
        view = random.Random(f"{self.seed}/{self.epoch}/{key}").randrange(bank.views_per_image)
        try:
            image = bank.read_view(key, view)
        except BankError:
            self._errors += 1  # a corrupt generated sample: counted, the real image stands in
            return
        if image.shape != item["image"].shape:
            image = pil_to_uint8(resize_center_crop(to_pil_image(image), item["image"].shape[-1]))
        item["gen_view"], item["gen_image"] = view, image

    def _shuffled(self, items: Iterator[dict], rng: random.Random) -> Iterator[dict]:
        buf: list[dict] = []
        for item in items:
            buf.append(item)
            if len(buf) >= self.shuffle_buffer:
                yield buf.pop(rng.randrange(len(buf)))
        while buf:
            yield buf.pop(rng.randrange(len(buf)))


def make_loader(
    dataset: StreamDataset, batch_size: int, workers: int, pin_memory: bool = False
) -> DataLoader:
    """A DataLoader of fixed-size batches (dicts of stacked tensors) over the stream."""
    return DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, drop_last=True, pin_memory=pin_memory,
        persistent_workers=False, prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=ignore_stop_signals if workers > 0 else None,
    )
