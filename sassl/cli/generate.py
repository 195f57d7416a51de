"""``sassl generate``: option parsing only; the work is in :mod:`sassl.generate`."""

from __future__ import annotations

import sys

import click

from sassl.choices import DEFAULT_IMAGE_SIZE, DEFAULT_JPEG_QUALITY, DEFAULT_SHARD_SIZE, DEFAULT_VIEWS, GENERATOR_PIPELINES
from sassl.cli.base import OutputDir, SectionedCommand

GENERATE_EXAMPLES = """\b
Examples:
  sassl generate --shards 'imagenet/train-*.tar' --out banks/in1k-gen --generator models/sd21-unclip-small
  sassl generate --shards 'imagenet/train-*.tar' --out banks/in1k-gen --generator models/sd21-unclip-small --address auto
  sassl generate --image-folder photos/ --out banks/photos-gen --generator models/sd-image-variations --views-per-image 4 --in-process
"""


@click.command(
    cls=SectionedCommand, epilog=GENERATE_EXAMPLES,
    sections=[
        ("Input and output", ["shards", "image_folder", "out", "shard_size"]),
        ("Generator", ["generator", "pipeline", "steps", "guidance", "noise_level", "gen_size", "seed"]),
        ("Bank contents", ["views_per_image", "image_size", "jpeg_quality"]),
        ("Execution", ["batch_size", "address", "in_process", "workers", "num_cpus", "verbose"]),
    ],
)
@click.option("--shards", help="Input WebDataset shards: brace pattern, glob, list, local paths or URLs.")
@click.option("--image-folder", type=click.Path(file_okay=False), help="Input image folder (class sub-folders or flat).")
@click.option("--out", required=True, type=OutputDir(), help="Generated bank directory (created if missing).")
@click.option("--generator", required=True, metavar="PATH_OR_ID",
              help="Local diffusers pipeline folder, or a hub id (e.g. stabilityai/stable-diffusion-2-1-unclip-small) "
                   "found in the Hugging Face cache or downloaded where there is network.")
@click.option("--pipeline", type=click.Choice(GENERATOR_PIPELINES), default="auto",
              help="Generator kind; auto reads it from model_index.json.")
@click.option("--views-per-image", default=DEFAULT_VIEWS, type=click.IntRange(1),
              help="Generated views per source image (K).")
@click.option("--steps", type=click.IntRange(1), help="Denoising steps [default: unclip 10, image-variation 50].")
@click.option("--guidance", type=float, help="Classifier-free guidance scale [default: unclip 10, image-variation 3].")
@click.option("--noise-level", default=0, type=click.IntRange(0), help="unCLIP image-embedding noise level.")
@click.option("--gen-size", type=click.IntRange(8), help="Side generated at [default: the pipeline's native size, 768 for unCLIP-small].")
@click.option("--image-size", default=DEFAULT_IMAGE_SIZE, help="Side stored (the training data's canonical size).")
@click.option("--jpeg-quality", default=DEFAULT_JPEG_QUALITY, help="JPEG quality of the stored views.")
@click.option("--seed", default=0, help="Base seed; view k of sample KEY uses a seed derived from (seed, KEY, k).")
@click.option("--batch-size", default=1, help="Source images per generator call (each gives K views).")
@click.option("--address", default=None, help="Ray cluster to join ('auto', host:port) [default: RAY_ADDRESS or a local Ray].")
@click.option("--in-process", is_flag=True, help="Generate in this process without Ray (small data, debugging).")
@click.option("--workers", type=int, default=None, help="CPU workers when the cluster has no GPU [default: 1].")
@click.option("--num-cpus", type=int, default=None, help="CPUs of a local Ray [default: all].")
@click.option("--verbose", is_flag=True, help="Show Ray's start-up messages and the workers' own output.")
@click.option("--shard-size", default=DEFAULT_SHARD_SIZE, help="Images per virtual shard for --image-folder.")
def generate(**opts) -> None:
    """Write K image-conditioned generated views per source image as a generated bank."""
    # Imported here, not at module level: they pull in torch (and diffusers when generating).
    from sassl.bank.format import BankError
    from sassl.generate.generators import GeneratorError
    from sassl.generate.job import GenerateConfig, generate as run_generate
    from sassl.precompute.units import InputError

    try:
        summary = run_generate(GenerateConfig(**opts))
    except (InputError, BankError, GeneratorError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    if not summary.ok:
        sys.exit(1)
