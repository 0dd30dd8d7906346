"""compare_encoders: several encoders on several tasks, on the same folds, with tests."""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from .._seeds import resolve_entropy
from .._validation import check_audio, check_number
from ..audio import content_keys
from ..corpus import Corpus, as_corpus, is_corpus_input
from ..encoders import as_encoder, declared_sr, embed, embed_corpus, embed_layers, is_layer_profile
from ..encoders.check import preflight
from ..perturbations import grid_points
from ..reports import estimate_row, finish_long, layer_profile, long_table
from ..stats import bootstrap_statistic, corrected_paired_ttest, friedman_nemenyi, holm
from .estimators import _features
from .probe import TransferabilityProbe, TransferReport
from .report import CORRUPTION, ESTIMATOR, OUT_OF_FOLD, ComparisonReport, _kendall_min_p

__all__ = ["ComparisonReport", "compare_encoders"]


def _unpack_task(name: str, spec: Any) -> tuple[Any, Any, Any, Any]:
    if isinstance(spec, (Corpus, str, os.PathLike)):  # labelled files: a corpus or a folder of label folders
        return spec, None, None, None
    if isinstance(spec, dict):
        return spec["X"], spec["y"], spec.get("groups"), spec.get("source_proba")
    if isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
        return (*spec, None, None)[:4] if len(spec) == 3 else (spec[0], spec[1], None, None)
    raise ValueError(f"tasks[{name!r}] must be (X, y), (X, y, groups), a dict with 'X', 'y' and optional 'groups', "
                     "or labelled files (a Corpus, or a folder with one sub-folder per label).")


