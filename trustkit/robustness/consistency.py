"""Within- and between-space consistency: the robustness study's measures on distance matrices.

Within-space consistency (Kim, Urbano, Liem & Hanjalic, 2019): embed the
originals ``z_i = f(x_i)`` and a perturbed copy ``z'_i = f(tau(x_i))``; clip i
is consistent when ``z'_i`` is strictly nearer its own original than any other
original. Between-space consistency correlates the distances in embedding
space with the distances in audio space.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

__all__ = ["neighbour_outcomes", "pooled_spearman", "row_spearman"]


def neighbour_outcomes(D: np.ndarray) -> dict[str, np.ndarray]:
    """Per-clip outcomes from a distance matrix ``D[i, j] = d(perturbed i, original j)``.

    Returns
    -------
    dict with arrays of shape (n,)
        ``consistent`` (own original strictly nearest; ties fail), ``rank`` of the
        own original (1 = nearest; ties count against), ``reciprocal_rank`` and
        ``distance_ratio`` = own distance / median distance to the other originals.

    Examples
    --------
    >>> D = np.array([[0.1, 0.5, 0.9], [0.4, 0.4, 0.2], [0.3, 0.8, 0.2]])
    >>> out = neighbour_outcomes(D)
    >>> out["consistent"].tolist(), out["rank"].tolist()
    ([True, False, True], [1, 3, 1])
    """
    D = np.asarray(D, dtype=np.float64)
    own = np.diag(D).copy()
    others = D.copy()
    np.fill_diagonal(others, np.inf)
    consistent = own < others.min(axis=1)
    rank = 1 + np.sum(others <= own[:, None], axis=1)
    n = len(D)
    off = others[~np.eye(n, dtype=bool)].reshape(n, n - 1)
    med = np.median(off, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(med > 0, own / np.where(med > 0, med, 1.0), np.where(own > 0, np.inf, 1.0))
    return {"consistent": consistent, "rank": rank, "reciprocal_rank": 1.0 / rank, "distance_ratio": ratio}


def row_spearman(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Spearman correlation between matching rows of ``A`` and ``B``."""
    ra = scipy.stats.rankdata(A, axis=1)
    rb = scipy.stats.rankdata(B, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)


def pooled_spearman(D_audio: np.ndarray, D_embed: np.ndarray) -> float:
    """The study's between-space consistency: one Spearman correlation over every (perturbed, original) pair.

    Examples
    --------
    >>> D = np.array([[0.0, 2.0], [1.0, 0.5]])
    >>> pooled_spearman(D, 3 * D + 1)
    1.0
    """
    a, b = np.ravel(D_audio), np.ravel(D_embed)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(scipy.stats.spearmanr(a, b).statistic)


