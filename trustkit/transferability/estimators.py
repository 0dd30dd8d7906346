"""Training-free transferability estimators.

All take embeddings ``F`` of shape ``(n, d)`` and target labels ``y``; higher
means "transfers better" for every one of them.

- :func:`logme` -- LogME, You et al. (ICML 2021): log marginal evidence of a
  Bayesian linear model, the authors' fixed-point algorithm.
- :func:`h_score` -- H-score, Bao et al. (ICIP 2019), and its shrinkage form
  (Ibrahim et al., ICLR 2023), ``shrinkage=True``.
- :func:`knn_loo_accuracy` -- leave-one-out k-nearest-neighbour accuracy.
- :func:`gbc` -- Gaussian Bhattacharyya coefficient, Pandy et al. (CVPR 2022).
- :func:`transrate` -- TransRate, Huang et al. (ICML 2022).
- :func:`leep` -- LEEP, Nguyen et al. (ICML 2020), from source-task probabilities.
- :func:`nce` -- NCE, Tran et al. (ICCV 2019), from source-task labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_choice, check_number
from ..exceptions import InvalidAudioError

__all__ = ["ESTIMATORS", "drop_constant_columns", "gbc", "h_score", "knn_loo_accuracy", "leep", "logme", "logme_authors_code",
           "n_constant_columns", "nce", "transrate"]


def _features(F: Any, name: str = "F") -> np.ndarray:
    try:
        F = np.asarray(F, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array (n_items, dim); {exc}.") from exc
    if F.ndim != 2:
        raise ValueError(f"{name} must be 2-D embeddings (n_items, dim); got shape {F.shape}.")
    if F.shape[0] < 2 or F.shape[1] < 1:
        raise ValueError(f"{name} must hold at least 2 items of at least 1 dimension; got shape {F.shape}.")
    if not np.isfinite(F).all():
        bad = np.argwhere(~np.isfinite(F))[0]
        raise InvalidAudioError(f"{name} has non-finite values (NaN or inf; first at item {bad[0]}, column {bad[1]}).")
    return F


def _labels(y: Any, n: int) -> tuple[np.ndarray, int]:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must hold one class label per item, shape ({n},); got shape {y.shape}.")
    classes, codes = np.unique(y, return_inverse=True)
    return codes.ravel(), len(classes)


def logme(F: Any, y: Any, *, regression: bool = False, complete: bool = True) -> float:
    """LogME: mean over target columns of the maximum log evidence per item.

    The fixed-point algorithm of You et al. (2021), as in the authors'
    implementation: per target column (one-hot class indicator, or regression
    column) alpha = beta = 1 to start, at most 11 iterations, stop when
    alpha/beta changes by at most 1e-3 relative, 1e-5 added to the denominators
    of the updates. One symmetric eigendecomposition of the smaller Gram
    matrix (``F^T F`` or ``F F^T``) serves every column, the projections come
    from ``F^T Y`` without forming the ``n x k`` singular vectors, and all
    columns iterate together.

    The authors' fixed-point code sums ``log(alpha + beta sigma_i)`` over the
    ``k = rank(F) <= min(n, d)`` non-zero singular values only, so when ``d > k``
    (more dimensions than items, e.g. 144-d MFCC statistics of 36 clips) it
    leaves ``(d - k) / 2 log(alpha)`` out of the log-determinant: the value is
    then no longer a log evidence (it can be positive and grows with ``d``):
    appending 200 all-zero columns to 144 noise columns lifts it from -0.27 to
    1.55, and with ``d >= n`` it orders encoders by their dimension. The
    default (``complete=True``) adds the missing term, so the value is the log
    evidence at the fixed point reached (as their ICML algorithm, which takes
    the full ``d x d`` decomposition, computes it), never above the maximum
    log evidence, and drops constant columns first (they say nothing about
    the items). With ``d > n`` the 11 iterations may stop short of that
    maximum, and any linear model fits the labels: the probe's summary says
    so. ``complete=False`` (or :func:`logme_authors_code`) is the value their
    code returns, for reproducing their tables.

    Parameters
    ----------
    F : array-like of shape (n, d)
    y : array-like of shape (n,) or (n, c)
        Class labels, or regression targets with ``regression=True``.
    regression : bool, default=False
    complete : bool, default=True
        The log evidence: count the ``d - k`` zero singular values in the
        log-determinant and drop constant columns. False: the authors' code.

    Returns
    -------
    float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 200)
    >>> informative = np.eye(3)[y] + 0.1 * rng.standard_normal((200, 3))
    >>> logme(informative, y) > logme(rng.standard_normal((200, 3)), y)
    True
    """
    F = _features(F)
    if complete:
        F = drop_constant_columns(F)
    n, d = F.shape
    if d == 0:  # no information about the items: the evidence of the targets as pure noise
        return _logme_no_features(y, n, regression)
    if regression:
        Y = np.asarray(y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        if len(Y) != n or not np.isfinite(Y).all():
            raise ValueError(f"y must be finite regression targets with {n} rows; got shape {Y.shape}.")
    else:
        codes, n_classes = _labels(y, n)
        Y = (codes[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
    # one symmetric eigendecomposition of the smaller Gram matrix; the projections x = u^T Y come from
    # F^T Y without forming the n x k matrix u (u = F v / s)
    if n > d:
        lam, V = np.linalg.eigh(F.T @ F)
        s = np.sqrt(np.clip(lam, 0.0, None))
        keep = s > 1e-10  # the rank cutoff of the authors' truncated_svd
        s, V = s[keep], V[:, keep]
        x = (V.T @ (F.T @ Y)) / s[:, None]  # (k, c)
    else:
        lam, U = np.linalg.eigh(F @ F.T)  # all min(n, d) = n values, as the authors' thin SVD
        s = np.sqrt(np.clip(lam, 0.0, None))
        x = U.T @ Y
    sigma = (s**2)[:, None]  # (k, 1)
    x2 = x**2
    res_x2 = (Y**2).sum(axis=0) - x2.sum(axis=0)  # (c,)
    # with d >= n the fixed point can leave the valid region (beta -> 0: every item fitted exactly); the value is
    # then NaN rather than a warning, and the reports say that d >= n makes LogME uninformative
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        evidence = _logme_fixed_point(n, d, len(s), sigma, x2, res_x2, Y.shape[1], complete)
    return float(np.mean(evidence))


def _logme_fixed_point(n: int, d: int, k: int, sigma: np.ndarray, x2: np.ndarray, res_x2: np.ndarray, c: int,
                       complete: bool) -> np.ndarray:
    """The authors' fixed-point iteration over every target column at once; the log evidence per item per column."""
    alpha = np.ones(c)
    beta = np.ones(c)
    active = np.ones(c, dtype=bool)
    m2 = np.zeros(c)
    res2 = np.zeros(c)
    for _ in range(11):
        t = alpha / beta
        gamma = (sigma / (sigma + t)).sum(axis=0)
        m2_new = (sigma * x2 / (t + sigma) ** 2).sum(axis=0)
        res2_new = (x2 / (1 + sigma / t) ** 2).sum(axis=0) + res_x2
        alpha_new = gamma / (m2_new + 1e-5)
        beta_new = (n - gamma) / (res2_new + 1e-5)
        # columns that converged keep the values of their last iteration
        m2 = np.where(active, m2_new, m2)
        res2 = np.where(active, res2_new, res2)
        alpha = np.where(active, alpha_new, alpha)
        beta = np.where(active, beta_new, beta)
        active &= ~(np.abs(alpha / beta - t) / t <= 1e-3)
        if not active.any():
            break
    missing = (d - k) * np.log(alpha) if complete else 0.0  # zero singular values: log(alpha + 0)
    return (
        d / 2.0 * np.log(alpha)
        + n / 2.0 * np.log(beta)
        - 0.5 * (np.sum(np.log(alpha[None, :] + beta[None, :] * sigma), axis=0) + missing)
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * np.log(2 * np.pi)
    ) / n


