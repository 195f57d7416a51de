"""``sassl demo``: the built-in end-to-end run on generated data."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--out", default="demo-run", show_default=True, type=click.Path(file_okay=False),
              help="Folder for data, bank, runs and the report; rerunning reuses finished stages.")
@click.option("--encoder-weights", default=None, help="VGG weights (vgg_normalised.pth or torchvision vgg19); default: random, said in the report.")
@click.option("--decoder", default=None, help="AdaIN decoder.pth; default: random, said in the report.")
@click.option("--steps", default=200, show_default=True, type=click.IntRange(1),
              help="SimCLR steps per pretraining run (batch 128; about 10 minutes in all on 2 CPU cores at 200).")
@click.option("--quick", is_flag=True, help="A much smaller run (fewer images and steps) that only checks the stages run.")
@click.option("--seed", default=0, show_default=True, type=int)
def demo(out: str, encoder_weights: str | None, decoder: str | None, steps: int, quick: bool, seed: int) -> None:
    """Generate data, precompute a bank, pretrain SimCLR with and without SASSL, evaluate, report."""
    from sassl.demo.pipeline import DemoConfig, quick_config, run_demo

    cfg = DemoConfig(out=out, encoder_weights=encoder_weights, decoder=decoder, steps=steps, seed=seed)
    report = run_demo(quick_config(cfg) if quick else cfg)
    click.echo(f"report: {report}")
