"""FidelityComplexityScorer: how faithful explanations are to the black box, and how long."""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._cache import cached_call
from .._meter import Common, Meter
from .._validation import check_choice, check_number
from ..audio import content_keys
from ..corpus import as_corpus, is_corpus_input
from ..encoders import declared_sr
from ..exceptions import InvalidAudioError, TrustkitWarning
from ..reports import estimate_row, long_table
from ..stats import bootstrap_estimate
from .audio import distinct_missing, unit_responses
from .explanations import to_attributions
from .report import ExplanationComparison, FidelityComplexityReport

__all__ = ["ExplanationComparison", "FidelityComplexityReport", "FidelityComplexityScorer", "complexity"]

MASS = 0.9  # share of |attribution| that ``n_units_90`` must cover
DEFAULT_BUDGETS = (1, 2, 3, 5, 10, "all")


def complexity(w: np.ndarray) -> dict[str, float]:
    """Complexity of one attribution vector.

    ``n_nonzero``; ``n_units_90`` (the fewest units holding 90 % of the
    absolute attribution mass -- not Quantus' "effective complexity", which
    counts the units above a threshold); ``entropy`` of ``|w| / sum |w|``
    normalised by ``log d`` (0: one unit, 1: uniform); ``gini`` of ``|w|``
    (0: uniform, near 1: concentrated). All zero for an all-zero explanation.

    Examples
    --------
    >>> complexity(np.array([3.0, 1.0, 0.0, 0.0]))["n_units_90"]
    2
    """
    a = np.abs(np.asarray(w, dtype=np.float64))
    d = len(a)
    total = a.sum()
    if total == 0:
        return {"n_nonzero": 0, "n_units_90": 0, "entropy": 0.0, "gini": 0.0}
    p = a / total
    sorted_desc = np.sort(a)[::-1]
    effective = int(np.searchsorted(np.cumsum(sorted_desc), MASS * total - 1e-12 * total) + 1)
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(d)) if d > 1 else 0.0
    s = np.sort(a)
    gini = float((2 * np.arange(1, d + 1) - d - 1) @ s / (d * s.sum())) if d > 1 else 0.0
    return {"n_nonzero": int(np.count_nonzero(a)), "n_units_90": min(effective, d), "entropy": entropy, "gini": gini}


def _auc(fractions: np.ndarray, values: np.ndarray) -> float:
    return float(np.trapezoid(values, fractions))