def _logme_no_features(y: Any, n: int, regression: bool) -> float:
    """LogME of an embedding with no varying column: each target column as zero-mean noise, its precision at the maximum."""
    if regression:
        Y = np.asarray(y, dtype=np.float64).reshape(n, -1)
    else:
        codes, n_classes = _labels(y, n)
        Y = (codes[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
    beta = n / ((Y**2).sum(axis=0) + 1e-5)
    return float(np.mean(0.5 * np.log(beta) - 0.5 * np.log(2 * np.pi) - 0.5))


def logme_authors_code(F: Any, y: Any, *, regression: bool = False) -> float:
    """LogME exactly as the authors' code computes it: :func:`logme` with ``complete=False``.

    Not a log evidence when ``d`` exceeds the rank of ``F`` (see :func:`logme`);
    use it to reproduce the authors' tables, and :func:`logme` to compare
    encoders.
    """
    return logme(F, y, regression=regression, complete=False)


def drop_constant_columns(F: np.ndarray) -> np.ndarray:
    """``F`` without its constant columns (equal on every item: no information about any item).

    Examples
    --------
    >>> drop_constant_columns(np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 2.0]]))
    array([[1.],
           [3.]])
    """
    varies = np.ptp(F, axis=0) > 0
    return F if varies.all() else F[:, varies]


def n_constant_columns(F: Any) -> int:
    """Number of constant columns of an embedding matrix."""
    return int(np.count_nonzero(np.ptp(np.asarray(F), axis=0) == 0))


def _class_means(F: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    sums = np.zeros((n_classes, F.shape[1]))
    np.add.at(sums, codes, F)
    return sums / np.bincount(codes, minlength=n_classes)[:, None]


def h_score(F: Any, y: Any, *, shrinkage: bool = False) -> float:
    """H-score: ``tr(cov(F)^+ cov(E[F | y]))`` (Bao et al., 2019).

    At most ``C - 1`` for ``C`` classes (the between-class covariance has rank
    ``C - 1`` and lies within the total covariance); it reaches the bound when
    the classes are perfectly separable, as they always are when ``d >= n``.

    With ``shrinkage=True``, the shrinkage H-score of Ibrahim, Ponomareva &
    Mazumder (2023): ``cov(F)`` is replaced by its Ledoit-Wolf estimate
    ``(1 - a) S + a mu I`` (shrinkage ``a`` from sklearn) and the between-class
    covariance is scaled by ``1 - a``, which keeps the score stable when ``d``
    approaches ``n``. Computed through the thin SVD of the centred features,
    so ``d`` may be large (O(n^2 d), never a d x d inverse).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> F = np.c_[y + 0.1 * rng.standard_normal(100), rng.standard_normal(100)]
    >>> round(h_score(F, y), 2)
    0.96
    """
    F = _features(F)
    n, d = F.shape
    codes, n_classes = _labels(y, n)
    Fc = F - F.mean(axis=0)
    Gc = _class_means(Fc, codes, n_classes)[codes]  # class means of centred features
    _, s, vt = np.linalg.svd(Fc, full_matrices=False)
    lam = s**2 / (n - 1)  # eigenvalues of cov(F) on its row space
    proj = Gc @ vt.T  # between-class scatter lies in that row space
    energy = (proj**2).sum(axis=0) / (n - 1)
    if shrinkage:
        from sklearn.covariance import ledoit_wolf_shrinkage

        # sklearn's Ledoit-Wolf shrinks the maximum-likelihood covariance (divided by n)
        a = float(ledoit_wolf_shrinkage(F))
        lam_ml = s**2 / n
        mu = float(np.sum(Fc**2) / n / d)  # trace(S_ml) / d
        value = float(np.sum((1 - a) * energy / ((1 - a) * lam_ml + a * mu)))
        return min(value, n_classes - 1.0)  # rounding may overshoot the bound by an ulp
    # the pseudo-inverse of cov(F) drops eigenvalues of the *covariance* below its numerical rank
    # (matrix_rank's tolerance): centring leaves one null direction, and d >= n leaves many, whose
    # tiny noise eigenvalues would otherwise divide the between-class energy and break H <= C - 1
    keep = lam > lam.max() * max(n, d) * np.finfo(np.float64).eps if lam.size else lam.astype(bool)
    return min(float(np.sum(energy[keep] / lam[keep])), n_classes - 1.0)  # rounding may overshoot by an ulp


def knn_loo_correct(F: Any, y: Any, *, n_neighbors: int = 5, metric: str = "cosine", groups: Any = None) -> np.ndarray:
    """Per-item correctness of leave-one-out k-NN classification.

    Majority vote of the ``n_neighbors`` nearest other items; ties go to the
    class of the nearest neighbour among the tied (neighbour labels
    ``[2, 1, 1, 0, 2]``, nearest first, give 2). scikit-learn's
    ``KNeighborsClassifier`` gives the smallest tied label instead (1 here);
    where no tie occurs the two agree item for item (tested against it with
    ``LeaveOneGroupOut``). With ``groups``, every item
    of the held-out item's group is left out too (leave-one-group-out), as the
    probe's grouped folds do: a recording's other excerpts are not allowed to
    vote for it.
    """
    from sklearn.neighbors import NearestNeighbors

    F = _features(F)
    codes, n_classes = _labels(y, len(F))
    n = len(F)
    if groups is None:
        gcodes = np.arange(n)
    else:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must hold one group per item, shape ({n},); got {groups.shape}.")
        gcodes = np.unique(groups, return_inverse=True)[1].ravel()
    largest = int(np.bincount(gcodes).max())
    k = check_number(n_neighbors, "n_neighbors", low=1, high=n - largest, integer=True)
    nn = NearestNeighbors(n_neighbors=min(n, k + largest), metric=metric).fit(F)
    _, idx = nn.kneighbors(F)
    # drop the item and its group (the item itself may not come first when duplicates exist)
    neigh = np.array([[j for j in row if gcodes[j] != gcodes[i]][:k] for i, row in enumerate(idx)])
    return _vote(codes[neigh], n_classes) == codes


def _vote(neighbour_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority class of each row of neighbour labels (nearest first); a tie goes to the tied class met first.

    Examples
    --------
    >>> _vote(np.array([[2, 1, 1, 0, 2]]), 3)  # classes 1 and 2 tie with two votes; the nearest neighbour is a 2
    array([2])
    """
    n, k = neighbour_labels.shape
    rows = np.arange(n)
    votes = np.zeros((n, n_classes), dtype=np.int64)
    first = np.full((n, n_classes), k)  # rank of each class's nearest neighbour (k: absent)
    for rank in range(k - 1, -1, -1):
        np.add.at(votes, (rows, neighbour_labels[:, rank]), 1)
        first[rows, neighbour_labels[:, rank]] = rank
    tied = votes == votes.max(axis=1, keepdims=True)
    return np.where(tied, first, k + 1).argmin(axis=1)


def knn_loo_accuracy(F: Any, y: Any, *, n_neighbors: int = 5, metric: str = "cosine", groups: Any = None) -> float:
    """Leave-one-out (leave-one-group-out with ``groups``) k-nearest-neighbour accuracy.

    Examples
    --------
    >>> F = np.array([[0.0, 1], [0.1, 1], [0.0, 1.1], [1, 0.0], [1, 0.1], [1.1, 0]])
    >>> knn_loo_accuracy(F, [0, 0, 0, 1, 1, 1], n_neighbors=1)
    1.0
    >>> knn_loo_accuracy(F, [0, 0, 0, 1, 1, 1], n_neighbors=1, groups=[0, 0, 0, 1, 1, 1])  # no same-class neighbour left
    0.0
    """
    return float(np.mean(knn_loo_correct(F, y, n_neighbors=n_neighbors, metric=metric, groups=groups)))


def gbc(F: Any, y: Any, *, gaussian: str = "spherical") -> float:
    """Gaussian Bhattacharyya coefficient (Pandy et al., CVPR 2022).

    As the authors' reference code (google-research ``stable_transfer``,
    ``transferability/gbc.py``) defines it: each class is a Gaussian with the
    class mean and the per-dimension *population* variance (ddof=0), floored
    at 1e-4; with ``"spherical"`` each class's variance is the mean of those
    floored variances (one scalar). Between classes,
    ``D_B = 1/8 sum_d (mu_i - mu_j)^2 / s + 1/2 (sum log s - 1/2 sum log s_i - 1/2 sum log s_j)``
    with ``s = (s_i + s_j) / 2``, the sums of the log terms running over the
    variance entries (one entry for spherical, as in the reference), and
    ``GBC = -sum_{i != j} exp(-D_B(c_i, c_j))``. Zero is perfect separation;
    higher is better. The paper reduces features with PCA first; pass reduced
    features for that.

    Examples
    --------
    >>> y = np.repeat([0, 1], 50)
    >>> F = np.c_[10.0 * y, np.zeros(100)] + np.random.default_rng(0).standard_normal((100, 2))
    >>> gbc(F, y) > -1e-3
    True
    """
    check_choice(gaussian, "gaussian", ("spherical", "diagonal"))
    F = _features(F)
    codes, n_classes = _labels(y, len(F))
    mu = _class_means(F, codes, n_classes)
    var = np.vstack([np.maximum(F[codes == c].var(axis=0), 1e-4) for c in range(n_classes)])
    if gaussian == "spherical":
        var = var.mean(axis=1, keepdims=True)  # (n_classes, 1): the log terms count once
    log_var = np.log(var).sum(axis=1)
    total = 0.0
    for i in range(n_classes):
        for j in range(n_classes):
            if i == j:
                continue
            s = (var[i] + var[j]) / 2
            db = np.sum((mu[i] - mu[j]) ** 2 / s) / 8 + 0.5 * (np.sum(np.log(s)) - 0.5 * log_var[i] - 0.5 * log_var[j])
            total += np.exp(-db)
    return float(-total)


def _coding_rate(Z: np.ndarray, eps: float) -> float:
    # det(I_d + c Z^T Z) = det(I_n + c Z Z^T): use the smaller side
    n, d = Z.shape
    G = Z.T @ Z if d <= n else Z @ Z.T
    _, rate = np.linalg.slogdet(np.eye(len(G)) + (1.0 / (n * eps)) * G)
    return 0.5 * float(rate)


def transrate(F: Any, y: Any, *, eps: float = 1e-4) -> float:
    """TransRate (Huang et al., 2022).

    The coding rate of all (centred) features minus the mean coding rate
    within classes, ``R(Z) = 1/2 logdet(I + Z^T Z / (n eps))``.
    """
    F = _features(F)
    codes, n_classes = _labels(y, len(F))
    eps = check_number(eps, "eps", low=0, low_inclusive=False)
    Z = F - F.mean(axis=0, keepdims=True)
    within = sum(_coding_rate(Z[codes == c], eps) for c in range(n_classes))
    return _coding_rate(Z, eps) - within / n_classes


def _source_proba(P: Any, n: int) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or len(P) != n:
        raise ValueError(f"source_proba must have shape ({n}, n_source_classes); got {P.shape}.")
    if not np.isfinite(P).all() or (P < 0).any() or not np.allclose(P.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("source_proba rows must be probabilities (non-negative, summing to 1).")
    return P


def leep(source_proba: Any, y: Any) -> float:
    """LEEP (Nguyen et al., 2020): log expected empirical prediction.

    ``P(y, z) = 1/n sum_i theta_i(z) [y_i = y]``, ``P(y | z) = P(y, z) / P(z)``,
    ``LEEP = 1/n sum_i log sum_z P(y_i | z) theta_i(z)``.
    """
    y = np.asarray(y)
    P = _source_proba(source_proba, len(y))
    codes, n_classes = _labels(y, len(P))
    joint = np.zeros((n_classes, P.shape[1]))
    np.add.at(joint, codes, P)
    joint /= len(P)
    cond = joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-300)
    return float(np.mean(np.log(np.sum(P * cond[codes], axis=1))))


def nce(source_labels: Any, y: Any) -> float:
    """NCE (Tran et al., 2019): negative conditional entropy ``-H(Y | Z)``.

    Of the target labels given source labels (pass the ``argmax`` of source
    probabilities).
    """
    z = np.asarray(source_labels)
    y = np.asarray(y)
    if z.shape != y.shape or z.ndim != 1:
        raise ValueError(f"source_labels and y must both have shape (n,); got {z.shape} and {y.shape}.")
    _, zc = np.unique(z, return_inverse=True)
    yc, n_classes = _labels(y, len(y))
    joint = np.zeros((n_classes, zc.max() + 1))
    np.add.at(joint, (yc, zc.ravel()), 1.0)
    joint /= len(y)
    pz = joint.sum(axis=0, keepdims=True)
    mask = joint > 0
    return float(np.sum(joint[mask] * np.log((joint / pz)[mask])))


#: estimators available by name inside TransferabilityProbe
ESTIMATORS = {
    "logme": logme,
    "hscore": h_score,
    "hscore_shrinkage": lambda F, y: h_score(F, y, shrinkage=True),
    "knn": knn_loo_accuracy,
    "gbc": gbc,
    "transrate": transrate,
}
