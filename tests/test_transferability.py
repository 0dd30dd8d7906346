from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.covariance import LedoitWolf

from trustkit import InvalidAudioError, TransferabilityProbe, compare_encoders
from trustkit.encoders import FunctionEncoder
from trustkit.transferability import gbc, h_score, knn_loo_accuracy, leep, logme, nce, transrate
from trustkit.transferability.estimators import knn_loo_correct, logme_authors_code, n_constant_columns

REF = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "reference" / "transfer_reference.npz"


@pytest.fixture(scope="module")
def informative():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    good = np.eye(3)[y] * 2.0 + 0.7 * rng.standard_normal((120, 3))
    good = np.c_[good, rng.standard_normal((120, 5))]
    noise = rng.standard_normal((120, 8))
    return good, noise, y


# -- estimators against references -------------------------------------------------------
@pytest.mark.skipif(not REF.exists(), reason="reference values not available")
@pytest.mark.parametrize("case", range(5))
def test_estimators_match_the_authors_reference_values(case):
    d = np.load(REF)
    F, y, kind = d[f"case{case}_F"], d[f"case{case}_y"], str(d[f"case{case}_kind"])
    assert logme_authors_code(F, y, regression=kind == "reg") == pytest.approx(float(d[f"case{case}_logme"]), abs=1e-6)
    if kind == "cls":
        P = d[f"case{case}_source_proba"]
        assert leep(P, y) == pytest.approx(float(d[f"case{case}_leep"]), abs=1e-6)
        assert nce(P.argmax(axis=1), y) == pytest.approx(float(d[f"case{case}_nce"]), abs=1e-6)


def test_logme_equals_a_direct_per_column_evidence_maximisation():
    # independent check: maximise the evidence over alpha, beta numerically
    import scipy.optimize

    rng = np.random.default_rng(3)
    F = rng.standard_normal((60, 4))
    y = (F[:, 0] + 0.5 * rng.standard_normal(60) > 0).astype(int)
    n, d = F.shape

    def neg_evidence(log_ab, t):
        a, b = np.exp(log_ab)
        A = a * np.eye(d) + b * F.T @ F
        m = b * np.linalg.solve(A, F.T @ t)
        e = (d / 2 * np.log(a) + n / 2 * np.log(b) - 0.5 * np.linalg.slogdet(A)[1]
             - b / 2 * np.sum((t - F @ m) ** 2) - a / 2 * m @ m - n / 2 * np.log(2 * np.pi))
        return -e / n

    best = np.mean([-scipy.optimize.minimize(neg_evidence, [0.0, 0.0], args=((y == c).astype(float),)).fun for c in (0, 1)])
    assert logme(F, y) == pytest.approx(best, abs=2e-3)  # the fixed point stops at 1e-3 relative


def test_h_score_and_shrinkage_by_formula(informative):
    F, _, y = informative
    Fc = F - F.mean(0)
    cov_f = Fc.T @ Fc / (len(F) - 1)
    G = np.vstack([F[y == c].mean(0) for c in range(3)])[y]
    Gc = G - G.mean(0)
    cov_g = Gc.T @ Gc / (len(F) - 1)
    assert h_score(F, y) == pytest.approx(np.trace(np.linalg.pinv(cov_f) @ cov_g), rel=1e-9)
    lw = LedoitWolf().fit(F)
    expected = np.trace(np.linalg.inv(lw.covariance_) @ ((1 - lw.shrinkage_) * cov_g))
    assert h_score(F, y, shrinkage=True) == pytest.approx(expected, rel=1e-9)


