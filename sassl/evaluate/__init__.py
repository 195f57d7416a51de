"""Evaluation of pretrained backbones: transfer linear probe, kNN, few-shot, shard (K-shot) probes, reports."""

from sassl.evaluate.datasets import DatasetLayoutError, TransferData, load_target, target_names
from sassl.evaluate.probe import WD_GRID, LBFGSConfig, linear_probe
from sassl.evaluate.report import compare_runs, load_results
from sassl.evaluate.shards import evaluate_shards
from sassl.evaluate.transfer import evaluate_transfer

__all__ = [
    "DatasetLayoutError",
    "LBFGSConfig",
    "TransferData",
    "WD_GRID",
    "compare_runs",
    "evaluate_shards",
    "evaluate_transfer",
    "linear_probe",
    "load_results",
    "load_target",
    "target_names",
]
