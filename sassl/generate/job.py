"""``sassl generate``: the shard job of ``sassl precompute`` with a generator worker plugged in.

Everything about running it (validation before work, ``bank.json``, resume by manifest, Ray actors
one per GPU or CPU workers, retries, summary) is :func:`sassl.precompute.job.run_job`; this module
only checks the generation options and builds the bank's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sassl.bank.format import GeneratedSettings, bank_record
from sassl.choices import DEFAULT_IMAGE_SIZE, DEFAULT_JPEG_QUALITY, DEFAULT_SHARD_SIZE, DEFAULT_VIEWS
from sassl.generate.generators import GeneratorSpec
from sassl.generate.worker import GeneratorFactory
from sassl.precompute.job import JobOptions, Summary, plan, run_job
from sassl.precompute.units import InputError


@dataclass(frozen=True)
class GenerateConfig:
    """Options of ``sassl generate``; exactly one of ``shards`` and ``image_folder`` is set."""

    out: str
    generator: str  # a local diffusers folder or a hub id
    shards: str | list[str] | None = None
    image_folder: str | None = None
    pipeline: str = "auto"  # auto (from model_index.json) | unclip | image-variation
    views_per_image: int = DEFAULT_VIEWS
    steps: int | None = None  # default per pipeline (unclip 10)
    guidance: float | None = None  # default per pipeline (unclip 10)
    noise_level: int = 0
    gen_size: int | None = None  # side generated at; default the pipeline's native size (768 for unCLIP-small)
    image_size: int = DEFAULT_IMAGE_SIZE  # side stored (the training data's canonical size)
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    seed: int = 0
    batch_size: int = 1  # source images per generator call (each gives views_per_image outputs)
    workers: int | None = None
    num_cpus: int | None = None
    address: str | None = None
    shard_size: int = DEFAULT_SHARD_SIZE
    progress: bool = True
    in_process: bool = False
    verbose: bool = False  # show Ray's start-up messages and the workers' output


def generate(config: GenerateConfig) -> Summary:
    """Write a generated bank; raises InputError/BankError/GeneratorError before any work."""
    if config.views_per_image < 1:
        raise InputError(f"--views-per-image must be at least 1, got {config.views_per_image}")
    if config.image_size < 8:
        raise InputError(f"--image-size must be at least 8, got {config.image_size}")
    if not 1 <= config.jpeg_quality <= 100:
        raise InputError(f"--jpeg-quality must be in 1..100, got {config.jpeg_quality}")
    if config.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {config.batch_size}")
    units = plan(config.shards, config.image_folder, config.shard_size)
    spec = GeneratorSpec.resolve(config.generator, config.pipeline, config.steps, config.guidance,
                                 config.noise_level, config.gen_size)
    settings = GeneratedSettings(
        generator=spec.kind, generator_fingerprint=spec.fingerprint, generator_settings=spec.settings(),
        views_per_image=config.views_per_image, seed=config.seed, image_size=config.image_size,
        jpeg_quality=config.jpeg_quality,
        shard_size=config.shard_size if config.image_folder is not None else None,
    )
    options = JobOptions(config.workers, config.num_cpus, config.address, config.progress, config.in_process,
                         desc="generate", verbose=config.verbose)
    return run_job(units, Path(config.out), settings, lambda totals: bank_record(settings, config.generator, totals),
                   GeneratorFactory(spec, settings, config.batch_size), options, config.views_per_image)
