"""What CI systems read: JUnit XML (one test case per headline and per gate) and a Markdown job summary.

``trustkit sensitivity/transfer/explain/diff --junit FILE --markdown FILE``
write them; a run on GitHub Actions also appends the Markdown to the job's
summary (``$GITHUB_STEP_SUMMARY``). A failed gate is a failing test case whose
message carries the figure and its interval, so the CI's test view says which
number failed and by how much.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from ..exceptions import GateError

__all__ = ["GateOutcome", "junit_xml", "markdown_summary", "run_gate"]


@dataclass(frozen=True)
class GateOutcome:
    """One gate's result: which gate (e.g. ``"--fail-above 0.2"``), whether it passed, and what it said."""

    gate: str
    passed: bool
    message: str


def run_gate(report: Any, limit: float | None, *, name: str, **options: Any) -> GateOutcome | None:
    """``report.check(limit, **options)`` as a :class:`GateOutcome` (None without a limit); never raises on failure.

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit import TransferabilityProbe
    >>> rng = np.random.default_rng(0)
    >>> F = np.eye(2)[np.repeat([0, 1], 20)] + 0.3 * rng.standard_normal((40, 2))
    >>> report = TransferabilityProbe("precomputed", cv=2, n_bootstrap=50, random_state=0).score(F, np.repeat(["a", "b"], 20))
    >>> float(report)  # every item right, but 40 items cannot show 0.99: the interval's lower end is 0.91
    1.0
    >>> run_gate(report, 0.99, name="--fail-below 0.99", use_interval=True).passed
    False
    """
    if limit is None:
        return None
    try:
        return GateOutcome(name, True, report.check(limit, **options))
    except GateError as exc:
        return GateOutcome(name, False, str(exc))


def _figure(value: float, interval: tuple[float, float] | None) -> str:
    if not math.isfinite(value):
        return "undefined"
    text = f"{value:.3f}"
    if interval is not None and all(math.isfinite(v) for v in interval):
        text += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
    return text


def headline_cases(report: Any) -> list[tuple[str, bool, str]]:
    """The report's headlines as test cases ``(name, passed, message)``: a report says which of its own fail."""
    cases = getattr(report, "ci_cases", None)
    if cases is not None:
        return cases()
    value = float(report)
    interval = report._headline_interval()
    what = report._measure_name()
    text = f"{what} {_figure(value, interval)} ({'higher' if report.higher_is_better else 'lower'} is better)"
    if not math.isfinite(value):
        reason = report._undefined_reason()
        return [(what, False, f"{what} is undefined{': ' + reason if reason else ''}")]
    return [(what, True, text)]


def junit_xml(report: Any, gates: list[GateOutcome] = (), *, suite: str = "trustkit") -> str:  # type: ignore[assignment]
    """A JUnit XML document: a test case per headline of ``report`` and per gate; failures carry the figure.

    Parsed by GitHub Actions test reporters, GitLab, Jenkins, Azure and
    CircleCI. A case's ``system-out`` holds the figure with its interval
    whether it passed or failed.

    Examples
    --------
    >>> import numpy as np, xml.etree.ElementTree as ET
    >>> from trustkit import TransferabilityProbe
    >>> rng = np.random.default_rng(0)
    >>> F = np.eye(2)[np.repeat([0, 1], 20)] + 0.3 * rng.standard_normal((40, 2))
    >>> report = TransferabilityProbe("precomputed", cv=2, n_bootstrap=50, random_state=0).score(F, np.repeat(["a", "b"], 20))
    >>> root = ET.fromstring(junit_xml(report, [run_gate(report, 0.99, name="--fail-below 0.99", use_interval=True)]))
    >>> root.get("tests"), root.get("failures"), [c.get("name") for c in root.iter("testcase")]
    ('2', '1', ['headline: accuracy', 'gate: --fail-below 0.99'])
    """
    kind = type(report).__name__
    cases = [(f"headline: {name}", ok, message) for name, ok, message in headline_cases(report)]
    cases += [(f"gate: {g.gate}", g.passed, g.message) for g in gates]
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)), failures=str(sum(not ok for _, ok, _ in cases)))
    ts = ET.SubElement(root, "testsuite", name=f"{suite}.{kind}", tests=str(len(cases)),
                       failures=str(sum(not ok for _, ok, _ in cases)), errors="0", skipped="0")
    for name, ok, message in cases:
        case = ET.SubElement(ts, "testcase", classname=f"{suite}.{kind}", name=name)
        if not ok:
            ET.SubElement(case, "failure", message=message, type="GateError").text = message
        ET.SubElement(case, "system-out").text = message
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_summary(report: Any, gates: list[GateOutcome] = (), *, title: str = "") -> str:  # type: ignore[assignment]
    """A Markdown job summary: a table of the headlines and gates (passed or failed, with the figure), then the summary.

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit import TransferabilityProbe
    >>> rng = np.random.default_rng(0)
    >>> F = np.eye(2)[np.repeat([0, 1], 20)] + 0.3 * rng.standard_normal((40, 2))
    >>> report = TransferabilityProbe("precomputed", cv=2, n_bootstrap=50, random_state=0).score(F, np.repeat(["a", "b"], 20))
    >>> print(markdown_summary(report).splitlines()[0])
    ### trustkit: TransferReport
    """
    cases = [(f"headline: {n}", ok, m) for n, ok, m in headline_cases(report)]
    cases += [(f"gate: {g.gate}", g.passed, g.message) for g in gates]
    lines = [f"### {title or 'trustkit: ' + type(report).__name__}", "", "| check | result | figure |", "|---|---|---|"]
    lines += [f"| {_cell(n)} | {'passed' if ok else '**FAILED**'} | {_cell(m)} |" for n, ok, m in cases]
    lines += ["", "<details><summary>summary</summary>", "", "```", report.summary(), "```", "", "</details>", ""]
    return "\n".join(lines)