def test_gbc_transrate_knn_by_formula(informative):
    from sklearn.model_selection import LeaveOneOut, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    F, _, y = informative
    F2, y2 = F[y < 2], y[y < 2]
    mu = [F2[y2 == c].mean(0) for c in (0, 1)]
    var = [np.maximum(F2[y2 == c].var(0), 1e-4).mean() for c in (0, 1)]  # population variance, floored, spherical
    s = (var[0] + var[1]) / 2
    db = np.sum((mu[0] - mu[1]) ** 2) / (8 * s) + 0.5 * (np.log(s) - 0.5 * np.log(var[0]) - 0.5 * np.log(var[1]))
    assert gbc(F2, y2) == pytest.approx(-2 * np.exp(-db), rel=1e-12)

    Z = F - F.mean(0)

    def rate(A):
        return 0.5 * np.linalg.slogdet(np.eye(A.shape[1]) + A.T @ A / (len(A) * 1e-4))[1]

    assert transrate(F, y) == pytest.approx(rate(Z) - np.mean([rate(Z[y == c]) for c in range(3)]), rel=1e-9)
    for k in (1, 3):
        ref = cross_val_predict(KNeighborsClassifier(k, metric="cosine"), F, y, cv=LeaveOneOut())
        assert knn_loo_accuracy(F, y, n_neighbors=k) == pytest.approx(np.mean(ref == y))


def _gbc_reference(F, y, gaussian):
    """Line-by-line numpy transcription of google-research stable_transfer/transferability/gbc.py."""
    labels = list(np.unique(y))
    stats = {c: {"mean": F[y == c].mean(0), "variance": np.maximum(F[y == c].var(0), 1e-4)} for c in labels}
    total = []
    for c1 in labels:
        terms = []
        for c2 in labels:
            if c1 == c2:
                continue
            m1, m2, s1, s2 = stats[c1]["mean"], stats[c2]["mean"], stats[c1]["variance"], stats[c2]["variance"]
            if gaussian == "spherical":
                s1, s2 = np.mean(s1), np.mean(s2)
            avg = (s1 + s2) / 2
            first = np.sum((m1 - m2) ** 2 / avg) / 8
            second = np.sum(np.log(avg)) - 0.5 * np.sum(np.log(s1)) - 0.5 * np.sum(np.log(s2))
            terms.append(np.exp(-(first + 0.5 * second)))
        total.append(np.sum(terms))
    return -np.sum(total)


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
def test_gbc_equals_the_reference_code(informative, gaussian):
    F, noise, y = informative
    F = F.copy()
    F[y == 0, 3] = 1.5  # a constant feature within a class: the reference floors its variance at 1e-4
    for feats in (F, noise, F[:, :2] * 1e-3):
        assert gbc(feats, y, gaussian=gaussian) == pytest.approx(_gbc_reference(feats, y, gaussian), rel=1e-12)


def test_every_metric_and_estimator_ranks_signal_above_noise(informative):
    good, noise, y = informative
    P = np.eye(3)[y] * 0.8 + 0.2 / 3  # a source model that knows the classes
    for fn in (logme, h_score, knn_loo_accuracy, gbc, transrate):
        assert fn(good, y) > fn(noise, y), fn.__name__
    kw = {"cv": 5, "n_bootstrap": 200, "random_state": 0,
          "estimators": ("logme", "hscore", "hscore_shrinkage", "knn", "gbc", "transrate")}
    a = TransferabilityProbe("precomputed", **kw).score(good, y, source_proba=P)
    b = TransferabilityProbe("precomputed", **kw).score(noise, y)
    for metric in ("accuracy", "macro_f1"):
        ra = a.wide().set_index("metric").loc[metric]
        rb = b.wide().set_index("metric").loc[metric]
        assert ra["low"] > rb["high"]
    ea, eb = a.estimators.set_index("estimator"), b.estimators.set_index("estimator")
    for name in eb.index:
        assert ea.loc[name, "statistic"] > eb.loc[name, "statistic"], name
    assert {"leep", "nce"} <= set(ea.index)


def test_pairwise_test_separates_signal_from_noise_but_not_twins(informative):
    good, noise, y = informative
    X = np.c_[good, noise].astype(np.float32)  # "audio" from which encoders slice
    encs = {"good": lambda X: X[:, :8], "noise": lambda X: X[:, 8:], "twin": lambda X: X[:, :8].copy()}
    report = compare_encoders(encs, {"task": (X, y)}, cv=5, n_bootstrap=200, random_state=0)
    pw = report.pairwise.set_index(["a", "b"])
    assert pw.loc[("good", "noise"), "significant"]
    assert not pw.loc[("good", "twin"), "significant"] and pw.loc[("good", "twin"), "p"] == 1.0
    # every encoder was evaluated on the same folds
    folds = [report.reports[(n, "task")].oof["fold"].to_numpy() for n in encs]
    assert all(np.array_equal(folds[0], f) for f in folds)


