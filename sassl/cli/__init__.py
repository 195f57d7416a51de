"""The ``sassl`` command line. Commands only parse options and call library functions.

Nothing heavy (torch, Ray, torchvision, pyarrow, webdataset) is imported here or in the command
modules at import time: each command imports its library inside its body, so ``sassl --help`` and
``sassl CMD --help`` answer at once (``bench/cli_help.py``). Option choices come from
:mod:`sassl.choices`.
"""

from __future__ import annotations

import click

from sassl import __version__
from sassl.cli.base import MainGroup
from sassl.cli.demo import demo
from sassl.cli.evaluate import eval_cmd
from sassl.cli.generate import generate
from sassl.cli.precompute import bank, precompute
from sassl.cli.stylizer import stylizer
from sassl.cli.train import train_cmd


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sassl")
def main() -> None:
    """Style-transfer augmentation (SASSL) for self-supervised learning."""


for _command in (stylizer, precompute, bank, generate, eval_cmd, train_cmd, demo):
    main.add_command(_command)
