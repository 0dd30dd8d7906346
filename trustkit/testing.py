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

from .fidelity import FidelityComplexityReport, FidelityComplexityScorer
from .reports import Report
from .reports.gate import check_limit
from .robustness import SensitivityMeter, SensitivityReport
from .transferability import TransferabilityProbe, TransferReport

__all__ = ["assert_explanations_faithful", "assert_not_worse", "assert_sensitivity_below", "assert_transfer_above"]


def _gate(report: Report, limit: float, **options: Any) -> Report:
    """The report's own gate; a failure carries the report's summary as a note (pytest prints it)."""
    try:
        report.check(limit, **options)
    except AssertionError as exc:
        exc.add_note(report.summary())
        raise
    return report


def assert_sensitivity_below(
    encoder: Any, X: Any, sr: int, *, max_sensitivity: float, perturbations: Any = "imperceptible",
    scope: str = "headline", use_interval: bool = False, random_state: int = 0, **meter_params: Any,
) -> SensitivityReport:
    """Fail unless the encoder's sensitivity is at most ``max_sensitivity``.

    Runs :class:`~trustkit.SensitivityMeter` (seeded, so the gate is
    reproducible) and :meth:`~trustkit.SensitivityReport.check` (``scope``:
    ``"headline"`` or ``"per_setting"``; ``use_interval``: the upper end of
    the interval must pass).

    Raises
    ------
    SensitivityGateError
        An ``AssertionError`` listing the settings above the limit, with the
        report's summary as a note.
    """
    check_limit(SensitivityReport, max_sensitivity)  # before any work
    report = SensitivityMeter(encoder, perturbations, sr=sr, random_state=random_state, **meter_params).score(X)
    return _gate(report, max_sensitivity, scope=scope, use_interval=use_interval)


def assert_transfer_above(
    encoder: Any, X: Any, y: Any, *, min_score: float, use_interval: bool = False, random_state: int = 0,
    **probe_params: Any,
) -> TransferReport:
    """Fail unless the probe's main metric reaches ``min_score``.

    With ``use_interval=True`` the lower end of the bootstrap interval must
    reach it (a stricter gate that accounts for the sample size).
    """
    check_limit(TransferReport, min_score)  # before any work
    report = TransferabilityProbe(encoder, random_state=random_state, **probe_params).score(X, y)
    return _gate(report, min_score, use_interval=use_interval)


def assert_explanations_faithful(
    model: Any, X_background: Any, X: Any, explanations: Any, *, min_fidelity: float, use_interval: bool = False,
    random_state: int = 0, **scorer_params: Any,
) -> FidelityComplexityReport:
    """Fail unless the explanations' mean fidelity (``float(report)``) reaches ``min_fidelity``.

    Fidelity is the faithfulness correlation within coalition size: 1 when
    the explanation orders random coalitions of units as the model does, 0
    when it carries no information about which units matter (random, or an
    equal split of the total), -1 when reversed (see
    :class:`~trustkit.fidelity.FidelityComplexityScorer`).
    """
    check_limit(FidelityComplexityReport, min_fidelity)  # before any work
    scorer = FidelityComplexityScorer(model, random_state=random_state, **scorer_params).fit(X_background)
    return _gate(scorer.score(X, explanations), min_fidelity, use_interval=use_interval)


def assert_not_worse(report: Report, released: Any, *, margin: float = 0.02, strict: bool = False) -> Any:
    """Fail when ``report`` is worse than a ``released`` run on the same clips, clip by clip, beyond ``margin``.

    ``released`` is the report of the model you shipped, or the path of its
    JSON (``--json`` or ``report.to_json``), kept beside the tests. The runs
    must share clips, settings and seed (else :class:`~trustkit.reports.diff.NotComparableError`);
    the decision rule (paired tests, Holm, a TOST margin) is
    :mod:`trustkit.reports.diff`'s. With ``strict``, a headline not shown
    equivalent fails too.

    Returns
    -------
    DiffReport

    Raises
    ------
    RegressionError
        An ``AssertionError`` naming the headlines found worse, with the
        comparison's summary as a note.
    """
    diff = report.compare_to(released, margin=margin)
    return _gate(diff, 0, scope="undecided" if strict else "headline")