class Spy(ClassifierMixin, BaseEstimator):
    """A probe that records which items (ids in column 0) every fit sees."""

    seen: ClassVar[list] = []

    def __init__(self, c=1.0):
        self.c = c

    def fit(self, X, y):
        Spy.seen.append(set(X[:, 0].astype(int)))
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def test_nested_cv_never_shows_a_test_fold_to_tuning(informative):
    _, noise, y = informative
    F = np.c_[np.arange(len(y)), noise]
    Spy.seen.clear()
    report = TransferabilityProbe("precomputed", probe=(Spy(), {"c": [1.0, 2.0]}), cv=4, n_bootstrap=50,
                                  estimators=(), random_state=0).score(F, y)
    trains = [set(np.flatnonzero(report.oof["fold"].to_numpy() != k)) for k in range(4)]
    assert len(Spy.seen) == 4 * (2 * 3 + 1)  # per outer fold: 2 settings x 3 inner folds + refit
    for ids in Spy.seen:
        assert any(ids <= tr for tr in trains)  # a leaky search (tuning on all items) fails here


def test_groups_never_straddle_a_split(informative):
    good, _, y = informative
    groups = np.arange(len(y)) // 4
    report = TransferabilityProbe("precomputed", cv=5, n_bootstrap=50, random_state=0).score(good, y, groups)
    fold = report.oof["fold"].to_numpy()
    for g in np.unique(groups):
        assert len(set(fold[groups == g])) == 1


def test_same_report_whatever_n_jobs(informative):
    good, _, y = informative
    kw = {"cv": 4, "n_bootstrap": 100, "random_state": 3, "probe": "mlp"}
    a = TransferabilityProbe("precomputed", n_jobs=1, **kw).score(good, y)
    b = TransferabilityProbe("precomputed", n_jobs=2, **kw).score(good, y)
    assert a.table.equals(b.table) and a.estimators.equals(b.estimators)
    assert a.folds.drop(columns="fit_seconds").equals(b.folds.drop(columns="fit_seconds"))


def test_multilabel_and_regression(informative):
    rng = np.random.default_rng(1)
    Y = (rng.random((120, 3)) < 0.4).astype(int)
    F = np.c_[Y + 0.4 * rng.standard_normal((120, 3)), rng.standard_normal((120, 4))]
    r = TransferabilityProbe("precomputed", cv=4, n_bootstrap=100, random_state=0).score(F, Y)
    assert r.config["task"] == "multilabel" and float(r) > 0.8 and len(r.per_class) == 3
    t = 2 * F[:, 0] + 0.1 * rng.standard_normal(120)
    r = TransferabilityProbe("precomputed", cv=4, n_bootstrap=100, random_state=0).score(F, t)
    assert r.config["task"] == "regression" and float(r) > 0.9
    assert r.wide().set_index("metric").loc["r2", "majority"] < 0.05


def test_report_outputs(informative, tmp_path):
    good, _, y = informative
    labels = np.array(["jig", "reel", "air"])[y]
    r = TransferabilityProbe("precomputed", cv=5, n_bootstrap=100, random_state=0).score(good, labels)
    assert set(r.per_class["class"]) == {"jig", "reel", "air"}
    assert r.oof["pred"].isin(["jig", "reel", "air"]).all()
    assert "param:probe__C" in r.folds.columns
    assert "Nadeau-Bengio" in r.summary()
    assert "data:image/png;base64," in r.to_html(tmp_path / "r.html")
    assert r.to_dict()["headline"]["higher_is_better"] is True
    acc = r.wide().set_index("metric").loc["accuracy"]
    assert acc["chance"] == pytest.approx(1 / 3) and acc["low"] <= acc["statistic"] <= acc["high"]


