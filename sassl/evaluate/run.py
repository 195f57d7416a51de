"""The one evaluation run: backbone -> cached features of a task's splits -> probes -> report.

Every evaluation (transfer targets, shards full or K-shot, with any of the linear, kNN and
few-shot probes) goes through :func:`evaluate`; what differs between them is data: the
:class:`~sassl.evaluate.tasks.Task` (splits, metric, protocol wording) and the probes. The CLI and
the demo call this function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Sequence

import torch

from sassl.atomic import atomic_write_text
from sassl.backbone import load_backbone
from sassl.device import resolve_device
from sassl.evaluate.features import Extractor, FeatureCache, Features, file_digest, input_normaliser
from sassl.evaluate.probe import LinearProbe
from sassl.evaluate.report import write_report
from sassl.evaluate.tasks import Task


class Probe(Protocol):
    """A way to score features: its result goes under ``key`` in the report, with its protocol line."""

    key: ClassVar[str]

    def run(self, feats: dict[str, Features], task: Task, pre: str, device: torch.device) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EvalOptions:
    """How features are computed and where things go; the same for every task and probe.

    ``out_dir`` defaults to ``<checkpoint folder>/eval``; features are cached under
    ``<out_dir>/features`` unless ``cache_dir`` is given.
    """

    image_size: int = 224
    batch_size: int = 64
    workers: int = 2
    device: str = "auto"
    cache_dir: str | Path | None = None
    out_dir: str | Path | None = None


def evaluate(
    checkpoint: str | Path,
    task: Task,
    probes: Sequence[Probe] = (LinearProbe(),),
    options: EvalOptions = EvalOptions(),
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on ``task`` with ``probes``; writes ``<out_dir>/<ckpt>-<task>.{json,md}``
    (and the task's files) and returns the result, with the report paths under ``report``."""
    checkpoint = Path(checkpoint)
    dev = resolve_device(options.device)
    net, dim, info = load_backbone(checkpoint)
    ex = Extractor(net, input_normaliser(info), options.image_size, dev, options.batch_size, options.workers)
    digest = file_digest(checkpoint)
    out_dir = Path(options.out_dir) if options.out_dir is not None else checkpoint.parent / "eval"
    cache = FeatureCache(options.cache_dir if options.cache_dir is not None else out_dir / "features")
    files: dict[str, str | None] = {}
    for key, entry in task.files.items():
        files[key] = None
        if entry is not None:
            atomic_write_text(out_dir / entry[0], entry[1])
            files[key] = str(out_dir / entry[0])

    feats: dict[str, Features] = {}
    for split, source in task.sources.items():
        fields = {**source.fields, "checkpoint": digest, "image_size": ex.image_size, "norm": ex.norm is not None}
        feats[split], _ = cache.get_or_compute(
            fields, lambda source=source, split=split: source.extract(ex, f"{task.name} {split}")
        )

    result: dict[str, Any] = {
        "kind": task.kind,
        "task": task.name,
        **task.info,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": digest,
        "backbone": {**info, "feature_dim": dim},
        "image_size": ex.image_size,
        "metric": task.metric,
        "num_classes": task.num_classes,
        **files,
        "split_rule": task.split_rule,
        "splits": {s: len(f) for s, f in feats.items()},
        "skipped": {s: f.skipped for s, f in feats.items()},
        **{probe.key: probe.run(feats, task, ex.protocol, dev) for probe in probes},
        "device": str(dev),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    jpath, mpath = write_report(result, out_dir)
    result["report"] = {"json": str(jpath), "markdown": str(mpath)}
    return result
