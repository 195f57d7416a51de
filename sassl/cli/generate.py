"""``sassl generate``: option parsing only; the work is in :mod:`sassl.generate`."""

from __future__ import annotations

import sys

import click

from sassl.bank.format import DEFAULT_IMAGE_SIZE, DEFAULT_JPEG_QUALITY, BankError
from sassl.generate.generators import GeneratorError
from sassl.generate.job import DEFAULT_VIEWS, GenerateConfig, generate as run_generate
from sassl.precompute.job import DEFAULT_SHARD_SIZE
from sassl.precompute.units import InputError


@click.command()
@click.option("--shards", help="Input WebDataset shards: brace pattern, list, local paths or URLs.")
@click.option("--image-folder", type=click.Path(file_okay=False), help="Input image folder (class sub-folders or flat).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Generated bank directory (created if missing).")
@click.option("--generator", required=True, metavar="PATH_OR_ID",
              help="Local diffusers pipeline folder, or a hub id (e.g. stabilityai/stable-diffusion-2-1-unclip-small) "
                   "found in the Hugging Face cache or downloaded where there is network.")
@click.option("--pipeline", type=click.Choice(["auto", "unclip", "image-variation"]), default="auto", show_default=True,
              help="Generator kind; auto reads it from model_index.json.")
@click.option("--views-per-image", default=DEFAULT_VIEWS, show_default=True, type=click.IntRange(1),
              help="Generated views per source image (K).")
@click.option("--steps", type=click.IntRange(1), help="Denoising steps [unclip 10, image-variation 50].")
@click.option("--guidance", type=float, help="Classifier-free guidance scale [unclip 10, image-variation 3].")
@click.option("--noise-level", default=0, show_default=True, type=click.IntRange(0), help="unCLIP image-embedding noise level.")
@click.option("--gen-size", type=click.IntRange(8), help="Side generated at [the pipeline's native size, 768 for unCLIP-small].")
@click.option("--image-size", default=DEFAULT_IMAGE_SIZE, show_default=True, help="Side stored (the training data's canonical size).")
@click.option("--jpeg-quality", default=DEFAULT_JPEG_QUALITY, show_default=True, help="JPEG quality of the stored views.")
@click.option("--seed", default=0, show_default=True, help="Base seed; view k of sample KEY uses a seed derived from (seed, KEY, k).")
@click.option("--batch-size", default=1, show_default=True, help="Source images per generator call (each gives K views).")
@click.option("--address", default=None, help="Ray cluster to join ('auto', host:port); default RAY_ADDRESS or a local Ray.")
@click.option("--in-process", is_flag=True, help="Generate in this process without Ray (small data, debugging).")
@click.option("--workers", type=int, default=None, help="CPU workers when the cluster has no GPU (default 1).")
@click.option("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all).")
@click.option("--shard-size", default=DEFAULT_SHARD_SIZE, show_default=True, help="Images per virtual shard for --image-folder.")
def generate(**opts) -> None:
    """Write K image-conditioned generated views per source image as a generated bank."""
    try:
        summary = run_generate(GenerateConfig(**opts))
    except (InputError, BankError, GeneratorError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    if not summary.ok:
        sys.exit(1)
