"""Click classes behind the ``sassl`` command line: one-line errors, option sections, a default subcommand.

Kept here so that every command gets the same behaviour by declaration, not by code in its body:

- :class:`MainGroup` (only the top-level ``sassl`` group) prints every usage error as one line,
  ``Error: ... (see 'sassl CMD --help')``, instead of click's usage block, so that scripts and logs
  see exactly one line per failure, as for the library's own errors; and it shows each distinct
  warning once per process as one red ``WARNING: ...`` line (the library only calls
  ``warnings.warn``; Python's own display would print two lines, and again from each call site).
- :class:`SectionedCommand` lists options under titled sections in ``--help`` (``sections=[(title,
  [param names]), ...]``); an option in no section lands under "Other options", which a test
  refuses, so a new option must be placed deliberately.
- :class:`DefaultGroup` runs ``default_command`` when the first argument is not a subcommand, so
  ``sassl eval --checkpoint ...`` stays short while ``sassl eval compare`` keeps its own options.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable, Sequence

import click

OTHER = "Other options"


class MainGroup(click.Group):
    """The ``sassl`` group: usage errors as one line on stderr, exit code 2 (click's)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_once(set())
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)  # click returns the exit code of --help/--version


def _show_once(shown: set[str]) -> Callable[..., None]:
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        text = str(message)
        if text not in shown:
            shown.add(text)
            click.secho(f"WARNING: {text}", fg="red", err=True)

    return show


class SectionedCommand(click.Command):
    """A command whose ``--help`` groups options under ``sections`` (title, names of params)."""

    def __init__(self, *args: Any, sections: Sequence[tuple[str, Sequence[str]]] = (), **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {}).setdefault("show_default", True)
        super().__init__(*args, **kwargs)
        self.sections = [(title, list(names)) for title, names in sections]

    def section_of(self, param: click.Parameter) -> str:
        return next((title for title, names in self.sections if param.name in names), OTHER)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list[tuple[str, str]]] = {title: [] for title, _ in self.sections}
        rows[OTHER] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                rows[self.section_of(param) if param.name != "help" else OTHER].append(record)
        for title, records in rows.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


class OutputDir(click.Path):
    """A folder to write into; an empty value (which would mean the current directory) is refused."""

    def __init__(self) -> None:
        super().__init__(file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            self.fail("empty path; name the folder to write into", param, ctx)
        return super().convert(value, param, ctx)


class DefaultGroup(click.Group):
    """A group that runs ``default_command`` when the first argument is no subcommand (e.g. an option)."""

    def __init__(self, *args: Any, default_command: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_command = default_command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, f"[{self.default_command}] [OPTIONS] | COMMAND [ARGS]...")
