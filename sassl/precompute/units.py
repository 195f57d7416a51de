"""Units of work: whole input shards, or stable virtual shards of an image folder.

A unit maps to exactly one output tar named after it, so a rerun finds a unit's output by name.
Image-folder inputs are cut into chunks of ``shard_size`` files in sorted order and named
``<folder>-000000`` ...; the names are stable as long as the folder's file list is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sassl.bank.format import shard_name
from sassl.sources import RawSample, expand_urls, is_local, iter_shard, list_image_folder, split_name


class InputError(ValueError):
    """Inputs that cannot be used (missing files, clashing names); raised before any work."""


@dataclass(frozen=True)
class WorkUnit:
    """One output shard: either a shard URL or a list of (file, label) from an image folder."""

    name: str
    url: str | None = None
    files: tuple[tuple[str, int | None], ...] = ()
    root: str | None = None

    @property
    def source(self) -> str:
        """What a manifest records as the shard's input (:func:`folder_of_source` reverses it)."""
        return self.url if self.url is not None else f"{self.root} ({len(self.files)} files)"

    def samples(self) -> Iterator[RawSample]:
        """The unit's raw samples; a shard raises ``ShardError``, an unreadable file becomes empty bytes."""
        if self.url is not None:
            yield from iter_shard(self.url)
            return
        root = Path(self.root)
        for path, label in self.files:
            p = Path(path)
            key, ext = split_name(p.relative_to(root).as_posix())
            try:
                data = p.read_bytes()
            except OSError:
                data = b""  # decoded later, fails there and is recorded as a skipped item
            yield RawSample(key, data, ext, label, str(p))


def folder_of_source(source: str) -> str:
    """The image folder in a virtual shard's recorded source ``ROOT (N files)``."""
    root, sep, rest = source.rpartition(" (")
    if not sep or not rest.endswith(" files)"):
        raise InputError(f"{source!r}: not an image-folder source (expected 'FOLDER (N files)')")
    return root


def shard_units(spec: str | list[str]) -> list[WorkUnit]:
    """Units for shard URLs; local shards must exist and output names must not clash."""
    try:
        urls = expand_urls(spec)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    missing = [u for u in urls if is_local(u) and not Path(u).is_file()]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise InputError(f"input shard(s) not found: {', '.join(missing[:3])}{more}")
    units = [WorkUnit(shard_name(u), url=u) for u in urls]
    _check_unique(units)
    return units


def folder_units(root: str | Path, shard_size: int) -> list[WorkUnit]:
    if shard_size < 1:
        raise InputError(f"--shard-size must be at least 1, got {shard_size}")
    try:
        files, _ = list_image_folder(root)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    root = Path(root)
    base = root.resolve().name or "images"
    return [
        WorkUnit(f"{base}-{i // shard_size:06d}", files=tuple((str(p), lab) for p, lab in files[i : i + shard_size]), root=str(root))
        for i in range(0, len(files), shard_size)
    ]


def _check_unique(units: list[WorkUnit]) -> None:
    seen: dict[str, str] = {}
    for u in units:
        if u.name in seen:
            raise InputError(f"input shards {seen[u.name]} and {u.url} would both write {u.name}.tar; rename one")
        seen[u.name] = u.url or ""
