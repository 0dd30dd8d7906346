"""FidelityComplexityScorer: how faithful explanations are to the black box, and how long."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.stats
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from .._validation import check_choice, check_number
from ..exceptions import InvalidAudioError, TrustkitWarning
from ..perturbations._base import child_seed, resolve_entropy
from ..reports import Report
from ..stats import bootstrap_estimate, paired_difference
from .explanations import to_attributions

__all__ = ["ExplanationComparison", "FidelityComplexityReport", "FidelityComplexityScorer", "complexity"]

MASS = 0.9  # share of |attribution| that "effective complexity" must cover


def complexity(w: np.ndarray) -> dict[str, float]:
    """Complexity of one attribution vector.

    ``n_nonzero``; ``effective_complexity`` (fewest units holding 90 % of the
    absolute attribution mass); ``entropy`` of ``|w| / sum |w|`` normalised by
    ``log d`` (0: one unit, 1: uniform); ``gini`` of ``|w|`` (0: uniform,
    near 1: concentrated). All zero for an all-zero explanation.

    Examples
    --------
    >>> complexity(np.array([3.0, 1.0, 0.0, 0.0]))["effective_complexity"]
    2
    """
    a = np.abs(np.asarray(w, dtype=np.float64))
    d = len(a)
    total = a.sum()
    if total == 0:
        return {"n_nonzero": 0, "effective_complexity": 0, "entropy": 0.0, "gini": 0.0}
    p = a / total
    sorted_desc = np.sort(a)[::-1]
    effective = int(np.searchsorted(np.cumsum(sorted_desc), MASS * total - 1e-12 * total) + 1)
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(d)) if d > 1 else 0.0
    s = np.sort(a)
    gini = float((2 * np.arange(1, d + 1) - d - 1) @ s / (d * s.sum())) if d > 1 else 0.0
    return {"n_nonzero": int(np.count_nonzero(a)), "effective_complexity": min(effective, d), "entropy": entropy, "gini": gini}


def _auc(fractions: np.ndarray, values: np.ndarray) -> float:
    return float(np.trapezoid(values, fractions))


def _bounded(share: np.ndarray) -> np.ndarray:
    """Fidelity in [0, 1] from a share of the full effect: ``clip(1 - |1 - share|, 0, 1)``."""
    return np.clip(1.0 - np.abs(1.0 - share), 0.0, 1.0)


@dataclass(frozen=True)
class ExplanationComparison:
    """Paired comparison of two explainers on the same instances (Wilcoxon signed-rank)."""

    table: pd.DataFrame

    def __str__(self) -> str:
        return self.table.to_string(index=False)


@dataclass(frozen=True, eq=False)
class FidelityComplexityReport(Report):
    """Result of :meth:`FidelityComplexityScorer.score`.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy summary: one row per measure (and budget), mean over instances
        with a bootstrap interval.
    per_instance : pandas.DataFrame
        Curves' areas, random controls, skill scores, surrogate fidelity per
        budget, complexity and k* for every instance.
    curves : pandas.DataFrame
        Keep and remove curves with the random control, per instance and k.
    config : dict
        Includes ``n_model_calls`` and ``n_model_rows``.
    """

    table: pd.DataFrame
    per_instance: pd.DataFrame = field(repr=False)
    curves: pd.DataFrame = field(repr=False)
    config: dict
    higher_is_better: ClassVar[bool] = True
    headline: ClassVar[str] = "mean skill of the keep curve over instances: (AUC - AUC_random) / (1 - AUC_random)"

    def __float__(self) -> float:
        return float(np.nanmean(self.per_instance["skill_keep"]))

    def summary(self) -> str:
        """A short readable account of the results."""
        c = self.config
        t = self.table.set_index("measure")
        lines = [
            f"FidelityComplexityScorer: {c['n_instances']} instances, {c['n_units']} units, response={c['response']}, "
            f"baseline={c['baseline']}; {c['n_model_calls']} model calls ({c['n_model_rows']} inputs)",
            f"keep-curve skill {t.loc['skill_keep', 'mean']:.3f} [{t.loc['skill_keep', 'low']:.3f}, {t.loc['skill_keep', 'high']:.3f}] "
            "(0 = random ranking, 1 = perfect; higher is better)",
        ]
        if "skill_remove" in t.index:
            lines.append(f"remove-curve skill {t.loc['skill_remove', 'mean']:.3f} [{t.loc['skill_remove', 'low']:.3f}, {t.loc['skill_remove', 'high']:.3f}]")
        lines.append(f"k* (units needed for keep fidelity >= {c['tau']}): median {np.nanmedian(self.per_instance['k_star']):.0f}, "
                     f"not reached on {int(self.per_instance['k_star'].isna().sum())} instances")
        lines.append(f"complexity: {t.loc['n_nonzero', 'mean']:.1f} non-zero units, effective {t.loc['effective_complexity', 'mean']:.1f}, "
                     f"entropy {t.loc['entropy', 'mean']:.3f}, Gini {t.loc['gini', 'mean']:.3f}")
        budget_rows = self.table[self.table["budget"].notna() & (self.table["measure"] == "surrogate_r2")]
        lines.append("out-of-sample surrogate R2 by budget: " + ", ".join(f"k={int(r.budget)} {r.mean:.3f}" for r in budget_rows.itertuples()))
        if c.get("n_truncated"):
            lines.append(f"{c['n_truncated']} explanations covered fewer units than X has (truncated); their missing units count as 0.")
        if c.get("n_all_zero"):
            lines.append(f"{c['n_all_zero']} explanations were all zero (units ranked in index order).")
        return "\n".join(lines)

    def compare(self, other: FidelityComplexityReport) -> ExplanationComparison:
        """Test two explainers scored on the same instances (paired Wilcoxon signed-rank)."""
        if len(other.per_instance) != len(self.per_instance):
            raise ValueError("compare needs reports on the same instances (same number of rows).")
        rows = []
        for m in ("skill_keep", "skill_remove", "auc_keep", "effective_complexity", "k_star"):
            if m not in self.per_instance or m not in other.per_instance:
                continue
            a = self.per_instance[m].to_numpy(dtype=float)
            b = other.per_instance[m].to_numpy(dtype=float)
            ok = np.isfinite(a) & np.isfinite(b)
            d = paired_difference(a[ok], b[ok], random_state=0) if ok.sum() > 1 else None
            if ok.sum() > 1 and np.any(a[ok] != b[ok]):
                res = scipy.stats.wilcoxon(a[ok], b[ok])
                stat, p = float(res.statistic), float(res.pvalue)
            else:
                stat, p = 0.0, 1.0
            rows.append({"measure": m, "mean_difference": d.value if d else np.nan, "low": d.low if d else np.nan,
                         "high": d.high if d else np.nan, "wilcoxon_statistic": stat, "pvalue": p, "n": int(ok.sum())})
        return ExplanationComparison(pd.DataFrame(rows))

    def plot(self, ax: Any = None) -> Any:
        """Keep fidelity against k with the random control, and fidelity against complexity."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        else:
            axes = np.atleast_1d(ax)
            fig = axes[0].figure
        keep = self.curves[self.curves["mode"] == "keep"]
        g = keep.groupby("fraction")[["fidelity", "random"]].mean()
        axes[0].plot(g.index, g["fidelity"], marker="o", label="explanation")
        axes[0].plot(g.index, g["random"], ls="--", label="random ranking")
        axes[0].axhline(self.config["tau"], color="grey", lw=0.8)
        axes[0].set_xlabel("share of units kept (top-k)")
        axes[0].set_ylabel("keep fidelity")
        axes[0].legend(fontsize=8)
        if len(axes) > 1:
            axes[1].scatter(self.per_instance["effective_complexity"], self.per_instance["skill_keep"], s=12)
            axes[1].set_xlabel("effective complexity (units)")
            axes[1].set_ylabel("keep skill")
        fig.tight_layout()
        return fig


