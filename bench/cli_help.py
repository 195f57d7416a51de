"""Benchmark: how long ``sassl --help`` and every ``sassl CMD --help`` take, as a user runs them.

Each command line runs as a fresh subprocess (interpreter start-up included), ``--repeats`` times,
and the median is printed. Commands are found by walking the click group, so new commands are
timed too. For reference the same is done for ``python -c "import torch, ray, torchvision"``: what
every ``--help`` paid before the CLI imported its libraries only when a command runs.

    python bench/cli_help.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import click

from sassl.cli import main


def command_paths(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    for name, cmd in sorted(group.commands.items()):
        out += command_paths(cmd, (*path, name)) if isinstance(cmd, click.Group) else [(*path, name)]
    return out


def median_seconds(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cli = [sys.executable, "-c", "from sassl.cli import main; main()"]
    rows = [(f"sassl {' '.join(p)} --help".replace("  ", " "), median_seconds([*cli, *p, "--help"], args.repeats))
            for p in command_paths(main)]
    heavy = median_seconds([sys.executable, "-c", "import torch, ray, torchvision"], args.repeats)
    bare = median_seconds([sys.executable, "-c", "pass"], args.repeats)
    print(f"| command | median of {args.repeats} (s) |\n|---|---:|")
    for name, seconds in rows:
        print(f"| `{name}` | {seconds:.3f} |")
    print(f"| reference: `python -c \"import torch, ray, torchvision\"` | {heavy:.3f} |")
    print(f"| reference: `python -c pass` (interpreter start) | {bare:.3f} |")
    print(f"slowest --help {max(s for _, s in rows):.3f} s; importing the libraries alone {heavy:.3f} s")


if __name__ == "__main__":
    main_bench()
