"""``sassl stylizer``: train the AdaIN decoder and preview the augmentation."""

from __future__ import annotations

import click

from sassl.cli.base import OutputDir, SectionedCommand
from sassl.cli.style_options import stylizer_options

ENCODER_HELP = "VGG weights: vgg_normalised.pth, a torchvision vgg19 state dict, 'torchvision' or 'random'"


@click.group()
def stylizer() -> None:
    """The style-transfer networks: preview either stylizer; train the AdaIN decoder."""


@stylizer.command("train")
@click.option("--content", required=True, help="Content images: an image folder or a shard spec (e.g. coco-{000..009}.tar).")
@click.option("--style", required=True, help="Style images: an image folder or a shard spec (e.g. WikiArt).")
@click.option("--out", required=True, type=OutputDir(), help="Output folder (checkpoint.pt, decoder.pth, metrics.jsonl).")
@click.option("--encoder-weights", default="torchvision", show_default=True, help=ENCODER_HELP)
@click.option("--allow-random-weights", is_flag=True, help="Permit 'random' weights (tests and smoke runs only; warns).")
@click.option("--steps", default=160_000, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-4, show_default=True, type=float)
@click.option("--lr-decay", default=5e-5, show_default=True, type=float)
@click.option("--style-weight", default=10.0, show_default=True, type=float)
@click.option("--content-weight", default=1.0, show_default=True, type=float)
@click.option("--load-size", default=512, show_default=True, type=click.IntRange(8), help="Short side before the random crop.")
@click.option("--crop", default=256, show_default=True, type=click.IntRange(8))
@click.option("--ckpt-every", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
def train_cmd(**opts: object) -> None:
    """Train the AdaIN decoder against a frozen VGG encoder."""
    from sassl.style.train import DecoderTrainConfig, train_decoder

    opts["encoder"] = opts.pop("encoder_weights")
    summary = _run(lambda: train_decoder(DecoderTrainConfig(**opts)))  # type: ignore[arg-type]
    click.echo(f"decoder written to {summary['decoder']} after {summary['steps']} steps "
               f"(loss {summary['first']['loss']:.4f} -> {summary['last']['loss']:.4f})" if summary["first"] else
               f"decoder written to {summary['decoder']} (already at {summary['steps']} steps)")


@stylizer.command(
    "preview", cls=SectionedCommand,
    sections=[
        ("Input and output", ["content", "style", "out"]),
        ("Style", ["stylizer", "stylizer_weights", "encoder_weights", "decoder", "allow_random_weights"]),
        ("Grid", ["size", "n_content", "n_style"]),
    ],
)
@click.option("--content", required=True, help="Content images: folder or shard spec.")
@click.option("--style", required=True, help="Style images: folder or shard spec.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG path; the alpha/beta sweep goes to <out>-sweep.png.")
@stylizer_options()
@click.option("--size", default=256, show_default=True, type=click.IntRange(8), help="Side of each image in the grids (pixels).")
@click.option("--n-content", default=4, show_default=True, type=click.IntRange(1), help="Content images (grid rows).")
@click.option("--n-style", default=4, show_default=True, type=click.IntRange(1), help="Style images (grid columns).")
def preview_cmd(content: str, style: str, out: str, stylizer: str, stylizer_weights: str | None, encoder_weights: str,
                decoder: str | None, allow_random_weights: bool, size: int, n_content: int, n_style: int) -> None:
    """Write PNG grids of stylised images (content x style, and an alpha/beta sweep)."""
    from sassl.style.images import first_images
    from sassl.style.preview import write_previews
    from sassl.style.registry import load_stylizer
    from sassl.style.stylizer import StylizerSpec

    def work() -> tuple:
        contents, styles = first_images(content, n_content, size), first_images(style, n_style, size)  # inputs first
        spec = StylizerSpec(stylizer, stylizer_weights, encoder_weights, decoder, allow_random_weights)
        return write_previews(load_stylizer(spec), contents, styles, out)

    grid, sweep = _run(work)
    click.echo(f"wrote {grid} and {sweep}")


def _run(fn):  # type: ignore[no-untyped-def]
    """Turn the library's expected errors into one-line click errors."""
    from sassl.sources import ImageError, ShardError
    from sassl.weights import WeightsError

    try:
        return fn()
    except (WeightsError, ShardError, ImageError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
