"""The ``sassl`` command line. Commands only parse options and call library functions."""

from __future__ import annotations

import click

from sassl import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sassl")
def main() -> None:
    """Style-transfer augmentation (SASSL) for self-supervised learning."""


from sassl.cli.stylizer import stylizer  # noqa: E402  (commands register after the group exists)

main.add_command(stylizer)

from sassl.cli.precompute import bank, precompute  # noqa: E402

main.add_command(precompute)
main.add_command(bank)

from sassl.cli.generate import generate  # noqa: E402

main.add_command(generate)

from sassl.cli.evaluate import eval_cmd  # noqa: E402

main.add_command(eval_cmd)

from sassl.cli.train import train_cmd  # noqa: E402

main.add_command(train_cmd)

from sassl.cli.demo import demo  # noqa: E402

main.add_command(demo)
