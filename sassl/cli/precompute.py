"""``sassl precompute`` and ``sassl bank inspect|verify``: option parsing only."""

from __future__ import annotations

import sys

import click

from sassl.bank.codecs import CODECS, DEFAULT_CODEC
from sassl.bank.format import DEFAULT_IMAGE_SIZE, DEFAULT_JPEG_QUALITY, BankError
from sassl.cli.style_options import stylizer_options
from sassl.precompute.job import DEFAULT_SHARD_SIZE, PrecomputeConfig, precompute as run_precompute
from sassl.precompute.units import InputError
from sassl.weights import WeightsError


@click.command()
@click.option("--shards", help="Input WebDataset shards: brace pattern, list, local paths or URLs.")
@click.option("--image-folder", type=click.Path(file_okay=False), help="Input image folder (class sub-folders or flat).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bank directory (created if missing).")
@click.option("--address", default=None, help="Ray cluster to join ('auto', host:port); default RAY_ADDRESS or a local Ray.")
@click.option("--style-only", is_flag=True, help="Write a style bank (style stats only), e.g. from paintings or textures.")
@click.option("--image-size", default=DEFAULT_IMAGE_SIZE, show_default=True, help="Canonical image side (multiple of 8).")
@click.option("--codec", type=click.Choice(CODECS), default=DEFAULT_CODEC, show_default=True,
              help="Codec of stored content features (adain; ghiasi banks store no features).")
@click.option("--jpeg-quality", default=DEFAULT_JPEG_QUALITY, show_default=True, help="JPEG quality of the canonical image.")
@stylizer_options(decoder=False)
@click.option("--batch-size", default=64, show_default=True, help="Images per encoder forward.")
@click.option("--in-process", is_flag=True, help="Encode in this process without Ray (small data, debugging).")
@click.option("--workers", type=int, default=None, help="CPU workers when the cluster has no GPU (default 1).")
@click.option("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all).")
@click.option("--shard-size", default=DEFAULT_SHARD_SIZE, show_default=True, help="Images per virtual shard for --image-folder.")
def precompute(**opts) -> None:
    """Encode images once into a content bank (image + style code [+ features]) or a style bank (codes)."""
    config = PrecomputeConfig(**opts)
    try:
        summary = run_precompute(config)
    except (InputError, BankError, WeightsError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    if not summary.ok:
        sys.exit(1)


@click.group()
def bank() -> None:
    """Inspect and verify feature banks."""


@bank.command("inspect")
@click.argument("bank_dir", type=click.Path(file_okay=False))
def inspect_cmd(bank_dir: str) -> None:
    """Counts, bytes per sample, codec and skipped inputs."""
    from sassl.bank.inspect import inspect_bank

    try:
        report = inspect_bank(bank_dir)
    except BankError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("\n".join(report.lines))


@bank.command("verify")
@click.argument("bank_dir", type=click.Path(file_okay=False))
def verify_cmd(bank_dir: str) -> None:
    """Check every shard against its manifest checksums; exit 1 on any mismatch."""
    from sassl.bank.inspect import verify_bank

    try:
        result = verify_bank(bank_dir)
    except BankError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in result.problems:
        click.echo(f"MISMATCH {problem}")
    click.echo(f"{result.shards} shards, {result.samples} samples checked: {'OK' if result.ok else f'{len(result.problems)} problem(s)'}")
    if not result.ok:
        sys.exit(1)
