"""What an evaluation runs on: a task is data (splits, metric, protocol wording), not a function.

A :class:`Task` says where the features of its ``train``/``val``/``test`` splits come from (cache
fields plus an extraction), how they are scored (metric, number of classes) and how to describe
that in a report (split rule, what the regulariser is chosen on, whether val joins the labelled
set). :func:`sassl.evaluate.run.evaluate` does the rest the same way for every task: load the
backbone, fetch or extract the features, run the probes, write the report. Transfer targets
(:func:`sassl.evaluate.transfer.transfer_task`) and ImageNet-style shards, full or K-shot
(:func:`sassl.evaluate.shards.shards_task`), are built here; a new target or protocol is one more
builder of a :class:`Task`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sassl.evaluate.features import Extractor, Features


@dataclass(frozen=True)
class Source:
    """One split's features: the fields that identify them in the cache, and how to extract them."""

    fields: dict[str, Any]
    extract: Callable[[Extractor, str], Features]  # (extractor, progress label) -> features


@dataclass(frozen=True)
class Task:
    """An evaluation target and its protocol.

    ``refit``: whether the val split may join the labelled data for the final fit (and kNN memory);
    K-shot protocols keep it out so that the labelled set stays K images per class.
    ``files``: report-side files the task leaves for reuse, by result key: (file name, text), or
    None to record that there is none (the K-shot subset).
    ``info``: task-specific result entries (target and partition; shard specs).
    """

    kind: str
    name: str
    metric: str
    num_classes: int
    split_rule: str
    sources: dict[str, Source]
    val_rule: str = "val"
    refit: bool = True
    fit_rule: str = "refit train+val"
    info: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, str] | None] = field(default_factory=dict)

    @property
    def labelled(self) -> tuple[str, ...]:
        """The splits whose labels the final classifier may use."""
        return ("train", "val") if self.refit else ("train",)
