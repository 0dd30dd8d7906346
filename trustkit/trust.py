"""The trust report: robustness, transferability and explanations of encoders, in one page."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._interrupt import check as check_interrupt
from .reports import finish_long, version
from .reports.html import check_report_document, render_html
from .reports.trust import TrustReport, scorecard

__all__ = ["TrustReport", "check_report_document", "render_html", "run_trust_report"]


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

    plan = {"sr": sr, "encoders": encoders, "fast": fast, "random_state": random_state, "n_jobs": n_jobs,
            "verbose": verbose}
    if not share:
        return _run_trust_report(X, labels, _Plan(**plan, memory=None, step=_Steps(stream, t_start)),
                                 contextlib.nullcontext, description)
    from .fidelity import shared_responses

    # ignore_cleanup_errors: after Ctrl-C a worker thread may still be writing into the cache while it is removed
    with tempfile.TemporaryDirectory(prefix="trustkit-cache-", ignore_cleanup_errors=True) as cache:
        return _run_trust_report(X, labels, _Plan(**plan, memory=joblib.Memory(cache, verbose=0),
                                                  step=_Steps(stream, t_start)), shared_responses, description)


@dataclass(frozen=True)
class _Steps:
    """Says each step of the report on ``stream`` (if any) with the seconds since ``t_start``; checks for Ctrl-C."""

    stream: Any
    t_start: float

    def __call__(self, msg: str) -> None:
        check_interrupt()  # the command line's Ctrl-C, even one Python reported as "ignored"
        if self.stream is not None:
            print(f"[{time.perf_counter() - self.t_start:7.1f} s] {msg}", file=self.stream, flush=True)


@dataclass(frozen=True)
class _Plan:
    """What every stage of the trust report runs with."""

    sr: int
    encoders: dict[str, Any]
    fast: bool
    random_state: Any
    n_jobs: int | None
    verbose: bool
    memory: Any
    step: _Steps


def _run_trust_report(X: np.ndarray, labels: pd.DataFrame, plan: _Plan, shared: Any, description: str) -> TrustReport:
    robustness, sections = _robustness(X, plan)
    cmp = _transferability(X, labels, plan)
    sections.append(cmp.section("Transferability", "Nested-CV logistic probes on frozen embeddings, same folds for every encoder."))
    explained, explained_sections = _explanations(X, labels, plan, shared)
    sections += explained_sections
    plan.step("done")
    meta = {"description": description, "version": version(), "n_clips": len(X), "sr": plan.sr,
            "encoders": list(plan.encoders), "labels": list(labels.columns), "fast": plan.fast,
            "seconds": round(time.perf_counter() - plan.step.t_start, 1)}
    reports = [*robustness.values(), cmp, *explained.values()]
    long = pd.concat([r.to_long().assign(section=s["title"]) for r, s in zip(reports, sections)], ignore_index=True)
    return TrustReport(sections=sections, meta=meta, scorecard=scorecard(robustness, cmp, explained),
                       # every section's rows carry their confidence already
                       table=finish_long(long[["section", *(c for c in long.columns if c != "section")]], 0.95))


def _robustness(X: np.ndarray, plan: _Plan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every encoder's sensitivity on the study's imperceptible grid (MFCC as baseline), with its section."""
    from .encoders import MFCCEncoder
    from .robustness import SensitivityMeter

    sr, fast = plan.sr, plan.fast
    robustness: dict[str, Any] = {}
    sections = []
    grid = _grid(plan)
    for name, enc in plan.encoders.items():
        plan.step(f"robustness: {name} over {len(grid)} imperceptible settings")
        baseline = None if isinstance(enc, MFCCEncoder) else MFCCEncoder(sr=sr)
        rep = SensitivityMeter(enc, grid, sr=sr, baseline=baseline, random_state=plan.random_state, n_jobs=plan.n_jobs,
                               n_bootstrap=200 if fast else 1000, memory=plan.memory, verbose=plan.verbose).score(X)
        robustness[name] = rep
        sections.append(rep.section(f"Robustness of {name}",
                                    "Share of clips that a barely audible change moves away from their own original "
                                    "(within-space consistency, Kim et al. 2019)."))
    return robustness, sections