def _concordance(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Lin's concordance about the reference point 0: ``2 sum(o p) / (sum o^2 + sum p^2)``.

    Equals ``1 - sum (o - p)^2 / (sum o^2 + sum p^2)``: 1 when the prediction
    is exact, 0 when it predicts no change at all, -1 when it predicts the
    opposite change; always within [-1, 1].
    """
    den = float(np.sum(observed**2) + np.sum(predicted**2))
    return 2.0 * float(np.sum(observed * predicted)) / den if den > 0 else np.nan


def _bounded(share: np.ndarray) -> np.ndarray:
    """Fidelity in [0, 1] from a share of the full effect: ``clip(1 - |1 - share|, 0, 1)``."""
    return np.clip(1.0 - np.abs(1.0 - share), 0.0, 1.0)


@dataclass(frozen=True)
class _Run:
    """One call's checked inputs: what ``_setup`` resolves and every instance reads."""

    X: np.ndarray
    #: attributions, one row per instance
    W: np.ndarray
    #: the explained output of each instance
    targets: np.ndarray
    #: the model's response function
    f: Any
    response: str
    plan: Any
    common: Common
    #: whether each instance came with an explanation
    explained: np.ndarray
    all_zero: np.ndarray
    truncated: np.ndarray
    explainer_seconds: float | None
    t_start: float = 0.0


class FidelityComplexityScorer(Meter):
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
    budgets : "auto" or tuple of int or "all", default="auto"
        Explanation lengths k at which shares and surrogate fidelity are
        reported. ``"auto"``: 1, 2, 3, 5, 10 and all units, leaving out those
        above the number of units; an explicit budget above it is an error.
    baseline : {"mean", "median", "marginal"} or array, default="mean"
        Value of an absent feature, learned by :meth:`fit` from background
        data (never from the instance itself); "marginal" averages the response
        over background rows. Ignored with a ``segmenter`` (it has its own).
    segmenter : segmenter or None, default=None
        For audio: ``TimeSegments`` or ``TimeFrequencySegments``; units are
        its segments and absent units get its baseline.
    modes : tuple, default=("keep", "remove")
    measures : {"all", "deletion"}, default="all"
        ``"all"``: the headline fidelity on random coalitions, the keep and
        remove curves with their random-ranking controls (skill), k*, shares
        and surrogate fidelity per budget. ``"deletion"``: only the deletion
        curve along the explanation's ranking -- the response as the top-k
        units are removed, k = 0..d (every k up to 40 units, 41 points
        beyond), what Quantus's ``PixelFlipping`` computes -- and its area:
        d + 1 model inputs per instance (41 beyond 40 units) where the full
        set takes about 1,100 with the defaults. The headline is then the mean
        deletion area ``auc_remove`` (the share of the full effect destroyed,
        averaged over k; higher is better; the exact attributions of an
        additive model maximise it). It has no random control, so no chance level:
        a random ranking also destroys effect; an explanation that weighs every
        unit the same (all zero included) ranks none, and its area is
        undefined, so a wholly uninformative explainer reads "undefined", never
        a number. Use it to compare explanations
        of the same model on the same instances, or when model calls are the
        budget; ``modes``, ``n_neighbourhood``, ``n_random`` and ``tau`` are
        not used.
    n_neighbourhood : int, default=256
        Fresh random masks for the out-of-sample surrogate fidelity.
    n_random : int, default=10
        Random rankings of the control.
    tau : float, default=0.9
        Share of the full effect (bounded) that defines k*.
    min_effect : float, default=0.01
        An instance on which no masked input moves the model's response from
        its baseline response by more than ``min_effect`` times the model's
        response range (max - min of its responses to ``X``, over every
        output; with one instance, its largest magnitude) has no effect to
        explain: it is flagged ``near_zero`` and left out of the headline and
        the table (with a warning and a count). The default, 1 % of the range,
        flags a change of 0.001 in a probability that varies over [0, 1].
    batch_size : int, default=256
        Masked inputs per model call.
    n_bootstrap : int, default=1000
        Resamples of the table's bootstrap intervals over instances.
    confidence : float, default=0.95
        Level of the table's intervals.
    n_jobs : int or None, default=None
        Instances in parallel (joblib, threads by default); numbers do not
        depend on it.
    random_state : int, RandomState or None, default=None
        Roots the call's seed tree: each instance's neighbourhood and random
        rankings, and the bootstrap.
    verbose : bool, default=False
        A progress bar over the instances, on stderr.
    memory : str, joblib.Memory or None, default=None
        Cache of the explanations when ``explanations`` is a callable (an
        explainer run on ``X``, usually the slow part): the same explainer on
        the same instances is run once. The cache is made of pickles: use only
        a folder you trust.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 4))
    >>> model = LinearRegression().fit(X, X @ [3.0, -2.0, 0.5, 0.0])
    >>> scorer = FidelityComplexityScorer(model, budgets=(1, 2, "all"), random_state=0).fit(X)
    >>> exact = (X[:20] - scorer.baseline_) * model.coef_  # exact attributions of a linear model
    >>> noise = rng.standard_normal((20, 4))
    >>> round(float(scorer.score(X[:20], exact)), 6)  # exact attributions of an additive model
    1.0
    >>> float(scorer.score(X[:20], noise)) < 0.5
    True
    """

    def __init__(
        self, model=None, *, response="auto", target="predicted", budgets="auto", baseline="mean",
        segmenter=None, modes=("keep", "remove"), measures="all", n_neighbourhood=256, n_random=10, tau=0.9,
        min_effect=0.01, batch_size=256, n_bootstrap=1000, confidence=0.95, n_jobs=None, random_state=None,
        verbose=False, memory=None,
    ):
        self.model = model
        self.response = response
        self.target = target
        self.budgets = budgets
        self.baseline = baseline
        self.segmenter = segmenter
        self.modes = modes
        self.measures = measures
        self.n_neighbourhood = n_neighbourhood
        self.n_random = n_random
        self.tau = tau
        self.min_effect = min_effect
        self.batch_size = batch_size
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory

    # the explained model is a fixed, fitted black box (and a segmenter holds its own state): clone keeps them
    _fixed_params = ("model", "segmenter")

    # -- setup ------------------------------------------------------------------------------
    def fit(self, X_background: Any, y: Any = None) -> FidelityComplexityScorer:
        """Learn the per-feature baseline from background data.

        Parameters
        ----------
        X_background : array-like of shape (n_background, n_features)
            Data the model was trained on, or like it. With a segmenter, audio
            clips (only validated), or files (a
            :class:`~trustkit.datasets.Corpus`, a folder, a list of paths;
            their headers are checked, one chunk of clips read).

        Returns
        -------
        self
        """
        if is_corpus_input(X_background):
            X_background = self._read_files(X_background, "X_background", first=256)
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
            rows = self._check_common().seeds.rng("background").permutation(len(Xb))[:16]
            self.background_ = Xb[rows]
        else:
            b = np.asarray(self.baseline, dtype=np.float64)
            if b.shape != (Xb.shape[1],):
                raise ValueError(f"baseline must have one value per feature, shape ({Xb.shape[1]},); got {b.shape}.")
            self.baseline_ = b
        return self

    def _read_files(self, X: Any, name: str, first: int | None = None) -> np.ndarray:
        """Audio files as clips (the first ``first`` only, when given), for a scorer over time segments."""
        if self.segmenter is None:
            raise TypeError(f"{name} names audio files, but the scorer has no segmenter: files are audio, scored over "
                            "time segments (segmenter=TimeSegments(...)); pass a feature array for a tabular model.")
        corpus = as_corpus(X, sr=declared_sr(self.model), labels=None)
        return corpus.read(None if first is None else np.arange(min(first, len(corpus))))

    def _budgets(self, n_units: int) -> list[int]:
        if not isinstance(self.budgets, (str, list, tuple)):
            raise TypeError(f"budgets must be 'auto' or a tuple of lengths such as (1, 2, 'all'); got {self.budgets!r}.")
        if isinstance(self.budgets, str):
            check_choice(self.budgets, "budgets", ("auto",))
            return sorted({n_units if b == "all" else b for b in DEFAULT_BUDGETS if b == "all" or b <= n_units})
        budgets = []
        for b in self.budgets:
            k = n_units if isinstance(b, str) and b == "all" else check_number(b, "budgets", low=1, integer=True)
            if k > n_units:
                raise ValueError(f"budget {k} exceeds the {n_units} units of the explanations; use budgets up to "
                                 f"{n_units}, 'all', or budgets='auto'.")
            budgets.append(k)
        if not budgets:
            raise ValueError("budgets must name at least one explanation length, e.g. (1, 2, 'all'), or be 'auto'.")
        return sorted(set(budgets))

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
            With a segmenter, also files (a :class:`~trustkit.datasets.Corpus`,
            a folder, a list of paths): the instances are read (at the model's
            stated ``sr``, else the files' own rate).
        explanations : array (n, n_units), list of LIME explanations, shap.Explanation, or callable
            A callable is run on ``X`` (and timed; cached with ``memory``) and
            must return one of the others.

        Returns
        -------
        FidelityComplexityReport
        """
        t_start = time.perf_counter()
        run = dataclasses.replace(self._setup(X, explanations), t_start=t_start)
        X, W, targets, seeds, plan = run.X, run.W, run.targets, run.common.seeds, run.plan
        if plan.deletion_only:
            # a tabular model's deletion curves of several instances fill one model call (its cost is per call)
            per = max(1, plan.batch // len(plan.grid)) if self.segmenter is None else 1
            chunks = [np.arange(s, min(s + per, len(X))) for s in range(0, len(X), per)]
            results = [r for rs in self._map(_score_deletion_chunk, [(self, run.f, plan, X[c], W[c], targets[c])
                                                                     for c in chunks], desc="FidelityComplexityScorer instances")
                       for r in rs]
        else:
            results = self._map(_score_instance, [(self, run.f, plan, X[i], W[i], int(targets[i]), seeds.seed("instance", i))
                                                  for i in range(len(X))], desc="FidelityComplexityScorer instances")
        return self._report(run, results)

    def _setup(self, X: Any, explanations: Any) -> _Run:
        """Every parameter and input checked (before the first model call), the model's response, the attributions."""
        if not hasattr(self, "n_features_in_"):
            raise ValueError("call fit(X_background) first: the baseline of absent features is learned from data.")
        if is_corpus_input(X):
            X = self._read_files(X, "X")
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"X must be a numeric array (n_instances, n_features); {exc}.") from exc
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"X must be 2-D (n_instances, n_features) with at least one row; got shape {X.shape}.")
        if not np.isfinite(X).all():
            bad = np.argwhere(~np.isfinite(X))[0]
            raise InvalidAudioError(f"X has non-finite values (NaN or inf; first at instance {bad[0]}, feature {bad[1]}); "
                                    "repair or drop those instances.")
        if self.segmenter is None and X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features; the scorer was fitted on {self.n_features_in_}.")
        n_units = self.segmenter.n_units(X.shape[1]) if self.segmenter is not None else X.shape[1]
        # every parameter is checked before the first model call
        common = self._check_common()
        f, rname = self._response()
        budgets = self._budgets(n_units)
        deletion = check_choice(self.measures, "measures", ("all", "deletion")) == "deletion"
        for mode in self.modes:
            check_choice(mode, "modes", ("keep", "remove"))
        if "keep" not in self.modes and not deletion:
            raise ValueError(f"modes must include 'keep' (the headline's curve); got {tuple(self.modes)!r}.")
        plan_args = {
            "tau": check_number(self.tau, "tau", low=0, high=1, low_inclusive=False),
            "min_effect": check_number(self.min_effect, "min_effect", low=0, high=1),
            "batch": check_number(self.batch_size, "batch_size", low=1, integer=True),
            "n_neighbourhood": check_number(self.n_neighbourhood, "n_neighbourhood", low=2, integer=True),
            "n_random": check_number(self.n_random, "n_random", low=1, integer=True),
        }
        if not (isinstance(self.target, str) and self.target == "predicted"):
            check_number(self.target, "target", low=0, integer=True)
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
            explanations = cached_call(_explain, self.memory, explanations, X, what="the explanations")
            t_explain = time.perf_counter() - t0
        W, explained = to_attributions(explanations, len(X), n_units, targets)
        all_zero = ~W.any(axis=1)
        if all_zero.any():
            warnings.warn(
                f"{int(all_zero.sum())} explanations are all zero (first: instance {int(np.argmax(all_zero))}); "
                + ("they rank no unit, so their deletion area is undefined." if deletion else
                   "they are scored with units in index order and complexity 0."),
                TrustkitWarning, stacklevel=3,
            )
        truncated = explained < n_units
        if truncated.any():
            warnings.warn(
                f"{int(truncated.sum())} explanations cover fewer than the {n_units} units (e.g. LIME's num_features); "
                "their missing units count as 0 and rank last.",
                TrustkitWarning, stacklevel=3,
            )
        grid = np.unique(np.r_[np.round(np.linspace(0, n_units, min(n_units, 40) + 1)).astype(int), budgets])
        # the scale of "negligible": the spread of the model's responses to X (every output); one instance has none,
        # so its largest response magnitude stands in
        spread = float(np.ptp(out0)) if len(X) > 1 else 0.0
        plan_args["response_range"] = spread if spread > 0 else float(np.max(np.abs(out0)))
        plan = _Plan(grid=grid, budgets=budgets, n_units=n_units, multi=out0.ndim == 2,
                     modes=("remove",) if deletion else tuple(self.modes), deletion_only=deletion, **plan_args)
        return _Run(X=X, W=W, targets=targets, f=f, response=rname, plan=plan, common=common, explained=explained,
                    all_zero=all_zero, truncated=truncated, explainer_seconds=t_explain)

    def _report(self, run: _Run, results: list[dict[str, Any]]) -> FidelityComplexityReport:
        """The per-instance table, the curves and the summary table with intervals."""
        X, plan, common, explained = run.X, run.plan, run.common, run.explained
        per_instance = pd.DataFrame([{"instance": i, "n_explained": int(explained[i]), **r["row"]} for i, r in enumerate(results)])
        sizes = [len(r["curves"]["k"]) for r in results]
        curves = pd.DataFrame({
            **{key: np.concatenate([r["curves"][key] for r in results]) for key in results[0]["curves"]},
            "instance": np.repeat(np.arange(len(results)), sizes),
            "near_zero": np.repeat([r["row"]["near_zero"] for r in results], sizes),
        })
        near_zero = per_instance["near_zero"].to_numpy()
        if near_zero.any():
            warnings.warn(
                f"{int(near_zero.sum())} of {len(X)} instances have a near-zero effect (the model's response barely "
                f"changes between the instance and the baseline; first: instance {int(np.argmax(near_zero))}); they are "
                "left out of the headline and the table.",
                TrustkitWarning, stacklevel=3,
            )
        scored = per_instance[~near_zero]
        headline_columns = ["auc_remove"] if plan.deletion_only else ["fidelity", "skill_keep"]
        undefined = int((~np.isfinite(scored[headline_columns].to_numpy(dtype=float))).any(axis=1).sum())
        if undefined:
            what = ("the deletion area", "an explanation that ranks no unit") if plan.deletion_only else \
                ("fidelity or skill", "a constant keep curve")
            warnings.warn(
                f"{what[0]} is undefined on {undefined} instances (e.g. {what[1]}); they are left "
                "out of those means and counted in the table's n.",
                TrustkitWarning, stacklevel=3,
            )
        table = _summary_table(scored, plan.budgets, common)
        config = {
            "n_instances": len(X), "n_units": plan.n_units, "response": run.response, "target": self.target,
            "baseline": _baseline_name(self.segmenter, self.baseline),
            "budgets": plan.budgets, "measures": "deletion" if plan.deletion_only else "all", "modes": list(plan.modes),
            **({} if plan.deletion_only else {"tau": plan.tau, "n_neighbourhood": plan.n_neighbourhood,
                                              "n_random": plan.n_random}),
            "n_model_calls": int(sum(r["calls"] for r in results)) + 1, "n_model_rows": int(sum(r["rows"] for r in results)) + len(X),
            "explainer_seconds": run.explainer_seconds, "n_truncated": int(run.truncated.sum()),
            "n_all_zero": int(run.all_zero.sum()), "n_near_zero": int(near_zero.sum()), "n_undefined": undefined,
            "min_effect": plan.min_effect, "response_range": plan.response_range,
            "ranking": "signed, in the direction of the instance's full effect (towards the observed response first)",
            **({} if plan.deletion_only else {"surrogate_units": "the k largest |attributions|"}),
            **self._record(common, explainer_s=run.explainer_seconds, score_s=time.perf_counter() - run.t_start),
        }
        return FidelityComplexityReport(table=table, per_instance=per_instance, curves=curves, config=config,
                                        clip_keys=content_keys(X))

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


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What every instance is scored with: the checked settings of one ``score`` call."""

    grid: np.ndarray  # explanation lengths k on the curves (0..n_units, the budgets included)
    budgets: list[int]
    n_units: int
    n_neighbourhood: int
    n_random: int
    tau: float
    batch: int
    min_effect: float
    response_range: float  # spread of the model's responses to X: the scale of min_effect
    multi: bool  # the response has one column per class
    modes: tuple[str, ...]
    deletion_only: bool = False  # measures="deletion": the deletion curve along the explanation's ranking, nothing else


def _score_instance(scorer: FidelityComplexityScorer, f: Any, plan: _Plan, x: np.ndarray, w: np.ndarray, target: int,
                    seed: int) -> dict[str, Any]:
    """One instance in three steps: the masks, the model's responses to them, the row and curves they give.

    The masks that do not depend on the explanation (random rankings, neighbourhood) are evaluated first: their
    end points (nothing kept, everything kept) give the direction of the full effect, which orders the units of
    the keep and remove curves.
    """
    # each distinct mask is evaluated once (few units repeat coalitions: 6 units have 64): fewer model inputs, and a
    # repeated coalition gets the bit-identical response, so rank ties never depend on batch shapes
    known: dict[bytes, np.ndarray] = {}
    calls = rows = 0

    def respond(masks: np.ndarray) -> np.ndarray:
        nonlocal calls, rows
        keys = [m.tobytes() for m in masks]
        new, first = distinct_missing(keys, known)
        if new:
            out, c, reps = _responses(scorer, f, x, masks[first], plan.batch)
            known.update(zip(new, out))
            calls, rows = calls + c, rows + len(new) * reps
        return np.stack([known[k] for k in keys])

    free = _free_masks(plan, np.random.default_rng(seed))
    out_free = respond(np.concatenate(free))
    r_free = _target_response(plan, out_free, target)
    g = len(plan.grid)
    direction = -1.0 if r_free[g - 1] < r_free[0] else 1.0  # the first random ranking at k = d and at k = 0
    order, ranked = _ranked_masks(plan, direction * w)
    out = np.concatenate([respond(np.concatenate(ranked)), out_free])
    result = _instance_result(plan, w, order, ranked + free, out, target)
    return {**result, "calls": calls, "rows": rows}


def _score_deletion_chunk(scorer: FidelityComplexityScorer, f: Any, plan: _Plan, X: np.ndarray, W: np.ndarray,
                          targets: np.ndarray) -> list[dict[str, Any]]:
    """``measures="deletion"``: the deletion curves of a chunk of instances.

    First every instance's end points (itself and the baseline: the direction of its effect), then the k = 1..d-1
    removals along its ranking; a tabular model gets all instances of the chunk stacked in each call. The end points
    are the curve's k = 0 and k = d, so each instance costs d + 1 inputs.
    """
    d = plan.n_units
    ends = np.array([np.ones(d, dtype=bool), np.zeros(d, dtype=bool)])
    out_ends, calls, rows = _responses_of(scorer, f, X, [ends] * len(X), plan.batch)
    orders, middles = [], []
    for w, out, target in zip(W, out_ends, targets):
        r_ends = _target_response(plan, out, int(target))
        order, (_, remove) = _ranked_masks(plan, (-1.0 if r_ends[0] < r_ends[1] else 1.0) * w)
        orders.append(order)
        middles.append(remove[1:-1])  # the grid's k = 0 and k = d are the end points
    out_mid, calls_mid, rows_mid = _responses_of(scorer, f, X, middles, plan.batch)
    results = []
    for i, (w, order, target) in enumerate(zip(W, orders, targets)):
        out = np.concatenate([out_ends[i][:1], out_mid[i], out_ends[i][1:]])
        result = _deletion_result(plan, w, order, out, int(target))
        # the chunk's calls are counted once (on its first instance); inputs per instance
        results.append({**result, "calls": (calls + calls_mid) if i == 0 else 0, "rows": (rows + rows_mid) // len(X)})
    return results


def _target_response(plan: _Plan, out: np.ndarray, target: int) -> np.ndarray:
    """The explained response (the target column of a multi-output model) of every masked input."""
    return out[:, target] if plan.multi else out.reshape(len(out), -1)[:, 0]


def _free_masks(plan: _Plan, rng: np.random.Generator) -> list[np.ndarray]:
    """Masks that do not depend on the explanation: keep / remove top k of random rankings, random coalitions."""
    d, grid = plan.n_units, plan.grid
    perms = np.array([rng.permutation(d) for _ in range(plan.n_random)])
    rand_keep = np.concatenate([(np.argsort(p)[None, :] < grid[:, None]) for p in perms])  # rank of unit in p
    neigh = rng.random((plan.n_neighbourhood, d)) < 0.5
    return [rand_keep, ~rand_keep, neigh]


def _ranked_masks(plan: _Plan, w: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The ranking of the units and the keep / remove top-k masks along it.

    ``w`` arrives oriented by the direction of the instance's full effect, so the units the explanation says move
    the response most towards its observed value come first: the deletion metrics' signed ranking, for an effect
    of either sign (ranking a negative effect's units most-positive first would reward a flipped explanation).
    """
    d, grid = plan.n_units, plan.grid
    order = np.argsort(-w, kind="stable")
    rank = np.empty(d, dtype=int)
    rank[order] = np.arange(d)
    keep = rank[None, :] < grid[:, None]  # (len(grid), d): top-k kept
    return order, [keep, ~keep]


