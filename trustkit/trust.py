"""The trust report: robustness, transferability and explanations of encoders, in one page."""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._interrupt import check as check_interrupt
from .exceptions import TrustkitWarning
from .reports import write_text_atomic

__all__ = ["TrustReport", "check_report_document", "render_html", "run_trust_report"]


def _section(title: str, report: Any, note: str = "") -> dict[str, Any]:
    return {
        "title": title,
        "note": note,
        "summary": report.summary(),
        "headline": float(report),
        "higher_is_better": report.higher_is_better,
        "table": json.loads(report.to_frame().to_json(orient="records")),
        "plot_png": report._plot_png(),
    }


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
        fid = t.loc["fidelity_keep"] if "fidelity_keep" in t.index else None
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
    return {
        "encoders": encoders,
        "explanations": explained,
        "meaning": [
            f"robustness: sensitivity, the share of clips that an imperceptible change moves nearer another "
            f"clip than their own original (lower is better); robust if the whole 95 % interval is at most "
            f"{MAX_SENSITIVITY:g}, sensitive if it is all above.",
            "transferability: probe score on held-out folds with its 95 % interval; the verdict compares the "
            "interval's lower end with chance and with always answering the majority class.",
            f"explanations: fidelity 1 = the explanation predicts the model's response exactly as units are kept "
            f"(Lin's concordance); faithful if the interval's lower end is at least {MIN_FIDELITY:g}. Complexity: "
            "how many units hold 90 % of the attribution (fewer is simpler).",
        ],
    }


@dataclass
class TrustReport:
    """Sections of a trust report, serialisable to JSON and renderable to HTML."""

    sections: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)
    scorecard: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (plots as base64 PNG)."""
        return {"report": "TrustReport", "meta": self.meta, "scorecard": self.scorecard, "sections": self.sections}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Serialise (strict JSON: undefined numbers become null); also write to ``path`` when given."""
        from .reports import jsonable

        text = json.dumps(jsonable(self.to_dict()), indent=1, allow_nan=False)
        if path is not None:
            write_text_atomic(path, text)
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """One self-contained HTML page."""
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
            f"{s['title']}: {_headline_text(s['headline'])} ({'higher' if s['higher_is_better'] else 'lower'} is better)"
            for s in self.sections
        ])


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _field(path: str, value: Any, kinds: tuple[type, ...], what: str) -> Any:
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ValueError(f"{path} must be {what}; got {type(value).__name__} {str(value)[:40]!r}.")
    return value


def _check_png(path: str, value: Any) -> str:
    _field(path, value, (str,), "base64 PNG data")
    if not _BASE64.fullmatch(value):
        raise ValueError(f"{path} must be base64 PNG data and nothing else; it holds other characters.")
    try:
        head = base64.b64decode(value[:64] + "=" * (-len(value[:64]) % 4), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"{path} is not valid base64 ({exc}).") from exc
    if value and not head.startswith(_PNG_MAGIC):
        raise ValueError(f"{path} must be a PNG image (base64); its data is not a PNG.")
    return value


def _check_table(path: str, rows: Any) -> list[dict[str, Any]]:
    _field(path, rows, (list,), "a list of rows (objects)")
    for i, row in enumerate(rows):
        _field(f"{path}[{i}]", row, (dict,), "an object of column: value")
        for key, v in row.items():
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise ValueError(f"{path}[{i}][{key!r}] must be a number, text, true/false or null; got {type(v).__name__}.")
    return rows


