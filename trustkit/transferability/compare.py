"""compare_encoders: several encoders on several tasks, on the same folds, with tests."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.stats

from .._seeds import resolve_entropy
from .._validation import check_audio, check_number
from ..encoders import as_encoder, embed, embed_layers, is_layer_profile
from ..reports import Report
from ..stats import corrected_paired_ttest, friedman_nemenyi, holm
from .estimators import _features
from .probe import FEW_GROUPS, TransferabilityProbe, TransferReport

__all__ = ["ComparisonReport", "compare_encoders"]


@dataclass(frozen=True, eq=False, repr=False)
class ComparisonReport(Report):
    """Result of :func:`compare_encoders`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per encoder and task: the main metric on out-of-fold
        predictions with its bootstrap interval, the fold mean with its
        Nadeau-Bengio interval, and the score normalised against chance.
    pairwise : pandas.DataFrame
        Per task and pair of encoders: mean fold difference, corrected
        resampled t-test, Holm-adjusted p-value (within the task).
    friedman : dict
        Across tasks: Friedman statistic and p-value, mean ranks, Nemenyi
        critical difference.
    agreement : pandas.DataFrame
        Per task and training-free estimator: Kendall tau between the
        estimator's ranking of the encoders and the probe's.
    estimators : pandas.DataFrame
        Every estimator value per encoder and task, with intervals.
    reports : dict
        The full :class:`TransferReport` of every (encoder, task).
    config : dict
    profile : pandas.DataFrame
        For every encoder set to ``layer="all"`` (its layers are rows
        ``"name/layer"`` of every table): one row per task and layer, shallow
        to deep (``series`` = ``"name on task"``, ``layer``, ``depth``,
        ``measure``, ``value``, ``low``, ``high``). Empty otherwise.
    """

    table: pd.DataFrame
    pairwise: pd.DataFrame
    friedman: dict
    agreement: pd.DataFrame
    estimators: pd.DataFrame
    reports: dict = field(repr=False)
    config: dict = field(repr=False)
    profile: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    higher_is_better: ClassVar[bool] = True
    limit_range: ClassVar[tuple[float | None, float | None]] = (None, 1.0)  # below chance is negative
    limit_name: ClassVar[str] = "min_score"
    headline: ClassVar[str] = ("mean normalised main probe score of the top-ranked encoder across tasks (named best only "
                               "when the tests support it)")

    def winner(self) -> str | None:
        """The encoder the tests show better than every other, or None when the data support no winner.

        With two or more tasks: Friedman rejects and Nemenyi separates the
        top-ranked encoder from every other. With one task: the corrected
        resampled t-test (Holm) finds it better than every other on that task.
        """
        top = self.ranking().index[0]
        names = list(self.config["encoders"])
        if len(self.config["tasks"]) >= 2:
            if not self.friedman.get("friedman_rejects"):
                return None
            sig = np.asarray(self.friedman["significant"], dtype=bool)
            i = names.index(top)
            return top if all(sig[i, j] for j in range(len(names)) if j != i) else None
        pw = self.pairwise
        for other in names:
            if other == top:
                continue
            row = pw[((pw["a"] == top) & (pw["b"] == other)) | ((pw["a"] == other) & (pw["b"] == top))]
            diff = float(row["mean_difference"].iloc[0]) * (1 if row["a"].iloc[0] == top else -1)
            if not (bool(row["significant"].iloc[0]) and diff > 0):
                return None
        return top

    def _support(self) -> str:
        """Why the top-ranked encoder is, or is not, called best."""
        f = self.friedman
        top, best = self.ranking().index[0], self.winner()
        if best is not None:
            return f"{best} is best: the tests separate it from every other encoder at alpha={self.config['alpha']}"
        if len(self.config["tasks"]) >= 2:
            why = (f"Friedman p={f['pvalue']:.2g} does not reject" if not f.get("friedman_rejects")
                   else "Nemenyi does not separate it from every other encoder")
        else:
            why = "the pairwise tests on the one task do not find it better than every other encoder"
        return f"no encoder is supported as best ({why}); {top} merely ranks first"

    def __float__(self) -> float:
        best = self.ranking().index[0]
        return float(self.table[self.table["encoder"] == best]["normalised"].mean())

    def _headline_interval(self) -> tuple[float, float] | None:
        """The mean over tasks of each task's interval bounds, normalised like the scores.

        Conservative: averaging bounds is exact when the tasks' errors move
        together and wider than needed otherwise.
        """
        rows = self.table[self.table["encoder"] == self.ranking().index[0]]
        scale = (1 - rows["chance"]).where(rows["chance"] < 1)
        low, high = ((rows["low"] - rows["chance"]) / scale).mean(), ((rows["high"] - rows["chance"]) / scale).mean()
        return (float(low), float(high)) if np.isfinite(low) and np.isfinite(high) else None

    def _measure_name(self) -> str:
        top, best = self.ranking().index[0], self.winner()
        if best is not None:
            return f"mean normalised score of the best encoder, {best} (0 = chance, 1 = perfect)"
        return (f"mean normalised score of the top-ranked encoder, {top}, not shown better than the others "
                "(0 = chance, 1 = perfect)")

    def _long(self) -> pd.DataFrame:
        rows = [{"scope": "probe, out-of-fold", "encoder": r["encoder"], "task": r["task"], "measure": r["metric"],
                 "statistic": r["value"], "low": r["low"], "high": r["high"],
                 "n": self.reports[(r["encoder"], r["task"])].config["n_items"]} for r in self.table.to_dict("records")]
        rows += [{"scope": "training-free estimator", "encoder": r["encoder"], "task": r["task"],
                  "measure": r["estimator"], "statistic": r["value"], "low": r["low"], "high": r["high"],
                  "n": self.reports[(r["encoder"], r["task"])].config["n_items"]}
                 for r in self.estimators.to_dict("records")]
        return pd.DataFrame(rows)

    def ranking(self) -> pd.Series:
        """Mean rank of each encoder across tasks (1 = best), best first; ties broken by the mean normalised score."""
        ranks = pd.Series(self.friedman["mean_ranks"], index=self.config["encoders"], dtype=float)
        score = self.table.groupby("encoder")["normalised"].mean().reindex(ranks.index)
        order = pd.DataFrame({"rank": ranks, "score": -score}).sort_values(["rank", "score"], kind="stable").index
        return ranks.loc[order]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results (the per-pair reports summarised by their tables)."""
        out = super().to_dict()
        out["reports"] = {f"{e} | {t}": r.table.to_dict(orient="records") for (e, t), r in self.reports.items()}
        return out

    def summary(self) -> str:
        """Encoder x task table, tests and estimator agreement, in words."""
        t = self.table
        few = {task: n for task, n in self.config.get("n_groups", {}).items() if n is not None and n < FEW_GROUPS}
        cells = []
        for r in t.itertuples():
            item = f"{r.value:.3f} [{r.low:.3f}, {r.high:.3f}]"
            folds = f"folds {r.fold_mean:.3f} [{r.nb_low:.3f}, {r.nb_high:.3f}]"
            cells.append(f"{folds}; {item}" if r.task in few else item)
        pivot = t.assign(cell=cells).pivot(index="encoder", columns="task", values="cell").loc[self.config["encoders"]]
        f = self.friedman
        level = f"{self.config.get('confidence', 0.95):.0%}"
        lines = [
            f"compare_encoders: {len(self.config['encoders'])} encoders x {len(self.config['tasks'])} tasks, "
            f"probe={self.config['probe']}, same {self.config['cv']}-fold splits for every encoder",
            self._support(),
            "",
        ]
        if few:
            lines += [", ".join(f"{task}: only {n} groups" for task, n in few.items()) + " -- the Nadeau-Bengio interval "
                      "over folds, which carries the fold-to-fold variation, comes first there; treat the item "
                      "interval with care", ""]
        lines += [
            f"main metric, out-of-fold, {level} intervals (the probe's: Wilson or cluster-robust t for accuracy):",
            pivot.to_string(),
            "",
            f"Friedman across tasks: chi2={f['statistic']:.3f}, p={f['pvalue']:.3g}; Nemenyi CD={f['critical_difference']:.3f}"
            + ("" if f.get("friedman_rejects") else " (Nemenyi not run: Friedman does not reject)"),
            "mean ranks: " + ", ".join(f"{k} {v:.2f}" for k, v in self.ranking().items()),
        ]
        if f.get("reason"):
            lines.append(f["reason"])
        sig = self.pairwise[self.pairwise["significant"]]
        lines.append(f"pairwise (corrected resampled t, Holm within task): {len(sig)} of {len(self.pairwise)} differ at alpha={self.config['alpha']}")
        for r in sig.itertuples():
            lines.append(f"  {r.task}: {r.a} vs {r.b}: diff {r.mean_difference:+.3f}, p_holm={r.p_holm:.3g}")
        if len(self.agreement):
            lines.append("estimator vs probe ranking (Kendall tau): " + ", ".join(
                f"{r.task}/{r.estimator} {r.kendall_tau:+.2f}" for r in self.agreement.itertuples()))
            if "note" in self.estimators:
                weak = self.estimators[self.estimators["note"].str.startswith(("uninformative", "saturated"))]
                for (est, task), rows in weak.groupby(["estimator", "task"], sort=False):
                    lines.append(f"  {est} on {task} says little for {', '.join(rows['encoder'])}: "
                                 f"{rows['note'].iloc[0].split(':')[0]} (rank >= n - 1; see each report's note)")
            n_enc = int(self.agreement["n_encoders"].iloc[0])
            p_min = _kendall_min_p(n_enc)
            if p_min >= self.config["alpha"]:
                lines.append(f"  with {n_enc} encoders Kendall's tau cannot reach p < {self.config['alpha']:g} even at "
                             f"tau = 1 (smallest p = {p_min:.3g}): these agreements are descriptive, not evidence")
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Critical-difference diagram of the mean ranks across tasks."""
        import matplotlib.pyplot as plt

        ranks = self.ranking()
        k = len(ranks)
        cd = self.friedman["critical_difference"]
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * k))
        else:
            fig = ax.figure
        ax.set_xlim(0.5, k + 0.5)
        ax.set_ylim(-(k + 1), 2)
        ax.invert_xaxis()
        ax.hlines(0, 1, k, color="k")
        for r in range(1, k + 1):
            ax.vlines(r, -0.1, 0.1, color="k")
            ax.text(r, 0.3, str(r), ha="center", fontsize=8)
        for i, (name, rank) in enumerate(ranks.items()):
            y = -(i + 1)
            ax.vlines(rank, y, 0, color="#4c72b0")
            ax.text(rank, y, f" {name} ({rank:.2f})", va="center", ha="right" if rank < (k + 1) / 2 else "left", fontsize=8)
        if not self.friedman.get("significance_possible", True):
            # no diagram of significance where none is possible: say why instead
            ax.text((k + 1) / 2, 1.3, "no significant difference is possible with this many tasks", ha="center", fontsize=8, color="#c44e52")
        elif np.isfinite(cd):
            ax.hlines(1.2, 1, 1 + cd, color="#c44e52", lw=2)
            ax.text(1 + cd / 2, 1.4, f"CD = {cd:.2f}", ha="center", fontsize=8)
            values = ranks.to_numpy()
            if not self.friedman.get("friedman_rejects", True):  # Nemenyi only after Friedman rejects
                ax.hlines(-0.5, values[0] - 0.05, values[-1] + 0.05, color="k", lw=3)
                ax.text((k + 1) / 2, -(k + 0.7), "Friedman does not reject: no pair differs", ha="center", fontsize=8)
                values = values[:0]
            for i in range(len(values)):  # bars over groups whose ranks are within CD
                j = max(j for j in range(i, len(values)) if values[j] - values[i] <= cd)
                if j > i and (i == 0 or values[j] - values[i - 1] > cd):
                    ax.hlines(-0.5 - 0.25 * i, values[i] - 0.05, values[j] + 0.05, color="k", lw=3)
        ax.axis("off")
        ax.set_title("mean rank across tasks (1 = best); bars join encoders not significantly different")
        fig.tight_layout()
        return fig


def _unpack_task(name: str, spec: Any) -> tuple[Any, Any, Any, Any]:
    if isinstance(spec, dict):
        return spec["X"], spec["y"], spec.get("groups"), spec.get("source_proba")
    if isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
        return (*spec, None, None)[:4] if len(spec) == 3 else (spec[0], spec[1], None, None)
    raise ValueError(f"tasks[{name!r}] must be (X, y), (X, y, groups) or a dict with 'X', 'y' and optional 'groups'.")


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
) -> ComparisonReport:
    """Compare encoders across tasks, every encoder on the same folds and items.

    Parameters
    ----------
    encoders : dict of name -> encoder
        Anything :func:`trustkit.encoders.as_encoder` adapts.
    tasks : dict of name -> (X, y) or (X, y, groups)
        Audio and targets per task.
    probe, cv, estimators, n_bootstrap, confidence, n_jobs, verbose, memory
        As in :class:`TransferabilityProbe` (checked before any encoder runs).
    concatenations : "pairs", list of tuples of names, or None
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
                                  verbose=verbose).check_params()
    adapted = {n: as_encoder(e, sr=sr) for n, e in encoders.items()}
    # an encoder set to layer="all" becomes one row per layer ("name/layer"), all from one forward pass per clip
    layered = {n: enc.layer_names() for n, enc in adapted.items() if is_layer_profile(enc)}
    base = [row for n in encoders for row in ([f"{n}/{layer}" for layer in layered[n]] if n in layered else [n])]
    combos = _concatenations(concatenations, base)
    names = base + ["+".join(c) for c in combos]
    t_start = time.perf_counter()
    reports: dict[tuple[str, str], TransferReport] = {}
    rows, pair_rows, agree_rows, est_rows, score_matrix = [], [], [], [], []
    embedded: dict[int, tuple[Any, dict[str, np.ndarray]]] = {}  # the array is kept so its id stays unique
    n_groups: dict[str, int | None] = {}
    for task_name, spec in tasks.items():
        X_given, y, groups, source_proba = _unpack_task(task_name, spec)
        n_groups[task_name] = None if groups is None else len(np.unique(np.asarray(groups)))
        X = check_audio(X_given, owner=f"compare_encoders task {task_name!r}")
        # tasks that share their clips (the same array) share the embeddings: each encoder embeds them once
        if id(X_given) not in embedded:
            embedded[id(X_given)] = (X_given, _embed_all(adapted, layered, X, memory))
        feats = dict(embedded[id(X_given)][1])
        for c in combos:
            feats["+".join(c)] = np.hstack([feats[m] for m in c])
        # the probe's public seam: one set of folds, every representation probed on it
        splits = prober.outer_folds(feats[names[0]], y, groups)
        task_scores = {}
        for n in names:
            rep = prober.score_embeddings(feats[n], y, groups, splits=splits, name=n, source_proba=source_proba)
            reports[(n, task_name)] = rep
            main = rep.config["main_metric"]
            r = rep.table[rep.table["metric"] == main].iloc[0]
            rows.append({"encoder": n, "task": task_name, "metric": main, "value": r["value"], "low": r["low"],
                         "high": r["high"], "fold_mean": r["fold_mean"], "nb_low": r["nb_low"], "nb_high": r["nb_high"],
                         "normalised": r["normalised"], "chance": r["chance"], "majority": r["majority"],
                         "above_majority": r["above_majority"], "dim": feats[n].shape[1]})
            task_scores[n] = rep.folds[main].to_numpy()
            est_rows += [{"encoder": n, "task": task_name, "estimator": e.estimator, "value": e.value, "low": e.low,
                          "high": e.high, "note": e.note} for e in rep.estimators.itertuples()]
        score_matrix.append([np.mean(task_scores[n]) for n in names])
        pair_rows += _pairwise_tests(task_name, names, task_scores, splits, alpha)
        agree_rows += _estimator_agreement(task_name, names, task_scores, [r for r in est_rows if r["task"] == task_name])
    friedman = friedman_nemenyi(np.asarray(score_matrix), alpha=alpha)
    friedman["mean_ranks"] = friedman["mean_ranks"].tolist()
    friedman["significant"] = friedman["significant"].tolist()
    config = {"encoders": names, "tasks": list(tasks), "probe": probe if isinstance(probe, str) else type(probe).__name__,
              "cv": cv, "alpha": alpha, "n_bootstrap": n_bootstrap, "confidence": confidence,
              "concatenations": ["+".join(c) for c in combos], "n_groups": n_groups,
              "random_state": random_state if isinstance(random_state, (int, type(None))) else "RandomState",
              "timing": {"total_s": time.perf_counter() - t_start}}
    table = pd.DataFrame(rows)
    profile = pd.DataFrame([
        {"series": f"{n} on {r.task}", "encoder": n, "task": r.task, "layer": layer, "depth": depth, "measure": r.metric,
         "value": r.value, "low": r.low, "high": r.high}
        for n, layers in layered.items() for r in table.itertuples() for depth, layer in enumerate(layers)
        if r.encoder == f"{n}/{layer}"
    ])
    return ComparisonReport(table=table, pairwise=pd.DataFrame(pair_rows), friedman=friedman,
                            agreement=pd.DataFrame(agree_rows, columns=["task", "estimator", "kendall_tau", "p", "n_encoders", "min_p"]),
                            estimators=pd.DataFrame(est_rows), reports=reports, config=config, profile=profile)


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


