"""``sassl train``: self-supervised pretraining with SASSL (options only; the work is in sassl.train)."""

from __future__ import annotations

from typing import Any

import click

from sassl.choices import (ARCHS, AUGSELF_GROUPS, CASSLE_DEFAULT_GROUPS, CASSLE_GROUPS, METHOD_NAMES, RECIPE_NAMES,
                           SMALL_BELOW)
from sassl.cli.base import SectionedCommand
from sassl.cli.style_options import stylizer_options

STYLE_HELP = (
    "Where styles come from: 'in-batch' (another sample's style, needs --bank), 'bank:STYLE_DIR' (a style "
    "bank, needs --bank), 'online' (the stylizer's encoder in the loop, no bank needed) or 'none' (baseline)."
)

EXTRA_OPTIONS = "sassl.train.extra_options"


def _read_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--config FILE``: its options become the defaults, so only options given on the command line
    override them (click's default_map); TrainConfig fields without a CLI option (method_options,
    ...) are carried to the config separately."""
    if value is None:
        return None
    from dataclasses import fields

    from sassl.train.loop import TrainConfig
    from sassl.train.run_dir import RunDirError, load_options

    try:
        options = load_options(value)
    except RunDirError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    unknown = sorted(set(options) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise click.BadParameter(f"{value}: unknown option(s) {', '.join(unknown)}", ctx, param)
    cli = {p.name for p in ctx.command.params}
    ctx.default_map = {**(ctx.default_map or {}), **{k: v for k, v in options.items() if k in cli}}
    ctx.meta[EXTRA_OPTIONS] = {k: v for k, v in options.items() if k not in cli}
    return value


TRAIN_EXAMPLES = """\b
Examples:
  sassl train --method simclr --bank banks/in1k --out runs/simclr-sassl
  sassl train --method simclr --bank banks/in1k-adain --stylizer adain --decoder decoder.pth --encoder-weights vgg_normalised.pth --out runs/simclr-adain
  sassl train --method byol --images 'imagenet/train-{000000..001023}.tar' --style none --epoch-samples 1281167 --out runs/byol
  sassl train --method moco --bank banks/in1k --style bank:banks/wikiart --out runs/moco --resume
  sassl train --method simsiam --bank banks/in1k --augself crop,color --out runs/simsiam-augself
