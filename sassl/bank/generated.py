"""Random access to a generated bank by source-sample key, for training with generated views.

The trainer streams the *real* data (a content bank, shards or a folder) and, per sample, needs one
of the K generated views of that very sample. Generated banks are written per input shard like
every bank, but the training stream may be cut differently (another bank, an image folder), so the
link is the sample key alone: the index maps every key of the bank's manifests to its byte range
(read from the parquet manifests, no tar is opened), and a view is read by one seek + read of that
range, checked against the manifest's SHA-256 before anything is decoded. A key found in two shards
is refused when the index is built: it could pair a real image with another image's views.

Memory: one dict entry per sample (about 150 bytes; ~200 MB for ImageNet-1k's 1.28M keys).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from sassl.bank.codecs import CodecError
from sassl.bank.format import GENERATED_KIND, BankError, manifest_path
from sassl.bank.manifest import read_rows
from sassl.bank.reader import generated_views, open_bank, sample_fields


class GeneratedBank:
    """Key -> generated views of a generated bank (``sassl generate``)."""

    def __init__(self, bank_dir: str | Path) -> None:
        info = open_bank(bank_dir)
        if info.kind != GENERATED_KIND:
            raise BankError(f"{info.root}: a {info.kind} bank, not a generated one (made by `sassl generate`)")
        if not info.shards:
            raise BankError(f"{info.root}: no finished shards (is `sassl generate` still running?)")
        self.info = info
        self.index: dict[str, tuple[int, int, int, str]] = {}
        for i, shard in enumerate(info.shards):
            rows = read_rows(manifest_path(shard))
            cols = [rows.column(c).to_pylist() for c in ("key", "offset", "size", "sha256")]
            for key, offset, size, sha in zip(*cols):
                if key is None:
                    continue
                if key in self.index:
                    other = info.shards[self.index[key][0]]
                    raise BankError(f"{info.root}: sample key {key!r} is in {Path(other).name} and {Path(shard).name}; "
                                    "generated views could not be tied to one source image")
                self.index[key] = (i, offset, size, sha)

    @property
    def views_per_image(self) -> int:
        return self.info.views_per_image

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def __len__(self) -> int:
        return len(self.index)

    def read_view(self, key: str, view: int) -> torch.Tensor:
        """View ``view`` of sample ``key``: uint8 (3, S, S); :class:`BankError` if its bytes are corrupt."""
        shard_no, offset, size, sha = self.index[key]
        shard = self.info.shards[shard_no]
        name = f"{shard}:{key}"
        try:
            with open(shard, "rb") as f:
                f.seek(offset)
                blob = f.read(size)
        except OSError as exc:
            raise BankError(f"{name}: unreadable ({exc})") from None
        if hashlib.sha256(blob).hexdigest() != sha:
            raise BankError(f"{name}: bytes {offset}+{size} fail their checksum "
                            "(corrupt shard; `sassl bank verify --repair BANK` rebuilds it)")
        try:
            return generated_views(sample_fields(blob, key, name), name, self.info, range(view, view + 1))[0]
        except CodecError as exc:
            raise BankError(f"{name}: corrupt generated sample ({exc})") from None
