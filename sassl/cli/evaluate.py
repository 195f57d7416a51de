"""``sassl eval``: transfer / shard evaluation of a checkpoint, and ``sassl eval compare`` across runs.

One click group that also runs by itself (``invoke_without_command``): ``sassl eval --transfer dtd
...`` or ``sassl eval --shards ... --test-shards ...`` evaluate; ``sassl eval compare RUN...``
compares. The group's options only apply when no subcommand is given.
"""

from __future__ import annotations

from pathlib import Path

import click

from sassl.evaluate.datasets import DatasetLayoutError, target_names
from sassl.weights import WeightsError


@click.group("eval", invoke_without_command=True)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help="RUN_DIR/last.pt or ckpt-epochN.pt")
@click.option("--transfer", "target", help=f"transfer target: {', '.join(target_names())}")
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
@click.option("--batch-size", default=64, show_default=True)
@click.option("--workers", default=2, show_default=True, help="image decoding processes")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="report folder [default: RUN_DIR/eval]")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="feature cache [default: <report folder>/features]")
@click.option("--seed", default=0, show_default=True, help="seed of carved splits, subsets and episodes")
@click.pass_context
def eval_cmd(ctx: click.Context, checkpoint, target, data_root, partition, knn, few_shot, episodes, train_shards,
             test_shards, k_shot, subset, val_per_class, image_size, batch_size, workers, device, out_dir,
             cache_dir, seed) -> None:
    """Evaluate a pretraining checkpoint (frozen features, linear probe; see docs/eval.md)."""
    if ctx.invoked_subcommand is not None:
        return
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
