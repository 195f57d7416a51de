"""Transfer targets as evaluation tasks: a data set's official (or carved) splits, its metric, its name."""

from __future__ import annotations

from pathlib import Path

from sassl.evaluate.datasets import IMAGEFOLDER, SPLITS, Split, load_target
from sassl.evaluate.features import FeatureCache
from sassl.evaluate.tasks import Source, Task

PARTITIONED = ("dtd", "sun397")


def task_name(target: str, root: Path, partition: int) -> str:
    """Report name of an evaluation: the target, its partition where it has several, the folder name."""
    if target.startswith(IMAGEFOLDER):
        return f"imagefolder-{Path(root).name}"
    return f"{target}-p{partition}" if target in PARTITIONED else target


def transfer_task(target: str, data_root: str | Path | None = None, partition: int = 1, seed: int = 0) -> Task:
    """The task of a transfer target (see :func:`sassl.evaluate.datasets.load_target`); a bad layout
    raises here, before any backbone is loaded. Val is the target's val split; refit on train+val."""
    data = load_target(target, data_root, partition=partition, seed=seed)
    root = str(Path(data.root).resolve())

    def source(split: str, sp: Split) -> Source:
        fields = {"data": data.target, "root": root, "partition": partition, "seed": seed, "split": split,
                  "n": len(sp), "labels": FeatureCache.key({"y": sp.labels.tolist()})}
        return Source(fields, lambda ex, desc: ex.dataset(sp.dataset, desc))

    return Task(
        kind="transfer",
        name=task_name(target, data.root, partition),
        metric=data.metric,
        num_classes=data.num_classes,
        split_rule=data.split_rule,
        sources={s: source(s, data.splits[s]) for s in SPLITS},
        info={"target": data.target, "partition": partition},
    )
