"""The trust report: robustness, transferability and explanations of encoders, in one page."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ._interrupt import check as check_interrupt
from .reports import Report, jsonable, version, write_text_atomic
from .reports.html import FAVOURABLE, check_report_document, headline_text, render_html

__all__ = ["TrustReport", "check_report_document", "render_html", "run_trust_report"]


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
    return {"robustness": _interval(e.value, e.low, e.high), "robustness verdict": verdict}


def _transfer_cell(row: Any) -> tuple[str, str]:
    text = f"{_interval(row.value, row.low, row.high)} (chance {row.chance:.2f}, majority {row.majority:.2f})"
    if not np.isfinite(row.low):
        return text, "undefined"
    if row.low > max(row.chance, row.majority):
        return text, "above chance and majority"
    if row.low > row.chance:
        return text, "above chance, not above majority"
    return text, "not distinguishable from chance"


def _scorecard(robustness: dict[str, Any], comparison: Any, explanations: dict[str, Any]) -> dict[str, Any]:
    """The first screen: one verdict per encoder and question, each with its interval and stated threshold."""
    encoders = []
    for name, rep in robustness.items():
        row = {"encoder": name, **_robustness_cell(rep)}
        for r in comparison.table[comparison.table["encoder"] == name].itertuples():
            text, verdict = _transfer_cell(r)
            row[f"{r.task} ({r.metric})"] = text
            row[f"{r.task} verdict"] = verdict
        encoders.append(row)
    explained = []
    for name, rep in explanations.items():
        t = rep.table.set_index("measure")
        fid = t.loc["fidelity"] if "fidelity" in t.index else None
        units = t.loc["n_units_90"] if "n_units_90" in t.index else None
        low, high = (float(fid["low"]), float(fid["high"])) if fid is not None else (np.nan, np.nan)
        explained.append({
            "explainer": name,
            "fidelity": _interval(float(fid["mean"]), low, high) if fid is not None else "undefined",
            "fidelity verdict": _verdict(low, high, MIN_FIDELITY, "faithful", "not faithful", at_least=True),
            "complexity (units for 90 % of the attribution)": (
                _interval(float(units["mean"]), float(units["low"]), float(units["high"])) if units is not None
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
            "interval's lower end with chance and with always answering the majority class.",
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

    def _long(self) -> pd.DataFrame:
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """The report document: what :func:`render_html` and ``trustkit report`` read (figures as base64 PNG)."""
        return jsonable({
            "report": "TrustReport", "version": self.meta.get("version", ""), "meta": self.meta,
            "scorecard": self.scorecard, "sections": self.sections,
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
            lines.append(f"{row['encoder']}: robustness {row['robustness']}; " + "; ".join(verdicts))
        for row in self.scorecard.get("explanations", []):
            lines.append(f"{row['explainer']}: fidelity {row['fidelity']} ({row['fidelity verdict']})")
        return "\n".join(lines + [
            f"{s['title']}: {headline_text(s['headline'], s.get('interval'))} "
            f"({'higher' if s['higher_is_better'] else 'lower'} is better)"
            for s in self.sections
        ])


def run_trust_report(
    X: np.ndarray,
    labels: pd.DataFrame,
    *,
    sr: int,
    encoders: dict[str, Any],
    fast: bool = False,
    random_state: int = 0,
    n_jobs: int | None = None,
    stream: Any = None,
    description: str = "",
    verbose: bool = False,
    share: bool = True,
) -> TrustReport:
    """Run the three meters on clips ``X`` with label columns ``labels``.

    - robustness: :class:`~trustkit.SensitivityMeter` for every encoder (MFCC as
      baseline), the study's imperceptible grid (two families when ``fast``);
    - transferability: :func:`~trustkit.compare_encoders` on every label column;
    - explanations: a logistic-regression classifier on MFCC statistics for the
      first label, explained by LIME and Kernel SHAP over time segments and scored
      by :class:`~trustkit.FidelityComplexityScorer`.

    ``stream`` receives one line per step (stderr when ``verbose``, nothing
    otherwise); with ``verbose``, every meter and explainer also shows a
    progress bar on stderr. Warnings are the meters' own, never silenced. With ``share`` (the
    default), the meters share their work: one cache (a temporary folder,
    removed at the end) holds each perturbed setting and each embedding, so
    every setting is perturbed once and every (encoder, setting) embedded once
    across meters, and LIME, SHAP and the scorer share the model's responses
    to the same masked clips. ``share=False`` runs every meter on its own (the
    same numbers, more time; ``benchmarks/bench_demo.py`` compares the two).
    """
    stream = stream if stream is not None else (sys.stderr if verbose else None)
    t_start = time.perf_counter()
    # one cache for the whole report: each setting is perturbed once, the MFCC baseline embeds each setting once
    # for every meter, and the transferability step reuses the originals' embeddings of the robustness step
    import tempfile

    import joblib

    kwargs = {"sr": sr, "encoders": encoders, "fast": fast, "random_state": random_state, "n_jobs": n_jobs,
              "stream": stream, "description": description, "t_start": t_start, "verbose": verbose}
    if not share:
        return _run_trust_report(X, labels, memory=None, shared=contextlib.nullcontext, **kwargs)
    from .fidelity import shared_responses

    # ignore_cleanup_errors: after Ctrl-C a worker thread may still be writing into the cache while it is removed
    with tempfile.TemporaryDirectory(prefix="trustkit-cache-", ignore_cleanup_errors=True) as cache:
        return _run_trust_report(X, labels, memory=joblib.Memory(cache, verbose=0), shared=shared_responses, **kwargs)


def _run_trust_report(X, labels, *, sr, encoders, fast, random_state, n_jobs, stream, description, t_start,
                      memory, shared, verbose) -> TrustReport:
    from .encoders import MFCCEncoder
    from .fidelity import (
        FidelityComplexityScorer,
        TimeSegments,
        explain_with_lime,
        explain_with_shap,
        mfcc_classifier,
    )
    from .perturbations import study_grid
    from .robustness import SensitivityMeter
    from .transferability import compare_encoders

    def step(msg: str) -> None:
        check_interrupt()  # the command line's Ctrl-C, even one Python reported as "ignored"
        if stream is not None:
            print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", file=stream, flush=True)

    sections = []
    robustness: dict[str, Any] = {}
    explained: dict[str, Any] = {}
    grid = study_grid("imperceptible", sr=sr, families=["pink_noise", "mp3"] if fast else None, random_state=random_state)
    for name, enc in encoders.items():
        step(f"robustness: {name} over {len(grid)} imperceptible settings")
        baseline = None if isinstance(enc, MFCCEncoder) else MFCCEncoder(sr=sr)
        rep = SensitivityMeter(enc, grid, sr=sr, baseline=baseline, random_state=random_state, n_jobs=n_jobs,
                               n_bootstrap=200 if fast else 1000, memory=memory, verbose=verbose).score(X)
        robustness[name] = rep
        sections.append(rep.section(f"Robustness of {name}",
                                 "Share of clips that a barely audible change moves away from their own original "
                                 "(within-space consistency, Kim et al. 2019)."))
    tasks = {}
    for col in labels.columns:
        counts = labels[col].value_counts()
        if len(counts) >= 2 and counts.min() >= 4:
            tasks[col] = (X, labels[col])
        else:
            step(f"transferability: label {col!r} skipped (needs 2+ classes with 4+ clips each; has {counts.to_dict()})")
    if not tasks:
        raise ValueError("no label column has at least two classes with 4 or more clips each; use more clips.")
    step(f"transferability: {len(encoders)} encoders on {len(tasks)} tasks")
    cmp = compare_encoders(encoders, tasks, cv=3, n_bootstrap=200 if fast else 1000, random_state=random_state, n_jobs=n_jobs,
                           memory=memory, verbose=verbose)
    sections.append(cmp.section("Transferability", "Nested-CV logistic probes on frozen embeddings, same folds for every encoder."))
    target = labels.columns[0]
    step(f"explanations: a classifier of {target!r}, explained by LIME and SHAP over time segments")
    model = mfcc_classifier(sr).fit(X, labels[target].to_numpy())
    n_explained = 3 if fast else 10
    clips = X[:n_explained]
    # an absent segment becomes the same segment of another clip (the reference measured best; silence is a class
    # for many audio classifiers)
    seg = TimeSegments(6 if fast else 8, baseline=X[n_explained:] if len(X) > n_explained else "noise")
    # LIME, SHAP and the scorer meet the same unit masks (8 units: 256 of them): each is evaluated once
    with shared():
        W_lime = explain_with_lime(model, clips, seg, num_samples=100 if fast else 600, random_state=random_state,
                                   n_jobs=n_jobs, verbose=verbose)
        W_shap = explain_with_shap(model, clips, seg, nsamples=64 if fast else 256, random_state=random_state,
                                   n_jobs=n_jobs, verbose=verbose)
        scorer = FidelityComplexityScorer(model, segmenter=seg, budgets=(1, 2, "all"),
                                          n_neighbourhood=64 if fast else 256, n_random=5 if fast else 10,
                                          n_jobs=n_jobs, random_state=random_state, verbose=verbose).fit(X)
        for name, W in (("LIME", W_lime), ("SHAP", W_shap)):
            explained[name] = scorer.score(clips, W)
            sections.append(explained[name].section(
                f"Explanations: {name}",
                f"{name} over {seg.n_units(X.shape[1])} time segments of a classifier of {target!r}; fidelity "
                "(does the explanation predict the model's response as units are kept or removed?) and complexity."))
    step("done")
    meta = {"description": description, "version": version(), "n_clips": len(X), "sr": sr,
            "encoders": list(encoders), "labels": list(labels.columns), "fast": fast,
            "seconds": round(time.perf_counter() - t_start, 1)}
    reports = [*robustness.values(), cmp, *explained.values()]
    long = pd.concat([r.to_long().assign(section=s["title"]) for r, s in zip(reports, sections)], ignore_index=True)
    return TrustReport(sections=sections, meta=meta, scorecard=_scorecard(robustness, cmp, explained),
                       table=long[["section", *(c for c in long.columns if c != "section")]])
