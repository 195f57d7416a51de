"""Evaluation of pretrained backbones: one run (:func:`evaluate`) over tasks (transfer targets, shards
full or K-shot) and probes (linear, kNN, few-shot), with reports and cross-run comparison."""

from sassl.evaluate.datasets import DatasetLayoutError, TransferData, load_target, target_names
from sassl.evaluate.fewshot import FewShotProbe
from sassl.evaluate.knn import KNNProbe
from sassl.evaluate.probe import WD_GRID, LBFGSConfig, LinearProbe, linear_probe
from sassl.evaluate.report import compare_runs, load_results
from sassl.evaluate.run import EvalOptions, Probe, evaluate
from sassl.evaluate.shards import shards_task
from sassl.evaluate.tasks import Source, Task
from sassl.evaluate.transfer import transfer_task

__all__ = [
    "DatasetLayoutError",
    "EvalOptions",
    "FewShotProbe",
    "KNNProbe",
    "LBFGSConfig",
    "LinearProbe",
    "Probe",
    "Source",
    "Task",
    "TransferData",
    "WD_GRID",
    "compare_runs",
    "evaluate",
    "linear_probe",
    "load_results",
    "load_target",
    "shards_task",
    "target_names",
    "transfer_task",
]
