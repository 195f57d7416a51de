"""Per-shard manifests: the parquet index of a bank tar, written last as its "done" marker.

One row per input item. Stored samples have ``key`` (the dot-free key in the tar), ``orig_key`` (the
input key), ``label``, ``offset`` and ``size`` (the byte range of the sample's members in the tar)
and ``sha256`` of that range. Skipped items have ``key``/``offset``/``size``/``sha256`` null and an
``error`` reason. Shard-level facts (tar size and hash, counts, source) sit in the schema metadata,
so that listing a bank reads only parquet footers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sassl.atomic import atomic_open
from sassl.bank.format import FORMAT_VERSION, READABLE_VERSIONS, BankError

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("orig_key", pa.string()),
        ("label", pa.int64()),
        ("offset", pa.int64()),
        ("size", pa.int64()),
        ("sha256", pa.string()),
        ("error", pa.string()),
    ]
)
_META_KEY = b"sassl"


@dataclass(frozen=True)
class ShardMeta:
    """The shard-level record in a manifest's schema metadata."""

    tar_name: str
    tar_bytes: int
    tar_sha256: str
    num_samples: int
    num_errors: int
    source: str
    version: int = FORMAT_VERSION


def write_manifest(path: Path, rows: list[dict], meta: ShardMeta) -> None:
    """Write the manifest atomically (temp + fsync + rename): it appears complete or not at all."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta.__dict__).encode()})
    with atomic_open(path, "wb") as f:
        pq.write_table(table, f)


def read_meta(path: Path) -> ShardMeta:
    """Read only the footer; raises :class:`BankError` naming the file if it is not a valid manifest."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(_META_KEY)
        return ShardMeta(**json.loads(raw))
    except Exception as exc:
        raise BankError(f"{path}: not a valid bank manifest ({type(exc).__name__}: {exc})") from None


def read_rows(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise BankError(f"{path}: not a valid bank manifest ({type(exc).__name__}: {exc})") from None
    if not table.schema.remove_metadata().equals(SCHEMA):
        raise BankError(f"{path}: manifest columns {table.schema.names} differ from the format's")
    return table


def completed_tar(manifest: Path) -> tuple[Path, ShardMeta] | None:
    """The tar a manifest marks as done, if the manifest is valid and the tar has the recorded size.

    This is the cheap check used to list shards and to skip work on rerun; ``sassl bank verify``
    checks the hashes.
    """
    try:
        meta = read_meta(manifest)
    except BankError:
        return None
    tar = manifest.with_name(meta.tar_name)
    if meta.version not in READABLE_VERSIONS or not tar.is_file() or tar.stat().st_size != meta.tar_bytes:
        return None
    return tar, meta
