"""The transferability reports: one probe (:class:`TransferReport`) and a comparison of encoders (:class:`ComparisonReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.stats

from ..reports import Report, jsonable
from ..reports.diff import encode_share

__all__ = ["CHANCE", "CORRUPTION", "DROP", "ESTIMATOR", "PERTURBED", "under_perturbation", "FEW_GROUPS", "FOLD_MEAN", "MAJORITY", "NORMALISED", "OUT_OF_FOLD", "ComparisonReport",
           "TransferReport", "by_metric", "metric_rows"]

FEW_GROUPS = 20  # below this many groups the summary leads with the interval over folds

#: the scopes of a transferability report's long table
OUT_OF_FOLD = "probe, out-of-fold"
FOLD_MEAN = "probe, fold mean (Nadeau-Bengio)"
NORMALISED = "probe, normalised against chance"
CHANCE = "chance"
MAJORITY = "majority"
ESTIMATOR = "training-free estimator"
PERTURBED = "probe, perturbed test folds"
DROP = "drop under perturbation (clean - perturbed)"
CORRUPTION = "corruption error"


def metric_rows(ids: dict[str, Any], metric: str, item: Any, folds: Any, chance: float, majority: float,
                interval: str) -> list[dict[str, Any]]:
    """One probe metric as rows of the long table: out-of-fold, fold mean, normalised, chance and majority.

    ``item`` is the estimate over items (out-of-fold predictions), ``folds``
    the Nadeau-Bengio estimate over folds (:class:`~trustkit.stats.Estimate`).
    The score normalised against chance, ``(s - chance) / (1 - chance)``, is a
    fixed increasing map of the item score, so its interval is the map of the
    item interval (undefined when chance is 1). Chance and majority are what a
    probe that ignores the embedding scores on these folds (no interval).
    """
    scale = 1 - chance if chance < 1 else np.nan
    row = {**ids, "interval": interval, "measure": metric, "n": item.n, "confidence": item.confidence}
    return [
        {**row, "scope": OUT_OF_FOLD, "statistic": item.statistic, "low": item.low, "high": item.high},
        {**row, "scope": FOLD_MEAN, "interval": "Nadeau-Bengio corrected t over folds", "statistic": folds.statistic,
         "low": folds.low, "high": folds.high, "n": folds.n},
        {**row, "scope": NORMALISED, "statistic": (item.statistic - chance) / scale, "low": (item.low - chance) / scale,
         "high": (item.high - chance) / scale},
        {**row, "scope": CHANCE, "interval": "", "statistic": chance, "low": np.nan, "high": np.nan},
        {**row, "scope": MAJORITY, "interval": "", "statistic": majority, "low": np.nan, "high": np.nan},
    ]


def item_outcomes(oof: pd.DataFrame, config: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """A probe's paired outcomes (:meth:`TransferReport.paired_outcomes`) from its out-of-fold table."""
    main, task = config["main_metric"], config["task"]
    covered = oof["fold"].to_numpy() >= 0
    if task == "multiclass":
        labels = oof["true"].astype(str).tolist()
        values: Any = encode_share(np.where(covered, (oof["true"] == oof["pred"]).to_numpy(dtype=float), np.nan))
        statistic = "share"
    else:
        truth = oof[[c for c in oof if c.startswith("true_")]].to_numpy(dtype=float)
        clean = [c for c in oof if c.startswith("score_" if task == "multilabel" else "pred_") and "@" not in c]
        out = oof[clean].to_numpy(dtype=float, copy=True)
        out[~covered] = np.nan
        labels, values, statistic = truth.tolist(), out.tolist(), main
    per_unit = {"fold": oof["fold"].astype(int).tolist(), "label": labels}
    groups = oof["group"].astype(str).tolist() if "group" in oof else None
    if groups is not None:
        per_unit["group"] = groups
    return {
        "report": "TransferReport", "unit": "item", "n_units": len(oof), "keys": list(keys) or None,
        "describe": {"encoder": config.get("encoder")}, "groups": groups,
        "design": {"task": task, "main_metric": main, "n_folds": config.get("n_folds"),
                   "seed_entropy": config.get("seed_entropy"), "probe": config.get("probe"),
                   "perturbations": config.get("perturbations"), "loudness_match": config.get("loudness_match")},
        "per_unit": per_unit,
        "comparisons": [{"name": main, "scope": "headline", "measure": main, "higher_is_better": True,
                         "statistic": statistic, "values": values},
                        *_perturbed_outcomes(oof, task, main, covered)],
    }