def compare_encoders(
    encoders: dict[str, Any],
    tasks: dict[str, Any],
    *,
    probe: Any = "logistic",
    cv: int = 5,
    estimators: tuple[str, ...] = ("logme", "hscore", "knn"),
    concatenations: Any = None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    sr: int | None = None,
    alpha: float = 0.05,
    n_jobs: int | None = None,
    random_state: Any = None,
    verbose: bool = False,
    memory: Any = None,
    chunk_size: int | None = None,
    perturbations: Any = None,
    loudness_match: bool = True,
    corruption_baseline: str | None = None,
) -> ComparisonReport:
    """Compare encoders across tasks, every encoder on the same folds and items.

    Parameters
    ----------
    encoders : dict of name -> encoder
        Anything :func:`trustkit.encoders.as_encoder` adapts.
    tasks : dict of name -> (X, y), (X, y, groups), Corpus or folder
        Audio and targets per task. ``X`` may be files (a
        :class:`~trustkit.datasets.Corpus`, a folder, a list of paths),
        embedded ``chunk_size`` clips at a time at ``sr`` (else the files'
        own rate); a labelled corpus or folder alone brings its labels and
        groups.
    probe, cv, estimators, n_bootstrap, confidence, n_jobs, verbose, memory, chunk_size
        As in :class:`TransferabilityProbe` (checked before any encoder runs).
    concatenations : "pairs", list of tuples of encoder names, or None
        Also evaluate concatenated embeddings (the study's multi-source
        representations): the blocks side by side, as they come. Every row of
        the table gets the same preprocessing: the probe standardises each
        column inside its training folds, and the training-free estimators see
        the embeddings as the encoders give them.
    sr : int or None
    alpha : float, default=0.05
        Level of the pairwise tests and of the Nemenyi critical difference.
    random_state : int, RandomState or None
        Roots the seed tree: the same as ``TransferabilityProbe(random_state=...)``,
        so the folds, fits and intervals are the probe's.
    perturbations, loudness_match
        Task-level robustness, as in :class:`TransferabilityProbe`: every
        encoder's probes, trained clean, score their test folds perturbed,
        setting by setting (the same perturbed audio for every encoder).
        Classification tasks also get each encoder's corruption error against
        ``corruption_baseline`` (Hendrycks and Dietterich 2019): per family,
        the encoder's errors summed over its settings divided by the
        baseline's (``CE``); ``mCE`` their mean over families, and the
        relative mCE of the errors' rise above each one's clean error; with
        a bootstrap interval over items (scope ``"corruption error"``).
    corruption_baseline : str or None
        The encoder the corruption errors are relative to; None: the first
        :class:`~trustkit.encoders.MFCCEncoder` (the study's baseline), else
        the first encoder.

    Returns
    -------
    ComparisonReport
    """
    if not isinstance(encoders, dict) or len(encoders) < 2:
        raise ValueError("encoders must be a dict of at least 2 named encoders, e.g. {'mfcc': MFCCEncoder(), ...}.")
    if not isinstance(tasks, dict) or not tasks:
        raise ValueError("tasks must be a non-empty dict of name -> (X, y) or (X, y, groups).")
    alpha = check_number(alpha, "alpha", low=0, high=1, low_inclusive=False, high_inclusive=False)
    # one probe for every task and representation: the same seeds as TransferabilityProbe(random_state=...).score,
    # so the same data, cv, groups and random_state give the same folds, fits and intervals in both
    prober = TransferabilityProbe("precomputed", probe, cv=cv, estimators=estimators, n_bootstrap=n_bootstrap,
                                  confidence=confidence, n_jobs=n_jobs, random_state=resolve_entropy(random_state),
                                  verbose=verbose, chunk_size=chunk_size, memory=memory,
                                  loudness_match=loudness_match).check_params()
    adapted = {n: as_encoder(e, sr=sr) for n, e in encoders.items()}
    # an encoder set to layer="all" becomes one row per layer ("name/layer"), all from one forward pass per clip
    layered = {n: enc.layer_names() for n, enc in adapted.items() if is_layer_profile(enc)}
    if perturbations is not None:  # before any encoder runs: a grid that resolves, encoders of one layer
        if layered:
            raise ValueError("perturbations= probes one layer per encoder: set the encoders to one layer (not "
                             f"layer='all': {sorted(layered)}).")
        grid_points(perturbations, sr or 22050)
    base = [row for n in encoders for row in ([f"{n}/{layer}" for layer in layered[n]] if n in layered else [n])]
    combos = _concatenations(concatenations, base)
    names = base + ["+".join(c) for c in combos]
    t_start = time.perf_counter()
    reports: dict[tuple[str, str], TransferReport] = {}
    tables, pair_rows, agree_rows, score_matrix = [], [], [], []
    embedded: dict[int, tuple[Any, dict[str, np.ndarray]]] = {}  # the array is kept so its id stays unique
    n_groups: dict[str, int | None] = {}
    for task_name, spec in tasks.items():
        X_given, y, groups, source_proba = _unpack_task(task_name, spec)
        if is_corpus_input(X_given):  # files: read and embedded chunk by chunk
            X = as_corpus(X_given, sr=sr)
            y, groups = (X.labels if y is None else y), (X.groups if groups is None else groups)
            if y is None:
                raise ValueError(f"tasks[{task_name!r}]: the files carry no labels; pass (files, y) or a folder with "
                                 "one sub-folder per label.")
            task_encoders: dict[str, Any] = {n: as_encoder(e, sr=X.sr) for n, e in encoders.items()}
        else:
            X, task_encoders = check_audio(X_given, owner=f"compare_encoders task {task_name!r}"), adapted
        n_groups[task_name] = None if groups is None else len(np.unique(np.asarray(groups)))
        # tasks that share their clips (the same array) share the embeddings: each encoder embeds them once
        if id(X_given) not in embedded:
            embedded[id(X_given)] = (X_given, *_embed_all(task_encoders, layered, X, memory, chunk_size, prober._map))
        feats, keys = dict(embedded[id(X_given)][1]), embedded[id(X_given)][2]
        for c in combos:
            feats["+".join(c)] = np.hstack([feats[m] for m in c])
        perturbed = _perturbed_all(prober, task_encoders, X, perturbations, sr, combos) if perturbations is not None else {}
        task = _probe_task(prober, task_name, names, feats, y, groups, source_proba, perturbed)
        if perturbed:
            tables.append(_corruption_rows(task_name, task["reports"], base, adapted, corruption_baseline, prober))
        reports.update({(n, task_name): dataclasses.replace(rep, clip_keys=keys) for n, rep in task["reports"].items()})
        tables += task["tables"]
        score_matrix.append([np.mean(task["scores"][n]) for n in names])
        pair_rows += _pairwise_tests(task_name, names, task["scores"], task["splits"], alpha)
        agree_rows += _estimator_agreement(task_name, names, task["scores"], task["estimators"])
    friedman = friedman_nemenyi(np.asarray(score_matrix), alpha=alpha)
    friedman["mean_ranks"] = friedman["mean_ranks"].tolist()
    friedman["significant"] = friedman["significant"].tolist()
    config = {"encoders": names, "tasks": list(tasks), "probe": probe if isinstance(probe, str) else type(probe).__name__,
              "cv": cv, "alpha": alpha, "n_bootstrap": n_bootstrap, "confidence": confidence,
              "concatenations": ["+".join(c) for c in combos], "n_groups": n_groups,
              **({"perturbations": perturbations if isinstance(perturbations, str) else "custom",
                  "corruption_baseline": _baseline_name(base, adapted, corruption_baseline)} if perturbations is not None else {}),
              "random_state": random_state if isinstance(random_state, (int, type(None))) else "RandomState",
              "timing": {"total_s": time.perf_counter() - t_start}}
    table = finish_long(pd.concat(tables, ignore_index=True), confidence)
    return ComparisonReport(table=table, pairwise=pd.DataFrame(pair_rows), friedman=friedman,
                            agreement=pd.DataFrame(agree_rows, columns=["task", "estimator", "kendall_tau", "p", "n_encoders", "min_p"]),
                            reports=reports, config=config, profile=_profiles(reports, layered, list(tasks)))


