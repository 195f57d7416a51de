"""Reading banks: the listing of finished shards, per-shard sample streams, and style stats.

Reading is driven by the shard's manifest: each stored sample's byte range is read, checked against
the manifest's SHA-256 and only then parsed, so a flipped byte is caught where the data is used (not
only by ``sassl bank verify``) and costs that one sample, not the rest of the shard. SHA-256 stays
the checksum because it is also the fastest one in the standard library on CPUs with SHA extensions
(about 1.8 GB/s here, ~0.09 ms per 163 KB sample, against milliseconds to decode it; blake2b 1.0 GB/s);
``bench/reader.py`` measures the cost in the loader.

Only the member types the format defines are decoded (JPEG through PIL, ``.npy`` with
``allow_pickle=False``, zstd bytes, ASCII labels); webdataset's default decoders, which unpickle
``.pth``/``.pyd`` members, are never involved. A shard is listed only when its manifest exists and
the tar has the size the manifest records, so a bank being written (or left by a killed job) shows
only finished shards.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch
from PIL import Image

from sassl.bank.codecs import Codec, CodecError, decode_features, load_npy
from sassl.bank.format import (
    GENERATED_KIND,
    IMAGE_FIELD,
    LABEL_FIELD,
    MANIFEST_SUFFIX,
    STYLE_FIELD,
    BankError,
    GeneratedSettings,
    generated_field,
    read_bank_json,
    manifest_path,
    settings_from_json,
)
from sassl.bank.manifest import completed_tar, read_rows

if TYPE_CHECKING:
    from sassl.style.stylizer import Stylizer

__all__ = ["BankError", "BankInfo", "check_stylizer", "iter_bank_items", "iter_bank_shard", "load_style_bank", "open_bank",
           "sample_fields"]


@dataclass(frozen=True)
class BankInfo:
    """What a trainer needs to know about a bank; ``shards`` are the finished tars, sorted.

    For a generated bank ``stylizer``/``stylizer_fingerprint``/``stylizer_source`` identify the
    generator that made it (so :func:`check_stylizer` refuses it), ``code_shape`` is ``()`` and
    ``views_per_image`` is K (0 for other kinds).
    """

    root: Path
    version: int
    kind: str
    stylizer: str
    stylizer_fingerprint: str
    stylizer_source: str
    code_shape: tuple[int, ...]
    image_size: int
    content_shape: tuple[int, int, int] | None  # stored content input per sample, None if none
    codec: str | None
    shards: list[str]
    num_samples: int
    num_errors: int
    views_per_image: int = 0


def open_bank(bank_dir: str | Path) -> BankInfo:
    """Read ``bank.json`` and list the finished shards; raises :class:`BankError` with a clear line."""
    root = Path(bank_dir)
    if not root.is_dir():
        raise BankError(f"{root}: bank directory not found")
    record = read_bank_json(root)
    settings = settings_from_json(record, str(root / "bank.json"))
    shards, samples, errors = [], 0, 0
    for manifest in sorted(root.glob(f"*{MANIFEST_SUFFIX}")):
        done = completed_tar(manifest)
        if done is not None:
            shards.append(str(done[0]))
            samples += done[1].num_samples
            errors += done[1].num_errors
    generated = isinstance(settings, GeneratedSettings)
    return BankInfo(
        root=root,
        version=settings.version,
        kind=settings.kind,
        stylizer=settings.generator if generated else settings.stylizer,
        stylizer_fingerprint=settings.generator_fingerprint if generated else settings.stylizer_fingerprint,
        stylizer_source=str(record.get("generator_source" if generated else "stylizer_source",
                                       record.get("encoder_source", ""))),
        code_shape=() if generated else settings.code_shape,
        image_size=settings.image_size,
        content_shape=settings.content_shape if settings.kind == "content" else None,
        codec=None if generated else settings.codec,
        shards=shards,
        num_samples=samples,
        num_errors=errors,
        views_per_image=settings.views_per_image if generated else 0,
    )


def check_stylizer(info: BankInfo, stylizer: "Stylizer") -> None:
    """Refuse a bank whose stored values were made by another stylizer or other weights.

    Codes and content features are only meaningful to the networks that made them (AdaIN features to a
    decoder trained for that VGG; Ghiasi codes to the transformer of the same release).
    """
    if (info.stylizer, info.stylizer_fingerprint) != (stylizer.name, stylizer.fingerprint):
        raise BankError(
            f"{info.root}: bank made by stylizer {info.stylizer} {info.stylizer_fingerprint} "
            f"({info.stylizer_source}), but this run uses {stylizer.name} {stylizer.fingerprint} "
            f"({stylizer.source}); recompute the bank with this run's stylizer options or pass the ones it was made with"
        )


def _allowed_fields(info: BankInfo) -> set[str]:
    if info.kind == GENERATED_KIND:
        return {LABEL_FIELD, *(generated_field(k) for k in range(info.views_per_image))}
    allowed = {STYLE_FIELD, LABEL_FIELD}
    if info.kind == "content":
        allowed.add(IMAGE_FIELD)
    if info.codec is not None:
        allowed |= set(Codec(info.codec).fields)
    return allowed


def _samplesample_fields(path: str, verify: bool) -> Iterator[tuple[str, dict[str, bytes]] | BankError]:
    """(key, {field: bytes}) per stored sample in manifest order, or a :class:`BankError` for a
    sample whose bytes are missing, fail their checksum (``verify``) or do not parse as its members.

    Keys contain no dots, so a member's field is everything after the first dot.
    """
    rows = read_rows(manifest_path(path))
    stored = [r for r in rows.select(["key", "offset", "size", "sha256"]).to_pylist() if r["key"] is not None]
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise BankError(f"{path}: cannot open bank shard ({exc.strerror or exc})") from None
    with f:
        for row in stored:
            name = f"{path}:{row['key']}"
            f.seek(row["offset"])
            blob = f.read(row["size"])
            if len(blob) != row["size"]:
                yield BankError(f"{name}: shard ends inside the sample ({len(blob)} of {row['size']} bytes)")
            elif verify and hashlib.sha256(blob).hexdigest() != row["sha256"]:
                yield BankError(f"{name}: bytes {row['offset']}+{row['size']} fail their checksum "
                                "(corrupt shard; `sassl bank verify --repair BANK` rebuilds it)")
            else:
                try:
                    yield row["key"], sample_fields(blob, row["key"], name)
                except BankError as exc:
                    yield exc


def sample_fields(blob: bytes, key: str, name: str) -> dict[str, bytes]:
    """{field: bytes} of one sample's stored byte range (its tar members); :class:`BankError` when a
    member is not a field of ``key`` or the bytes do not parse."""
    fields: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
            for member in tar:
                k, dot, field = member.name.partition(".")
                if not member.isfile() or k != key or not dot:
                    raise BankError(f"{name}: member {member.name!r} is not a field of sample {key}")
                fields[field] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError) as exc:
        raise BankError(f"{name}: corrupt sample members ({exc})") from None
    return fields


def iter_bank_items(path: str | Path, info: BankInfo, verify: bool = True) -> Iterator[dict | BankError]:
    """Decode the samples of one bank shard in order; a bad sample comes out as a :class:`BankError`
    (to be skipped and counted by the caller) and reading goes on with the next one.

    Every sample has ``key`` and ``label`` (-1 if none). Generated banks add ``views`` (uint8
    (K, 3, S, S)); the others add ``code`` (float32 ``code_shape``), and content banks ``image``
    (uint8 (3, S, S)) and, when the stylizer stores one, ``content`` (float32 ``content_shape``).
    A shard whose manifest is unreadable raises :class:`BankError`.
    ``verify=False`` skips only the checksum (for ``bench/reader.py``).
    """
    path = str(path)
    allowed = _allowed_fields(info)
    codec = Codec(info.codec) if info.codec is not None else None
    for item in _samplesample_fields(path, verify):
        if isinstance(item, BankError):
            yield item
            continue
        key, fields = item
        name = f"{path}:{key}"
        unknown = sorted(set(fields) - allowed)
        if unknown:
            yield BankError(f"{name}: member type(s) {', '.join(unknown)} not defined for a {info.kind} bank")
            continue
        try:
            if info.kind == GENERATED_KIND:
                yield {"key": key, "views": generated_views(fields, name, info), "label": _label(fields, name)}
                continue
            sample = {"key": key, "code": _code(fields, name, info.code_shape), "label": _label(fields, name)}
            if info.kind == "content":
                sample["image"] = _image(fields, name, info.image_size)
            if codec is not None:
                sample["content"] = torch.from_numpy(decode_features(fields, codec, info.content_shape, name))
        except CodecError as exc:
            yield BankError(str(exc))
            continue
        yield sample


def iter_bank_shard(path: str | Path, info: BankInfo, verify: bool = True) -> Iterator[dict]:
    """:func:`iter_bank_items` for callers that want all or nothing: the first bad sample raises."""
    for item in iter_bank_items(path, info, verify):
        if isinstance(item, BankError):
            raise item
        yield item


def _code(fields: dict[str, bytes], name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if STYLE_FIELD not in fields:
        raise CodecError(f"{name}: missing member {STYLE_FIELD}")
    code = load_npy(fields[STYLE_FIELD], f"{name}.{STYLE_FIELD}")
    if code.dtype != np.float32 or tuple(code.shape) != tuple(shape):
        raise CodecError(f"{name}: style code is {code.dtype} {code.shape}, expected float32 {tuple(shape)}")
    return torch.from_numpy(code.copy())


def _label(fields: dict[str, bytes], name: str) -> int:
    if LABEL_FIELD not in fields:
        return -1
    try:
        return int(fields[LABEL_FIELD].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise CodecError(f"{name}: label member is not an integer") from None


def generated_views(fields: dict[str, bytes], name: str, info: BankInfo, views: range | None = None) -> torch.Tensor:
    """The generated views ``views`` (default all K) of one sample of a generated bank: uint8 (n, 3, S, S)."""
    views = range(info.views_per_image) if views is None else views
    return torch.stack([_image(fields, name, info.image_size, generated_field(k)) for k in views])


def _image(fields: dict[str, bytes], name: str, size: int, field: str = IMAGE_FIELD) -> torch.Tensor:
    if field not in fields:
        raise CodecError(f"{name}: missing member {field}")
    try:
        with Image.open(io.BytesIO(fields[field])) as img:
            if img.format != "JPEG":
                raise ValueError(f"format {img.format}, expected JPEG")
            arr = np.array(img.convert("RGB"))
    except Exception as exc:
        raise CodecError(f"{name}: corrupt image {field} ({exc})") from None
    if arr.shape != (size, size, 3):
        raise CodecError(f"{name}: image {field} is {arr.shape[1]}x{arr.shape[0]}, expected {size}x{size}")
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def load_style_bank(bank_dir: str | Path) -> tuple[BankInfo, torch.Tensor]:
    """A bank's description and all its style codes (a style bank, or the codes of a content bank):
    (N, *code_shape) float32.

    Samples that fail their checksum or do not decode are skipped; one warning gives their count.
    """
    info = open_bank(bank_dir)
    if not info.shards:
        raise BankError(f"{info.root}: no finished shards (is `sassl precompute` still running?)")
    codes, bad = [], []
    for shard in info.shards:
        for item in _samplesample_fields(shard, verify=True):
            try:
                if isinstance(item, BankError):
                    raise item
                code = _code(item[1], f"{shard}:{item[0]}", info.code_shape)
            except (BankError, CodecError) as exc:
                bad.append(str(exc))
                continue
            codes.append(code)
    if bad:
        warnings.warn(f"{info.root}: skipped {len(bad)} corrupt style sample(s), e.g. {bad[0]}", stacklevel=2)
    if not codes:
        raise BankError(f"{info.root}: no readable style codes")
    return info, torch.stack(codes)

