"""The command line as a user meets it: instant help, sectioned options, and no traceback on bad input.

The bad-input sweep walks the ``sassl`` click group, so a new command or option is covered without
editing this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sassl.cli import main
from sassl.cli.base import OTHER, SectionedCommand

HEAVY = ("torch", "ray", "torchvision", "pyarrow", "webdataset", "diffusers", "transformers")


def leaf_commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from leaf_commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def test_importing_the_cli_imports_nothing_heavy():
    code = f"import sys, sassl.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


@pytest.mark.parametrize("path", [("train",), ("precompute",), ("generate",), ("eval", "run")])
def test_main_commands_group_every_option_with_help_defaults_and_examples(path):
    cmd = main
    for name in path:
        cmd = cmd.commands[name]
    assert isinstance(cmd, SectionedCommand)
    ctx = click.Context(cmd, info_name=" ".join(path))
    for param in cmd.params:
        assert isinstance(param, click.Option) and param.help, f"--{param.name} has no help"
        assert cmd.section_of(param) != OTHER, f"--{param.name} is in no section of {path}"
    text = cmd.get_help(ctx)
    assert "[default: " in text and text.count("sassl ") >= 3 and "Examples:" in text


def test_eval_compare_is_its_own_command_and_eval_options_route_to_run(tmp_path):
    runner = CliRunner()
    compare = runner.invoke(main, ["eval", "compare", "--help"])
    assert compare.exit_code == 0 and "--chart" in compare.output and "--checkpoint" not in compare.output
    res = runner.invoke(main, ["eval", "--checkpoint", str(tmp_path / "x.pt")], prog_name="sassl")
    assert res.exit_code == 2 and res.stderr.strip().splitlines() == [
        "Error: give --checkpoint and exactly one of --transfer TARGET or --shards SPEC (see 'sassl eval run --help')"]


def _bad_values(tmp: Path) -> dict[str, str]:
    junk = tmp / "weights.txt"
    junk.write_text("not weights, not images, not a bank\n")
    return {"empty": "", "missing": str(tmp / "no" / "such" / "file"), "junk": str(junk)}


# Output locations: a path that does not exist yet is a valid value for them, not a bad one.
OUTPUTS = {"out", "out_dir", "cache_dir", "chart"}


def _invocations(cmd: click.Command, kind: str, bad: str):
    """Required parameters get ``bad`` (a Choice gets its first choice, so the command gets past
    parsing), then each optional value option in turn is ``bad`` as well. A command without
    required parameters is not run bare (``sassl demo`` is a valid command line)."""
    required: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        value = p.type.choices[0] if isinstance(p.type, click.Choice) else bad
        required += [value] if isinstance(p, click.Argument) else [p.opts[0], value]
    if required:
        yield required
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.is_flag and not p.required and not (kind == "missing" and p.name in OUTPUTS):
            yield required + [p.opts[0], *[bad] * p.nargs]
    yield [*required, "--no-such-option"]


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.slow
def test_every_command_answers_bad_input_with_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default output folders (demo-run, eval-compare.png) would land here
    runner = CliRunner()
    bad_values = _bad_values(tmp_path)
    before = _snapshot(tmp_path)
    checked = 0
    for path, cmd in leaf_commands(main):
        for kind, bad in bad_values.items():
            for args in _invocations(cmd, kind, bad):
                argv = [*path, *args]
                res = runner.invoke(main, argv)
                where = f"sassl {' '.join(map(repr, argv))} ({kind})"
                assert res.exception is None or isinstance(res.exception, SystemExit), f"{where}: {res.exc_info}"
                assert res.exit_code != 0, f"{where} succeeded: {res.output}"
                lines = [line for line in res.stderr.splitlines() if line.strip()]
                assert len(lines) == 1 and lines[0].startswith("Error: "), f"{where}: stderr {lines}"
                assert _snapshot(tmp_path) == before, f"{where} left {_snapshot(tmp_path) - before}"
                checked += 1
    assert checked > 100


ISSUE_CASES = [
    ["precompute", "--shards", "", "--out", "bank"],
    ["stylizer", "train", "--content", "/nonexistent", "--style", "/nonexistent", "--out", "dec"],
    ["demo", "--stylizer", "adain", "--encoder-weights", "weights.txt", "--out", "demo"],
]


@pytest.mark.slow
@pytest.mark.parametrize("args", ISSUE_CASES, ids=lambda a: " ".join(a[:2]))
def test_reported_cases_end_in_one_line_not_a_traceback(args, tmp_path):
    (tmp_path / "weights.txt").write_text("not weights\n")
    before = _snapshot(tmp_path)
    cli = [sys.executable, "-c", "from sassl.cli import main; main()"]
    res = subprocess.run(cli + args, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("Error: ")
    assert _snapshot(tmp_path) == before