def _grid(plan: _Plan) -> Any:
    """The study's imperceptible grid (two families when fast): what the robustness meter and the probes perturb."""
    from .perturbations import study_grid

    return study_grid("imperceptible", sr=plan.sr, families=["pink_noise", "mp3"] if plan.fast else None,
                      random_state=plan.random_state)


def _transferability(X: np.ndarray, labels: pd.DataFrame, plan: _Plan) -> Any:
    """Every encoder probed on every label column with two or more classes of four or more clips."""
    from .transferability import compare_encoders

    tasks = {}
    for col in labels.columns:
        counts = labels[col].value_counts()
        if len(counts) >= 2 and counts.min() >= 4:
            tasks[col] = (X, labels[col])
        else:
            plan.step(f"transferability: label {col!r} skipped (needs 2+ classes with 4+ clips each; has {counts.to_dict()})")
    if not tasks:
        raise ValueError("no label column has at least two classes with 4 or more clips each; use more clips.")
    plan.step(f"transferability: {len(plan.encoders)} encoders on {len(tasks)} tasks")
    # the task under the robustness meter's perturbations: the same perturbed clips (with the shared cache, perturbed
    # and embedded once), scored by each fold's clean-trained probe
    return compare_encoders(plan.encoders, tasks, cv=3, n_bootstrap=200 if plan.fast else 1000,
                            random_state=plan.random_state, n_jobs=plan.n_jobs, memory=plan.memory, verbose=plan.verbose,
                            perturbations=_grid(plan))


def _explanations(X: np.ndarray, labels: pd.DataFrame, plan: _Plan, shared: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A classifier of the first label explained by LIME and SHAP over time segments, both scored, with sections."""
    from .fidelity import (
        FidelityComplexityScorer,
        TimeSegments,
        explain_with_lime,
        explain_with_shap,
        mfcc_classifier,
    )

    fast, rs, n_jobs, verbose = plan.fast, plan.random_state, plan.n_jobs, plan.verbose
    target = labels.columns[0]
    plan.step(f"explanations: a classifier of {target!r}, explained by LIME and SHAP over time segments")
    model = mfcc_classifier(plan.sr).fit(X, labels[target].to_numpy())
    n_explained = 3 if fast else 10
    clips = X[:n_explained]
    # an absent segment becomes the same segment of another clip (the reference measured best; silence is a class
    # for many audio classifiers)
    seg = TimeSegments(6 if fast else 8, baseline=X[n_explained:] if len(X) > n_explained else "noise")
    explained: dict[str, Any] = {}
    sections = []
    # LIME, SHAP and the scorer meet the same unit masks (8 units: 256 of them): each is evaluated once
    with shared():
        W_lime = explain_with_lime(model, clips, seg, num_samples=100 if fast else 600, random_state=rs,
                                   n_jobs=n_jobs, verbose=verbose)
        W_shap = explain_with_shap(model, clips, seg, nsamples=64 if fast else 256, random_state=rs,
                                   n_jobs=n_jobs, verbose=verbose)
        scorer = FidelityComplexityScorer(model, segmenter=seg, budgets=(1, 2, "all"),
                                          n_neighbourhood=64 if fast else 256, n_random=5 if fast else 10,
                                          n_jobs=n_jobs, random_state=rs, verbose=verbose).fit(X)
        for name, W in (("LIME", W_lime), ("SHAP", W_shap)):
            explained[name] = scorer.score(clips, W)
            sections.append(explained[name].section(
                f"Explanations: {name}",
                f"{name} over {seg.n_units(X.shape[1])} time segments of a classifier of {target!r}; fidelity "
                "(does the explanation predict the model's response as units are kept or removed?) and complexity."))
    return explained, sections