def _embed_all(adapted: dict[str, Any], layered: dict[str, list[str]], X: np.ndarray, memory: Any) -> dict[str, np.ndarray]:
    """Every encoder's embeddings of ``X`` (one row per layer for a layer profile, from one forward pass)."""
    found: dict[str, np.ndarray] = {}
    for n, enc in adapted.items():
        if n in layered:
            found.update({f"{n}/{layer}": _features(Z, f"embeddings of {n} layer {layer!r}")
                          for layer, Z in embed_layers(enc, X, memory=memory).items()})
        else:
            found[n] = _features(embed(enc, X, memory=memory), f"embeddings of {n}")
    return found


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


def _kendall_min_p(n: int) -> float:
    """The smallest two-sided p-value Kendall's tau can reach with ``n`` items (perfect agreement)."""
    if n < 3:
        return 1.0
    return float(scipy.stats.kendalltau(np.arange(n), np.arange(n)).pvalue)


def _estimator_agreement(task_name: str, names: list[str], task_scores: dict[str, np.ndarray],
                         est_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kendall's tau between each training-free estimator and the probe, over the representations."""
    probe_values = [np.mean(task_scores[n]) for n in names]
    task_est = pd.DataFrame(est_rows)
    rows = []
    for e_name in dict.fromkeys(task_est["estimator"]) if len(task_est) else []:
        vals = task_est[task_est["estimator"] == e_name].set_index("encoder").loc[names, "value"].to_numpy()
        res = scipy.stats.kendalltau(vals, probe_values)
        rows.append({"task": task_name, "estimator": e_name, "kendall_tau": float(res.statistic), "p": float(res.pvalue),
                     "n_encoders": len(names), "min_p": _kendall_min_p(len(names))})
    return rows
