"""Read explanations from arrays, LIME, SHAP or an explainer into one attribution matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import InvalidAudioError

__all__ = ["to_attributions"]


def _from_lime(exps: list, n: int, d: int, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    W = np.zeros((n, d))
    explained = np.zeros(n, dtype=int)
    for i, exp in enumerate(exps):
        mapping = exp.as_map()
        if getattr(exp, "mode", None) == "regression":
            label = 1  # LIME stores a regression's weights under label 1 and their negation under label 0
        else:
            label = int(targets[i]) if int(targets[i]) in mapping else next(iter(mapping))
        pairs = mapping[label]
        # LIME's weights are slopes of its local linear model over interpretable features; a unit's
        # contribution at this instance is the slope times the instance's interpretable value: 1 for
        # binary features (segments present, discretised bins), the standardised value for continuous
        # tabular features (LimeTabularExplainer(discretize_continuous=False))
        row = getattr(getattr(exp, "domain_mapper", None), "scaled_row", None)
        row = None if row is None else np.asarray(row, dtype=np.float64).ravel()
        for j, w in pairs:
            if not 0 <= int(j) < d:
                raise ValueError(f"LIME explanation {i} names feature {j}, but X has {d} units.")
            W[i, int(j)] = w * (row[int(j)] if row is not None and len(row) == d else 1.0)
        explained[i] = len(pairs)
    return W, explained


def to_attributions(explanations: Any, n: int, d: int, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attribution matrix ``(n, d)`` and the number of units each explanation covers.

    Accepts an array ``(n, d)``, a list of LIME ``Explanation`` objects (the
    explained label is the scorer's target when LIME has it; each weight is
    multiplied by the instance's interpretable value, so a continuous tabular
    feature contributes slope x standardised value), or a
    ``shap.Explanation`` with values ``(n, d)`` or ``(n, d, n_outputs)`` (the
    target output is taken per instance).
    """
    if isinstance(explanations, (list, tuple)) and explanations and hasattr(explanations[0], "as_map"):
        if len(explanations) != n:
            raise ValueError(f"got {len(explanations)} LIME explanations for {n} instances; pass one per row of X.")
        return _from_lime(list(explanations), n, d, targets)
    values = getattr(explanations, "values", explanations)
    if hasattr(explanations, "values") and not isinstance(explanations, np.ndarray) and callable(values):
        values = explanations  # a pandas object: .values is a property, not a method, but guard anyway
    try:
        W = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"explanations must be numbers: an array (n, n_units), LIME explanations, a shap.Explanation or an "
            f"explainer; got {type(explanations).__name__} that does not convert to numbers ({exc})."
        ) from exc
    if W.ndim == 3:  # (n, d, outputs): SHAP multi-output
        if W.shape[0] != n or W.shape[1] != d:
            raise ValueError(f"explanations have shape {W.shape}; expected ({n}, {d}, n_outputs) for X with {n} rows and {d} units.")
        W = W[np.arange(n), :, targets.astype(int)]
    if W.ndim == 1 and n == 1:
        W = W[np.newaxis]
    if W.shape != (n, d):
        raise ValueError(
            f"explanations have shape {W.shape}; expected ({n}, {d}): one attribution per unit for each row of X."
        )
    if not np.isfinite(W).all():
        bad = np.argwhere(~np.isfinite(W))[0]
        raise InvalidAudioError(f"explanations hold non-finite attributions (NaN or inf; first at instance {bad[0]}, unit {bad[1]}).")
    return W, np.full(n, d)