def _perturbed_outcomes(oof: pd.DataFrame, task: str, main: str, covered: np.ndarray) -> list[dict[str, Any]]:
    """With ``perturbations=``: each setting's per-item outcome on its perturbed test fold, as a setting comparison."""
    settings = list(dict.fromkeys(c.split("@", 1)[1] for c in oof.columns if "@" in c))
    out = []
    for name in settings:
        if task == "multiclass":
            values: Any = encode_share(np.where(covered, (oof["true"] == oof[f"pred@{name}"]).to_numpy(dtype=float),
                                                np.nan))
        else:
            part = oof[[c for c in oof.columns if c.endswith(f"@{name}")]].to_numpy(dtype=float, copy=True)
            part[~covered] = np.nan
            values = part.tolist()
        out.append({"name": name, "scope": "setting", "measure": main, "higher_is_better": True,
                    "statistic": "share" if task == "multiclass" else main, "values": values})
    return out


def by_metric(table: pd.DataFrame) -> pd.DataFrame:
    """A transferability long table with one row per (encoder, task,) metric: the probe's figures side by side.

    Columns: the ids (``encoder``, ``task`` when present), ``metric``,
    ``statistic``, ``low``, ``high``, ``interval`` (out-of-fold, over items),
    ``fold_mean``, ``nb_low``, ``nb_high`` (over folds), ``normalised``,
    ``normalised_low``, ``normalised_high``, ``chance``, ``majority``, ``n``.
    """
    keys = [c for c in ("encoder", "task") if c in table]
    probe = table[table["scope"] == OUT_OF_FOLD]
    out = probe[[*keys, "measure", "statistic", "low", "high", "interval", "n"]].rename(columns={"measure": "metric"})

    def side(scope: str, names: dict[str, str]) -> pd.DataFrame:
        rows = table[table["scope"] == scope][[*keys, "measure", *names]].rename(columns={"measure": "metric", **names})
        return rows

    for scope, names in ((FOLD_MEAN, {"statistic": "fold_mean", "low": "nb_low", "high": "nb_high"}),
                         (NORMALISED, {"statistic": "normalised", "low": "normalised_low", "high": "normalised_high"}),
                         (CHANCE, {"statistic": "chance"}), (MAJORITY, {"statistic": "majority"})):
        out = out.merge(side(scope, names), on=[*keys, "metric"], how="left", sort=False)
    n = out.pop("n")
    out["n"] = n
    return out.reset_index(drop=True)


def under_perturbation(table: pd.DataFrame) -> pd.DataFrame:
    """The task-level robustness rows of a transferability long table, one row per (encoder, task,) setting."""
    keys = [c for c in ("encoder", "task") if c in table]
    if "setting" not in table or not (table["scope"] == PERTURBED).any():
        return pd.DataFrame(columns=[*keys, "setting", "family", "severity", "score", "low", "high", "drop", "drop_low",
                                     "drop_high", "test", "p"])
    score = table[table["scope"] == PERTURBED][[*keys, "setting", "family", "severity", "statistic", "low", "high"]]
    drop = table[table["scope"] == DROP][[*keys, "setting", "statistic", "low", "high", "test", "p"]]
    out = score.rename(columns={"statistic": "score"}).merge(
        drop.rename(columns={"statistic": "drop", "low": "drop_low", "high": "drop_high"}), on=[*keys, "setting"],
        how="left", sort=False)
    out["p"] = pd.to_numeric(out["p"])
    return out.reset_index(drop=True)


