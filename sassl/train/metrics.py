"""Run metrics as JSON lines and CSV in the run directory (appended, so resumed runs continue),
and optionally as TensorBoard scalars beside them (``RUN/tensorboard/``)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

FIELDS = ("step", "epoch", "loss", "lr", "images_per_s", "probe_acc", "knn_acc", "skipped", "aux_loss",
          "without_generated")
TENSORBOARD_DIR = "tensorboard"
TENSORBOARD_MISSING = ("--tensorboard needs the 'tensorboard' package: pip install 'sassl[tensorboard]' "
                       "(or pip install tensorboard)")


def require_tensorboard() -> None:
    """Fail before training starts when TensorBoard logging is asked for but not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ValueError(TENSORBOARD_MISSING) from None


class MetricsLog:
    """Appends one row per logged step to ``metrics.jsonl`` and ``metrics.csv``; rows after
    ``resume_step`` from a run that died after logging but before checkpointing are dropped (and
    purged from TensorBoard's event files the same way)."""

    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = False) -> None:
        self.jsonl, self.csv = Path(run_dir) / "metrics.jsonl", Path(run_dir) / "metrics.csv"
        self.tb = None
        if resume_step is None:
            for p in (self.jsonl, self.csv):
                p.unlink(missing_ok=True)
        else:
            self._truncate(resume_step)
        if tensorboard:
            require_tensorboard()
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            self.tb = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=purge)

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
        if self.tb is not None:
            for key in FIELDS[2:]:
                if row[key] is not None:
                    self.tb.add_scalar(f"train/{key}", row[key], row["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
