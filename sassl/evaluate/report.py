"""Evaluation reports: one JSON + Markdown pair per evaluation, and the cross-run comparison.

Every number is written next to the protocol line that produced it, because transfer numbers are
only comparable under the same protocol. Reports live in RUN_DIR/eval/<checkpoint>-<task>.{json,md}.
The comparison chart is drawn with PIL so the tool needs no plotting library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from sassl.atomic import atomic_open, atomic_write_text

PROBES = ("linear", "knn20", "knn200", "few_shot")


def report_stem(result: dict[str, Any]) -> str:
    return f"{Path(result['checkpoint']).stem}-{result['task']}"


def headline(result: dict[str, Any]) -> dict[str, float]:
    """The test numbers of one result, by probe name (percent)."""
    out: dict[str, float] = {}
    if "linear" in result:
        out["linear"] = 100 * result["linear"]["test"]
    for k, v in result.get("knn", {}).get("test", {}).items():
        out[f"knn{k}"] = 100 * v
    if "few_shot" in result:
        out["few_shot"] = 100 * result["few_shot"]["mean"]
    return out


def markdown(result: dict[str, Any]) -> str:
    """A one-evaluation Markdown report: a table of numbers, each row with its protocol line."""
    lines = [
        f"# Evaluation: {result['task']}",
        "",
        f"- checkpoint: `{result['checkpoint']}` (sha256 {result['checkpoint_sha256'][:12]}, "
        f"{result['backbone']['arch']})",
        f"- splits: {', '.join(f'{k} {v}' for k, v in result['splits'].items())} ({result['split_rule']})",
    ]
    if any(result.get("skipped", {}).values()):
        lines.append(f"- unreadable images skipped: {result['skipped']}")
    lines += ["", "| probe | metric | test | protocol |", "|---|---|---|---|"]
    if "linear" in result:
        lin = result["linear"]
        lines.append(
            f"| linear | {result['metric']} | {100 * lin['test']:.2f} | {lin['protocol']} "
            f"(chosen w = {lin['wd']:.3g}, val {100 * lin['val']:.2f}) |"
        )
    for k, v in result.get("knn", {}).get("test", {}).items():
        lines.append(f"| kNN k={k} | {result['metric']} | {100 * v:.2f} | {result['knn']['protocol']} |")
    if "few_shot" in result:
        fs = result["few_shot"]
        lines.append(
            f"| {fs['ways']}-way {fs['shots']}-shot | accuracy | {100 * fs['mean']:.2f} +- {100 * fs['ci95']:.2f} "
            f"| {fs['protocol']} |"
        )
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` atomically; returns their paths."""
    out_dir = Path(out_dir)
    stem = report_stem(result)
    jpath, mpath = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    atomic_write_text(jpath, json.dumps(result, indent=1) + "\n")
    atomic_write_text(mpath, markdown(result))
    return jpath, mpath


def load_results(run: str | Path) -> list[dict[str, Any]]:
    """All evaluation results of a run (RUN_DIR/eval/*.json, or RUN_DIR itself if it is an eval folder)."""
    run = Path(run)
    folder = run / "eval" if (run / "eval").is_dir() else run
    if not folder.is_dir():
        raise FileNotFoundError(f"{run}: no eval folder (run `sassl eval` first)")
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable evaluation result ({exc})") from None
        if isinstance(data, dict) and "task" in data and "checkpoint" in data:
            results.append(data)
    if not results:
        raise FileNotFoundError(f"{folder}: no evaluation results")
    return results


def comparison(runs: list[str | Path]) -> tuple[list[str], list[str], list[list[float | None]], list[str]]:
    """(row names, column names, values in percent or None, protocol lines) across runs.

    A row is a run (plus the checkpoint name when it is not ``last``); a column is task + probe.
    """
    rows: dict[str, dict[str, float]] = {}
    protocols: dict[str, str] = {}
    for run in runs:
        for res in load_results(run):
            stem = Path(res["checkpoint"]).stem
            name = Path(run).name + ("" if stem == "last" else f":{stem}")
            for probe, value in headline(res).items():
                col = f"{res['task']} {probe}"
                rows.setdefault(name, {})[col] = value
                section = res["linear"] if probe == "linear" else res["knn"] if probe.startswith("knn") else res["few_shot"]
                protocols[col] = section["protocol"]
    cols = sorted({c for r in rows.values() for c in r}, key=lambda c: (c.split()[0], PROBES.index(c.split()[1])))
    values = [[rows[r].get(c) for c in cols] for r in rows]
    return list(rows), cols, values, [f"{c}: {protocols[c]}" for c in cols]


def comparison_markdown(names: list[str], cols: list[str], values: list[list[float | None]], protocols: list[str]) -> str:
    head = "| run | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n"
    body = "".join(
        f"| {n} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in row) + " |\n" for n, row in zip(names, values)
    )
    return head + body + "\nProtocols:\n" + "".join(f"- {p}\n" for p in protocols)


PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def bar_chart(names: list[str], cols: list[str], values: list[list[float | None]], path: str | Path) -> Path:
    """Grouped bars (one group per column, one bar per run), y in percent, saved as PNG atomically."""
    font = ImageFont.load_default()
    group_w, bar_gap, left, top, bottom, plot_h = max(60, 28 * len(names) + 20), 4, 60, 30, 90, 300
    width = left + group_w * len(cols) + 20 + 180
    img = Image.new("RGB", (width, top + plot_h + bottom), "white")
    draw = ImageDraw.Draw(img)
    y0 = top + plot_h
    for tick in range(0, 101, 20):
        y = y0 - plot_h * tick / 100
        draw.line([(left, y), (left + group_w * len(cols), y)], fill=(225, 225, 225))
        draw.text((left - 30, y - 6), f"{tick}", fill="black", font=font)
    draw.line([(left, top), (left, y0), (left + group_w * len(cols), y0)], fill="black")
    bar_w = (group_w - 20) / max(1, len(names)) - bar_gap
    for gi, col in enumerate(cols):
        gx = left + gi * group_w + 10
        for ri in range(len(names)):
            v = values[ri][gi]
            if v is None:
                continue
            x = gx + ri * (bar_w + bar_gap)
            draw.rectangle([x, y0 - plot_h * max(0.0, min(v, 100.0)) / 100, x + bar_w, y0], fill=PALETTE[ri % len(PALETTE)])
            draw.text((x, y0 - plot_h * min(v, 100.0) / 100 - 12), f"{v:.0f}", fill="black", font=font)
        for li, part in enumerate(col.split()):
            draw.text((gx, y0 + 6 + 12 * li), part[:14], fill="black", font=font)
    lx = left + group_w * len(cols) + 30
    for ri, name in enumerate(names):
        draw.rectangle([lx, top + 16 * ri, lx + 10, top + 16 * ri + 10], fill=PALETTE[ri % len(PALETTE)])
        draw.text((lx + 16, top + 16 * ri - 1), name[:24], fill="black", font=font)
    draw.text((left, 8), "test accuracy (%)", fill="black", font=font)
    path = Path(path)
    with atomic_open(path, "wb") as f:
        img.save(f, format="PNG")
    return path


def compare_runs(runs: list[str | Path], chart: str | Path) -> str:
    """The comparison table (Markdown) across runs; also writes the bar chart to ``chart``."""
    names, cols, values, protocols = comparison(runs)
    bar_chart(names, cols, values, chart)
    return comparison_markdown(names, cols, values, protocols)
