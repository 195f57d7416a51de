"""Raw inputs: ImageNet-style WebDataset shards and image folders, read without decoding anything unsafe.

Shards are read member by member with :mod:`tarfile` over webdataset's ``gopen`` (so every URL scheme
webdataset supports works: local paths, ``pipe:``, ``http(s)``, ``s3`` via pipes). Members are grouped
by key, where the key is the member name minus its *last* extension, so keys that contain dots
(``n0144.10026.jpg``) stay whole instead of being split the way webdataset's default does. Only
image bytes and ``.cls`` labels are taken; nothing is unpickled.
"""

from __future__ import annotations

import glob
import io
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import braceexpand
import torch
from PIL import Image

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
LABEL_EXT = "cls"


class ShardError(RuntimeError):
    """A shard that cannot be opened or read to the end (corrupt or truncated tar, missing file)."""


class ImageError(ValueError):
    """An image that cannot be decoded (corrupt, truncated or not an image)."""


@dataclass(frozen=True)
class RawSample:
    """One input item: undecoded image bytes plus its label (``None`` when the input has none)."""

    key: str
    data: bytes
    ext: str
    label: int | None
    source: str

    def decode(self) -> Image.Image:
        """The RGB image; an :class:`ImageError` names it as ``source:key``."""
        return decode_image(self.data, f"{self.source}:{self.key}")


def expand_urls(spec: str | Sequence[str]) -> list[str]:
    """Expand a shard spec: brace patterns (``a-{000..009}.tar``), shell globs of local paths
    (``a-*.tar``, ``a-0[0-4]?.tar``; matches sorted), a whitespace/comma separated list, or a list.

    A glob that matches nothing is an error (a typo must not silently mean "no data").
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    urls: list[str] = []
    for item in items:
        for part in item.replace(",", " ").split() if "{" not in item else [item]:
            for url in braceexpand.braceexpand(part):
                urls.extend(_glob(url) if is_local(url) and any(c in url for c in "*?[") else [url])
    if not urls:
        raise ValueError(f"no shards in {spec!r} (give a brace pattern a-{{000..009}}.tar, a glob a-*.tar or a list)")
    return urls


def _glob(pattern: str) -> list[str]:
    matches = sorted(glob.glob(os.path.expanduser(pattern)))
    if not matches:
        raise ValueError(f"{pattern}: no files match this pattern")
    return matches


def check_image_source(spec: str, what: str = "images") -> None:
    """Refuse, before any work, an image source that is neither a folder nor shards that exist.

    Raises ``FileNotFoundError``/``ValueError`` naming ``what`` (e.g. the option) and the path.
    """
    if Path(spec).is_dir():
        list_image_folder(spec)
        return
    try:
        urls = expand_urls(spec)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    missing = [u for u in urls if is_local(u) and not os.path.isfile(u)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise FileNotFoundError(f"{what} {missing[0]}: neither an image folder nor a shard file{more}")


def is_local(url: str) -> bool:
    return "://" not in url and not url.startswith("pipe:")


def split_name(name: str) -> tuple[str, str]:
    """``dir/n0144.10026.JPEG`` -> (``dir/n0144.10026``, ``jpeg``)."""
    base, dot, ext = name.rpartition(".")
    return (base, ext.lower()) if dot and "/" not in ext else (name, "")


def iter_shard(url: str) -> Iterator[RawSample]:
    """Yield the samples of one shard in order; a sample without an image is dropped.

    Raises :class:`ShardError` naming the shard when it cannot be opened or read to the end.
    """
    import webdataset

    if is_local(url) and not os.path.isfile(url):
        raise ShardError(f"{url}: shard not found")
    try:
        stream = webdataset.gopen(url, "rb")
    except Exception as exc:
        raise ShardError(f"{url}: cannot open ({exc})") from None
    current: dict[str, bytes] = {}
    key = None
    try:
        with stream, tarfile.open(fileobj=stream, mode="r|*", tarinfo=_CheckedTarInfo) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                k, ext = split_name(member.name)
                f = tar.extractfile(member)
                data = f.read() if f is not None else b""
                if len(data) != member.size:
                    raise tarfile.ReadError(f"member {member.name} has {len(data)} of {member.size} bytes")
                if k != key:
                    if key is not None:
                        yield from _finish(key, current, url)
                    key, current = k, {}
                current[ext] = data
            if getattr(tar, "truncated", False):
                raise tarfile.ReadError("no end-of-archive marker")
            if key is not None:
                yield from _finish(key, current, url)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ShardError(f"{url}: corrupt or truncated tar ({exc})") from None


class _CheckedTarInfo(tarfile.TarInfo):
    """Notes when the archive stops without its end-of-archive blocks.

    ``tarfile`` treats a missing or partial header at the end as a normal end, so a shard cut at a
    member boundary would otherwise look complete.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError):
            tar.truncated = True  # type: ignore[attr-defined]
            raise


def _finish(key: str, fields: dict[str, bytes], url: str) -> Iterator[RawSample]:
    ext = next((e for e in IMAGE_EXTS if e in fields), None)
    if ext is None:
        return
    label = None
    if LABEL_EXT in fields:
        try:
            label = int(fields[LABEL_EXT].decode().strip())
        except ValueError:
            label = None
    yield RawSample(key, fields[ext], ext, label, url)


def list_image_folder(root: str | Path) -> tuple[list[tuple[Path, int | None]], list[str]]:
    """Image files under ``root`` (sorted) with labels, and the class names.

    With class sub-folders (``root/<class>/...``) labels are the sorted class indices; a flat folder
    of images (e.g. a style collection) has no labels.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, int | None]] = []
    if classes:
        for idx, name in enumerate(classes):
            files += [(p, idx) for p in sorted((root / name).rglob("*")) if _is_image(p)]
    else:
        files = [(p, None) for p in sorted(root.iterdir()) if _is_image(p)]
    if not files:
        raise FileNotFoundError(f"{root}: no images ({', '.join(IMAGE_EXTS)}) found")
    return files, classes


def iter_image_folder(root: str | Path, rng: random.Random | None = None) -> Iterator[RawSample]:
    """Yield the images of a folder as raw samples (sorted, or shuffled by ``rng``), read lazily.

    Keys are the relative paths without the extension.
    """
    root = Path(root)
    files, _ = list_image_folder(root)
    if rng is not None:
        rng.shuffle(files)
    for path, label in files:
        key, ext = split_name(path.relative_to(root).as_posix())
        yield RawSample(key, path.read_bytes(), ext, label, str(root))


def _is_image(p: Path) -> bool:
    return p.is_file() and split_name(p.name)[1] in IMAGE_EXTS


def decode_image(data: bytes, name: str) -> Image.Image:
    """Decode to RGB, forcing a full read so truncated files fail here and not later."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        return img.convert("RGB")
    except Exception as exc:
        raise ImageError(f"{name}: cannot decode image ({exc})") from None


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """Bicubic resize of the short side to ``size``, then a centre crop to ``size`` x ``size``."""
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def pil_to_uint8(img: Image.Image) -> torch.Tensor:
    """(3, H, W) uint8 tensor; float conversion happens batched on the device."""
    return torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(img.size[1], img.size[0], 3).permute(2, 0, 1).contiguous()