@pytest.mark.parametrize(
    ("F_fn", "y_fn", "kw", "error", "match"),
    [
        (lambda F: F, lambda y: y[:-1], {}, ValueError, "y has 119 targets but X has 120 items"),
        (lambda F: F, lambda y: np.r_[y[:-3], [5, 5, 5]], {}, ValueError, "class np.int64\\(5\\) has 3 members, fewer than cv=5|class 5 has 3 members"),
        (lambda F: F, lambda y: np.zeros_like(y), {}, ValueError, "single class"),
        (lambda F: np.where(np.arange(F.size).reshape(F.shape) == 7, np.nan, F), lambda y: y, {}, InvalidAudioError, "non-finite"),
        (lambda F: F, lambda y: [["jig", "reel"]] * len(y), {}, ValueError, "MultiLabelBinarizer"),
        (lambda F: F, lambda y: y, {"groups": np.arange(5)}, ValueError, "groups must hold one group per item"),
        (lambda F: F, lambda y: y, {"probe": "forest"}, ValueError, "probe must be one of"),
    ],
    ids=["length", "rare class", "single class", "nan", "string multilabel", "groups", "probe"],
)
def test_bad_input(F_fn, y_fn, kw, error, match, informative):
    good, _, y = informative
    groups = kw.pop("groups", None)
    with pytest.raises(error, match=match):
        TransferabilityProbe("precomputed", n_bootstrap=50, random_state=0, **kw).score(F_fn(good), y_fn(y), groups)


# -- the audit of issue 9 ------------------------------------------------------------------------
def test_grouped_data_gets_the_cluster_bootstrap(informative):
    from trustkit.stats import bootstrap_estimate

    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(24), 5)
    y = np.repeat(rng.integers(0, 2, 24), 5)  # one label per group
    F = np.c_[y + rng.standard_normal(24)[groups] * 1.2, rng.standard_normal((120, 3))]  # group-level noise
    report = TransferabilityProbe("precomputed", cv=4, n_bootstrap=1000, estimators=(), random_state=0).score(F, y, groups)
    row = report.wide().set_index("metric").loc["accuracy"]
    correct = (report.oof["true"] == report.oof["pred"]).to_numpy(dtype=float)
    cluster = bootstrap_estimate(correct, groups=groups, n_bootstrap=1000, random_state=1)
    items = bootstrap_estimate(correct, n_bootstrap=1000, random_state=1)
    width = row["high"] - row["low"]
    assert width == pytest.approx(cluster.high - cluster.low, rel=0.25)
    assert width > 1.5 * (items.high - items.low)  # resampling items understated the spread


def test_concatenations_are_treated_like_every_other_row(informative):
    good, noise, y = informative
    X = np.c_[good, noise].astype(np.float32)
    encs = {"a": lambda X: X[:, :8] * 100.0, "b": lambda X: X[:, 8:]}
    report = compare_encoders(encs, {"task": (X, y)}, cv=3, n_bootstrap=50, concatenations=[("a", "b")],
                              estimators=("logme", "hscore"), random_state=0)
    est = report.estimators.set_index(["encoder", "estimator"])["statistic"]
    both = np.c_[good * 100.0, noise]
    assert est[("a+b", "logme")] == pytest.approx(logme(both, y), rel=1e-6)  # the blocks as they come, not z-scored
    assert est[("a", "logme")] == pytest.approx(logme(good * 100.0, y), rel=1e-6)


def test_comparison_says_when_no_ranking_can_be_significant(informative):
    good, noise, y = informative
    X = np.c_[good, noise].astype(np.float32)
    encs = {"good": lambda X: X[:, :8], "noise": lambda X: X[:, 8:], "half": lambda X: X[:, 4:12]}
    tasks = {"t1": (X, y), "t2": (X, (y > 0).astype(int))}
    report = compare_encoders(encs, tasks, cv=3, n_bootstrap=50, estimators=(), random_state=0)
    assert not report.friedman["significance_possible"]
    assert "with 2 tasks and 3 methods no result can be significant" in report.summary()
    assert not np.asarray(report.friedman["significant"]).any()
    # the headline never names a winner the data do not support
    assert report.winner() is None
    assert "not shown better than the others" in report._measure_name() and "best encoder" not in report._measure_name()
    assert "no encoder is supported as best" in report.summary()
    fig = report.plot()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("no significant difference is possible" in t for t in texts)


