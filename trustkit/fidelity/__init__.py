"""Explanations judged by fidelity to the black box against their complexity."""

from .audio import (
    TimeFrequencySegments,
    TimeSegments,
    explain_with_lime,
    explain_with_shap,
    mfcc_classifier,
    shared_responses,
)
from .scorer import ExplanationComparison, FidelityComplexityReport, FidelityComplexityScorer, complexity

__all__ = [
    "ExplanationComparison",
    "FidelityComplexityReport",
    "FidelityComplexityScorer",
    "TimeFrequencySegments",
    "TimeSegments",
    "complexity",
    "explain_with_lime",
    "explain_with_shap",
    "mfcc_classifier",
    "shared_responses",
]