def estimator_view(table: pd.DataFrame) -> pd.DataFrame:
    """The training-free estimators' rows: ids, ``estimator``, ``statistic``, ``low``, ``high``, how, note."""
    rows = table[table["scope"] == ESTIMATOR]
    keep = [c for c in ("encoder", "task", "measure", "statistic", "low", "high", "n", "group_aware", "interval", "note")
            if c in rows]
    return rows[keep].rename(columns={"measure": "estimator"}).reset_index(drop=True)


@dataclass(frozen=True, eq=False, repr=False)
class TransferReport(Report):
    """Result of :meth:`TransferabilityProbe.score`.

    Attributes
    ----------
    table : pandas.DataFrame
        The long table (:class:`~trustkit.reports.Report`). Per metric, five
        scopes: ``"probe, out-of-fold"`` (the score of the out-of-fold
        predictions, interval over items, its method in ``interval``),
        ``"probe, fold mean (Nadeau-Bengio)"`` (mean over folds, corrected
        interval), ``"probe, normalised against chance"``, ``"chance"`` and
        ``"majority"``; then one ``"training-free estimator"`` row per
        estimator (with its ``note``). :meth:`wide` shows one row per metric.
    folds : pandas.DataFrame
        Scores and chosen hyper-parameters per outer fold.
    per_class : pandas.DataFrame
        Precision, recall, F1 and support per class (multiclass), or
        ROC-AUC / AP per label (multilabel).
    oof : pandas.DataFrame
        Out-of-fold prediction for every item, with its fold.
    config : dict
    profile : pandas.DataFrame
        With an encoder set to ``layer="all"``: a long table, one row per
        layer, shallow to deep (``layer``, ``depth``, then the long table's
        columns for the main metric), every layer probed on the same folds
        with the same seeds. The other fields describe the deepest layer.
        Empty otherwise.
    clip_keys : list of str
        The content key of every item's audio (:func:`trustkit.audio.content_keys`);
        empty when the probe was given embeddings.
    """

    table: pd.DataFrame
    folds: pd.DataFrame = field(repr=False)
    per_class: pd.DataFrame = field(repr=False)
    oof: pd.DataFrame = field(repr=False)
    config: dict
    profile: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    clip_keys: list = field(default_factory=list, repr=False)
    higher_is_better: ClassVar[bool] = True
    headline: ClassVar[str] = "main probe metric on out-of-fold predictions (accuracy, macro ROC-AUC or R2)"
    limit_range: ClassVar[tuple[float | None, float | None]] = (None, 1.0)  # R2 has no lower bound
    limit_name: ClassVar[str] = "min_score"
    gate_scopes: ClassVar[tuple[str, ...]] = ("per_setting",)

    def __float__(self) -> float:
        return float(self.row(self.config["main_metric"], scope=OUT_OF_FOLD)["statistic"])

    def _gate_scope(self, scope: str, limit: float, use_interval: bool, error: type[Exception]) -> str:
        # "per_setting": the main metric under every perturbation (perturbations=) must reach the limit
        robust = self.under_perturbation
        if not len(robust):
            raise ValueError("scope='per_setting' gates the score under each perturbation: probe with perturbations= "
                             "(--perturbations on the command line).")
        column = "low" if use_interval else "score"
        failing = robust[~(robust[column] >= limit)]
        what = "lower ends of the settings' intervals" if use_interval else "settings' scores"
        if len(failing):
            listed = ", ".join(f"{r.setting} {getattr(r, column):.3f}" for r in failing.itertuples())
            raise error(f"{len(failing)} of {len(robust)} {what} under perturbation are below {self.limit_name}="
                        f"{limit:g} (encoder {self.config['encoder']}): {listed}.")
        return f"all {len(robust)} {what} under perturbation >= {limit:g}"

    def _measure_name(self) -> str:
        return str(self.config["main_metric"])

    def _headline_interval(self) -> tuple[float, float]:
        row = self.row(self.config["main_metric"], scope=OUT_OF_FOLD)
        return float(row["low"]), float(row["high"])

    def _headline_n(self) -> float:
        return float(self.config["n_items"])

    def wide(self) -> pd.DataFrame:
        """One row per metric: out-of-fold score and interval, fold mean (Nadeau-Bengio), normalised, chance, majority.

        See :func:`by_metric` for the columns; the estimators are in :attr:`estimators`.
        """
        return by_metric(self.table)

    @property
    def estimators(self) -> pd.DataFrame:
        """The training-free estimators (rows of :attr:`table`), one row each.

        Columns ``estimator``, ``statistic``, ``low``, ``high``, how the
        interval was computed, and a ``note`` when the estimator says little on
        these embeddings.
        """
        return estimator_view(self.table)

    def paired_outcomes(self) -> dict[str, Any]:
        """Per item: correct or not (accuracy), or the out-of-fold scores or predictions the main metric needs.

        ``design`` holds what two runs must share (task, metric, folds' seed,
        number of folds, probe); ``per_unit`` each item's fold and label (and
        group), which must be the same item by item.
        """
        return item_outcomes(self.oof, self.config, self.clip_keys)

    def summary(self) -> str:
        """A short readable account of the results."""
        c = self.config
        classes = f", {c['n_classes']} classes" if c.get("n_classes") else ""
        lines = [
            f"TransferabilityProbe: {c['encoder']} -> {c['task']} task, {c['n_items']} items{classes}, dim {c['dim']}",
            f"probe={c['probe']}, {c['n_folds']}-fold outer CV (groups: {c['groups']}), inner {c['inner_cv']}-fold tuning",
            "",
        ]
        few = c.get("n_groups") is not None and c["n_groups"] < FEW_GROUPS
        if few:
            lines += [f"only {c['n_groups']} groups: the Nadeau-Bengio interval over folds, which carries the "
                      "fold-to-fold variation, comes first", ""]
        for r in self.wide().itertuples():
            b = f"{r.statistic:.3f} [{r.low:.3f}, {r.high:.3f}] {r.interval}"
            nb = f"folds {r.fold_mean:.3f} [{r.nb_low:.3f}, {r.nb_high:.3f}] Nadeau-Bengio"
            first, second = (nb, b) if few else (b, nb)
            lines.append(f"{r.metric:<10s} {first}; {second}; chance {r.chance:.3f}, majority {r.majority:.3f}, "
                         f"normalised {r.normalised:.3f}")
        if len(self.estimators):
            aware = "group-aware: kNN leaves out the whole group, intervals delete whole groups" if c.get("groups") else \
                "jackknife intervals; kNN: bootstrap"
            lines += ["", f"training-free estimators ({aware}):"]
            for r in self.estimators.itertuples():
                note = f"  ({r.note})" if getattr(r, "note", "") else ""
                interval = f"[{r.low: .4f}, {r.high: .4f}]" if np.isfinite(r.low) else "[no interval]"
                lines.append(f"  {r.estimator:<17s} {r.statistic: .4f} {interval}{note}")
        if len(self.profile):
            lines += ["", f"layer profile ({self.profile['measure'].iloc[0]}, same folds; the figures above are the "
                      "deepest layer's):"]
            lines += [f"  {r.depth:2d} {r.layer:<14s} {r.statistic:.3f} [{r.low:.3f}, {r.high:.3f}]" for r in self.profile.itertuples()]
        robust = self.under_perturbation
        if len(robust):
            worst = robust.loc[robust["drop"].idxmax()]
            lines += ["", f"under perturbation ({c['main_metric']} on the perturbed test folds, probes trained clean; "
                      f"drop = clean - perturbed, paired over items): worst {worst['setting']}, drop "
                      f"{worst['drop']:.3f} [{worst['drop_low']:.3f}, {worst['drop_high']:.3f}]"]
            lines += [f"  {r.setting:<28s} {r.score:.3f} [{r.low:.3f}, {r.high:.3f}]  drop {r.drop:+.3f} "
                      f"[{r.drop_low:+.3f}, {r.drop_high:+.3f}] ({r.test} p = {r.p:.2g})" for r in robust.itertuples()]
        return "\n".join(lines)

    @property
    def under_perturbation(self) -> pd.DataFrame:
        """With ``perturbations=``: per setting, the main metric on the perturbed test folds and its paired drop.

        Columns ``setting``, ``family``, ``severity``, ``score``, ``low``,
        ``high``, ``drop``, ``drop_low``, ``drop_high``, ``test``, ``p`` (the
        ``PERTURBED`` and ``DROP`` rows of :attr:`table`); empty otherwise.
        """
        return under_perturbation(self.table)

    def plot(self, ax: Any = None) -> Any:
        """Metrics with bootstrap intervals against chance and majority; fold scores as dots."""
        import matplotlib.pyplot as plt

        t = self.wide()
        if ax is None:
            fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(t), 3.2))
        else:
            fig = ax.figure
        x = np.arange(len(t))
        ax.bar(x, t["statistic"], color="#4c72b0", alpha=0.8, label="probe (out-of-fold)")
        ax.errorbar(x, t["statistic"], yerr=[t["statistic"] - t["low"], t["high"] - t["statistic"]], fmt="none", color="k",
                    capsize=4)
        ax.scatter(x - 0.25, t["chance"], marker="_", s=400, color="#c44e52", label="chance")
        ax.scatter(x + 0.25, t["majority"], marker="_", s=400, color="#8172b2", label="majority")
        for i, m in enumerate(t["metric"]):
            ax.scatter(np.full(len(self.folds), x[i]) + 0.12, self.folds[m], s=10, color="k", alpha=0.5)
        ax.set_xticks(x, t["metric"])
        ax.set_title(f"{self.config['encoder']}: {self.config['task']}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


# -- the probe -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class ComparisonReport(Report):
    """Result of :func:`compare_encoders`.

    Attributes
    ----------
    table : pandas.DataFrame
        The long table (:class:`~trustkit.reports.Report`): per encoder and
        task, the main metric's rows of that pair's :class:`TransferReport`
        (out-of-fold, fold mean, normalised, chance, majority) and its
        training-free estimators. :meth:`wide` shows one row per encoder and
        task.
    pairwise : pandas.DataFrame
        Per task and pair of encoders: mean fold difference, corrected
        resampled t-test, Holm-adjusted p-value (within the task).
    friedman : dict
        Across tasks: Friedman statistic and p-value, mean ranks, Nemenyi
        critical difference.
    agreement : pandas.DataFrame
        Per task and training-free estimator: Kendall tau between the
        estimator's ranking of the encoders and the probe's.
    reports : dict
        The full :class:`TransferReport` of every (encoder, task).
    config : dict
    profile : pandas.DataFrame
        For every encoder set to ``layer="all"`` (its layers are rows
        ``"name/layer"`` of every table): one row per task and layer, shallow
        to deep (``series`` = ``"name on task"``, ``layer``, ``depth``, then
        the long table's columns). Empty otherwise.
    """

    table: pd.DataFrame
    pairwise: pd.DataFrame
    friedman: dict
    agreement: pd.DataFrame
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

    def wide(self) -> pd.DataFrame:
        """One row per encoder and task: the main metric's figures side by side (see :func:`by_metric`)."""
        return by_metric(self.table)

    @property
    def estimators(self) -> pd.DataFrame:
        """Every training-free estimator per encoder and task, with its interval and note (rows of :attr:`table`)."""
        return estimator_view(self.table)

    def __float__(self) -> float:
        best = self.ranking().index[0]
        t = self.wide()
        return float(t[t["encoder"] == best]["normalised"].mean())

    def _headline_interval(self) -> tuple[float, float] | None:
        """The mean over tasks of each task's interval bounds, normalised like the scores.

        Conservative: averaging bounds is exact when the tasks' errors move
        together and wider than needed otherwise.
        """
        t = self.wide()
        rows = t[t["encoder"] == self.ranking().index[0]]
        low, high = rows["normalised_low"].mean(), rows["normalised_high"].mean()
        return (float(low), float(high)) if np.isfinite(low) and np.isfinite(high) else None

    def _measure_name(self) -> str:
        top, best = self.ranking().index[0], self.winner()
        if best is not None:
            return f"mean normalised score of the best encoder, {best} (0 = chance, 1 = perfect)"
        return (f"mean normalised score of the top-ranked encoder, {top}, not shown better than the others "
                "(0 = chance, 1 = perfect)")

    def ranking(self) -> pd.Series:
        """Mean rank of each encoder across tasks (1 = best), best first; ties broken by the mean normalised score."""
        ranks = pd.Series(self.friedman["mean_ranks"], index=self.config["encoders"], dtype=float)
        score = self.wide().groupby("encoder")["normalised"].mean().reindex(ranks.index)
        order = pd.DataFrame({"rank": ranks, "score": -score}).sort_values(["rank", "score"], kind="stable").index
        return ranks.loc[order]

    @property
    def under_perturbation(self) -> pd.DataFrame:
        """With ``perturbations=``: per encoder, task and setting, the score on the perturbed test folds and its drop.

        As :attr:`TransferReport.under_perturbation`, with ``encoder`` and ``task``; empty otherwise.
        """
        return under_perturbation(self.table)

    def paired_outcomes(self) -> dict[str, Any]:
        """Every (encoder, task)'s paired outcomes (:meth:`TransferReport.paired_outcomes`), one part each."""
        return {"report": type(self).__name__,
                "parts": {f"{e} on {t}": r.paired_outcomes() for (e, t), r in self.reports.items()}}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results (the per-pair reports summarised by their tables)."""
        out = super().to_dict()
        out["reports"] = {f"{e} | {t}": jsonable(r.table) for (e, t), r in self.reports.items()}
        return out

    def summary(self) -> str:
        """Encoder x task table, tests and estimator agreement, in words."""
        t = self.wide()
        few = {task: n for task, n in self.config.get("n_groups", {}).items() if n is not None and n < FEW_GROUPS}
        cells = []
        for r in t.itertuples():
            item = f"{r.statistic:.3f} [{r.low:.3f}, {r.high:.3f}]"
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
        robust = under_perturbation(self.table)
        if len(robust):
            lines.append("under perturbation (probes trained clean; drop = clean - perturbed): worst setting per "
                         "encoder and task")
            for (enc, task), rows in robust.groupby(["encoder", "task"], sort=False):
                w = rows.loc[rows["drop"].idxmax()]
                lines.append(f"  {enc} on {task}: {w['setting']} drop {w['drop']:+.3f} [{w['drop_low']:+.3f}, "
                             f"{w['drop_high']:+.3f}]")
        ce = self.table[self.table["scope"] == CORRUPTION]
        if len(ce):
            lines.append(f"corruption error against {ce['baseline'].iloc[0]} (Hendrycks & Dietterich 2019; 1 = as the "
                         "baseline, lower is more robust):")
            for (enc, task), rows in ce.groupby(["encoder", "task"], sort=False):
                m = rows.set_index("measure")
                lines.append(f"  {enc} on {task}: " + ", ".join(
                    f"{k} {m.loc[k, 'statistic']:.3f} [{m.loc[k, 'low']:.3f}, {m.loc[k, 'high']:.3f}]" for k in m.index))
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


def _kendall_min_p(n: int) -> float:
    """The smallest two-sided p-value Kendall's tau can reach with ``n`` items (perfect agreement)."""
    if n < 3:
        return 1.0
    return float(scipy.stats.kendalltau(np.arange(n), np.arange(n)).pvalue)