def _responses(scorer: FidelityComplexityScorer, f: Any, x: np.ndarray, masks: np.ndarray, batch: int) -> tuple[np.ndarray, int, int]:
    """The model's response to ``x`` with each mask's absent units at the baseline; (responses, calls, replicas)."""
    if scorer.segmenter is None:
        outs, calls, rows = _responses_of(scorer, f, x[None], [masks], batch)
        return outs[0], calls, rows // len(masks)
    # audio units: shared with LIME/SHAP inside trustkit.fidelity.shared_responses
    out = unit_responses(f, x, scorer.segmenter, masks, batch=batch)
    _check_finite(out)
    return out, -(-len(masks) // batch), 1


def _responses_of(scorer: FidelityComplexityScorer, f: Any, X: np.ndarray, masks: list[np.ndarray],
                  batch: int) -> tuple[list[np.ndarray], int, int]:
    """The model's responses to instances ``X[i]`` under ``masks[i]``: the responses per instance, calls, inputs.

    A tabular model's inputs of every instance are stacked into calls of ``batch`` masks; audio units go through
    :func:`_responses` one clip at a time (shared with LIME and SHAP).
    """
    if scorer.segmenter is not None:
        per = [_responses(scorer, f, x, m, batch) for x, m in zip(X, masks)]
        return [o for o, _, _ in per], sum(c for _, c, _ in per), sum(len(m) for m in masks)
    composed = [scorer._compose(x, m) for x, m in zip(X, masks)]
    reps = composed[0][1]
    inputs = np.concatenate([z for z, _ in composed])
    outs, calls = [], 0
    for s in range(0, len(inputs), batch * reps):  # BLAS is pinned once by the meter for the whole section
        outs.append(np.asarray(f(inputs[s : s + batch * reps]), dtype=np.float64))
        calls += 1
    out = np.concatenate(outs)
    _check_finite(out)
    if reps > 1:
        out = out.reshape(len(out) // reps, reps, *out.shape[1:]).mean(axis=1)
    return np.split(out, np.cumsum([len(m) for m in masks])[:-1]), calls, len(inputs)


def _check_finite(out: np.ndarray) -> None:
    if not np.isfinite(out).all():
        row = int(np.argwhere(~np.isfinite(out.reshape(len(out), -1)))[0][0])
        raise ValueError(
            f"the model returned non-finite values (NaN or inf) for a masked input (masked input {row} of an "
            "instance, units replaced by the baseline); fidelity is undefined there. Check the model on inputs "
            "with baseline values, or choose another baseline."
        )


def _instance_result(plan: _Plan, w: np.ndarray, order: np.ndarray, blocks: list[np.ndarray], out: np.ndarray,
                     target: int) -> dict[str, Any]:
    """The instance's row (fidelity, skill, k*, shares and surrogate fit at each budget, complexity) and curves."""
    grid, d, n_rand, multi = plan.grid, plan.n_units, plan.n_random, plan.multi
    r = _target_response(plan, out, target)
    labels = out.argmax(axis=1) if multi else None
    cut = np.cumsum([len(b) for b in blocks])[:-1]
    r_keep, r_rem, r_rk, r_rr, r_nb = np.split(r, cut)
    neigh = blocks[-1]
    if multi:
        l_keep = np.split(labels, cut)[0]
    g = len(grid)
    r_full, r_base = r_keep[-1], r_keep[0]  # k = d keeps everything; k = 0 keeps nothing
    effect = r_full - r_base
    frac = grid / d
    # what the explanation itself predicts: the response moves by the sum of the kept (removed) attributions
    cum = np.r_[0.0, np.cumsum(w[order])][grid]
    pred_keep, pred_rem = r_base + cum, r_full - cum
    # no effect to explain: no masked input moves the response by more than min_effect of the model's range
    near_zero = bool(np.max(np.abs(r - r_base)) <= plan.min_effect * plan.response_range) or effect == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        keep_f = (r_keep - r_base) / effect  # share of the full effect recovered by the top k
        rem_f = (r_full - r_rem) / effect  # share of the full effect destroyed by removing them
        rk_f = ((r_rk - r_base) / effect).reshape(n_rand, g)
        rr_f = ((r_full - r_rr) / effect).reshape(n_rand, g)
    # bounded shares (overshoot counts against) for the plotted fidelity and for k*
    keep_q, rem_q = _bounded(keep_f), _bounded(rem_f)
    removes = "remove" in plan.modes
    row: dict[str, Any] = {"full_effect": float(effect), "target": target, "near_zero": near_zero}
    # the headline: on random coalitions, does the explanation order the changes it predicts as the model does?
    row["fidelity"] = _within_size_correlation(neigh, r_nb - r_base, neigh.astype(float) @ w)
    row["concordance_keep"] = _concordance(r_keep - r_base, pred_keep - r_base)
    if removes:
        row["concordance_remove"] = _concordance(r_full - r_rem, r_full - pred_rem)
    row.update(complexity(w))
    # insertion / deletion areas of the signed ranking against random rankings (skill = area gained over random)
    auc_k, auc_rk = _auc(frac, keep_f), float(np.mean([_auc(frac, c) for c in rk_f]))
    row.update(auc_keep=auc_k, auc_keep_random=auc_rk, skill_keep=auc_k - auc_rk)
    if removes:
        auc_r, auc_rr = _auc(frac, rem_f), float(np.mean([_auc(frac, c) for c in rr_f]))
        row.update(auc_remove=auc_r, auc_remove_random=auc_rr, skill_remove=auc_r - auc_rr)
    reached = np.flatnonzero(keep_q >= plan.tau - 1e-12)
    # never reached (an undefined share, e.g. no effect): censored at d + 1, never dropped
    row["k_star"] = float(grid[reached[0]]) if len(reached) else float(d + 1)
    row["k_star_reached"] = bool(len(reached))
    ss_tot = np.sum((r_nb - r_nb.mean()) ** 2)
    by_size = np.argsort(-np.abs(w), kind="stable")  # the surrogate keeps the k largest contributions, of either sign
    for k in plan.budgets:
        i = int(np.flatnonzero(grid == k)[0])
        row[f"keep@{k}"] = float(keep_f[i])  # raw shares: per instance only (a mean of them explodes on small effects)
        row[f"remove@{k}"] = float(rem_f[i])
        row[f"keep_fidelity@{k}"] = float(keep_q[i])
        row[f"remove_fidelity@{k}"] = float(rem_q[i])
        if multi:
            row[f"agree@{k}"] = float(l_keep[i] == l_keep[-1])
        top = by_size[:k]
        contribution = neigh[:, top].astype(float) @ w[top]
        surrogate = r_base + contribution
        row[f"surrogate_r2@{k}"] = float(1 - np.sum((r_nb - surrogate) ** 2) / ss_tot) if ss_tot > 0 else np.nan
        # scale-free companion: the explanation rescaled by its best non-negative factor (the sign still counts)
        cc = float(contribution @ contribution)
        a = max(0.0, float(contribution @ (r_nb - r_base)) / cc) if cc > 0 else 0.0
        rescaled = r_base + a * contribution
        row[f"surrogate_r2_rescaled@{k}"] = float(1 - np.sum((r_nb - rescaled) ** 2) / ss_tot) if ss_tot > 0 else np.nan
        row[f"spearman@{k}"] = _spearman(r_nb, surrogate)
    # plain arrays per instance; the caller builds one DataFrame for all instances
    curves = {
        "mode": np.repeat(["keep", "remove"], g), "k": np.tile(grid, 2), "fraction": np.tile(frac, 2),
        "response": np.r_[r_keep, r_rem], "predicted": np.r_[pred_keep, pred_rem],
        "value": np.r_[keep_f, rem_f], "fidelity": np.r_[keep_q, rem_q],
        "random": np.r_[_bounded(rk_f).mean(axis=0), _bounded(rr_f).mean(axis=0)],
    }
    if not removes:
        curves = {key: v[:g] for key, v in curves.items()}
    return {"row": row, "curves": curves}


def _deletion_result(plan: _Plan, w: np.ndarray, order: np.ndarray, out: np.ndarray, target: int) -> dict[str, Any]:
    """``measures="deletion"``: the row and curve of the deletion curve alone (its area, shares, concordance)."""
    grid, d = plan.grid, plan.n_units
    r_rem = _target_response(plan, out, target)
    r_full, r_base = r_rem[0], r_rem[-1]  # k = 0 removes nothing; k = d removes everything
    effect = r_full - r_base
    frac = grid / d
    pred_rem = r_full - np.r_[0.0, np.cumsum(w[order])][grid]
    near_zero = bool(np.max(np.abs(r_rem - r_base)) <= plan.min_effect * plan.response_range) or effect == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rem_f = (r_full - r_rem) / effect  # share of the full effect destroyed by removing the top k
    rem_q = _bounded(rem_f)
    # an explanation that weighs every unit the same ranks none above another: its curve would follow index order,
    # which says nothing about the explanation, so its area is undefined (no information), not a number to pass a gate
    ranks = bool(np.ptp(w) > 0)
    row: dict[str, Any] = {"full_effect": float(effect), "target": target, "near_zero": near_zero,
                           "auc_remove": _auc(frac, rem_f) if ranks else np.nan,
                           "concordance_remove": _concordance(r_full - r_rem, r_full - pred_rem), **complexity(w)}
    for k in plan.budgets:
        i = int(np.flatnonzero(grid == k)[0])
        row[f"remove@{k}"] = float(rem_f[i])
        row[f"remove_fidelity@{k}"] = float(rem_q[i])
    curves = {"mode": np.repeat("remove", len(grid)), "k": grid, "fraction": frac, "response": r_rem,
              "predicted": pred_rem, "value": rem_f, "fidelity": rem_q, "random": np.full(len(grid), np.nan)}
    return {"row": row, "curves": curves}


def _within_size_correlation(coalitions: np.ndarray, observed: np.ndarray, predicted: np.ndarray) -> float:
    """Pearson's correlation of observed and predicted changes, compared only between coalitions of equal size.

    Both sides are centred within each coalition size ``|S|`` before the
    correlation is taken (a pooled within-stratum correlation). This removes
    what the number of present units alone explains, so an explanation that
    spreads the right total equally over the units -- it predicts ``c |S|``,
    which says nothing about *which* units matter -- scores 0, as random
    attributions do; exact attributions of an additive model score 1, flipped
    ones -1. It is the faithfulness correlation of Bhatt et al. (2020), which
    fixes one subset size, pooled over every size that the random coalitions
    give. 0 when the explanation predicts no difference between coalitions of
    equal size (all equal or all zero); NaN when the model's response does
    not vary between them either (e.g. one unit).
    """
    sizes = coalitions.sum(axis=1)
    _, inverse, counts = np.unique(sizes, return_inverse=True, return_counts=True)

    def centred(v: np.ndarray) -> np.ndarray:
        return v - (np.bincount(inverse, weights=v) / counts)[inverse]

    o, p = centred(observed), centred(predicted)
    so, sp = float(o @ o), float(p @ p)
    # a constant explanation's sums are equal within a size up to rounding: relative, not exact, zero
    if so <= 1e-24 * max(float(observed @ observed), 1e-300):
        return float("nan")
    if sp <= 1e-24 * max(float(predicted @ predicted), 1e-300):
        return 0.0
    return float(np.clip((o @ p) / np.sqrt(so * sp), -1.0, 1.0))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank: ``scipy.stats.rankdata(x)``, without its per-call overhead."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]]
    dense = np.cumsum(new)
    count = np.r_[np.flatnonzero(new), len(x)]
    ranks = np.empty(len(x))
    ranks[order] = 0.5 * (count[dense] + count[dense - 1] + 1)
    return ranks


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation: Pearson's on average ranks, as ``scipy.stats.spearmanr``.

    0 when either side is constant (no ranking to agree with).
    """
    ra, rb = _average_ranks(np.asarray(a, dtype=np.float64)), _average_ranks(np.asarray(b, dtype=np.float64))
    ra -= ra.mean()
    rb -= rb.mean()
    den = float(np.sqrt((ra @ ra) * (rb @ rb)))
    return float(ra @ rb) / den if den > 0 else 0.0


def _baseline_name(segmenter: Any, baseline: Any) -> str:
    """What an absent unit became, in words, for the report."""
    if segmenter is None:
        return baseline if isinstance(baseline, str) else "array"
    b = getattr(segmenter, "baseline", None)
    if b is None or isinstance(b, str):
        return f"{type(segmenter).__name__}: {b or 'its own'}"
    return f"{type(segmenter).__name__}: the same segment of one of {len(b)} background clips"


def _explain(explainer: Any, X: np.ndarray) -> Any:
    return explainer(X)


def _summary_table(per: pd.DataFrame, budgets: list[int], common: Common) -> pd.DataFrame:
    """The report's long table: every measure's mean over instances with its bootstrap interval (per budget too)."""
    rows = []

    def add(measure, values, budget=""):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        ids = {"scope": "mean over instances", "budget": budget}
        if len(v) == 0:
            rows.append({**ids, "measure": measure, "statistic": np.nan, "low": np.nan, "high": np.nan, "n": 0})
            return
        e = bootstrap_estimate(v, n_bootstrap=common.n_bootstrap, confidence=common.confidence,
                               random_state=common.seeds.seed("summary"))
        rows.append(estimate_row(measure, e, **ids))

    for m in ("fidelity", "concordance_keep", "concordance_remove", "skill_keep", "auc_keep", "auc_keep_random", "skill_remove", "auc_remove",
              "auc_remove_random", "k_star", "k_star_reached", "n_nonzero", "n_units_90", "entropy", "gini"):
        if m in per:
            add(m, per[m])
    for k in budgets:
        # bounded shares only: a mean of raw shares is dominated by instances with a tiny full effect
        for m in ("keep_fidelity", "agree", "remove_fidelity", "surrogate_r2", "surrogate_r2_rescaled", "spearman"):
            col = f"{m}@{k}"
            if col in per:
                add(m, per[col], f"k={k}")
    return long_table(rows, common.confidence)
