"""The bank format's fixed points: version, file names, member fields, settings and keys.

A bank directory holds ``bank.json`` (settings + totals), and per finished input shard
``NAME.tar`` plus ``NAME.manifest.parquet``. The manifest is written last and is the "done"
marker: readers list only shards that have one. Temp files start with ``.`` and end in ``.tmp``.
The current version is documented in ``docs/bank-format.md``; bump :data:`FORMAT_VERSION` on any change.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

FORMAT_VERSION = 3
# Version 2 only added codecs (int6/int5/int4+zstd) and version 3 only the "generated" kind, so every
# older bank is a valid version-3 bank and stays readable. Writing always uses FORMAT_VERSION: resuming
# an older bank is refused as a settings difference, so one bank never mixes versions.
READABLE_VERSIONS = (1, 2, 3)
BANK_JSON = "bank.json"
MANIFEST_SUFFIX = ".manifest.parquet"
KINDS = ("content", "style", "generated")
FEATURE_LAYER = "relu4_1"
FEATURE_CHANNELS = 512
FEATURE_STRIDE = 8
DEFAULT_IMAGE_SIZE = 224
DEFAULT_JPEG_QUALITY = 95

# Member fields (the part of a member name after ``key.``) each kind may contain. Nothing else is
# read, and nothing here unpickles: .npy is loaded with allow_pickle=False, the rest is bytes.
STYLE_FIELD = "style.npy"  # (2, C) float32: [mean; std] of relu4_1
LABEL_FIELD = "cls"  # ASCII integer, absent when the input had no label
IMAGE_FIELD = "jpg"  # canonical S x S RGB image the features were computed on
GENERATED_KIND = "generated"


def generated_field(view: int) -> str:
    """Member field of generated view ``view`` (0-based) of a sample in a generated bank: ``gen0.jpg``..."""
    return f"gen{view}.jpg"
_KEY_UNSAFE = re.compile(r"[^\w\-/]")


class BankError(ValueError):
    """A bank that cannot be used as asked: missing, corrupt, other settings or another encoder."""


@dataclass(frozen=True)
class BankSettings:
    """Everything that determines a bank's bytes; a rerun into the same directory must match it."""

    kind: str
    encoder_fingerprint: str
    image_size: int
    codec: str | None  # None for style banks (no features stored)
    jpeg_quality: int | None  # None for style banks (no image stored)
    shard_size: int | None = None  # images per virtual shard for image-folder inputs
    feature_layer: str = FEATURE_LAYER
    version: int = FORMAT_VERSION

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        side = -(-self.image_size // FEATURE_STRIDE)  # ceil, as the encoder's ceil-mode pooling
        return (FEATURE_CHANNELS, side, side)

    def differences(self, other: "BankSettings") -> list[str]:
        return field_differences(self, other)


def field_differences(a: object, b: object) -> list[str]:
    """``name: a != b`` for every dataclass field where two settings objects of one class differ."""
    return [f"{f.name}: {getattr(a, f.name)!r} != {getattr(b, f.name)!r}"
            for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)]


@dataclass(frozen=True)
class GeneratedSettings:
    """Settings of a generated bank (``sassl generate``): K generated views per source sample.

    ``generator_settings`` holds what, besides the weights, determines the images (steps, guidance,
    scheduler, ...); ``generator_fingerprint`` hashes the weights files.
    """

    generator: str
    generator_fingerprint: str
    generator_settings: dict
    views_per_image: int
    seed: int
    image_size: int
    jpeg_quality: int
    shard_size: int | None = None
    kind: str = GENERATED_KIND
    version: int = FORMAT_VERSION

    def differences(self, other: "GeneratedSettings") -> list[str]:
        return field_differences(self, other)


def settings_from_json(record: dict, where: str) -> BankSettings | GeneratedSettings:
    cls = GeneratedSettings if record.get("kind") == GENERATED_KIND else BankSettings
    try:
        return cls(**{f.name: record[f.name] for f in fields(cls)})
    except (KeyError, TypeError) as exc:
        raise BankError(f"{where}: not a sassl bank description (missing {exc})") from None


def read_bank_json(bank_dir: str | Path) -> dict:
    path = Path(bank_dir) / BANK_JSON
    if not path.is_file():
        raise BankError(f"{path}: not found; {bank_dir} is not a sassl bank (run `sassl precompute` first)")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BankError(f"{path}: unreadable bank description ({exc})") from None
    if not isinstance(record, dict):
        raise BankError(f"{path}: unreadable bank description (not a JSON object)")
    if record.get("version") not in READABLE_VERSIONS:
        raise BankError(
            f"{path}: bank format version {record.get('version')!r}; this sassl reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    return record


def bank_record(settings: BankSettings | GeneratedSettings, source: str, totals: dict | None = None) -> dict:
    """The ``bank.json`` object: settings, the derived feature shape, the weights source and totals."""
    record = asdict(settings)
    if isinstance(settings, GeneratedSettings):
        record["generator_source"] = source
    else:
        record["feature_shape"] = list(settings.feature_shape) if settings.kind == "content" else None
        record["encoder_source"] = source
    record["totals"] = totals
    return record


def write_bank_json(bank_dir: str | Path, record: dict) -> None:
    """Write ``bank.json`` atomically."""
    from sassl.atomic import atomic_open

    with atomic_open(Path(bank_dir) / BANK_JSON, "w") as f:
        f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")


def manifest_path(tar_path: str | Path) -> Path:
    tar_path = Path(tar_path)
    return tar_path.with_name(tar_path.name.removesuffix(".tar") + MANIFEST_SUFFIX)


def shard_name(url: str) -> str:
    """Output base name for an input shard URL: its last path component without tar/compression suffixes."""
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    for suffix in (".gz", ".tgz", ".tar"):
        name = name.removesuffix(suffix)
    return name


def sanitise_key(key: str) -> str:
    """Deterministic dot-free key: ``.`` and other unsafe characters become ``_`` (``/`` is kept)."""
    safe = _KEY_UNSAFE.sub("_", key).strip("/")
    return safe or "_"


class KeyAllocator:
    """Sanitised keys, made unique within a shard by a ``_N`` suffix in input order."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, key: str) -> str:
        base = candidate = sanitise_key(key)
        n = 0
        while candidate in self._used:
            n += 1
            candidate = f"{base}_{n}"
        self._used.add(candidate)
        return candidate
