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

from sassl.choices import DEFAULT_IMAGE_SIZE, DEFAULT_JPEG_QUALITY  # noqa: F401  (re-exported)

FORMAT_VERSION = 3
# Version 3 records the stylizer that made a bank (name, fingerprint, code shape, content member)
# and adds the "generated" kind (``sassl generate``); versions 1 and 2 were AdaIN-only and are read as
# AdaIN banks (2 only added codecs to 1). Writing always uses FORMAT_VERSION: resuming an older bank is
# refused as a settings difference, so one bank never mixes versions.
READABLE_VERSIONS = (1, 2, 3)
BANK_JSON = "bank.json"
MANIFEST_SUFFIX = ".manifest.parquet"
KINDS = ("content", "style", "generated")
# What versions 1 and 2 stored: AdaIN's VGG-19 relu4_1 features (512 channels, stride 8) and stats.
_V2_LAYER, _V2_CHANNELS, _V2_STRIDE = "relu4_1", 512, 8

# Member fields (the part of a member name after ``key.``) each kind may contain. Nothing else is
# read, and nothing here unpickles: .npy is loaded with allow_pickle=False, the rest is bytes.
STYLE_FIELD = "style.npy"  # float32 array of the stylizer's code_shape: the style code
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
    """Everything that determines a bank's bytes; a rerun into the same directory must match it.

    ``content_shape`` is the shape of the stored content input per sample (AdaIN: relu4_1 features
    (512, S/8, S/8)), None when the bank stores none (style banks; Ghiasi, whose content is the JPEG).
    """

    kind: str
    stylizer: str
    stylizer_fingerprint: str
    code_shape: tuple[int, ...]
    image_size: int
    codec: str | None  # feature codec; None when no content input is stored
    jpeg_quality: int | None  # None for style banks (no image stored)
    content_layer: str | None = None  # e.g. "relu4_1"; None when no content input is stored
    content_shape: tuple[int, int, int] | None = None
    shard_size: int | None = None  # images per virtual shard for image-folder inputs
    version: int = FORMAT_VERSION

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
    """Settings from a ``bank.json`` object; versions 1-2 (AdaIN-only) are mapped to their v3 meaning."""
    if record.get("kind") == GENERATED_KIND:
        try:
            return GeneratedSettings(**{f.name: record[f.name] for f in fields(GeneratedSettings)})
        except (KeyError, TypeError) as exc:
            raise BankError(f"{where}: not a sassl bank description (missing or bad {exc})") from None
    if record.get("version") in (1, 2) and "encoder_fingerprint" in record:
        side = -(-int(record.get("image_size", 0)) // _V2_STRIDE)
        content = record.get("kind") == "content"
        record = {**record, "stylizer": "adain", "stylizer_fingerprint": record["encoder_fingerprint"],
                  "code_shape": [2, _V2_CHANNELS], "content_layer": _V2_LAYER if content else None,
                  "content_shape": [_V2_CHANNELS, side, side] if content else None}
    try:
        values = {f.name: record[f.name] for f in fields(BankSettings)}
        for name in ("code_shape", "content_shape"):
            values[name] = None if values[name] is None else tuple(int(v) for v in values[name])
        return BankSettings(**values)
    except (KeyError, TypeError, ValueError) as exc:
        raise BankError(f"{where}: not a sassl bank description (missing or bad {exc})") from None


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
    """The ``bank.json`` object: settings, where the stylizer's or generator's weights came from, and totals."""
    record = asdict(settings)
    record["generator_source" if isinstance(settings, GeneratedSettings) else "stylizer_source"] = source
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
