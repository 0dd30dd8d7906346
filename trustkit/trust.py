"""The trust report: robustness, transferability and explanations of encoders, in one page."""

from __future__ import annotations

import html
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import TrustkitWarning

__all__ = ["TrustReport", "render_html", "run_trust_report"]


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


@dataclass
class TrustReport:
    """Sections of a trust report, serialisable to JSON and renderable to HTML."""

    sections: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (plots as base64 PNG)."""
        return {"report": "TrustReport", "meta": self.meta, "sections": self.sections}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Serialise; also write to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """One self-contained HTML page."""
        page = render_html(self.to_dict())
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(page)
        return page

    def summary(self) -> str:
        """One line per section: its headline number."""
        return "\n".join(
            f"{s['title']}: {s['headline']:.3f} ({'higher' if s['higher_is_better'] else 'lower'} is better)"
            for s in self.sections
        )


def render_html(data: dict[str, Any]) -> str:
    """Render a trust report's JSON (``TrustReport.to_dict``) as one self-contained page."""
    if data.get("report") != "TrustReport" or "sections" not in data:
        raise ValueError("not a trust report: expected the JSON written by `trustkit demo` (report='TrustReport').")
    meta = data.get("meta", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>trustkit trust report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}h2{border-bottom:2px solid #4c72b0}"
        "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;"
        "text-align:right}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}img{max-width:100%}"
        ".headline{font-size:1.3em}</style></head><body>",
        "<h1>trustkit trust report</h1>",
        f"<p>{html.escape(str(meta.get('description', '')))}</p>",
        "<ul>" + "".join(
            f"<li><a href='#s{i}'>{html.escape(s['title'])}</a>: <b>{s['headline']:.3f}</b> "
            f"({'higher' if s['higher_is_better'] else 'lower'} is better)</li>"
            for i, s in enumerate(data["sections"])
        ) + "</ul>",
    ]
    for i, s in enumerate(data["sections"]):
        table = pd.DataFrame(s["table"])
        parts += [
            f"<h2 id='s{i}'>{html.escape(s['title'])}</h2>",
            f"<p>{html.escape(s.get('note', ''))}</p>",
            f"<pre>{html.escape(s['summary'])}</pre>",
            f"<img alt='{html.escape(s['title'])}' src='data:image/png;base64,{s['plot_png']}'>",
            "<details open><summary>table</summary>",
            table.to_html(index=False, float_format=lambda v: f"{v:.4g}", classes="results"),
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
) -> TrustReport:
    """Run the three meters on clips ``X`` with label columns ``labels``.

    - robustness: :class:`~trustkit.SensitivityMeter` for every encoder (MFCC as
      baseline), the study's imperceptible grid (two families when ``fast``);
    - transferability: :func:`~trustkit.compare_encoders` on every label column;
    - explanations: a logistic-regression classifier on MFCC statistics for the
      first label, explained by LIME and Kernel SHAP over time segments and scored
      by :class:`~trustkit.FidelityComplexityScorer`.
    """
    from . import __version__
    from .encoders import MFCCEncoder
    from .fidelity import FidelityComplexityScorer, TimeSegments, explain_with_lime, explain_with_shap
    from .perturbations import study_grid
    from .sensitivity import SensitivityMeter
    from .transferability import compare_encoders

    stream = stream or sys.stderr
    t_start = time.perf_counter()

    def step(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", file=stream, flush=True)

    sections = []
    grid = study_grid("imperceptible", sr=sr, families=["pink_noise", "mp3"] if fast else None, random_state=random_state)
    for name, enc in encoders.items():
        step(f"robustness: {name} over {len(grid)} imperceptible settings")
        baseline = None if isinstance(enc, MFCCEncoder) else MFCCEncoder(sr=sr)
        rep = SensitivityMeter(enc, grid, sr=sr, baseline=baseline, random_state=random_state, n_jobs=n_jobs,
                               n_bootstrap=200 if fast else 1000).score(X)
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
    cmp = compare_encoders(encoders, tasks, cv=3, n_bootstrap=200 if fast else 1000, random_state=random_state, n_jobs=n_jobs)
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
    W_lime = explain_with_lime(model, clips, seg, num_samples=100 if fast else 600, random_state=random_state)
    W_shap = explain_with_shap(model, clips, seg, nsamples=64 if fast else 256, random_state=random_state)
    scorer = FidelityComplexityScorer(model, segmenter=seg, budgets=(1, 2, "all"), n_neighbourhood=64 if fast else 256,
                                      n_random=5 if fast else 10, random_state=random_state).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustkitWarning)
        for name, W in (("LIME", W_lime), ("SHAP", W_shap)):
            sections.append(_section(f"Explanations: {name}", scorer.score(clips, W),
                                     f"{name} over {seg.n_units(X.shape[1])} time segments of a classifier of {target!r}; "
                                     "fidelity (does the explanation predict the model's response as units are kept or removed?) and complexity."))
    step("done")
    meta = {"description": description, "version": __version__, "n_clips": len(X), "sr": sr,
            "encoders": list(encoders), "labels": list(labels.columns), "fast": fast,
            "seconds": round(time.perf_counter() - t_start, 1)}
    return TrustReport(sections=sections, meta=meta)
