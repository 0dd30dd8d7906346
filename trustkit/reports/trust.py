"""The trust report: the scorecard (a verdict per encoder and explainer, each against a stated threshold) and the sections."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .base import Report, jsonable
from .files import write_text_atomic
from .html import FAVOURABLE, headline_text, render_html

__all__ = ["MAX_SENSITIVITY", "MIN_FIDELITY", "TrustReport", "scorecard"]


#: the thresholds behind the scorecard's verdicts (stated on the page)
MAX_SENSITIVITY = 0.10
MIN_FIDELITY = 0.5


def _interval(value: float, low: float, high: float) -> str:
    if value is None or not np.isfinite(value):
        return "undefined"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _verdict(low: float, high: float, limit: float, good: str, bad: str, *, at_least: bool = False) -> str:
    """A verdict on an interval against a stated limit.

    ``good`` when the whole interval is on the right side of ``limit`` (at most
    it, or at least it with ``at_least``), ``bad`` when it is all on the wrong
    side, otherwise undecided.
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return "undefined"
    if (low >= limit) if at_least else (high <= limit):
        return good
    if (high < limit) if at_least else (low > limit):
        return bad
    return f"undecided (interval spans {limit:g})"


def _robustness_cell(report: Any) -> dict[str, str]:
    e = report.headline_estimate
    verdict = _verdict(e.low, e.high, MAX_SENSITIVITY, "robust", "sensitive")
    return {"robustness": _interval(e.statistic, e.low, e.high), "robustness verdict": verdict}


def _transfer_cell(row: Any) -> tuple[str, str]:
    text = f"{_interval(row.statistic, row.low, row.high)} (chance {row.chance:.2f}, majority {row.majority:.2f})"
    if not np.isfinite(row.low):
        return text, "undefined"
    if row.low > max(row.chance, row.majority):
        return text, "above chance and majority"
    if row.low > row.chance:
        return text, "above chance, not above majority"
    return text, "not distinguishable from chance"


def scorecard(robustness: dict[str, Any], comparison: Any, explanations: dict[str, Any]) -> dict[str, Any]:
    """The first screen: one verdict per encoder and question, each with its interval and stated threshold."""
    encoders = []
    for name, rep in robustness.items():
        row = {"encoder": name, **_robustness_cell(rep)}
        wide = comparison.wide()
        robust = comparison.under_perturbation
        for r in wide[wide["encoder"] == name].itertuples():
            text, verdict = _transfer_cell(r)
            row[f"{r.task} ({r.metric})"] = text
            row[f"{r.task} verdict"] = verdict
            drops = robust[(robust["encoder"] == name) & (robust["task"] == r.task)]
            if len(drops):  # the task under the imperceptible settings: the worst one, with its paired interval
                w = drops.loc[drops["drop"].idxmax()]
                row[f"{r.task} worst drop"] = f"{_interval(w['drop'], w['drop_low'], w['drop_high'])} ({w['setting']})"
        encoders.append(row)
    explained = []
    for name, rep in explanations.items():
        t = rep.table[rep.table["budget"] == ""].set_index("measure")
        fid = t.loc["fidelity"] if "fidelity" in t.index else None
        units = t.loc["n_units_90"] if "n_units_90" in t.index else None
        low, high = (float(fid["low"]), float(fid["high"])) if fid is not None else (np.nan, np.nan)
        explained.append({
            "explainer": name,
            "fidelity": _interval(float(fid["statistic"]), low, high) if fid is not None else "undefined",
            "fidelity verdict": _verdict(low, high, MIN_FIDELITY, "faithful", "not faithful", at_least=True),
            "complexity (units for 90 % of the attribution)": (
                _interval(float(units["statistic"]), float(units["low"]), float(units["high"])) if units is not None
                else "undefined") + f" of {rep.config['n_units']}",
        })
    level = f"{next(iter(robustness.values())).config.get('confidence', 0.95):.0%}" if robustness else "95%"
    return {
        "encoders": encoders,
        "explanations": explained,
        "meaning": [
            f"robustness: sensitivity, the share of clips that an imperceptible change moves nearer another "
            f"clip than their own original (lower is better); robust if the whole {level} interval is at most "
            f"{MAX_SENSITIVITY:g}, sensitive if it is all above.",
            f"transferability: probe score on held-out folds with its {level} interval; the verdict compares the "
            "interval's lower end with chance and with always answering the majority class. Worst drop: the largest "
            "loss of that score when each fold's probe, trained on clean clips, scores its test clips under one of "
            "the imperceptible settings (clean - perturbed, paired over clips).",
            "explanations: fidelity = the correlation, between random sets of units of equal size, of the model's "
            "response change and the one the explanation predicts (1 = exact ordering, 0 = no information about which "
            f"units matter, -1 = reversed); faithful if the interval's lower end is at least {MIN_FIDELITY:g}. Complexity: "
            "how many units hold 90 % of the attribution (fewer is simpler).",
        ],
    }