"""

# The --help section of every option (by parameter name). An option missing here shows under
# "Other options" and fails tests/test_cli.py: put each new option in the section it belongs to.
TRAIN_SECTIONS = [
    ("Data", ["bank", "images", "epoch_samples", "image_size", "load_size", "workers", "num_classes"]),
    ("Method", ["method", "method_opt", "augself", "cassle", "arch", "small_stem"]),
    ("Style (SASSL)", ["style", "stylizer", "stylizer_weights", "encoder_weights", "decoder", "allow_random_weights",
                       "p", "alpha", "beta", "decode_scale"]),
    ("Optimisation", ["recipe", "batch_size", "epochs", "steps", "lr", "warmup_steps", "seed"]),
    ("Run", ["out", "config", "overwrite", "resume", "extend", "stop_after", "ckpt_every", "keep_checkpoints", "device",
             "sync_bn"]),
    ("Generative views", ["generated", "gen_p"]),
    ("Monitoring", ["log_every", "tensorboard", "knn_monitor", "knn_every"]),
]


@click.command("train", cls=SectionedCommand, sections=TRAIN_SECTIONS, epilog=TRAIN_EXAMPLES)
@click.option("--method", required=True, type=click.Choice(METHOD_NAMES), help="SSL method.")
@click.option("--bank", type=click.Path(file_okay=False), help="Content bank directory (from `sassl precompute`).")
@click.option("--images", help="Instead of a bank: an image folder or an image shard spec (data-{000..009}.tar).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory (checkpoints, metrics, views.png).")
@click.option("--epoch-samples", type=click.IntRange(1),
              help="Samples in the --images shards (ImageNet-1k: 1281167); skips the counting pass over them.")
@click.option("--style", default="in-batch", show_default=True, help=STYLE_HELP)
@click.option("--arch", default="resnet50", show_default=True, type=click.Choice(ARCHS),
              help="Backbone; resnet18-narrow is ResNet-18 at a quarter width (128-d features) for small data and CPUs.")
@click.option("--small-stem", is_flag=True, help="3x3 stride-1 stem without max-pool (32-96 px data).")
@click.option("--image-size", default=224, show_default=True, type=click.IntRange(8), help="View size (multiple of 8).")
@click.option("--recipe", default="auto", show_default=True, type=click.Choice(RECIPE_NAMES),
              help=f"Optimiser, views and loss settings: 'standard' (published ImageNet recipes), 'small' (SGD lr 0.06 "
              f"per 128, wd 5e-4, no warmup, no blur, SimCLR temperature 0.5: small images and "
              f"batches), 'auto' (small below {SMALL_BELOW} px).")
@click.option("--load-size", type=click.IntRange(8), help="Canonical image side for --images [image-size * 8/7].")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(2), help="Per process.")
@click.option("--epochs", default=100, show_default=True, type=click.IntRange(1), help="Passes over the data.")
@click.option("--steps", type=click.IntRange(1), help="Total optimiser steps (overrides --epochs).")
@click.option("--stop-after", type=click.IntRange(1), help="End this invocation at this step, checkpointed (continue with --resume).")
@click.option("--lr", type=float, help="Peak learning rate [the recipe's base lr x global batch / 256].")
@click.option("--warmup-steps", type=click.IntRange(0), help="[standard recipe: 10 epochs for SimCLR/BYOL, 0 for MoCo; small: 0; at most 10% of the run].")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(0), help="DataLoader workers per process.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of initialisation, data order and augmentation.")
@stylizer_options()
@click.option("--p", "p", default=0.8, show_default=True, type=click.FloatRange(0, 1), help="SASSL probability on view 1.")
@click.option("--alpha", nargs=2, default=(0.1, 0.3), show_default=True, type=click.FloatRange(0, 1), metavar="MIN MAX",
              help="Range of alpha: weight of the new style in the blended style code.")
@click.option("--beta", nargs=2, default=(0.1, 0.3), show_default=True, type=click.FloatRange(0, 1), metavar="MIN MAX",
              help="Range of beta: weight of the stylised image in the pixel blend with the original.")
@click.option("--decode-scale", default=1.0, show_default=True, type=click.FloatRange(0.1, 1.0),
              help="Render the stylised crop at this fraction of --image-size, then upsample (0.5: ~4x cheaper).")
@click.option("--generated", type=click.Path(file_okay=False),
              help="Generated bank (`sassl generate`) of the same data: view 2 may start from a generated copy.")
@click.option("--gen-p", default=1.0, show_default=True, type=click.FloatRange(0, 1),
              help="With --generated: probability that view 2 is a generated copy (a random one of the K, per epoch).")
@click.option("--ckpt-every", default=1000, show_default=True, type=click.IntRange(1), help="Steps between last.pt saves.")
@click.option("--resume", is_flag=True, help="Continue from RUN_DIR/last.pt (model, optimiser, schedule, data position).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ... (torchrun: one GPU per process).")
@click.option("--sync-bn", is_flag=True, help="SyncBatchNorm across processes under torchrun.")
@click.option("--log-every", default=10, show_default=True, type=click.IntRange(1), help="Steps between metrics rows.")
@click.option("--num-classes", type=click.IntRange(1), help="Online linear probe classes [from the folder, else 1000].")
@click.option("--config", type=click.Path(dir_okay=False, exists=True), is_eager=True, expose_value=False,
              callback=_read_config,
              help="Rerun: options from a run's config.json (or a JSON/YAML file of option names); "
                   "options given on the command line override it.")
@click.option("--overwrite", is_flag=True, help="--out holds a run: delete its files first (else refused).")
@click.option("--extend", is_flag=True,
              help="With --resume: allow a longer --steps/--epochs; lr then follows the new length's schedule.")
@click.option("--keep-checkpoints", default=2, show_default=True, type=click.IntRange(0),
              help="Newest ckpt-epoch*.pt kept (older ones deleted); 0 keeps all.")
@click.option("--tensorboard", is_flag=True, help="Also log metrics to RUN/tensorboard/ (pip install 'sassl[tensorboard]').")
@click.option("--knn-monitor", metavar="FOLDER|TARGET:ROOT",
              help="Held-out labelled set (FOLDER/{train,test}/<class>/, or an eval target like cifar10:DATA_ROOT): "
                   "weighted 20-NN accuracy logged as knn_acc.")
@click.option("--knn-every", default=500, show_default=True, type=click.IntRange(1), help="Steps between kNN evaluations.")
@click.option("--method-opt", "method_opt", multiple=True, metavar="KEY=VALUE",
              help="A method option (repeatable), e.g. proj_dim=256; see docs/train.md for each method's options.")
@click.option("--augself", metavar="GROUP[:WEIGHT],...",
              help=f"AugSelf heads predicting view differences; groups {','.join(AUGSELF_GROUPS)} (weight 0.5 each "
                   "unless given), e.g. crop,color or crop:1,color:1,style:0.5.")
@click.option("--cassle", metavar="GROUP,...",
              help=f"CASSLE: condition the projector on each view's descriptor; groups {','.join(CASSLE_GROUPS)} "
                   f"(the authors' default: {','.join(CASSLE_DEFAULT_GROUPS)}).")
def train_cmd(method_opt: tuple[str, ...], **opts: Any) -> None:
    """Self-supervised pretraining (SimCLR, MoCo v2, BYOL, SimSiam, Barlow Twins; AugSelf and CASSLE on
    any of them) with SASSL on view 1.

    Exit codes: 0 done, 1 error, 2 bad usage, 143 (SIGTERM) or 130 (Ctrl-C): stopped at a step
    boundary with last.pt written; continue with --resume.
    """
    from sassl.bank.reader import BankError
    from sassl.sources import ImageError, ShardError
    from sassl.weights import WeightsError
    from sassl.train.loop import TrainConfig, TrainingDiverged, train
    from sassl.train.preempt import Preempted
    from sassl.train.methods import split_key_values

    extra = click.get_current_context().meta.get(EXTRA_OPTIONS, {})
    try:
        if method_opt:  # on top of the method options a --config file brings
            extra = {**extra, "method_options": {**extra.get("method_options", {}), **split_key_values(method_opt)}}
        summary = train(TrainConfig(**{**extra, **opts}))
    except Preempted as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(exc.exit_code) from None
    except (BankError, WeightsError, ShardError, ImageError, FileNotFoundError, ValueError, TrainingDiverged) as exc:
        raise click.ClickException(str(exc)) from None
    loss = "n/a" if summary.final_loss is None else f"{summary.final_loss:.4f}"
    click.echo(f"{summary.steps} steps, final loss {loss}, checkpoint {summary.last_checkpoint}, "
               f"skipped {summary.skipped} corrupt item(s)"
               + (f", {summary.without_generated} sample(s) without generated views" if opts.get("generated") else ""))
