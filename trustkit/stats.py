"""One place for statistics: bootstrap intervals over clips, paired differences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from ._validation import check_number

__all__ = ["Estimate", "bootstrap_estimate", "paired_difference"]


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
