"""Transferability: probes with honest intervals, training-free estimators, comparisons."""

from .estimators import ESTIMATORS, gbc, h_score, knn_loo_accuracy, leep, logme, nce, transrate
from .probe import TransferabilityProbe, TransferReport, detect_task

__all__ = [
    "ESTIMATORS",
    "TransferReport",
    "TransferabilityProbe",
    "detect_task",
    "gbc",
    "h_score",
    "knn_loo_accuracy",
    "leep",
    "logme",
    "nce",
    "transrate",
]
