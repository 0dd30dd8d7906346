"""Assertions for a project's own test suite: gate a model on trust in CI.

Each helper runs a meter and raises ``AssertionError`` (so pytest reports a
failure, with the meter's summary in the message) when the model does not
meet the bar; it returns the report otherwise.

Examples
--------
In ``tests/test_model_trust.py`` of your project::

    from trustkit.testing import assert_sensitivity_below
    from mypackage import load_encoder, load_clips

    def test_encoder_is_robust_to_imperceptible_changes():
        X = load_clips(sr=22050)
        assert_sensitivity_below(load_encoder(), X, sr=22050, max_sensitivity=0.2)
"""

from __future__ import annotations

from typing import Any

from ._validation import check_threshold
from .exceptions import GateError
from .fidelity import FidelityComplexityReport, FidelityComplexityScorer
from .robustness import SensitivityGateError, SensitivityMeter, SensitivityReport
from .transferability import TransferabilityProbe, TransferReport

__all__ = ["assert_explanations_faithful", "assert_sensitivity_below", "assert_transfer_above"]


def assert_sensitivity_below(
    encoder: Any, X: Any, sr: int, *, max_sensitivity: float, perturbations: Any = "imperceptible",
    per_setting: bool = False, random_state: int = 0, **meter_params: Any,
) -> SensitivityReport:
    """Fail unless the encoder's sensitivity is at most ``max_sensitivity``.

    Runs :class:`~trustkit.SensitivityMeter` (seeded, so the gate is
    reproducible) and :meth:`~trustkit.SensitivityReport.check`.

    Raises
    ------
    AssertionError
        Listing the settings above the limit, followed by the report's summary.
    """
    check_threshold(max_sensitivity, "max_sensitivity", low=0, high=1)  # before any work
    report = SensitivityMeter(encoder, perturbations, sr=sr, random_state=random_state, **meter_params).score(X)
    try:
        report.check(max_sensitivity, per_setting=per_setting)
    except SensitivityGateError as exc:
        raise SensitivityGateError(f"{exc}\n\n{report.summary()}") from None
    return report


def assert_transfer_above(
    encoder: Any, X: Any, y: Any, *, min_score: float, use_lower_bound: bool = False, random_state: int = 0,
    **probe_params: Any,
) -> TransferReport:
    """Fail unless the probe's main metric reaches ``min_score``.

    With ``use_lower_bound=True`` the lower end of the bootstrap interval must
    reach it (a stricter gate that accounts for the sample size).
    """
    check_threshold(min_score, "min_score", high=1)  # before any work
    report = TransferabilityProbe(encoder, random_state=random_state, **probe_params).score(X, y)
    try:
        report.check(min_score, use_interval=use_lower_bound)  # the one gate (an undefined score fails)
    except GateError as exc:
        raise GateError(f"{exc} (min_score).\n\n{report.summary()}") from None
    return report


def assert_explanations_faithful(
    model: Any, X_background: Any, X: Any, explanations: Any, *, min_fidelity: float, random_state: int = 0,
    **scorer_params: Any,
) -> FidelityComplexityReport:
    """Fail unless the explanations' mean fidelity (``float(report)``) reaches ``min_fidelity``.

    Fidelity is the faithfulness correlation within coalition size: 1 when
    the explanation orders random coalitions of units as the model does, 0
    when it carries no information about which units matter (random, or an
    equal split of the total), -1 when reversed (see
    :class:`~trustkit.fidelity.FidelityComplexityScorer`).
    """
    check_threshold(min_fidelity, "min_fidelity", low=-1, high=1)  # before any work
    scorer = FidelityComplexityScorer(model, random_state=random_state, **scorer_params).fit(X_background)
    report = scorer.score(X, explanations)
    try:
        report.check(min_fidelity)  # the one gate (an undefined fidelity fails)
    except GateError as exc:
        raise GateError(f"{exc} (min_fidelity).\n\n{report.summary()}") from None
    return report