def check_report_document(data: Any) -> dict[str, Any]:
    """Validate a report JSON before rendering it; name the offending field.

    Accepts the trust report of ``trustkit demo`` (``report: "TrustReport"``)
    and the JSON of any single report (``SensitivityReport``,
    ``TransferReport``, ...), which becomes a one-section trust report.

    Returns
    -------
    dict
        The document in the trust report's shape.
    """
    _field("the document", data, (dict,), "a JSON object (the report written by trustkit)")
    kind = data.get("report")
    if kind != "TrustReport":
        if not isinstance(kind, str) or "table" not in data or "headline" not in data:
            raise ValueError("not a trustkit report: expected 'report' (e.g. 'TrustReport' or 'SensitivityReport'), "
                             "'headline' and 'table' fields, as trustkit writes them.")
        head = _field("headline", data["headline"], (dict,), "an object with value, meaning, higher_is_better")
        value = head.get("value")
        data = {"report": "TrustReport", "meta": {"description": f"{kind} (re-rendered from its JSON)"}, "sections": [{
            "title": kind, "note": str(head.get("meaning", "")), "summary": data.get("summary") or "",
            "headline": value, "higher_is_better": head.get("higher_is_better", True),
            "table": data["table"], "plot_png": data.get("plot_png", ""),
        }]}
    meta = data.get("meta", {})
    _field("meta", meta, (dict,), "an object")
    for key, v in meta.items():
        if v is not None and not isinstance(v, (str, int, float, bool, list)):
            raise ValueError(f"meta[{key!r}] must be text, a number or a list; got {type(v).__name__}.")
    card = data.get("scorecard", {})
    _field("scorecard", card, (dict,), "an object")
    for key in ("encoders", "explanations"):
        _check_table(f"scorecard.{key}", card.get(key, []))
    for i, line in enumerate(_field("scorecard.meaning", card.get("meaning", []), (list,), "a list of texts")):
        _field(f"scorecard.meaning[{i}]", line, (str,), "text")
    sections = _field("sections", data.get("sections"), (list,), "a list of sections")
    for i, sec in enumerate(sections):
        p = f"sections[{i}]"
        _field(p, sec, (dict,), "an object")
        _field(f"{p}.title", sec.get("title"), (str,), "text")
        _field(f"{p}.note", sec.get("note", ""), (str,), "text")
        _field(f"{p}.summary", sec.get("summary", ""), (str,), "text")
        if sec.get("headline") is not None:
            _field(f"{p}.headline", sec["headline"], (int, float), "a number or null")
        _field(f"{p}.higher_is_better", sec.get("higher_is_better", True), (bool,), "true or false")
        _check_table(f"{p}.table", sec.get("table", []))
        _check_png(f"{p}.plot_png", sec.get("plot_png", ""))
    return data


_GOOD = ("robust", "faithful", "above chance and majority")
_BAD = ("sensitive", "not faithful", "not distinguishable from chance")


def _scorecard_html(card: dict[str, Any]) -> str:
    """The first screen: verdicts with intervals; every text escaped, colours from a fixed set."""
    if not card.get("encoders") and not card.get("explanations"):
        return ""

    def cell(key: str, value: Any) -> str:
        text = "" if value is None else str(value)
        css = ""
        if key.endswith("verdict"):
            css = " class='good'" if text in _GOOD else " class='bad'" if text in _BAD else " class='open'"
        return f"<td{css}>{html.escape(text)}</td>"

    def table(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return ""
        cols = list(dict.fromkeys(k for r in rows for k in r))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(cell(c, r.get(c)) for c in cols) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    meaning = "".join(f"<li>{html.escape(m)}</li>" for m in card.get("meaning", []))
    return (f"<section id='scorecard'><h2>Scorecard</h2>{table(card.get('encoders', []))}"
            f"{table(card.get('explanations', []))}<ul>{meaning}</ul>"
            "<p><small>Details, figures and full tables below.</small></p></section>")


def _headline_text(value: Any) -> str:
    return "undefined" if value is None or not np.isfinite(value) else f"{value:.3f}"


def render_html(data: dict[str, Any]) -> str:
    """Render a report's JSON (a trust report or any single report) as one self-contained page.

    The document is validated first (:func:`check_report_document`); every
    text is escaped and a figure must be base64 PNG data, so a crafted JSON
    cannot put markup or script into the page.
    """
    data = check_report_document(data)
    meta = data.get("meta", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>trustkit trust report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}h2{border-bottom:2px solid #4c72b0}"
        "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;"
        "text-align:right}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}img{max-width:100%}"
        ".headline{font-size:1.3em}#scorecard table{font-size:13px}#scorecard td{text-align:left}"
        ".good{background:#d8f0d8}.bad{background:#f6d5d5}.open{background:#eee}#scorecard li{font-size:12px}"
        "</style></head><body>",
        "<h1>trustkit trust report</h1>",
        f"<p>{html.escape(str(meta.get('description', '')))}</p>",
        _scorecard_html(data.get("scorecard", {})),
        "<ul>" + "".join(
            f"<li><a href='#s{i}'>{html.escape(s['title'])}</a>: <b>{_headline_text(s.get('headline'))}</b> "
            f"({'higher' if s.get('higher_is_better', True) else 'lower'} is better)</li>"
            for i, s in enumerate(data["sections"])
        ) + "</ul>",
    ]
    for i, s in enumerate(data["sections"]):
        table = pd.DataFrame(s.get("table", []))
        parts += [
            f"<h2 id='s{i}'>{html.escape(s['title'])}</h2>",
            f"<p>{html.escape(s.get('note', ''))}</p>",
            f"<pre>{html.escape(s.get('summary', ''))}</pre>",
        ]
        if s.get("plot_png"):
            parts.append(f"<img alt='{html.escape(s['title'], quote=True)}' src='data:image/png;base64,{s['plot_png']}'>")
        parts += [
            "<details open><summary>table</summary>",
            table.to_html(index=False, float_format=lambda v: f"{v:.4g}", classes="results", escape=True),
            "</details>",
        ]
    parts.append(f"<p><small>trustkit {html.escape(str(meta.get('version', '')))}; "
                 f"{html.escape(str(meta.get('seconds', '')))} s</small></p></body></html>")
    return "".join(parts)


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
) -> TrustReport:
    """Run the three meters on clips ``X`` with label columns ``labels``.

    - robustness: :class:`~trustkit.SensitivityMeter` for every encoder (MFCC as
      baseline), the study's imperceptible grid (two families when ``fast``);
    - transferability: :func:`~trustkit.compare_encoders` on every label column;
    - explanations: a logistic-regression classifier on MFCC statistics for the
      first label, explained by LIME and Kernel SHAP over time segments and scored
      by :class:`~trustkit.FidelityComplexityScorer`.

    ``stream`` receives one line per step; with ``verbose``, every meter and
    explainer also shows a progress bar on stderr.
    """
    stream = stream or sys.stderr
    t_start = time.perf_counter()
    # one cache for the whole report: each setting is perturbed once, the MFCC baseline embeds each setting once
    # for every meter, and the transferability step reuses the originals' embeddings of the robustness step
    import tempfile

    import joblib

    # ignore_cleanup_errors: after Ctrl-C a worker thread may still be writing into the cache while it is removed
    with tempfile.TemporaryDirectory(prefix="trustkit-cache-", ignore_cleanup_errors=True) as cache:
        return _run_trust_report(X, labels, sr=sr, encoders=encoders, fast=fast, random_state=random_state,
                                 n_jobs=n_jobs, stream=stream, description=description, t_start=t_start,
                                 memory=joblib.Memory(cache, verbose=0), verbose=verbose)


