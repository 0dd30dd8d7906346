"""One place for statistics: bootstrap intervals over clips, paired differences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from ._validation import check_number

__all__ = [
    "Estimate",
    "bootstrap_estimate",
    "corrected_paired_ttest",
    "friedman_nemenyi",
    "holm",
    "jackknife_interval",
    "nadeau_bengio_interval",
    "paired_difference",
]


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap confidence interval.

    Attributes
    ----------
    value : float
        The statistic on the whole sample.
    low, high : float
        Bounds of the percentile bootstrap interval.
    n : int
        Sample size.
    confidence : float
        Confidence level of the interval.
    """

    value: float
    low: float
    high: float
    n: int
    confidence: float

    def __float__(self) -> float:
        return self.value

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def bootstrap_estimate(
    values: Any,
    *,
    statistic: Callable[..., Any] = _mean,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: Any = None,
) -> Estimate:
    """Percentile bootstrap interval of ``statistic`` over the items of ``values``.

    Uses :func:`scipy.stats.bootstrap` (percentile method, which stays defined
    when every value is the same, e.g. a consistency of 1.0).

    Parameters
    ----------
    values : array-like of shape (n,)
    statistic : callable, default=mean
        Vectorised: ``statistic(x, axis=-1)``.
    n_bootstrap : int, default=1000
    confidence : float, default=0.95
    random_state : int, Generator or None

    Returns
    -------
    Estimate

    Examples
    --------
    >>> e = bootstrap_estimate([1, 1, 0, 1, 1, 0, 1, 1], random_state=0)
    >>> e.value, e.low <= e.value <= e.high
    (0.75, True)
    """
    values = np.asarray(values, dtype=np.float64)
    n_bootstrap = check_number(n_bootstrap, "n_bootstrap", low=10, integer=True)
    confidence = check_number(confidence, "confidence", low=0, high=1, low_inclusive=False, high_inclusive=False)
    value = float(statistic(values, axis=-1))
    if len(values) < 2:
        return Estimate(value, np.nan, np.nan, len(values), confidence)
    res = scipy.stats.bootstrap(
        (values,), statistic, n_resamples=n_bootstrap, confidence_level=confidence,
        method="percentile", rng=np.random.default_rng(random_state), vectorized=True,
    )
    ci = res.confidence_interval
    return Estimate(value, float(ci.low), float(ci.high), len(values), confidence)


def paired_difference(
    a: Any,
    b: Any,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: Any = None,
) -> Estimate:
    """Mean of ``a - b`` over paired items with a paired bootstrap interval.

    Examples
    --------
    >>> d = paired_difference([1, 1, 1, 0], [0, 1, 0, 0], random_state=0)
    >>> d.value
    0.5
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same shape; got {a.shape} and {b.shape}.")
    return bootstrap_estimate(a - b, n_bootstrap=n_bootstrap, confidence=confidence, random_state=random_state)


def nadeau_bengio_interval(
    fold_scores: Any, *, n_train: int, n_test: int, confidence: float = 0.95
) -> Estimate:
    """Mean of cross-validation fold scores with the Nadeau-Bengio interval.

    The corrected resampled-t interval of Nadeau & Bengio (2003).

    The fold scores are correlated (the training sets overlap), so the naive
    variance ``s^2 / k`` is replaced by ``(1 / k + n_test / n_train) s^2``.

    Examples
    --------
    >>> e = nadeau_bengio_interval([0.8, 0.82, 0.78, 0.81, 0.79], n_train=80, n_test=20)
    >>> round(e.value, 3), round(e.high - e.value, 3)
    (0.8, 0.029)
    """
    s = np.asarray(fold_scores, dtype=np.float64)
    k = len(s)
    mean = float(s.mean())
    if k < 2:
        return Estimate(mean, np.nan, np.nan, k, confidence)
    se = np.sqrt((1.0 / k + n_test / n_train) * s.var(ddof=1))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, k - 1) * se)
    return Estimate(mean, mean - half, mean + half, k, confidence)


def corrected_paired_ttest(a: Any, b: Any, *, n_train: int, n_test: int) -> tuple[float, float]:
    """Nadeau-Bengio corrected resampled paired t-test on fold scores.

    Returns
    -------
    (t statistic, two-sided p-value). Identical fold scores give (0, 1).

    Examples
    --------
    >>> t, p = corrected_paired_ttest([0.9, 0.91, 0.92], [0.5, 0.52, 0.49], n_train=80, n_test=20)
    >>> p < 0.01
    True
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    k = len(d)
    var = d.var(ddof=1) if k > 1 else 0.0
    if var == 0:
        return (0.0, 1.0) if d.mean() == 0 else (float(np.sign(d.mean()) * np.inf), 0.0)
    t = d.mean() / np.sqrt((1.0 / k + n_test / n_train) * var)
    return float(t), float(2 * scipy.stats.t.sf(abs(t), k - 1))