# -- held-out real-data run (issue 13) -----------------------------------------------------------
@pytest.mark.parametrize("d", [20, 99, 100, 256, 1000])
def test_h_score_never_exceeds_its_bound(d):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 20)
    F = 10 + rng.standard_normal((100, d)) * np.logspace(0, -3, d)  # the audit's case at d = 256 gave 4.9993
    for shrinkage in (False, True):
        assert 0 <= h_score(F, y, shrinkage=shrinkage) <= 4 + 1e-9
    report = TransferabilityProbe("precomputed", cv=4, n_bootstrap=50, estimators=("hscore",), random_state=0).score(F, y)
    row = report.estimators.set_index("estimator").loc["hscore"]
    if d >= 99:  # d >= n - 1: saturated at C - 1, said so, and no interval that cannot vary
        assert row["statistic"] == pytest.approx(4.0) and np.isnan(row["low"]) and row["note"].startswith("saturated")
    else:
        assert 0 <= row["low"] <= row["statistic"] <= row["high"] <= 4 + 1e-9


def test_knn_estimator_and_intervals_respect_groups():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(30), 4)
    y = np.repeat(rng.integers(0, 3, 30), 4)
    F = rng.standard_normal((30, 6))[groups] + 0.05 * rng.standard_normal((120, 6))  # near-copies within a group
    leaky = knn_loo_accuracy(F, y)
    grouped = knn_loo_accuracy(F, y, groups=groups)
    assert leaky > 0.95 and grouped < 0.6  # the group's own copies no longer vote
    report = TransferabilityProbe("precomputed", cv=5, n_bootstrap=100, estimators=("knn", "logme"), random_state=0).score(F, y, groups)
    est = report.estimators.set_index("estimator")
    assert est.loc["knn", "statistic"] == pytest.approx(grouped)
    assert est["group_aware"].all() and "whole group" in report.summary()


def test_probe_and_compare_encoders_use_the_same_folds_and_numbers(informative):
    good, noise, y = informative
    X = np.c_[good, noise].astype(np.float32)
    groups = np.arange(len(y)) // 3
    enc = {"good": lambda X: X[:, :8], "noise": lambda X: X[:, 8:]}
    cmp = compare_encoders(enc, {"task": (X, y, groups)}, cv=4, n_bootstrap=200, estimators=("logme",), random_state=7)
    alone = TransferabilityProbe(enc["good"], cv=4, n_bootstrap=200, estimators=("logme",), random_state=7).score(X, y, groups)
    inside = cmp.reports[("good", "task")]
    np.testing.assert_array_equal(inside.oof["fold"], alone.oof["fold"])
    cols = ["metric", "statistic", "low", "high", "fold_mean", "nb_low", "nb_high"]
    pd_equal = inside.wide()[cols].equals(alone.wide()[cols])
    assert pd_equal


def test_few_groups_lead_with_the_interval_over_folds(informative):
    good, _, y = informative
    groups = np.arange(len(y)) % 12
    report = TransferabilityProbe("precomputed", cv=4, n_bootstrap=50, estimators=(), random_state=0).score(good, y, groups)
    text = report.summary()
    assert "only 12 groups" in text
    line = next(row for row in text.splitlines() if row.startswith("accuracy"))
    assert line.index("Nadeau-Bengio") < line.index("cluster-robust t over groups")


def test_logme_with_more_dimensions_than_items_is_not_an_evidence_unless_completed():
    import scipy.optimize

    rng = np.random.default_rng(0)
    n, d = 36, 144
    F = rng.standard_normal((n, d))
    y = rng.integers(0, 4, n)

    def best_evidence(t):  # maximum log evidence per item, by brute force over (log alpha, log beta)
        def neg(log_ab):
            a, b = np.exp(np.clip(log_ab, -50, 50))
            A = a * np.eye(d) + b * F.T @ F
            m = b * np.linalg.solve(A, F.T @ t)
            return -(d / 2 * np.log(a) + n / 2 * np.log(b) - 0.5 * np.linalg.slogdet(A)[1]
                     - b / 2 * np.sum((t - F @ m) ** 2) - a / 2 * m @ m - n / 2 * np.log(2 * np.pi)) / n
        return max(-scipy.optimize.minimize(neg, x0, method="Nelder-Mead").fun for x0 in ([0.0, 0.0], [5.0, 1.0], [10.0, 1.0]))

    ceiling = np.mean([best_evidence((y == c).astype(float)) for c in range(4)])
    assert logme_authors_code(F, y) > ceiling + 5  # the authors' fixed-point value: above any attainable log evidence
    assert logme(F, y) <= ceiling + 1e-6  # the default is a log evidence
    G = F[:, :20]  # with n > d the two agree
    assert logme(G, y) == logme_authors_code(G, y)