def _run_trust_report(X, labels, *, sr, encoders, fast, random_state, n_jobs, stream, description, t_start,
                      memory, verbose) -> TrustReport:
    from . import __version__
    from .encoders import MFCCEncoder
    from .fidelity import (
        FidelityComplexityScorer,
        TimeSegments,
        explain_with_lime,
        explain_with_shap,
        shared_responses,
    )
    from .perturbations import study_grid
    from .robustness import SensitivityMeter
    from .transferability import compare_encoders

    def step(msg: str) -> None:
        check_interrupt()  # the command line's Ctrl-C, even one Python reported as "ignored"
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
        sections.append(_section(f"Robustness of {name}", rep,
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
    sections.append(_section("Transferability", cmp, "Nested-CV logistic probes on frozen embeddings, same folds for every encoder."))
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    target = labels.columns[0]
    step(f"explanations: a classifier of {target!r}, explained by LIME and SHAP over time segments")
    mfcc = MFCCEncoder(sr=sr)
    model = make_pipeline(FunctionTransformer(mfcc.transform), StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(X, labels[target].to_numpy())
    seg = TimeSegments(6 if fast else 8)
    clips = X[: 3 if fast else 10]
    # LIME, SHAP and the scorer meet the same unit masks (8 units: 256 of them): each is evaluated once
    with shared_responses():
        W_lime = explain_with_lime(model, clips, seg, num_samples=100 if fast else 600, random_state=random_state,
                                   n_jobs=n_jobs, verbose=verbose)
        W_shap = explain_with_shap(model, clips, seg, nsamples=64 if fast else 256, random_state=random_state,
                                   n_jobs=n_jobs, verbose=verbose)
        scorer = FidelityComplexityScorer(model, segmenter=seg, budgets=(1, 2, "all"),
                                          n_neighbourhood=64 if fast else 256, n_random=5 if fast else 10,
                                          n_jobs=n_jobs, random_state=random_state, verbose=verbose).fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrustkitWarning)
            for name, W in (("LIME", W_lime), ("SHAP", W_shap)):
                explained[name] = scorer.score(clips, W)
                sections.append(_section(
                    f"Explanations: {name}", explained[name],
                    f"{name} over {seg.n_units(X.shape[1])} time segments of a classifier of {target!r}; fidelity "
                    "(does the explanation predict the model's response as units are kept or removed?) and complexity."))
    step("done")
    meta = {"description": description, "version": __version__, "n_clips": len(X), "sr": sr,
            "encoders": list(encoders), "labels": list(labels.columns), "fast": fast,
            "seconds": round(time.perf_counter() - t_start, 1)}
    return TrustReport(sections=sections, meta=meta, scorecard=_scorecard(robustness, cmp, explained))
