"""``sassl eval run`` (the default: ``sassl eval --checkpoint ...``) and ``sassl eval compare``.

``eval`` is a plain group of two subcommands with separate options; :class:`DefaultGroup` sends
arguments that do not start with a subcommand name to ``run``, so ``sassl eval --checkpoint X
--transfer dtd`` works as ``sassl eval run --checkpoint X --transfer dtd``.
"""

from __future__ import annotations

from pathlib import Path

import click

from sassl.choices import EVAL_TARGETS, IMAGEFOLDER
from sassl.cli.base import DefaultGroup, SectionedCommand

EVAL_EXAMPLES = """\b
Examples:
  sassl eval --checkpoint runs/sassl/last.pt --transfer dtd --data-root data/ --knn
  sassl eval --checkpoint runs/sassl/last.pt --transfer imagefolder:my-data/ --few-shot 5-way-5-shot
  sassl eval --checkpoint runs/sassl/last.pt --shards 'in1k/train-{0000..1023}.tar' \\
      --test-shards 'in1k/val-{00..63}.tar' --k-shot 10
"""


@click.group("eval", cls=DefaultGroup, default_command="run")
def eval_cmd() -> None:
    """Evaluate pretraining checkpoints (docs/eval.md); `sassl eval OPTIONS` means `sassl eval run OPTIONS`."""


@eval_cmd.command(
    "run", cls=SectionedCommand, epilog=EVAL_EXAMPLES,
    sections=[
        ("Model", ["checkpoint", "device"]),
        ("Transfer target", ["target", "data_root", "partition"]),
        ("Labelled shards", ["train_shards", "test_shards", "k_shot", "subset", "val_per_class"]),
        ("Protocols", ["knn", "few_shot", "episodes"]),
        ("Data loading", ["image_size", "batch_size", "workers"]),
        ("Output", ["out_dir", "cache_dir", "seed"]),
    ],
)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help="RUN_DIR/last.pt or ckpt-epochN.pt")
@click.option("--transfer", "target", help=f"transfer target: {', '.join([*EVAL_TARGETS, IMAGEFOLDER + 'PATH'])}")
@click.option("--data-root", type=click.Path(path_type=Path), help="folder holding the target's usual layout")
@click.option("--partition", default=1, show_default=True, help="DTD / SUN397 official partition (1..10)")
@click.option("--knn", is_flag=True, help="also weighted kNN (k=20, 200; T=0.07; memory: the labelled splits)")
@click.option("--few-shot", "few_shot", metavar="N-way-K-shot", help="also few-shot episodes from the test split, e.g. 5-way-5-shot")
@click.option("--episodes", default=600, show_default=True, help="few-shot episodes")
@click.option("--shards", "train_shards", metavar="SPEC", help="labelled train shards (brace pattern or list)")
@click.option("--test-shards", metavar="SPEC", help="labelled test shards for --shards (e.g. ImageNet val)")
@click.option("--k-shot", type=int, help="with --shards: K labelled images per class (SASSL: 1 or 10)")
@click.option("--subset", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="with --shards: reuse a subset JSON written by an earlier K-shot run")
@click.option("--val-per-class", default=5, show_default=True, help="with --shards: held-out val images per class")
@click.option("--image-size", default=224, show_default=True, help="resize short side (bicubic) + centre crop")
@click.option("--batch-size", default=64, show_default=True, help="images per forward pass of the backbone")
@click.option("--workers", default=2, show_default=True, help="image decoding processes")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="report folder [default: RUN_DIR/eval]")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="feature cache [default: <report folder>/features]")
@click.option("--seed", default=0, show_default=True, help="seed of carved splits, subsets and episodes")
def run_cmd(checkpoint, target, data_root, partition, knn, few_shot, episodes, train_shards, test_shards, k_shot,
            subset, val_per_class, image_size, batch_size, workers, device, out_dir, cache_dir, seed) -> None:
    """Evaluate a checkpoint: frozen features, linear probe (+ kNN, few-shot) on a transfer target or shards."""
    from sassl.evaluate.datasets import DatasetLayoutError
    from sassl.weights import WeightsError

    if checkpoint is None or (target is None) == (train_shards is None):
        raise click.UsageError("give --checkpoint and exactly one of --transfer TARGET or --shards SPEC")
    if train_shards is not None and test_shards is None:
        raise click.UsageError("--shards needs --test-shards")
    from sassl.evaluate import EvalOptions, FewShotProbe, KNNProbe, LinearProbe, evaluate, shards_task, transfer_task

    try:
        probes = [LinearProbe()]
        if knn:
            probes.append(KNNProbe())
        if few_shot:
            probes.append(FewShotProbe.parse(few_shot, episodes, seed))
        if target is not None:
            task = transfer_task(target, data_root, partition, seed)
        else:
            task = shards_task(train_shards, test_shards, k_shot, subset, val_per_class, seed)
        options = EvalOptions(image_size=image_size, batch_size=batch_size, workers=workers, device=device,
                              cache_dir=cache_dir, out_dir=out_dir)
        result = evaluate(checkpoint, task, probes, options)
    except (DatasetLayoutError, WeightsError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(Path(result["report"]["markdown"]).read_text())
    click.echo(f"report: {result['report']['markdown']} and {result['report']['json']}")
    if result.get("subset_file"):
        click.echo(f"subset: {result['subset_file']}")


@eval_cmd.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path), default=Path("eval-compare.png"),
              show_default=True, help="bar chart PNG to write")
def compare_cmd(runs, chart) -> None:
    """Table (and bar chart) of every evaluation found in RUN/eval/ across runs."""
    from sassl.evaluate.report import compare_runs

    try:
        table = compare_runs(list(runs), chart)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(table)
    click.echo(f"chart: {chart}")
