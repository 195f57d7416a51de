"""Run metrics as JSON lines and CSV in the run directory (appended, so resumed runs continue)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

FIELDS = ("step", "epoch", "loss", "lr", "images_per_s", "probe_acc", "skipped", "without_generated")


class MetricsLog:
    """Appends one row per logged step to ``metrics.jsonl`` and ``metrics.csv``; rows after
    ``resume_step`` from a run that died after logging but before checkpointing are dropped."""

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.jsonl, self.csv = Path(run_dir) / "metrics.jsonl", Path(run_dir) / "metrics.csv"
        if resume_step is None:
            for p in (self.jsonl, self.csv):
                p.unlink(missing_ok=True)
        else:
            self._truncate(resume_step)

    def _truncate(self, step: int) -> None:
        rows = read_metrics(self.jsonl) if self.jsonl.exists() else []
        for p in (self.jsonl, self.csv):
            p.unlink(missing_ok=True)
        for r in rows:
            if r["step"] <= step:
                self.write(r)

    def write(self, row: dict[str, Any]) -> None:
        row = {k: row.get(k) for k in FIELDS}
        new = not self.csv.exists()
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with open(self.csv, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
