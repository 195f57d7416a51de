"""Online kNN monitor: the backbone's weighted 20-NN accuracy on a held-out labelled set, during training.

The linear probe trained alongside (``probe_acc``) sees the training views; this monitor answers the
question solo-learn users ask of a run in progress, "do the features separate unseen images yet?",
with the evaluation protocol's own pieces: the transfer data loaders (``load_target``), frozen
feature extraction (centre crop at the view size, the input normalisation the checkpoint records)
and the weighted kNN of ``sassl.evaluate.knn`` (k = 20, T = 0.07). Memory = train (+ val), queries =
test. Features are recomputed at every evaluation (the backbone changes), so keep the set small
(a few thousand images).

The global torch RNG is left as it was (feature loaders draw a seed from it), so a monitored run
reproduces an unmonitored one and resumes exactly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import ConcatDataset

from sassl.evaluate.datasets import IMAGEFOLDER, TARGETS, DatasetLayoutError, load_target
from sassl.evaluate.features import Extractor, input_normaliser
from sassl.evaluate.knn import knn_predict
from sassl.evaluate.metrics import score
from sassl.imagenet import IMAGENET_MEAN, IMAGENET_STD

K = 20


def parse_monitor_spec(spec: str) -> tuple[str, str | None]:
    """``FOLDER`` (train/ [val/] test/ class folders), ``imagefolder:FOLDER`` or ``TARGET:DATA_ROOT``
    (a transfer target of ``sassl eval``, e.g. ``cifar10:/data``) -> (target, data_root)."""
    name, sep, rest = spec.partition(":")
    if sep and name in TARGETS:
        return name, rest
    if spec.startswith(IMAGEFOLDER):
        return spec, None
    return IMAGEFOLDER + spec, None


class KnnMonitor:
    """Opens the held-out set once (a bad layout fails before training starts); call it with the
    backbone to get the accuracy."""

    def __init__(self, spec: str, image_size: int, workers: int, seed: int = 0, batch_size: int = 256) -> None:
        target, root = parse_monitor_spec(spec)
        try:
            data = load_target(target, root, seed=seed)
        except DatasetLayoutError as exc:  # its message shows the layout over several lines: make it one
            raise DatasetLayoutError(f"--knn-monitor {spec}: " + "; ".join(str(exc).splitlines())) from None
        self.metric, self.num_classes = data.metric, data.num_classes
        self.memory = ConcatDataset([data.splits["train"].dataset, data.splits["val"].dataset])
        self.queries = data.splits["test"].dataset
        self.image_size, self.workers, self.batch_size = image_size, workers, batch_size

    def __call__(self, backbone: nn.Module, device: torch.device) -> float:
        norm = input_normaliser({"input_mean": IMAGENET_MEAN, "input_std": IMAGENET_STD})  # as in training
        was_training = backbone.training
        try:
            extractor = Extractor(backbone, norm, self.image_size, device, self.batch_size, self.workers)
            with torch.random.fork_rng(devices=[]):
                feats = [extractor.dataset(ds, desc=f"kNN monitor ({name})")
                         for ds, name in ((self.memory, "memory"), (self.queries, "queries"))]
        finally:
            backbone.train(was_training)
        memory, queries = feats
        pred = knn_predict(memory.x, memory.y, queries.x, K, num_classes=self.num_classes, device=device)
        return score(self.metric, pred, queries.y)