def holm(pvalues: Any) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(running, 1.0)
    return adjusted


def friedman_nemenyi(scores: Any, *, alpha: float = 0.05) -> dict[str, Any]:
    """Friedman test across tasks and the Nemenyi critical difference.

    Parameters
    ----------
    scores : array-like of shape (n_tasks, n_methods)
        Higher is better.
    alpha : float, default=0.05

    Returns
    -------
    dict
        ``statistic``, ``pvalue`` (Friedman chi-square; NaN with fewer than 3
        methods or 2 tasks), ``mean_ranks`` (1 = best), ``critical_difference``
        (Nemenyi, Demsar 2006: ``q_alpha sqrt(k (k + 1) / (6 N))`` with the
        studentized range quantile / sqrt(2)) and ``significant`` (k x k boolean,
        mean ranks differ by more than the critical difference).
    """
    S = np.asarray(scores, dtype=np.float64)
    n_tasks, k = S.shape
    ranks = scipy.stats.rankdata(-S, axis=1)
    mean_ranks = ranks.mean(axis=0)
    if k >= 3 and n_tasks >= 2:
        stat, p = scipy.stats.friedmanchisquare(*S.T)
    else:
        stat, p = np.nan, np.nan
    q = scipy.stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2) if k >= 2 else np.nan
    cd = float(q * np.sqrt(k * (k + 1) / (6.0 * n_tasks))) if k >= 2 else np.nan
    sig = np.abs(mean_ranks[:, None] - mean_ranks[None, :]) > cd
    return {"statistic": float(stat), "pvalue": float(p), "mean_ranks": mean_ranks, "critical_difference": cd, "significant": sig}


def jackknife_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    n_groups: int = 20,
    confidence: float = 0.95,
    random_state: Any = None,
) -> Estimate:
    """Delete-a-group jackknife interval for a statistic of a whole sample.

    For statistics that resampling with replacement would bias (duplicated
    items change LogME, coding rates or class variances), the items are split
    at random into ``n_groups`` groups; the statistic is recomputed without
    each group and ``SE^2 = (G - 1) / G * sum (theta_(g) - mean)^2``; the
    interval is ``theta +- t_{G-1} SE``.

    Parameters
    ----------
    statistic : callable
        ``statistic(index)`` evaluates the statistic on the items ``index``.
    n : int
        Number of items.

    Examples
    --------
    >>> x = np.arange(100.0)
    >>> e = jackknife_interval(lambda i: x[i].mean(), 100, random_state=0)
    >>> e.value, e.low < 49.5 < e.high
    (49.5, True)
    """
    value = float(statistic(np.arange(n)))
    g = min(int(n_groups), n)
    if g < 2:
        return Estimate(value, np.nan, np.nan, n, confidence)
    labels = np.random.default_rng(random_state).permutation(n) % g
    thetas = []
    for k in range(g):
        try:
            thetas.append(float(statistic(np.flatnonzero(labels != k))))
        except (ValueError, np.linalg.LinAlgError):
            continue
    thetas = np.asarray(thetas)
    thetas = thetas[np.isfinite(thetas)]
    if len(thetas) < 2:
        return Estimate(value, np.nan, np.nan, n, confidence)
    m = len(thetas)
    se = np.sqrt((m - 1) / m * np.sum((thetas - thetas.mean()) ** 2))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, m - 1) * se)
    return Estimate(value, value - half, value + half, n, confidence)
