"""``sassl demo``: the built-in end-to-end run on generated data."""

from __future__ import annotations

import click

from sassl.cli.base import OutputDir


@click.command("demo")
@click.option("--out", default="demo-run", show_default=True, type=OutputDir(),
              help="Folder for data, bank, runs and the report; rerunning reuses finished stages.")
@click.option("--encoder-weights", default=None, help="VGG weights (vgg_normalised.pth or torchvision vgg19); default: random, said in the report.")
@click.option("--decoder", default=None, help="AdaIN decoder.pth; default: random, said in the report.")
@click.option("--epochs", default=8, show_default=True, type=click.IntRange(1))
@click.option("--quick", is_flag=True, help="A smaller run (fewer images and epochs) for CI smoke tests.")
@click.option("--seed", default=0, show_default=True, type=int)
def demo(out: str, encoder_weights: str | None, decoder: str | None, epochs: int, quick: bool, seed: int) -> None:
    """Generate data, precompute a bank, pretrain SimCLR with and without SASSL, evaluate, report."""
    from sassl.bank.format import BankError
    from sassl.demo.pipeline import DemoConfig, run_demo
    from sassl.weights import WeightsError

    cfg = DemoConfig(out=out, encoder_weights=encoder_weights, decoder=decoder, epochs=epochs, seed=seed)
    if quick:
        cfg.pretrain_per_class, cfg.eval_per_class, cfg.batch_size, cfg.epochs = 16, (6, 3, 6), 32, 1
    try:
        report = run_demo(cfg)
    except (WeightsError, BankError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"report: {report}")