def test_logme_is_not_lifted_by_constant_or_zero_columns():
    # the issue's case: 200 all-zero columns lifted the authors' value from -0.27 to 1.55
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    noise = rng.standard_normal((600, 144))
    padded = np.hstack([noise, np.zeros((600, 200)), np.full((600, 3), 7.0)])
    assert logme_authors_code(padded, y) > logme_authors_code(noise, y) + 1.0  # what the authors' code does
    assert logme(padded, y) == logme(noise, y)  # constant columns dropped: exactly the same evidence
    assert n_constant_columns(padded) == 203
    # a constant embedding says nothing: the evidence of the labels as noise, below any informative embedding
    constant = logme(np.ones((600, 5)), y)
    assert np.isfinite(constant) and constant < logme(noise[:, :5], y) + 0.01


def test_knn_ties_go_to_the_nearest_tied_class_as_documented():
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    from trustkit.transferability.estimators import _vote

    assert _vote(np.array([[2, 1, 1, 0, 2], [0, 1, 1, 0, 2], [1, 0, 2, 3, 4]]), 5).tolist() == [2, 0, 1]
    # on 1-D points the neighbours and their order are known: item 0 at 0.0 has neighbours 1 (class 2), 2, 3 (class 1)
    F = np.array([[0.0, 1.0], [0.1, 1.0], [0.2, 1.0], [0.3, 1.0], [5.0, 1.0]])
    knn = knn_loo_correct(F, [1, 2, 1, 1, 2], n_neighbors=2, metric="euclidean")
    assert not knn[0]  # item 0 (class 1): neighbours class 2 (0.1 away) and class 1 (0.2): the tie goes to 2
    # where no tie occurs, equal to scikit-learn's KNeighborsClassifier with leave-one-group-out, item for item
    # (scikit-learn breaks a tie by the smallest class label instead)
    rng = np.random.default_rng(0)
    F = rng.standard_normal((90, 5))
    y = rng.integers(0, 3, 90)
    groups = np.repeat(np.arange(30), 3)
    ours = knn_loo_correct(F, y, n_neighbors=5, metric="cosine", groups=groups)
    proba = cross_val_predict(KNeighborsClassifier(5, metric="cosine", algorithm="brute"), F, y, groups=groups,
                              cv=LeaveOneGroupOut(), method="predict_proba")
    untied = (proba == proba.max(axis=1, keepdims=True)).sum(axis=1) == 1
    assert untied.sum() > 50
    np.testing.assert_array_equal(ours[untied], (proba.argmax(axis=1) == y)[untied])


def test_compare_encoders_embeds_shared_clips_once():
    from trustkit.datasets import make_music

    calls = []

    def counting(X):
        calls.append(len(X))
        return X[:, ::400]

    X, y = make_music(12, duration=1.0, sr=8000, random_state=0)
    tasks = {t: (X, y[t]) for t in ("timbre", "mode")}
    encs = {"a": FunctionEncoder(counting, sr=8000, per_clip=False), "b": lambda A: A[:, 1::400]}
    compare_encoders(encs, tasks, cv=2, n_bootstrap=20, estimators=(), random_state=0)
    assert calls == [12, 2]  # two tasks on the same clips: embedded once (and two clips again: the preflight)


