"""Within- and between-space consistency: the robustness study's measures on distance matrices.

Within-space consistency (Kim, Urbano, Liem & Hanjalic, 2019): embed the
originals ``z_i = f(x_i)`` and a perturbed copy ``z'_i = f(tau(x_i))``; clip i
is consistent when ``z'_i`` is strictly nearer its own original than any other
original. Between-space consistency correlates the distances in embedding
space with the distances in audio space.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats

__all__ = ["BLOCK_BYTES", "blocked_outcomes", "join_outcomes", "neighbour_outcomes", "pooled_spearman", "row_blocks",
           "row_spearman"]


def neighbour_outcomes(D: np.ndarray, *, first: int = 0, overwrite: bool = False) -> dict[str, np.ndarray]:
    """Per-clip outcomes from a distance matrix ``D[i, j] = d(perturbed i, original j)``.

    Every outcome of a row depends on that row alone, so ``D`` may be a block
    of rows of the whole matrix: rows ``first .. first + len(D)`` (each row's
    own original is then column ``first + i``). Blocks give the outcomes of
    the whole matrix bit for bit. With ``overwrite=True`` a float64 ``D`` is
    used as working memory (its values are left in any order): the peak is
    then one block, not a copy of it.

    Returns
    -------
    dict with arrays of shape (len(D),)
        ``consistent`` (own original strictly nearest; ties fail), ``rank`` of the
        own original (1 = nearest; ties count against), ``reciprocal_rank`` and
        ``distance_ratio`` = own distance / median distance to the other originals.

    Examples
    --------
    >>> D = np.array([[0.1, 0.5, 0.9], [0.4, 0.4, 0.2], [0.3, 0.8, 0.2]])
    >>> out = neighbour_outcomes(D)
    >>> out["consistent"].tolist(), out["rank"].tolist()
    ([True, False, True], [1, 3, 1])
    >>> neighbour_outcomes(D[1:], first=1)["rank"].tolist()
    [3, 1]
    """
    D = np.array(D, dtype=np.float64, copy=not overwrite)  # worked on in place: one block of memory, not five
    b, n = D.shape
    rows = np.arange(b)
    cols = first + rows
    own = D[rows, cols].copy()
    undefined = np.isnan(D).any(axis=1)
    D[rows, cols] = np.inf
    consistent = own < D.min(axis=1)
    rank = 1 + np.count_nonzero(own[:, None] >= D, axis=1)
    # the median of the n - 1 other distances, as np.median takes it: the own distance set to -inf sorts first, the
    # middle one or two of the rest are found by one partition in place and the two averaged as (a + b) / 2
    D[rows, cols] = -np.inf
    m = n - 1
    if m == 0:
        med = np.full(b, np.nan)
    else:
        lo, hi = 1 + (m - 1) // 2, 1 + m // 2
        D.partition((lo, hi), axis=1)
        med = D[:, lo] if lo == hi else (D[:, lo] + D[:, hi]) / 2
        med = np.where(undefined, np.nan, med)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(med > 0, own / np.where(med > 0, med, 1.0), np.where(own > 0, np.inf, 1.0))
    return {"consistent": consistent, "rank": rank, "reciprocal_rank": 1.0 / rank, "distance_ratio": ratio}


#: rows of the distance matrix measured at once: a block of float64 distances stays under this many bytes
BLOCK_BYTES = 4 * 2**20


def row_blocks(n_rows: int, n_cols: int, *, block_bytes: int = BLOCK_BYTES) -> list[slice]:
    """Slices of ``n_rows`` rows whose float64 blocks of ``n_cols`` columns hold at most ``block_bytes`` (>= 1 row).

    Examples
    --------
    >>> row_blocks(5, 1000, block_bytes=16_000)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    block = max(1, int(block_bytes // (8 * max(n_cols, 1))))
    return [slice(s, min(s + block, n_rows)) for s in range(0, n_rows, block)]


def join_outcomes(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The outcomes of consecutive row blocks as one (:func:`neighbour_outcomes` of each block, in order)."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def blocked_outcomes(perturbed: np.ndarray, originals: np.ndarray, distance: Any, *,
                     block_bytes: int = BLOCK_BYTES) -> dict[str, np.ndarray]:
    """:func:`neighbour_outcomes` of ``distance(perturbed, originals)``, computed by blocks of rows.

    Peak memory is O(block x n) instead of n x n: a block holds at most
    ``block_bytes`` of float64 distances (and at least one row). The outcomes
    are those of the whole matrix, bit for bit, as long as ``distance``
    computes each pair on its own (scipy's ``cdist`` does). ``distance``
    receives every block with the same ``originals``: give them in the dtype
    it computes in (float64 for ``cdist``) or it converts them once per block.

    Parameters
    ----------
    perturbed, originals : ndarray of shape (n, d)
    distance : callable
        ``distance(A, B) -> (len(A), len(B))``, e.g. ``scipy.spatial.distance.cdist``.
    block_bytes : int, default=4 MiB

    Examples
    --------
    >>> from scipy.spatial.distance import cdist
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.standard_normal((7, 3)), rng.standard_normal((7, 3))
    >>> whole = neighbour_outcomes(cdist(A, B))
    >>> parts = blocked_outcomes(A, B, cdist, block_bytes=2 * 7 * 8)  # two rows at a time
    >>> all(np.array_equal(whole[k], parts[k]) for k in whole)
    True
    """
    return join_outcomes([neighbour_outcomes(distance(perturbed[sl], originals), first=sl.start, overwrite=True)
                          for sl in row_blocks(len(perturbed), len(originals), block_bytes=block_bytes)])


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


