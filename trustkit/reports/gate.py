"""The one gate of trustkit: a limit on a report's headline, checked by the report itself.

Every report class declares its headline's direction (``higher_is_better``),
the legal range of a limit on it (``limit_range``) and the limit's name
(``limit_name``, e.g. ``max_sensitivity``); :meth:`Report.check
<trustkit.reports.Report.check>` validates the limit against them, compares
the headline (or the unfavourable end of its interval) and raises one
:class:`~trustkit.GateError` of the report's own kind. The command line's
``--fail-above``/``--fail-below`` and :mod:`trustkit.testing` call it and hold
no ranges of their own: :func:`check_limit` checks a limit before any work,
from the report class alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_threshold

__all__ = ["check_limit", "gate"]


def check_limit(report: Any, limit: Any, *, name: str | None = None) -> float:
    """``limit`` as a float in the range a gate on ``report``'s headline allows (a report class or instance).

    Raises
    ------
    ValueError
        Naming the limit (``name``, else the report's ``limit_name``), its
        range and the value that came: a NaN or out-of-range limit could
        never fail (or never pass) and would make the gate meaningless.

    Examples
    --------
    >>> from trustkit import SensitivityReport
    >>> check_limit(SensitivityReport, 0.2)
    0.2
    >>> check_limit(SensitivityReport, 1.5, name="--fail-above")
    Traceback (most recent call last):
    ...
    ValueError: --fail-above must be in [0, 1], got 1.5.
    """
    low, high = report.limit_bounds() if not isinstance(report, type) else report.limit_range
    return check_threshold(limit, name or report.limit_name, low=low, high=high)


def gate(report: Any, limit: float, *, scope: str = "headline", use_interval: bool = False) -> str:
    """Compare ``report``'s headline with ``limit``; raise ``report.gate_error`` when it fails, else say what passed.

    Higher-is-better headlines must reach ``limit``, lower-is-better ones
    must not exceed it; an undefined (NaN) headline fails. With
    ``use_interval``, the unfavourable end of the headline's interval is
    compared instead. Other scopes (e.g. every setting) are the report's own
    (``report.gate_scopes``, ``report._gate_scope``).
    """
    limit = check_limit(report, limit)
    scopes = ("headline", *report.gate_scopes)
    if scope not in scopes:
        raise ValueError(f"scope must be one of {', '.join(map(repr, scopes))} for a {type(report).__name__}; "
                         f"got {scope!r}.")
    error = report.gate_error
    if scope != "headline":
        return report._gate_scope(scope, limit, use_interval, error)
    value, what = float(report), report._measure_name()
    if use_interval:
        interval = report._headline_interval()
        if interval is None:
            raise ValueError(f"{type(report).__name__} has no interval on its headline; use use_interval=False.")
        value = interval[0] if report.higher_is_better else interval[1]
        what = f"{'lower' if report.higher_is_better else 'upper'} end of the interval of the {what}"
    ok = value >= limit if report.higher_is_better else value <= limit  # NaN fails either way
    sign = (">=" if ok else "<") if report.higher_is_better else ("<=" if ok else ">")
    message = f"{what} {value:{report.value_format}} {sign} {limit:g}"
    if not np.isfinite(value):
        reason = report._undefined_reason()
        message = f"{what} is undefined{': ' + reason if reason else ''}, so it cannot pass {limit:g}"
    if not ok:
        detail = report._gate_detail(limit)
        raise error(f"{message} ({report.limit_name}){'; ' + detail if detail else ''}.")
    return message