def test_metrics_subset_and_verbose(capsys):
    from trustkit import TransferabilityProbe

    rng = np.random.default_rng(0)
    F = rng.standard_normal((60, 4))
    y = (F[:, 0] > 0).astype(int)
    full = TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, random_state=0).score(F, y)
    only = TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, random_state=0, metrics=["accuracy"]).score(F, y)
    assert list(full.wide()["metric"]) == ["accuracy", "macro_f1"] and list(only.wide()["metric"]) == ["accuracy"]
    assert float(only) == float(full) and only.wide().iloc[0]["low"] == full.wide().iloc[0]["low"]
    assert list(TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, random_state=0,
                                     metrics=["macro_f1"]).score(F, y).wide()["metric"]) == ["accuracy", "macro_f1"]
    with pytest.raises(ValueError, match=r"metrics \['r2'\] are not among those of a multiclass task"):
        TransferabilityProbe("precomputed", cv=3, metrics=["r2"]).score(F, y)
    capsys.readouterr()
    TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, random_state=0, verbose=True).score(F, y)
    err = capsys.readouterr().err  # a progress bar over the outer folds, on stderr only
    assert "precomputed -> multiclass: outer folds" in err and "3/3" in err
    TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, random_state=0).score(F, y)
    assert capsys.readouterr().err == ""  # nothing printed when nobody asked


def test_the_public_seam_gives_score_and_compare_encoders_the_same_folds():
    import pandas as pd

    from trustkit import TransferabilityProbe

    rng = np.random.default_rng(1)
    F = rng.standard_normal((45, 4))
    G = F + 0.5 * rng.standard_normal((45, 4))
    y = (F[:, 0] + F[:, 1] > 0).astype(int)
    probe = TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, random_state=0)
    splits = probe.outer_folds(F, y)
    direct = probe.score(F, y)
    seam = probe.score_embeddings(F, y, splits=splits, name="F")
    assert float(seam) == float(direct) and seam.config["encoder"] == "F"
    pd.testing.assert_frame_equal(seam.table.drop(columns="encoder"), direct.table.drop(columns="encoder"))
    other = probe.score_embeddings(G, y, splits=splits)  # another representation, the very same folds
    assert (other.oof["fold"].to_numpy() == direct.oof["fold"].to_numpy()).all()


def test_estimators_say_when_d_at_least_n_makes_them_uninformative():
    # the case: 150 x 144 MFCC statistics read H-score 3.9306 [3.9306, 3.9306] -- an interval that cannot vary
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    F = np.hstack([rng.standard_normal((60, 70)), np.zeros((60, 5))])
    report = TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, estimators=("hscore", "logme", "knn"),
                                  random_state=0).score(F, y)
    est = report.estimators.set_index("estimator")
    assert est.loc["hscore", "statistic"] == pytest.approx(2.0)
    assert np.isnan(est.loc["hscore", "low"]) and est.loc["hscore", "note"].startswith("saturated at C - 1 = 2")
    assert est.loc["logme", "note"].startswith("uninformative: the centred embeddings have rank 59 >= n - 1 = 59")
    assert "5 constant columns dropped" in est.loc["logme", "note"]
    assert est.loc["knn", "note"] == ""
    text = report.summary()
    assert "[no interval]  (saturated at C - 1 = 2" in text and "uninformative: the centred embeddings" in text
    small = TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, estimators=("hscore",), random_state=0).score(F[:, :8], y)
    assert small.estimators["note"].iloc[0] == "" and np.isfinite(small.estimators["low"].iloc[0])


