"""The explanation reports: one explainer scored (:class:`FidelityComplexityReport`) and two compared (:class:`ExplanationComparison`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.stats

from .._seeds import SeedTree
from ..reports import Report, long_table
from ..stats import paired_difference

__all__ = ["COMPARED", "COMPARED_DELETION", "DELETION_HEADLINE", "FIDELITY_HEADLINE", "ExplanationComparison",
           "FidelityComplexityReport"]


@dataclass(frozen=True, eq=False, repr=False)
class ExplanationComparison(Report):
    """Paired comparison of two explainers on the same instances (Wilcoxon signed-rank, paired bootstrap).

    Attributes
    ----------
    table : pandas.DataFrame
        The long table (:class:`~trustkit.reports.Report`): one row per
        compared measure, scope ``"first - second, paired"``: the mean
        difference (first explainer minus second) as ``statistic`` with its
        paired bootstrap interval, the Wilcoxon statistic and p-value
        (``wilcoxon_statistic``, ``wilcoxon_p``), and n.
    config : dict
        The two explainers' names, n_bootstrap and confidence.
    """

    table: pd.DataFrame
    config: dict = field(default_factory=dict)
    higher_is_better: ClassVar[bool] = True
    headline: ClassVar[str] = ("difference in fidelity, first explainer minus second, mean over instances "
                               "(positive: the first is more faithful)")
    limit_range: ClassVar[tuple[float | None, float | None]] = (-2.0, 2.0)
    limit_name: ClassVar[str] = "min_difference"

    def __float__(self) -> float:
        row = self.table[self.table["measure"] == "fidelity"]
        return float(row["statistic"].iloc[0]) if len(row) else float("nan")

    def _measure_name(self) -> str:
        return "fidelity difference"

    def _headline_interval(self) -> tuple[float, float] | None:
        row = self.table[self.table["measure"] == "fidelity"]
        return (float(row["low"].iloc[0]), float(row["high"].iloc[0])) if len(row) else None

    def _headline_n(self) -> float:
        row = self.table[self.table["measure"] == "fidelity"]
        return float(row["n"].iloc[0]) if len(row) else float("nan")

    def summary(self) -> str:
        """The paired differences with intervals and Wilcoxon p-values."""
        c = self.config
        head = f"{c.get('first', 'first')} vs {c.get('second', 'second')} on the same instances (first - second)"
        shown = self.table[["measure", "statistic", "low", "high", "wilcoxon_statistic", "wilcoxon_p", "n"]]
        shown = shown.rename(columns={"statistic": "mean_difference", "wilcoxon_p": "pvalue"})
        return head + "\n" + shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")

    def plot(self, ax: Any = None) -> Any:
        """The mean differences with their intervals, one row per measure."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(self.table)), layout="constrained")
        t = self.table
        y = np.arange(len(t))
        ax.errorbar(t["statistic"], y, xerr=[t["statistic"] - t["low"], t["high"] - t["statistic"]],
                    fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(y, t["measure"])
        ax.set_xlabel(f"first - second ({int(100 * self.config.get('confidence', 0.95))} % interval)")
        return ax.figure


#: per-instance measures compared by :meth:`FidelityComplexityReport.compare` (fidelity first: it sees the sign)
COMPARED = ("fidelity", "concordance_keep", "concordance_remove", "skill_keep", "skill_remove", "n_units_90", "k_star")
#: the same for a ``measures="deletion"`` report (its headline first)
COMPARED_DELETION = ("auc_remove", "concordance_remove", "n_units_90")
#: the headline of a report
FIDELITY_HEADLINE = (
    "fidelity: correlation, between random coalitions of units of equal size, of the model's response change "
    "and the explanation's predicted change (1 = ranks every coalition as the model does, 0 = no information "
    "about which units matter, -1 = the opposite), mean over instances"
)
#: the headline of a ``measures="deletion"`` report
DELETION_HEADLINE = (
    "deletion area: share of the instance's full effect destroyed as the explanation's top-k units are removed, "
    "averaged over k = 0..d (the area under the deletion curve; the larger, the sooner the units it ranks first "
    "move the response; above 1 when removing them overshoots; no random control, so no chance level: compare "
    "explanations of the same model), mean over instances"
)


@dataclass(frozen=True, eq=False, repr=False)
class FidelityComplexityReport(Report):
    """Result of :meth:`FidelityComplexityScorer.score`.

    Attributes
    ----------
    table : pandas.DataFrame
        The long table (:class:`~trustkit.reports.Report`): one row per
        measure and budget (``budget`` ``"k=3"``, or ``""`` for measures of
        the whole ranking), the mean over the scored instances as
        ``statistic`` with a bootstrap interval (instances with a near-zero
        effect are left out and counted in ``config["n_near_zero"]``).
    per_instance : pandas.DataFrame
        Fidelity, curve areas, random controls, skill scores, shares, surrogate
        fidelity per budget, complexity, k* (censored at ``d + 1`` when never
        reached, with ``k_star_reached``) and the ``near_zero`` flag for every
        instance.
    curves : pandas.DataFrame
        Keep and remove curves (observed and predicted responses, shares, the
        random control) per instance and k.
    config : dict
        Includes ``n_model_calls`` and ``n_model_rows``.
    clip_keys : list of str
        The content key of every instance (:func:`trustkit.audio.content_keys`).
    """

    table: pd.DataFrame
    per_instance: pd.DataFrame = field(repr=False)
    curves: pd.DataFrame = field(repr=False)
    config: dict
    clip_keys: list = field(default_factory=list, repr=False)
    higher_is_better: ClassVar[bool] = True
    limit_range: ClassVar[tuple[float | None, float | None]] = (-1.0, 1.0)  # fidelity, a correlation
    limit_name: ClassVar[str] = "min_fidelity"

    def limit_bounds(self) -> tuple[float | None, float | None]:
        """[-1, 1] for fidelity; unbounded for the deletion area (``measures="deletion"``: the model's own scale)."""
        return (None, None) if self._deletion_only else self.limit_range

    @property
    def _deletion_only(self) -> bool:
        return self.config.get("measures") == "deletion"

    @property
    def _headline_measure(self) -> str:
        """The table's measure the headline reads: ``fidelity``, or ``auc_remove`` with ``measures="deletion"``."""
        return "auc_remove" if self._deletion_only else "fidelity"

    @property
    def headline(self) -> str:  # type: ignore[override]  # the base's class attribute; here it depends on measures
        """What the headline number means (it depends on ``config["measures"]``)."""
        return DELETION_HEADLINE if self._deletion_only else FIDELITY_HEADLINE

    def __float__(self) -> float:
        return float(self._row(self._headline_measure)["statistic"])

    def _measure_name(self) -> str:
        return "deletion area" if self._deletion_only else "fidelity"

    def _headline_interval(self) -> tuple[float, float]:
        row = self._row(self._headline_measure)
        return float(row["low"]), float(row["high"])

    def _headline_n(self) -> float:
        return float(self._row(self._headline_measure)["n"])

    def _undefined_reason(self) -> str:
        c = self.config
        n, near, undefined = c.get("n_instances", 0), c.get("n_near_zero", 0), c.get("n_undefined", 0)
        why = ("an undefined deletion area (an explanation that weighs every unit the same ranks none)"
               if self._deletion_only else
               "an undefined fidelity (the response does not vary between coalitions of equal size)")
        return (f"of {n} instances, {near} have a near-zero effect (the response moves by at most min_effect of its "
                f"range) and {undefined} {why}, so none is left to score")

    def _row(self, measure: str) -> pd.Series:
        return self.row(measure, budget="")

    def _fmt(self, measure: str) -> str:
        r = self._row(measure)
        if not np.isfinite(r["statistic"]):
            return "undefined"
        return f"{r['statistic']:.3f} [{r['low']:.3f}, {r['high']:.3f}]" if np.isfinite(r["low"]) else f"{r['statistic']:.3f}"

    def summary(self) -> str:
        """A short readable account of the results."""
        c = self.config
        per = self.per_instance[~self.per_instance["near_zero"]]
        fmt = self._fmt
        lines = self._deletion_summary() if self._deletion_only else self._full_summary(per)
        if not np.isfinite(float(self)):
            lines.insert(1, f"{self._measure_name()} is undefined: {self._undefined_reason()}.")
        if c.get("n_near_zero"):
            lines.append(f"{c['n_near_zero']} instances left out: the model's response barely changes between the instance "
                         f"and the baseline (near-zero effect), so shares and {self._measure_name()} are undefined there.")
        if c.get("n_truncated"):
            lines.append(f"{c['n_truncated']} explanations covered fewer units than X has (truncated); their missing units count as 0.")
        if c.get("n_all_zero"):
            lines.append(f"{c['n_all_zero']} explanations were all zero (units ranked in index order).")
        lines.append(f"complexity: {fmt('n_nonzero')} non-zero units, {fmt('n_units_90')} units for 90 % of the mass, "
                     f"entropy {fmt('entropy')}")
        return "\n".join(lines)

    def _head_line(self) -> str:
        c = self.config
        return (f"FidelityComplexityScorer: {c['n_instances']} instances, {c['n_units']} units, response={c['response']}, "
                f"baseline={c['baseline']}; {c['n_model_calls']} model calls ({c['n_model_rows']} inputs)")

    def _deletion_summary(self) -> list[str]:
        budget_rows = self.table[(self.table["budget"] != "") & (self.table["measure"] == "remove_fidelity")]
        return [
            self._head_line() + "; measures='deletion' (the deletion curve only)",
            f"deletion area {self._fmt('auc_remove')}: share of the full effect destroyed as the top-k units are "
            "removed, averaged over k (higher is better; above 1 when removals overshoot; no random control: a "
            "random ranking also destroys effect, so compare explanations of the same model rather than read it "
            "against 0)",
            f"remove-curve concordance {self._fmt('concordance_remove')}",
            "share destroyed (bounded) by budget: "
            + ", ".join(f"{r.budget} {r.statistic:.3f}" for r in budget_rows.itertuples()),
        ]

    def _full_summary(self, per: pd.DataFrame) -> list[str]:
        c, fmt = self.config, self._fmt
        lines = [
            self._head_line(),
            f"fidelity {fmt('fidelity')}: how well the explanation's predicted changes order the model's own over random "
            "coalitions of equal size (1 = exactly, 0 = no information about which units matter, -1 = reversed); "
            "higher is better",
            f"keep-curve concordance {fmt('concordance_keep')} (the explanation's predicted response with its top-k units "
            "kept against the model's: 1 = exact in size and sign at every k; an equal split of the right total scores "
            "high here, so it is not the headline)",
        ]
        if "concordance_remove" in set(self.table["measure"]):
            lines.append(f"remove-curve concordance {fmt('concordance_remove')}")
        lines.append(f"keep-curve skill over random rankings {fmt('skill_keep')} (0 = random ranking)")
        reached = per["k_star_reached"].mean() if len(per) else np.nan
        lines.append(f"k* (units needed for keep share >= {c['tau']}): median {np.median(per['k_star']) if len(per) else np.nan:.0f} "
                     f"(censored at {c['n_units'] + 1}), reached on {reached:.0%} of instances")
        budget_rows = self.table[(self.table["budget"] != "") & (self.table["measure"] == "surrogate_r2")]
        lines.append("out-of-sample surrogate R2 by budget: " + ", ".join(f"{r.budget} {r.statistic:.3f}" for r in budget_rows.itertuples()))
        return lines

    def paired_outcomes(self) -> dict[str, Any]:
        """Per instance: the headline's measure (NaN for instances with a near-zero effect, left out as in the mean)."""
        c, m = self.config, self._headline_measure
        values = self.per_instance[m].to_numpy(dtype=float).copy()
        values[self.per_instance["near_zero"].to_numpy(dtype=bool)] = np.nan
        return {
            "report": type(self).__name__, "unit": "instance", "n_units": len(values),
            "keys": list(self.clip_keys) or None, "describe": {"response": c.get("response")},
            "design": {k: c.get(k) for k in ("n_units", "target", "baseline", "budgets", "measures", "modes", "tau",
                                             "n_neighbourhood", "n_random", "seed_entropy")},
            "comparisons": [{"name": self._measure_name(), "scope": "headline", "measure": m,
                             "higher_is_better": self.higher_is_better, "statistic": "mean",
                             "values": values.tolist()}],  # NaN -> null in the JSON
        }

    def compare(self, other: FidelityComplexityReport, *, names: tuple[str, str] = ("first", "second"),
                random_state: Any = 0) -> ExplanationComparison:
        """Test two explainers scored on the same instances (paired Wilcoxon signed-rank).

        The first row is the headline's fidelity, which sees the sign of every
        attribution (flipping the signs of an exact explanation makes it
        maximally unfaithful) but not the weights' common scale; the
        concordances see the scale too (an explanation must predict how much
        the response moves). The skills compare rankings only; the surrogate R2 is not compared (it mixes scale
        with ranking: ``surrogate_r2_rescaled@k`` in the per-instance table is
        its scale-free companion). k* enters censored (never reached =
        ``d + 1``). Instances with a near-zero effect in either report are left
        out. The paired bootstrap uses this report's ``n_bootstrap`` and
        ``confidence``.

        Parameters
        ----------
        other : FidelityComplexityReport
            The second explainer's report on the same instances.
        names : (str, str), default=("first", "second")
            The two explainers' names, for the summary.
        random_state : int, RandomState or None, default=0
            Seeds the paired bootstrap.

        Returns
        -------
        ExplanationComparison
        """
        if len(other.per_instance) != len(self.per_instance):
            raise ValueError("compare needs reports on the same instances (same number of rows).")
        keep = ~(self.per_instance["near_zero"].to_numpy() | other.per_instance["near_zero"].to_numpy())
        n_boot, conf = int(self.config.get("n_bootstrap", 1000)), float(self.config.get("confidence", 0.95))
        seeds = SeedTree(random_state)
        if self._deletion_only != other._deletion_only:
            raise ValueError("compare needs two reports with the same measures; one was scored with "
                             "measures='deletion' and the other with measures='all'.")
        rows = []
        for m in COMPARED_DELETION if self._deletion_only else COMPARED:
            if m not in self.per_instance or m not in other.per_instance:
                continue
            a = self.per_instance[m].to_numpy(dtype=float)
            b = other.per_instance[m].to_numpy(dtype=float)
            ok = np.isfinite(a) & np.isfinite(b) & keep
            d = paired_difference(a[ok], b[ok], n_bootstrap=n_boot, confidence=conf,
                                  random_state=seeds.seed("bootstrap", len(rows))) if ok.sum() > 1 else None
            if ok.sum() > 1 and np.any(a[ok] != b[ok]):
                res = scipy.stats.wilcoxon(a[ok], b[ok])
                stat, p = float(res.statistic), float(res.pvalue)
            else:
                stat, p = 0.0, 1.0
            rows.append({"scope": "first - second, paired", "wilcoxon_statistic": stat, "wilcoxon_p": p, "measure": m,
                         "statistic": d.statistic if d else np.nan, "low": d.low if d else np.nan,
                         "high": d.high if d else np.nan, "n": int(ok.sum())})
        return ExplanationComparison(long_table(rows, conf), config={"first": names[0], "second": names[1],
                                                                     "n_bootstrap": n_boot, "confidence": conf})

    def plot(self, ax: Any = None) -> Any:
        """Keep curve (deletion curve with ``measures="deletion"``) with the random control, and the headline against complexity."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        else:
            axes = np.atleast_1d(ax)
            fig = axes[0].figure
        mode = "remove" if self._deletion_only else "keep"
        curve = self.curves[(self.curves["mode"] == mode) & ~self.curves["near_zero"]]
        g = curve.groupby("fraction")[["fidelity", "random"]].mean()
        axes[0].plot(g.index, g["fidelity"], marker="o", label="explanation's ranking")
        if not self._deletion_only:
            axes[0].plot(g.index, g["random"], ls="--", label="random ranking")
            axes[0].axhline(self.config["tau"], color="grey", lw=0.8)
        axes[0].set_xlabel(f"share of units {'removed' if self._deletion_only else 'kept'} (top-k)")
        axes[0].set_ylabel(f"share of the full effect {'destroyed' if self._deletion_only else ''} (bounded)")
        axes[0].legend(fontsize=8)
        if len(axes) > 1:
            per = self.per_instance[~self.per_instance["near_zero"]]
            axes[1].scatter(per["n_units_90"], per[self._headline_measure], s=12)
            axes[1].set_xlabel("units for 90 % of the attribution mass")
            axes[1].set_ylabel(self._measure_name())
        fig.tight_layout()
        return fig