@dataclass(frozen=True, eq=False, repr=False)
class TrustReport(Report):
    """The trust report: the scorecard, one section per meter's report, and every number in one long table.

    Attributes
    ----------
    sections : list of dict
        One per report (title, note, summary, headline, tables, figure), as
        :meth:`Report.section` makes them.
    meta : dict
        Description, trustkit version, clips, encoders, seconds.
    scorecard : dict
        The first screen: one row per encoder and per explainer, each verdict
        with its interval and the threshold it was judged against.
    table : pandas.DataFrame
        The long table of every section (``section`` first), as
        :meth:`Report.to_long` gives it.

    ``float(report)`` is the share of the scorecard's verdicts that are
    favourable, so ``report.check(1.0)`` gates on every verdict at once.
    """

    sections: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)
    scorecard: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    config: dict[str, Any] = field(default_factory=dict)
    higher_is_better: ClassVar[bool] = True
    limit_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)
    limit_name: ClassVar[str] = "min_share"
    headline: ClassVar[str] = ("share of the scorecard's verdicts that are favourable (robust, above chance and "
                               "majority, faithful)")

    def _verdicts(self) -> list[str]:
        rows = [*self.scorecard.get("encoders", []), *self.scorecard.get("explanations", [])]
        return [str(v) for row in rows for k, v in row.items() if k.endswith("verdict")]

    def __float__(self) -> float:
        verdicts = self._verdicts()
        return sum(v in FAVOURABLE for v in verdicts) / len(verdicts) if verdicts else float("nan")

    def _measure_name(self) -> str:
        return "share of favourable verdicts"

    def _headline_n(self) -> float:
        return float(len(self._verdicts()))

    def ci_cases(self) -> list[tuple[str, bool, str]]:
        """One CI test case per section's headline (failing when undefined), then one per scorecard verdict."""
        cases = []
        for s in self.sections:
            value = s["headline"]
            ok = value is not None and np.isfinite(value)
            cases.append((s["title"], bool(ok), f"{s['measure']} {headline_text(value, s.get('interval'))}"))
        for row in [*self.scorecard.get("encoders", []), *self.scorecard.get("explanations", [])]:
            who = row.get("encoder") or row.get("explainer")
            for k, v in row.items():
                if k.endswith("verdict"):
                    cases.append((f"{who}: {k.removesuffix(' verdict')}", v in FAVOURABLE, f"{who}: {k} {v}"))
        return cases

    def paired_outcomes(self) -> dict[str, Any] | None:
        """Every section's paired outcomes, one part per section title (None when no section has them)."""
        parts = {s["title"]: s["paired"] for s in self.sections if s.get("paired")}
        return {"report": "TrustReport", "parts": parts} if parts else None

    def to_dict(self) -> dict[str, Any]:
        """The report document: what :func:`render_html` and ``trustkit report`` read (figures as base64 PNG)."""
        return jsonable({
            "report": "TrustReport", "version": self.meta.get("version", ""), "meta": self.meta,
            "scorecard": self.scorecard, "sections": self.sections, "paired": self.paired_outcomes(),
            "headline": {"value": float(self), "meaning": self.headline, "higher_is_better": True},
            "summary": self.summary(), "long": self.to_long(),
        })

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """One self-contained page: the scorecard first, then a section per report (:func:`render_html`)."""
        page = render_html(self.to_dict())
        if path is not None:
            write_text_atomic(path, page)
        return page

    def summary(self) -> str:
        """The scorecard's verdicts, then one line per section: its headline number."""
        lines = []
        for row in self.scorecard.get("encoders", []):
            verdicts = [f"{k.removesuffix(' verdict')}: {v}" for k, v in row.items() if k.endswith("verdict")]
            drops = [f"{k} {v}" for k, v in row.items() if k.endswith("worst drop")]
            lines.append(f"{row['encoder']}: robustness {row['robustness']}; " + "; ".join(verdicts + drops))
        for row in self.scorecard.get("explanations", []):
            lines.append(f"{row['explainer']}: fidelity {row['fidelity']} ({row['fidelity verdict']})")
        return "\n".join(lines + [
            f"{s['title']}: {headline_text(s['headline'], s.get('interval'))} "
            f"({'higher' if s['higher_is_better'] else 'lower'} is better)"
            for s in self.sections
        ])
