"""The trust report: robustness, transferability and explanations of encoders, in one page."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from ._interrupt import check as check_interrupt
from .reports import version
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
    return TrustReport(sections=sections, meta=meta, scorecard=scorecard(robustness, cmp, explained),
                       table=long[["section", *(c for c in long.columns if c != "section")]])
