"""``sassl bank inspect`` and ``sassl bank verify``: what a bank holds, and whether its bytes are intact.

Inspect reads only ``bank.json`` and the manifests. Verify re-hashes every finished tar and every
sample's byte range against its manifest, so silent corruption (bad disk, partial copy) is found
before a training run trips on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from sassl.bank.format import GENERATED_KIND, MANIFEST_SUFFIX, BankError, read_bank_json
from sassl.bank.manifest import completed_tar, read_meta, read_rows
from sassl.bank.reader import open_bank


@dataclass
class Inspection:
    lines: list[str]
    errors: list[tuple[str, str, str]]  # (shard, original key, reason)


def inspect_bank(bank_dir: str | Path, max_errors: int = 20) -> Inspection:
    """Counts, bytes per sample, settings and the recorded skipped items of a bank."""
    info = open_bank(bank_dir)
    record = read_bank_json(bank_dir)
    size = sum(Path(s).stat().st_size for s in info.shards)
    unfinished = sorted(p.name for p in Path(bank_dir).glob("*.tar") if str(p) not in set(info.shards))
    errors = []
    for shard in info.shards:
        rows = read_rows(Path(shard).with_name(Path(shard).name.removesuffix(".tar") + MANIFEST_SUFFIX))
        for orig, reason in zip(rows.column("orig_key").to_pylist(), rows.column("error").to_pylist()):
            if reason is not None:
                errors.append((Path(shard).name, orig, reason))
    lines = [f"bank: {info.root} (format v{info.version}, {info.kind})"]
    if info.kind == GENERATED_KIND:
        settings = ", ".join(f"{k} {v!r}" for k, v in sorted(record["generator_settings"].items()))
        lines += [
            f"generator: {info.stylizer} {info.stylizer_fingerprint} ({info.stylizer_source}); {settings}",
            f"image size: {info.image_size}, {info.views_per_image} views per sample (gen0.jpg..gen"
            f"{info.views_per_image - 1}.jpg), JPEG quality {record.get('jpeg_quality')}, seed {record.get('seed')}",
        ]
    else:
        lines += [
            f"stylizer: {info.stylizer} {info.stylizer_fingerprint} ({info.stylizer_source}), "
            f"style code {tuple(info.code_shape)}",
            f"image size: {info.image_size}"
            + (f", JPEG quality {record.get('jpeg_quality')}" if info.kind == "content" else "")
            + (f", content {record.get('content_layer')} {tuple(info.content_shape)}, codec {info.codec}"
               if info.content_shape is not None else ", no stored content input"),
        ]
    lines += [
        f"finished shards: {len(info.shards)}" + (f" (unfinished, ignored by readers: {', '.join(unfinished)})" if unfinished else ""),
        f"samples: {info.num_samples}; skipped inputs: {info.num_errors}",
        f"bytes: {size / 1e6:.2f} MB; {size / max(info.num_samples, 1) / 1e3:.1f} KB/sample",
    ]
    lines += [f"  skipped: {reason}" for shard, orig, reason in errors[:max_errors]]
    if len(errors) > max_errors:
        lines.append(f"  ... and {len(errors) - max_errors} more skipped inputs")
    return Inspection(lines, errors)


@dataclass
class Verification:
    shards: int = 0
    samples: int = 0
    problems: list[str] = field(default_factory=list)
    # shard name (the tar's name without ``.tar``) -> the input it was made from, as its manifest
    # records it (None when the manifest itself is unreadable): what ``--repair`` rebuilds
    failed: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bank(bank_dir: str | Path) -> Verification:
    """Check every manifest's tar: size, whole-file sha256 and each sample's range sha256."""
    root = Path(bank_dir)
    read_bank_json(root)  # a directory that is not a bank is refused, not "verified"
    result = Verification()
    for manifest in sorted(root.glob(f"*{MANIFEST_SUFFIX}")):
        result.shards += 1
        name = manifest.name.removesuffix(MANIFEST_SUFFIX)
        try:
            meta, rows = read_meta(manifest), read_rows(manifest)
        except BankError as exc:
            result.problems.append(str(exc))
            result.failed[name] = None
            continue
        tar = manifest.with_name(meta.tar_name)
        if completed_tar(manifest) is None:
            have = tar.stat().st_size if tar.is_file() else "missing"
            problems = [f"{tar}: size {have}, manifest records {meta.tar_bytes} bytes"]
        else:
            problems = _check_tar(tar, meta.tar_sha256, rows.to_pylist())
            result.samples += meta.num_samples
        if problems:
            result.problems += problems
            result.failed[name] = meta.source
    return result


def _check_tar(tar: Path, sha256: str, rows: list[dict]) -> list[str]:
    problems = []
    whole = hashlib.sha256()
    with open(tar, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            whole.update(chunk)
        for row in rows:
            if row["error"] is not None:
                continue
            f.seek(row["offset"])
            if hashlib.sha256(f.read(row["size"])).hexdigest() != row["sha256"]:
                problems.append(f"{tar}: sample {row['key']} (bytes {row['offset']}+{row['size']}) fails its checksum")
    if whole.hexdigest() != sha256 and not problems:
        problems.append(f"{tar}: file checksum differs from the manifest (corruption outside sample data)")
    return problems