class FidelityComplexityScorer(BaseEstimator):
    """Judge explanations by fidelity to the black box against their complexity.

    Parameters
    ----------
    model : callable or estimator
        ``predict_proba``, ``decision_function`` or ``predict`` (in that order
        with ``response="auto"``), or a callable ``f(X) -> (n,)`` or ``(n, k)``.
    response : {"auto", "predict_proba", "decision_function", "predict"}, default="auto"
    target : "predicted" or int, default="predicted"
        Output explained: the class predicted on each instance, or a fixed
        output column.
    budgets : tuple of int or "all", default=(1, 2, 3, 5, 10, "all")
        Explanation lengths k at which fidelity is reported (each <= the number
        of units).
    baseline : {"mean", "median", "marginal"} or array, default="mean"
        Value of an absent feature, learned by :meth:`fit` from background
        data (never from the instance itself); "marginal" averages the response
        over background rows. Ignored with a ``segmenter`` (it has its own).
    segmenter : segmenter or None, default=None
        For audio: ``TimeSegments`` or ``TimeFrequencySegments``; units are
        its segments and absent units get its baseline.
    modes : tuple, default=("keep", "remove")
    n_neighbourhood : int, default=256
        Fresh random masks for the out-of-sample surrogate fidelity.
    n_random : int, default=10
        Random rankings of the control.
    tau : float, default=0.9
        Keep fidelity that defines k*.
    batch_size : int, default=256
        Masked inputs per model call.
    n_jobs : int or None, default=None
        Instances in parallel (joblib); numbers do not depend on it.
    random_state : int, RandomState or None, default=None

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 4))
    >>> model = LinearRegression().fit(X, X @ [3.0, -2.0, 0.5, 0.0])
    >>> scorer = FidelityComplexityScorer(model, budgets=(1, 2, "all"), random_state=0).fit(X)
    >>> exact = (X[:20] - scorer.baseline_) * model.coef_  # exact attributions of a linear model
    >>> noise = rng.standard_normal((20, 4))
    >>> float(scorer.score(X[:20], exact)) > float(scorer.score(X[:20], noise))
    True
    """

    def __init__(
        self, model=None, *, response="auto", target="predicted", budgets=(1, 2, 3, 5, 10, "all"), baseline="mean",
        segmenter=None, modes=("keep", "remove"), n_neighbourhood=256, n_random=10, tau=0.9, batch_size=256,
        n_jobs=None, random_state=None,
    ):
        self.model = model
        self.response = response
        self.target = target
        self.budgets = budgets
        self.baseline = baseline
        self.segmenter = segmenter
        self.modes = modes
        self.n_neighbourhood = n_neighbourhood
        self.n_random = n_random
        self.tau = tau
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- setup ------------------------------------------------------------------------------
    def fit(self, X_background: Any, y: Any = None) -> FidelityComplexityScorer:
        """Learn the per-feature baseline from background data.

        Parameters
        ----------
        X_background : array-like of shape (n_background, n_features)
            Data the model was trained on, or like it. With a segmenter, audio
            clips (only validated).

        Returns
        -------
        self
        """
        Xb = np.asarray(X_background, dtype=np.float64)
        if Xb.ndim != 2 or len(Xb) == 0:
            raise ValueError(f"X_background must be 2-D (n_rows, n_features) with at least one row; got shape {Xb.shape}.")
        if not np.isfinite(Xb).all():
            raise InvalidAudioError("X_background has non-finite values (NaN or inf).")
        self.n_features_in_ = Xb.shape[1]
        if self.segmenter is not None:
            self.baseline_ = None
            return self
        if isinstance(self.baseline, str):
            check_choice(self.baseline, "baseline", ("mean", "median", "marginal"))
            self.baseline_ = np.median(Xb, axis=0) if self.baseline == "median" else Xb.mean(axis=0)
            self.background_ = Xb[np.random.default_rng(child_seed(resolve_entropy(self.random_state), 7)).permutation(len(Xb))[:16]]
        else:
            b = np.asarray(self.baseline, dtype=np.float64)
            if b.shape != (Xb.shape[1],):
                raise ValueError(f"baseline must have one value per feature, shape ({Xb.shape[1]},); got {b.shape}.")
            self.baseline_ = b
        return self

    def _response(self) -> tuple[Any, str]:
        m = self.model
        check_choice(self.response, "response", ("auto", "predict_proba", "decision_function", "predict"))
        if self.response != "auto":
            if not hasattr(m, self.response):
                raise TypeError(f"model has no {self.response} method; use response='auto' or another response.")
            return getattr(m, self.response), self.response
        for name in ("predict_proba", "decision_function", "predict"):
            if hasattr(m, name):
                return getattr(m, name), name
        if callable(m):
            return m, "callable"
        raise TypeError(
            "model must be callable or have predict_proba, decision_function or predict; "
            f"got {type(m).__name__}."
        )

    # -- scoring ------------------------------------------------------------------------------
    def score(self, X: Any, explanations: Any) -> FidelityComplexityReport:
        """Score explanations of the model on instances ``X``.

        Parameters
        ----------
        X : array-like of shape (n, n_features), or audio (n_clips, n_samples) with a segmenter
        explanations : array (n, n_units), list of LIME explanations, shap.Explanation, or callable
            A callable is run on ``X`` (and timed) and must return one of the others.

        Returns
        -------
        FidelityComplexityReport
        """
        if not hasattr(self, "n_features_in_"):
            raise ValueError("call fit(X_background) first: the baseline of absent features is learned from data.")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"X must be 2-D (n_instances, n_features) with at least one row; got shape {X.shape}.")
        if self.segmenter is None and X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features; the scorer was fitted on {self.n_features_in_}.")
        f, rname = self._response()
        n_units = self.segmenter.n_units(X.shape[1]) if self.segmenter is not None else X.shape[1]
        out0 = np.asarray(f(X), dtype=np.float64)
        if out0.shape[0] != len(X) or out0.ndim > 2 or not np.isfinite(out0).all():
            raise ValueError(f"model response {rname} returned shape {out0.shape} with non-finite values or wrong rows for {len(X)} inputs.")
        if self.target == "predicted":
            targets = out0.argmax(axis=1) if out0.ndim == 2 else np.zeros(len(X), dtype=int)
        else:
            t = check_number(self.target, "target", low=0, high=(out0.shape[1] - 1 if out0.ndim == 2 else 0), integer=True)
            targets = np.full(len(X), t)
        t_explain = None
        if callable(explanations) and not isinstance(explanations, np.ndarray) and not hasattr(explanations, "values"):
            t0 = time.perf_counter()
            explanations = explanations(X)
            t_explain = time.perf_counter() - t0
        W, explained = to_attributions(explanations, len(X), n_units, targets)
        budgets = []
        for b in self.budgets:
            k = n_units if b == "all" else check_number(b, "budgets", low=1, integer=True)
            if k > n_units:
                raise ValueError(f"budget {k} exceeds the {n_units} units of the explanations; use budgets up to {n_units} or 'all'.")
            budgets.append(k)
        budgets = sorted(set(budgets))
        for mode in self.modes:
            check_choice(mode, "modes", ("keep", "remove"))
        tau = check_number(self.tau, "tau", low=0, high=1, low_inclusive=False)
        batch = check_number(self.batch_size, "batch_size", low=1, integer=True)
        n_nb = check_number(self.n_neighbourhood, "n_neighbourhood", low=2, integer=True)
        n_rand = check_number(self.n_random, "n_random", low=1, integer=True)
        all_zero = ~W.any(axis=1)
        if all_zero.any():
            warnings.warn(
                f"{int(all_zero.sum())} explanations are all zero (first: instance {int(np.argmax(all_zero))}); they are "
                "scored with units in index order and complexity 0.",
                TrustkitWarning, stacklevel=2,
            )
        truncated = explained < n_units
        if truncated.any():
            warnings.warn(
                f"{int(truncated.sum())} explanations cover fewer than the {n_units} units (e.g. LIME's num_features); "
                "their missing units count as 0 and rank last.",
                TrustkitWarning, stacklevel=2,
            )
        entropy = resolve_entropy(self.random_state)
        grid = np.unique(np.r_[np.round(np.linspace(0, n_units, min(n_units, 40) + 1)).astype(int), budgets])
        with threadpool_limits(limits=1):
            results = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(_score_instance)(self, f, X[i], W[i], int(targets[i]), out0.ndim == 2, grid, budgets, n_units,
                                         n_nb, n_rand, tau, batch, child_seed(entropy, i))
                for i in range(len(X))
            )
        per_instance = pd.DataFrame([{"instance": i, "n_explained": int(explained[i]), **r["row"]} for i, r in enumerate(results)])
        curves = pd.concat([r["curves"].assign(instance=i) for i, r in enumerate(results)], ignore_index=True)
        table = _summary_table(per_instance, budgets, child_seed(entropy, 99_999))
        config = {
            "n_instances": len(X), "n_units": n_units, "response": rname, "target": self.target,
            "baseline": "segmenter" if self.segmenter is not None else (self.baseline if isinstance(self.baseline, str) else "array"),
            "budgets": budgets, "tau": tau, "modes": list(self.modes), "n_neighbourhood": n_nb, "n_random": n_rand,
            "n_model_calls": int(sum(r["calls"] for r in results)) + 1, "n_model_rows": int(sum(r["rows"] for r in results)) + len(X),
            "explainer_seconds": t_explain, "n_truncated": int(truncated.sum()), "n_all_zero": int(all_zero.sum()),
        }
        return FidelityComplexityReport(table=table, per_instance=per_instance, curves=curves, config=config)

    def _compose(self, x: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
        """Model inputs for unit masks; returns the inputs and the replication factor."""
        if self.segmenter is not None:
            return self.segmenter.compose(x, masks), 1
        if isinstance(self.baseline, str) and self.baseline == "marginal":
            bg = self.background_
            reps = len(bg)
            Z = np.repeat(masks, reps, axis=0)
            B = np.tile(bg, (len(masks), 1))
            return np.where(Z, x[None, :], B), reps
        return np.where(masks, x[None, :], self.baseline_[None, :]), 1


def _score_instance(scorer, f, x, w, target, multi, grid, budgets, d, n_nb, n_rand, tau, batch, seed) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    order = np.argsort(-np.abs(w), kind="stable")
    rank = np.empty(d, dtype=int)
    rank[order] = np.arange(d)
    keep = rank[None, :] < grid[:, None]  # (len(grid), d): top-k kept
    perms = np.array([rng.permutation(d) for _ in range(n_rand)])
    rand_keep = np.concatenate([(np.argsort(p)[None, :] < grid[:, None]) for p in perms])  # rank of unit in p
    neigh = rng.random((n_nb, d)) < 0.5
    blocks = [keep, ~keep, rand_keep, ~rand_keep, neigh]
    masks = np.concatenate(blocks)
    inputs, reps = scorer._compose(x, masks)
    outs, calls = [], 0
    with threadpool_limits(limits=1):
        for s in range(0, len(inputs), batch * reps):
            outs.append(np.asarray(f(inputs[s : s + batch * reps]), dtype=np.float64))
            calls += 1
    out = np.concatenate(outs)
    if reps > 1:
        out = out.reshape(len(masks), reps, *out.shape[1:]).mean(axis=1)
    r = out[:, target] if multi else out.reshape(len(out), -1)[:, 0]
    labels = out.argmax(axis=1) if multi else None
    sizes = [len(b) for b in blocks]
    cut = np.cumsum(sizes)[:-1]
    r_keep, r_rem, r_rk, r_rr, r_nb = np.split(r, cut)
    if multi:
        l_keep = np.split(labels, cut)[0]
    g = len(grid)
    r_full, r_base = r_keep[-1], r_keep[0]  # k = d keeps everything; k = 0 keeps nothing
    effect = r_full - r_base
    frac = grid / d
    with np.errstate(invalid="ignore", divide="ignore"):
        keep_f = (r_keep - r_base) / effect  # share of the full effect recovered by the top k
        rem_f = (r_full - r_rem) / effect  # share of the full effect destroyed by removing them
        rk_f = ((r_rk - r_base) / effect).reshape(n_rand, g)
        rr_f = ((r_full - r_rr) / effect).reshape(n_rand, g)
    # for areas and skill, a share counts as fidelity only up to 1: overshooting the full effect
    # (mixed-sign attributions) is no more faithful than falling short by as much
    keep_q, rem_q, rk_q, rr_q = (_bounded(v) for v in (keep_f, rem_f, rk_f, rr_f))
    row: dict[str, Any] = {"full_effect": float(effect), "target": target}
    row.update(complexity(w))
    auc_k, auc_rk = _auc(frac, keep_q), float(np.mean([_auc(frac, c) for c in rk_q]))
    row.update(auc_keep=auc_k, auc_keep_random=auc_rk, skill_keep=(auc_k - auc_rk) / (1 - auc_rk) if auc_rk != 1 else np.nan)
    if "remove" in scorer.modes:
        auc_r, auc_rr = _auc(frac, rem_q), float(np.mean([_auc(frac, c) for c in rr_q]))
        row.update(auc_remove=auc_r, auc_remove_random=auc_rr, skill_remove=(auc_r - auc_rr) / (1 - auc_rr) if auc_rr != 1 else np.nan)
    reached = np.flatnonzero(keep_q >= tau - 1e-12)
    row["k_star"] = float(grid[reached[0]]) if len(reached) else np.nan
    ss_tot = np.sum((r_nb - r_nb.mean()) ** 2)
    for k in budgets:
        i = int(np.flatnonzero(grid == k)[0])
        row[f"keep@{k}"] = float(keep_f[i])
        row[f"remove@{k}"] = float(rem_f[i])
        if multi:
            row[f"agree@{k}"] = float(l_keep[i] == l_keep[-1])
        top = order[:k]
        surrogate = r_base + neigh[:, top].astype(float) @ w[top]
        row[f"surrogate_r2@{k}"] = float(1 - np.sum((r_nb - surrogate) ** 2) / ss_tot) if ss_tot > 0 else np.nan
        row[f"spearman@{k}"] = _spearman(r_nb, surrogate)
    curves = pd.DataFrame({
        "mode": np.repeat(["keep", "remove"], g), "k": np.tile(grid, 2), "fraction": np.tile(frac, 2),
        "value": np.r_[keep_f, rem_f], "fidelity": np.r_[keep_q, rem_q],
        "random": np.r_[rk_q.mean(axis=0), rr_q.mean(axis=0)],
    })
    if "remove" not in scorer.modes:
        curves = curves[curves["mode"] == "keep"]
    return {"row": row, "curves": curves, "calls": calls, "rows": len(inputs)}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation; 0 when either side is constant (no ranking to agree with)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
        rho = scipy.stats.spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def _summary_table(per: pd.DataFrame, budgets: list[int], seed: int) -> pd.DataFrame:
    rows = []

    def add(measure, values, budget=np.nan):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            rows.append({"measure": measure, "budget": budget, "mean": np.nan, "low": np.nan, "high": np.nan, "n": 0})
            return
        e = bootstrap_estimate(v, random_state=seed)
        rows.append({"measure": measure, "budget": budget, "mean": e.value, "low": e.low, "high": e.high, "n": len(v)})

    for m in ("skill_keep", "auc_keep", "auc_keep_random", "skill_remove", "auc_remove", "auc_remove_random",
              "k_star", "n_nonzero", "effective_complexity", "entropy", "gini"):
        if m in per:
            add(m, per[m])
    for k in budgets:
        for m in ("keep", "agree", "remove", "surrogate_r2", "spearman"):
            col = f"{m}@{k}"
            if col in per:
                add(m, per[col], k)
    return pd.DataFrame(rows)
