"""``sassl demo``: the built-in end-to-end run on a small photo data set that ships with the dependencies."""

from __future__ import annotations

import click

from sassl.choices import DEMO_BATCH, DEMO_STEPS
from sassl.cli.base import OutputDir
from sassl.cli.style_options import stylizer_options


@click.command("demo")
@click.option("--out", default="demo-run", show_default=True, type=OutputDir(),
              help="Folder for data, bank, runs and the report; rerunning reuses finished stages.")
@stylizer_options(random_default=True)
@click.option("--steps", default=DEMO_STEPS, show_default=True, type=click.IntRange(1),
              help=f"SimCLR steps per pretraining run (batch {DEMO_BATCH}; about 7 minutes in all on 2 idle CPU cores "
                   f"at {DEMO_STEPS}).")
@click.option("--quick", is_flag=True, help="A much smaller run (fewer images and steps) that only checks the stages run.")
@click.option("--seed", default=0, show_default=True, type=int)
def demo(out: str, steps: int, quick: bool, seed: int, **style: str | None) -> None:
    """Write a small photo data set, precompute a bank, pretrain SimCLR with and without SASSL, evaluate, report."""
    from sassl.bank.format import BankError
    from sassl.demo.pipeline import DemoConfig, quick_config, run_demo
    from sassl.weights import WeightsError

    adain_only = [f"--{k.replace('_', '-')}" for k in ("encoder_weights", "decoder") if style.get(k) is not None]
    if adain_only and style.get("stylizer") != "adain":
        raise click.UsageError(f"{' and '.join(adain_only)} only apply to --stylizer adain")
    cfg = DemoConfig(out=out, steps=steps, seed=seed, **style)
    try:
        report = run_demo(quick_config(cfg) if quick else cfg)
    except (WeightsError, BankError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"report: {report}")