def test_accuracy_intervals_hold_their_coverage_with_few_groups_and_at_the_bounds():
    # 150 of 150 correct: Wilson, not [1, 1]; with groups, the cluster-robust t interval (the percentile cluster
    # bootstrap covered 0.85 with 6 groups in tools/coverage_few_groups.py)
    from trustkit.stats import cluster_mean_interval, nadeau_bengio_interval, proportion_interval

    y = np.repeat(np.arange(3), 50)
    F = np.eye(3)[y] + 0.1 * np.random.default_rng(0).standard_normal((150, 3))
    report = TransferabilityProbe("precomputed", cv=5, n_bootstrap=50, estimators=(), random_state=0).score(F, y)
    acc = report.wide().set_index("metric").loc["accuracy"]
    assert acc["statistic"] == 1.0 and acc["low"] == pytest.approx(proportion_interval(150, 150).low) and acc["low"] < 0.98
    assert acc["nb_high"] <= 1.0 and acc["interval"] == "Wilson over items"
    assert nadeau_bengio_interval([0.9, 1.0, 0.95, 1.0], n_train=60, n_test=20, bounds=(0, 1)).high == 1.0
    # the cluster-robust interval: closed form on a small case
    v = np.array([1, 0, 1, 1, 1, 0, 1, 1.0])
    g = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    e = cluster_mean_interval(v, g)
    totals = np.array([v[g == k].sum() - 2 * v.mean() for k in range(4)])
    se = np.sqrt(4 / 3 * np.sum(totals**2)) / 8
    import scipy.stats

    assert e.low == pytest.approx(v.mean() - scipy.stats.t.ppf(0.975, 3) * se)
    grouped = TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, estimators=(), random_state=0).score(
        F, y, np.arange(150) % 6)
    row = grouped.wide().set_index("metric").loc["accuracy"]
    assert row["interval"] == "cluster-robust t over groups" and row["low"] == pytest.approx(proportion_interval(6, 6).low)


def test_comparison_names_a_winner_only_when_the_tests_support_it_and_says_what_few_groups_and_encoders_allow(informative):
    good, noise, y = informative
    X = np.c_[good, noise].astype(np.float32)
    # one task: good beats noise and a weaker copy significantly, so it is named
    encs = {"good": lambda X: X[:, :8], "noise": lambda X: X[:, 8:], "weak": lambda X: X[:, :8] + 3 * X[:, 8:16]}
    one = compare_encoders(encs, {"task": (X, y)}, cv=5, n_bootstrap=50, estimators=(), random_state=0)
    assert one.winner() == "good" and "best encoder, good" in one._measure_name()
    # twins: nothing separates them, nothing is named
    twins = compare_encoders({"a": lambda X: X[:, :8], "b": lambda X: X[:, :8].copy()}, {"task": (X, y)}, cv=5,
                             n_bootstrap=50, estimators=(), random_state=0)
    assert twins.winner() is None
    # 6 groups: the Nadeau-Bengio interval comes first, as in the probe's summary; 4 encoders: Kendall cannot reach 0.05
    groups = np.arange(len(y)) % 6
    encs4 = {**encs, "half": lambda X: X[:, 4:12]}
    few = compare_encoders(encs4, {"task": (X, y, groups)}, cv=3, n_bootstrap=50, estimators=("logme",), random_state=0)
    text = few.summary()
    assert "task: only 6 groups" in text
    row = next(line for line in text.splitlines() if line.startswith("good ") and "[" in line)
    assert row.index("folds") < row.index("; ")
    assert few.agreement["min_p"].iloc[0] == pytest.approx(2 / 24 * 1.0, abs=1e-12)  # tau = 1 of 4 items: p = 1/12
    assert "with 4 encoders Kendall's tau cannot reach p < 0.05 even at tau = 1 (smallest p = 0.0833)" in text


def test_comparison_summary_says_which_estimators_say_little(informative):
    good, noise, y = informative
    X = np.c_[good, noise].astype(np.float32)
    P = np.random.default_rng(0).standard_normal((X.shape[1], len(y) + 10)).astype(np.float32)
    encs = {"good": lambda X: X[:, :8], "wide": lambda X: np.tanh(X @ P)}  # full rank: as many dimensions as items
    report = compare_encoders(encs, {"task": (X, y)}, cv=3, n_bootstrap=50, estimators=("logme", "hscore"), random_state=0)
    text = report.summary()
    assert "logme on task says little for wide: uninformative" in text
    assert "hscore on task says little for wide: saturated at C - 1" in text
    assert "says little for good" not in text


def test_macro_f1_from_counts_equals_scikit_learn():
    # the bootstrap's metric: computed from counts, it must be scikit-learn's to the last bit, on resamples in which
    # classes go missing from the truth, the predictions or both
    import sklearn.metrics as skm

    from trustkit.stats import macro_f1 as _macro_f1

    rng = np.random.default_rng(0)
    for _ in range(500):
        n, k = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        y = rng.integers(0, k, n)
        pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k + 1, n))
        assert _macro_f1(y, pred) == skm.f1_score(y, pred, average="macro", zero_division=0)
