"""Transferability: probes with honest intervals, training-free estimators, comparisons."""

from .compare import ComparisonReport, compare_encoders
from .estimators import ESTIMATORS, gbc, h_score, knn_loo_accuracy, leep, logme, nce, transrate
from .probe import TransferabilityProbe, TransferReport, detect_task

__all__ = [
    "ESTIMATORS",
    "ComparisonReport",
    "TransferReport",
    "TransferabilityProbe",
    "compare_encoders",
    "detect_task",
    "gbc",
    "h_score",
    "knn_loo_accuracy",
    "leep",
    "logme",
    "nce",
    "transrate",
]
