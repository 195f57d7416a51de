"""Writing one bank shard: a deterministic tar plus its manifest, both atomic.

Each sample's members are serialised as tar blocks here (header from ``TarInfo.tobuf``, data,
zero padding) rather than through ``tarfile``'s writer, so the writer knows every sample's byte
range and hashes it on the way out without reading anything back. Headers use ``mtime=0``, mode
0444 and owner ``bigdata`` (webdataset's ``TarWriter(mtime=0)`` conventions), so identical inputs
give identical bytes. The tar goes to a hidden temp name, is fsynced and renamed; only then is the
manifest written (also atomically), which marks the shard done.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Mapping

from sassl.atomic import atomic_open
from sassl.bank.format import LABEL_FIELD, KeyAllocator, manifest_path
from sassl.bank.manifest import ShardMeta, write_manifest

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


def member_bytes(name: str, data: bytes) -> bytes:
    """One tar member (header + data + padding), deterministic."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o444
    info.uname = info.gname = "bigdata"
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return header + data + b"\0" * (-len(data) % _BLOCK)


def sample_bytes(key: str, fields: Mapping[str, bytes]) -> bytes:
    """All members of one sample, in sorted field order (as webdataset's TarWriter)."""
    return b"".join(member_bytes(f"{key}.{field}", fields[field]) for field in sorted(fields))


class ShardWriter:
    """Writes one bank shard; use as a context manager. On an exception nothing becomes visible."""

    def __init__(self, tar_path: str | Path, source: str) -> None:
        self.tar_path = Path(tar_path)
        self.source = source
        self.rows: list[dict] = []
        self._keys = KeyAllocator()
        self._offset = 0
        self._hash = hashlib.sha256()
        self._ctx = atomic_open(self.tar_path, "wb")
        self._file = None

    def __enter__(self) -> "ShardWriter":
        self._file = self._ctx.__enter__()
        return self

    def add(self, orig_key: str, label: int | None, fields: Mapping[str, bytes]) -> str:
        """Append a sample; returns its dot-free key. ``label`` is stored as ``.cls`` when known."""
        key = self._keys(orig_key)
        fields = dict(fields)
        if label is not None:
            fields[LABEL_FIELD] = str(int(label)).encode()
        blob = sample_bytes(key, fields)
        self._write(blob)
        self.rows.append(
            dict(key=key, orig_key=orig_key, label=label, offset=self._offset - len(blob), size=len(blob),
                 sha256=hashlib.sha256(blob).hexdigest(), error=None)
        )
        return key

    def add_error(self, orig_key: str, label: int | None, reason: str) -> None:
        """Record an input item that was skipped (corrupt image, ...) with its reason."""
        self.rows.append(dict(key=None, orig_key=orig_key, label=label, offset=None, size=None, sha256=None, error=reason))

    def _write(self, blob: bytes) -> None:
        self._file.write(blob)
        self._hash.update(blob)
        self._offset += len(blob)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            return self._ctx.__exit__(exc_type, exc, tb)
        end = b"\0" * (2 * _BLOCK)
        end += b"\0" * (-(self._offset + len(end)) % _RECORD)
        self._write(end)
        self._ctx.__exit__(None, None, None)  # fsync + rename: the tar is in place
        ok = sum(r["error"] is None for r in self.rows)
        meta = ShardMeta(
            tar_name=self.tar_path.name, tar_bytes=self._offset, tar_sha256=self._hash.hexdigest(),
            num_samples=ok, num_errors=len(self.rows) - ok, source=self.source,
        )
        write_manifest(manifest_path(self.tar_path), self.rows, meta)  # last: the "done" marker
        self.meta = meta
        return False