def _probe_task(prober: TransferabilityProbe, task_name: str, names: list[str], feats: dict[str, np.ndarray], y: Any,
                groups: Any, source_proba: Any, perturbed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every representation probed on one task, on one set of folds (the probe's public seam).

    Returns the reports by name, their rows for the comparison's table (the
    main metric's and the estimators', with the task's name), the fold scores
    of the main metric by name, the folds, and the estimators' rows.
    """
    splits = prober.outer_folds(feats[names[0]], y, groups)
    reports, tables, scores, estimators = {}, [], {}, []
    for n in names:
        rep = prober.score_embeddings(feats[n], y, groups, splits=splits, name=n, source_proba=source_proba,
                                      perturbed=(perturbed or {}).get(n))
        reports[n] = rep
        main = rep.config["main_metric"]
        t = rep.table.assign(task=task_name)
        tables.append(t[(t["measure"] == main) | (t["scope"] == ESTIMATOR)])  # with the settings' rows, if any
        scores[n] = rep.folds[main].to_numpy()
        estimators += rep.estimators.assign(task=task_name).to_dict("records")
    return {"reports": reports, "tables": tables, "scores": scores, "splits": splits, "estimators": estimators}


def _profiles(reports: dict[tuple[str, str], TransferReport], layered: dict[str, list[str]], tasks: list[str]) -> pd.DataFrame:
    """The layer profile of every encoder set to ``layer="all"`` on every task (one series each), or an empty frame."""
    profiles = []
    for n, layers in layered.items():
        for task in tasks:
            rows = {layer: reports[(f"{n}/{layer}", task)] for layer in layers}
            profiles.append(layer_profile({layer: rep.row(rep.config["main_metric"], scope=OUT_OF_FOLD)
                                           for layer, rep in rows.items()}, series=f"{n} on {task}", encoder=n, task=task))
    return pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame()


def _perturbed_all(prober: TransferabilityProbe, encoders: dict[str, Any], X: Any, spec: Any, sr: int | None,
                   combos: list[tuple[str, ...]]) -> dict[str, list[tuple[Any, np.ndarray]]]:
    """Every encoder's embeddings of every perturbed setting of ``X`` (the same perturbed audio for each), and the concatenations'."""
    rate = X.sr if isinstance(X, Corpus) else (sr or next((declared_sr(e) for e in encoders.values() if declared_sr(e)), None))
    if rate is None:
        raise ValueError("perturbations= needs the audio's sample rate: pass sr= to compare_encoders, or encoders that "
                         "state their rate.")
    points, common = grid_points(spec, rate), prober._check_common()
    out = {n: prober._perturbed(X, enc, points, rate, common) for n, enc in encoders.items()}
    for c in combos:
        out["+".join(c)] = [(p, np.hstack([out[m][k][1] for m in c]))
                            for k, (p, _) in enumerate(out[c[0]])]
    return out


def _baseline_name(base: list[str], adapted: dict[str, Any], given: str | None) -> str:
    """The encoder corruption errors are relative to: ``given``, else the first MFCC encoder, else the first."""
    if given is not None:
        if given not in base:
            raise ValueError(f"corruption_baseline must be one of the encoders {base}; got {given!r}.")
        return given
    from ..encoders import MFCCEncoder

    return next((n for n in base if isinstance(adapted.get(n), MFCCEncoder)), base[0])


def _corruption_rows(task_name: str, reports: dict[str, TransferReport], base: list[str], adapted: dict[str, Any],
                     given: str | None, prober: TransferabilityProbe) -> pd.DataFrame:
    """Each encoder's mCE and relative mCE against the baseline on one classification task, with a bootstrap interval over items."""
    baseline = _baseline_name(base, adapted, given)
    first = reports[baseline]
    if first.config["task"] != "multiclass":
        return pd.DataFrame()
    settings = [(r.setting, r.family) for r in first.under_perturbation.itertuples()]
    families = list(dict.fromkeys(f for _, f in settings))

    def errors(rep: TransferReport) -> tuple[np.ndarray, np.ndarray]:
        oof = rep.oof[rep.oof["fold"] >= 0]
        clean = (oof["pred"] != oof["true"]).to_numpy(dtype=float)
        return clean, np.column_stack([(oof[f"pred@{s}"] != oof["true"]).to_numpy(dtype=float) for s, _ in settings])

    def mce(e: tuple, b: tuple, i: np.ndarray, relative: bool) -> float:
        ratios = []
        for fam in families:
            cols = [k for k, (_, f) in enumerate(settings) if f == fam]
            num = (e[1][i][:, cols].mean(axis=0) - (e[0][i].mean() if relative else 0)).sum()
            den = (b[1][i][:, cols].mean(axis=0) - (b[0][i].mean() if relative else 0)).sum()
            ratios.append(num / den if den != 0 else np.nan)
        ratios = np.asarray(ratios, dtype=float)  # a family the baseline does not suffer from (0 / 0) is left out
        return float(np.nanmean(ratios)) if np.isfinite(ratios).any() else np.nan

    b_err = errors(first)
    common = prober._check_common()
    groups = first.oof.loc[first.oof["fold"] >= 0, "group"].to_numpy() if "group" in first.oof else None
    rows = []
    for j, (name, rep) in enumerate(reports.items()):
        e_err = errors(rep)
        n = len(e_err[0])
        for relative, measure in ((False, "mCE"), (True, "relative mCE")):
            est = bootstrap_statistic(lambda i, e=e_err, rel=relative: mce(e, b_err, i, rel), n, groups=groups,
                                      n_bootstrap=common.n_bootstrap, confidence=common.confidence,
                                      random_state=common.seeds.seed("task_robustness", 1000 + j, int(relative)))
            rows.append(estimate_row(measure, est, scope=CORRUPTION, encoder=name, task=task_name, baseline=baseline,
                                     interval="percentile bootstrap over " + ("groups" if groups is not None else "items")))
    return long_table(rows, common.confidence)


def _concatenations(spec: Any, base: list[str]) -> list[tuple[str, ...]]:
    """The representations to concatenate: every pair, the named tuples, or none."""
    if isinstance(spec, str) and spec == "pairs":
        return list(itertools.combinations(base, 2))
    combos = [tuple(c) for c in spec] if spec else []
    for c in combos:
        missing = [m for m in c if m not in base]
        if missing or len(c) < 2:
            raise ValueError(f"concatenation {c} must name at least 2 encoders among {base}.")
    return combos


def _embed_all(adapted: dict[str, Any], layered: dict[str, list[str]], X: Any, memory: Any, chunk_size: int,
               parallel_map: Any) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every encoder's embeddings of ``X`` (one row per layer for a layer profile, from one forward pass), and the clips' content keys.

    ``X`` is an array, or a :class:`~trustkit.datasets.Corpus` embedded chunk by chunk.
    """
    found: dict[str, np.ndarray] = {}
    keys = [] if isinstance(X, Corpus) else content_keys(X)
    for n, enc in adapted.items():
        if isinstance(X, Corpus):
            Z, keys = embed_corpus(enc, X, chunk_size=chunk_size, memory=memory, parallel_map=parallel_map,
                                   return_keys=True)
        else:
            Z = embed_layers(enc, X, memory=memory) if n in layered else embed(enc, X, memory=memory)
        if n in layered:
            found.update({f"{n}/{layer}": _features(L, f"embeddings of {n} layer {layer!r}") for layer, L in Z.items()})
        else:
            found[n] = _features(Z, f"embeddings of {n}")
            # before any fit: one embedding per clip, and clips told apart
            preflight(enc, X.read([0, 1]) if isinstance(X, Corpus) else X[:2], found[n][:2], found[n],
                      owner="compare_encoders", role=f"encoder {n!r}")
    return found, keys


def _pairwise_tests(task_name: str, names: list[str], task_scores: dict[str, np.ndarray], splits: list,
                    alpha: float) -> list[dict[str, Any]]:
    """Every pair of representations on the task's folds: corrected resampled t-test, Holm-adjusted."""
    n_train = int(np.mean([len(tr) for tr, _ in splits]))
    n_test = int(np.mean([len(te) for _, te in splits]))
    tests = []
    for a, b in itertools.combinations(names, 2):
        t, p = corrected_paired_ttest(task_scores[a], task_scores[b], n_train=n_train, n_test=n_test)
        tests.append({"task": task_name, "a": a, "b": b, "mean_difference": float(np.mean(task_scores[a] - task_scores[b])),
                      "t": t, "p": p})
    return [{**r, "p_holm": float(p_adj), "significant": bool(p_adj < alpha)}
            for r, p_adj in zip(tests, holm([r["p"] for r in tests]))]


def _estimator_agreement(task_name: str, names: list[str], task_scores: dict[str, np.ndarray],
                         est_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kendall's tau between each training-free estimator and the probe, over the representations."""
    probe_values = [np.mean(task_scores[n]) for n in names]
    task_est = pd.DataFrame(est_rows)
    rows = []
    for e_name in dict.fromkeys(task_est["estimator"]) if len(task_est) else []:
        vals = task_est[task_est["estimator"] == e_name].set_index("encoder").loc[names, "statistic"].to_numpy()
        res = scipy.stats.kendalltau(vals, probe_values)
        rows.append({"task": task_name, "estimator": e_name, "kendall_tau": float(res.statistic), "p": float(res.pvalue),
                     "n_encoders": len(names), "min_p": _kendall_min_p(len(names))})
    return rows
