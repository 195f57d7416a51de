"""Training checkpoints: everything a resumed run needs, loadable with ``weights_only=True``.

A checkpoint holds the backbone record evaluation reads (:func:`backbone_record`), the method's
state (heads, momentum target, MoCo queue are all module state), the probe, optimisers, the step,
the data position (epoch, batches consumed in it), RNG states and counters. Writes are atomic: a
run killed while saving leaves the previous file intact.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sassl.atomic import atomic_torch_save
from sassl.weights import WeightsError, read_torch_file

LAST = "last.pt"


def epoch_name(epoch: int) -> str:
    return f"ckpt-epoch{epoch}.pt"


def save_checkpoint(state: dict[str, Any], run_dir: Path, name: str = LAST) -> Path:
    path = Path(run_dir) / name
    atomic_torch_save(state, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint without unpickling; one clear error for a bad file."""
    state = read_torch_file(path, "checkpoint to resume from")
    needed = {"method", "optimizer", "step", "epoch", "batch_in_epoch", "rng", "config"}
    if not isinstance(state, dict) or not needed <= set(state):
        raise WeightsError(f"{path}: not a sassl training checkpoint (needs {sorted(needed)})")
    return state


_EPOCH = re.compile(r"ckpt-epoch(\d+)\.pt")


def epoch_checkpoints(run_dir: str | Path) -> list[Path]:
    """The folder's epoch checkpoints, oldest epoch first."""
    found = [(int(m.group(1)), p) for p in Path(run_dir).glob("ckpt-epoch*.pt") if (m := _EPOCH.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def prune_epoch_checkpoints(run_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` epoch checkpoints (``keep`` 0: keep every one); returns the deleted.

    Called only after the newest one was written (atomically), so a crash at any point leaves at
    least ``keep`` complete checkpoints.
    """
    old = epoch_checkpoints(run_dir)[:-keep] if keep > 0 else []
    for p in old:
        p.unlink(missing_ok=True)
    return old
