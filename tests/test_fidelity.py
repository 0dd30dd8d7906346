from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from trustkit import FidelityComplexityScorer, InvalidAudioError, TrustkitWarning
from trustkit.fidelity import (
    TimeFrequencySegments,
    TimeSegments,
    complexity,
    explain_with_lime,
    explain_with_shap,
)

COEF = np.array([3.0, -2.0, 1.0, 0.5, 0.0, 0.0])


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6))
    model = LinearRegression().fit(X, X @ COEF + 1.0)
    # exact coefficients: a least-squares fit leaves ~1e-16 on the two zero-coefficient units, and
    # that noise (not the scorer) then decides how tied neighbourhood responses are ranked
    model.coef_, model.intercept_ = COEF.copy(), 1.0
    return X, model


def scorer(model, X, **kw):
    kw.setdefault("random_state", 0)
    kw.setdefault("budgets", (1, 2, 3, "all"))
    return FidelityComplexityScorer(model, **kw).fit(X)


def bounded(share):
    return np.clip(1 - np.abs(1 - share), 0, 1)


def test_linear_model_closed_form(linear):
    X, model = linear
    s = scorer(model, X, tau=0.8)
    x = X[:12]
    phi = (x - s.baseline_) * model.coef_
    report = s.score(x, phi)
    per = report.per_instance
    for i in range(len(x)):
        total = phi[i].sum()
        # signed, in the direction of the full effect: the units that move the response towards f(x) first
        order = np.argsort(-np.sign(total) * phi[i], kind="stable")
        for k in (1, 2, 3, 6):
            share = phi[i, order[:k]].sum() / total
            assert per.loc[i, f"keep@{k}"] == pytest.approx(share, rel=1e-9, abs=1e-9)
            assert per.loc[i, f"remove@{k}"] == pytest.approx(share, rel=1e-9, abs=1e-9)
        shares = np.array([phi[i, order[:k]].sum() / total for k in range(7)])
        reached = np.flatnonzero(bounded(shares) >= 0.8)
        assert per.loc[i, "k_star"] == reached[0]
    np.testing.assert_allclose(per["surrogate_r2@6"], 1.0, atol=1e-9)
    np.testing.assert_allclose(per["fidelity"], 1.0, atol=1e-12)  # an exact explanation scores 1
    np.testing.assert_allclose(per["concordance_keep"], 1.0, atol=1e-12)
    np.testing.assert_allclose(per["concordance_remove"], 1.0, atol=1e-12)
    np.testing.assert_allclose(per["spearman@6"], 1.0, atol=1e-12)  # ties are exact on both sides
    assert (per["surrogate_r2@1"] < per["surrogate_r2@6"]).all()


def test_shap_on_a_linear_model_is_additive(linear):
    shap = pytest.importorskip("shap")
    X, model = linear
    s = scorer(model, X)
    explainer = shap.KernelExplainer(model.predict, s.baseline_[None, :], seed=0)
    values = explainer.shap_values(X[:6], nsamples=200, l1_reg=False, silent=True)
    report = s.score(X[:6], shap.Explanation(values=np.asarray(values)))
    np.testing.assert_allclose(report.per_instance["surrogate_r2@6"], 1.0, atol=1e-6)


def test_lime_with_enough_samples_ranks_the_true_features_first(linear):
    lime_tabular = pytest.importorskip("lime.lime_tabular")
    X, model = linear
    explainer = lime_tabular.LimeTabularExplainer(X, mode="regression", discretize_continuous=False, random_state=0)
    exps = [explainer.explain_instance(x, model.predict, num_features=6, num_samples=4000) for x in X[:4]]
    for e in exps:
        top = [j for j, _ in sorted(e.as_map()[next(iter(e.as_map()))], key=lambda p: -abs(p[1]))]
        assert set(top[:4]) == {0, 1, 2, 3}
    report = scorer(model, X).score(X[:4], exps)
    assert report.config["n_truncated"] == 0 and float(report) > 0.3


def test_truncated_lime_explanations_are_counted(linear):
    lime_tabular = pytest.importorskip("lime.lime_tabular")
    X, model = linear
    explainer = lime_tabular.LimeTabularExplainer(X, mode="regression", discretize_continuous=False, random_state=0)
    exps = [explainer.explain_instance(x, model.predict, num_features=2, num_samples=500) for x in X[:3]]
    with pytest.warns(TrustkitWarning, match="3 explanations cover fewer than the 6 units"):
        report = scorer(model, X).score(X[:3], exps)
    assert report.config["n_truncated"] == 3 and (report.per_instance["n_explained"] == 2).all()


def test_exact_explanation_of_an_additive_model_scores_one():
    # the audit's example: f = 3 x1 - 2.5 x2 + x3 + 0.5 x4 with exact attributions had a headline of 0.70
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    coef = np.array([3.0, -2.5, 1.0, 0.5])

    def f(A):
        return A @ coef

    s = FidelityComplexityScorer(f, random_state=0).fit(X)
    report = s.score(X[:30], (X[:30] - s.baseline_) * coef)
    assert float(report) == pytest.approx(1.0, abs=1e-12)
    row = report.table.set_index("measure").loc["fidelity"]
    assert row["low"] == pytest.approx(1.0, abs=1e-12) and row["high"] == pytest.approx(1.0, abs=1e-12)


def test_flipping_every_sign_is_seen_by_the_headline_and_by_compare(linear):
    X, model = linear
    s = scorer(model, X)
    x = X[:40]
    phi = (x - s.baseline_) * model.coef_
    true, flipped = s.score(x, phi), s.score(x, -phi)
    assert float(true) == pytest.approx(1.0, abs=1e-12)
    assert float(flipped) == pytest.approx(-1.0, abs=1e-12)  # predicts the opposite change at every k
    assert flipped.per_instance["skill_keep"].mean() < 0 < true.per_instance["skill_keep"].mean()
    cmp = true.compare(flipped).table.set_index("measure")
    assert cmp.index[0] == "fidelity"
    assert cmp.loc["fidelity", "statistic"] == pytest.approx(2.0) and cmp.loc["fidelity", "wilcoxon_p"] < 1e-6


def test_random_explanation_is_near_zero_fidelity_and_no_skill(linear):
    X, model = linear
    s = scorer(model, X, n_random=20)
    x = X[:60]
    phi = (x - s.baseline_) * model.coef_
    random_report = s.score(x, np.random.default_rng(5).standard_normal(phi.shape))
    row = random_report.table.set_index("measure").loc["skill_keep"]
    assert row["low"] < 0 < row["high"]
    assert float(random_report) < 0.5 < float(s.score(x, phi))
    order = np.argsort(-phi, axis=1)
    reversed_phi = np.empty_like(phi)
    for i in range(len(phi)):  # the same values, assigned to the units in reverse order of their true contribution
        reversed_phi[i, order[i]] = phi[i, order[i][::-1]]
    worse = s.score(x, reversed_phi)
    assert float(worse) < float(random_report)
    cmp = s.score(x, phi).compare(worse).table.set_index("measure")
    assert cmp.loc["fidelity", "wilcoxon_p"] < 0.01 and cmp.loc["fidelity", "statistic"] > 0
    assert cmp.loc["skill_keep", "statistic"] > 0


def test_near_zero_effects_are_flagged_counted_and_left_out(linear):
    X, model = linear
    s = scorer(model, X)
    x = X[:10].copy()
    x[3] = s.baseline_  # f(x) == f(baseline): nothing to explain
    x[7] = s.baseline_ + 1e-12
    phi = (x - s.baseline_) * model.coef_
    with pytest.warns(TrustkitWarning, match="2 of 10 instances have a near-zero effect"), \
            pytest.warns(TrustkitWarning, match="1 explanations are all zero"):
        report = s.score(x, phi)
    assert report.per_instance["near_zero"].tolist() == [i in (3, 7) for i in range(10)]
    assert report.config["n_near_zero"] == 2
    assert (report.table.set_index("measure").loc["fidelity", "n"] == 8).all()
    assert float(report) == pytest.approx(1.0, abs=1e-9)  # the exploding shares (1e15) do not enter
    assert "2 instances left out" in report.summary()


def test_k_star_is_censored_where_no_share_is_defined(linear):
    X, model = linear
    s = scorer(model, X, tau=0.9)
    x = X[:6].copy()
    x[2] = s.baseline_  # no effect: every share is undefined, k* is never reached
    phi = (x - s.baseline_) * model.coef_ + np.eye(6)[2] * 1e-3
    with pytest.warns(TrustkitWarning, match="near-zero effect"):
        report = s.score(x, phi)
    per = report.per_instance
    assert per["k_star"].notna().all()  # nothing vanishes
    assert per.loc[2, "k_star"] == 7 and not per.loc[2, "k_star_reached"]  # censored at d + 1
    assert per.drop(index=2)["k_star_reached"].all()
    cmp = report.compare(report).table.set_index("measure")
    assert cmp.loc["k_star", "n"] == 5  # the near-zero instance is left out, and said so by n


def test_default_budgets_fit_any_number_of_units():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    model = LinearRegression().fit(X, X @ [1.0, 2.0, -1.0, 0.5])
    s = FidelityComplexityScorer(model, random_state=0).fit(X)
    report = s.score(X[:5], (X[:5] - s.baseline_) * model.coef_)
    assert report.config["budgets"] == [1, 2, 3, 4]  # 5 and 10 drop out, "all" is 4
    with pytest.raises(ValueError, match="budget 10 exceeds the 4 units"):
        FidelityComplexityScorer(model, budgets=(1, 10), random_state=0).fit(X).score(X[:5], np.ones((5, 4)))


@pytest.mark.parametrize(
    ("params", "match"),
    [({"tau": 1.5}, "tau"), ({"batch_size": 0}, "batch_size"), ({"modes": ("keep", "drop")}, "modes"),
     ({"n_random": 0}, "n_random"), ({"budgets": "some"}, "budgets"), ({"min_effect": -1.0}, "min_effect"),
     ({"target": "first"}, "target")],
)
def test_every_parameter_is_checked_before_the_first_model_call(linear, params, match):
    X, model = linear
    calls = []

    def f(A):
        calls.append(len(A))
        return model.predict(A)

    s = FidelityComplexityScorer(f, random_state=0, **params).fit(X)
    with pytest.raises((ValueError, TypeError), match=match):
        s.score(X[:3], np.ones((3, 6)))
    assert calls == []


def test_same_report_whatever_n_jobs_or_batch_size(linear):
    X, model = linear
    phi = (X[:8] - X.mean(0)) * model.coef_
    a = scorer(model, X, n_jobs=1, batch_size=256).score(X[:8], phi)
    b = scorer(model, X, n_jobs=2, batch_size=7).score(X[:8], phi)
    assert a.per_instance.equals(b.per_instance) and a.table.equals(b.table)
    assert b.config["n_model_calls"] > a.config["n_model_calls"]  # smaller batches, more calls
    rows_per_instance = (a.config["n_model_rows"] - 8) // 8
    assert a.config["n_model_calls"] == 1 + 8 * int(np.ceil(rows_per_instance / 256))


def test_classifier_label_agreement_and_complexity():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 5))
    clf = LogisticRegression().fit(X, (X[:, 0] - X[:, 1] > 0).astype(int))
    s = scorer(clf, X, budgets=(1, 2, "all"))
    report = s.score(X[:10], (X[:10] - s.baseline_) * clf.coef_[0])
    assert report.config["response"] == "predict_proba"
    assert (report.per_instance["agree@5"] == 1.0).all()
    assert complexity(np.array([1.0, 0, 0, 0]))["entropy"] == 0.0
    c = complexity(np.ones(4))
    assert c["entropy"] == pytest.approx(1.0) and c["gini"] == pytest.approx(0.0) and c["n_units_90"] == 4


def test_all_zero_attributions_warn_and_stay_defined(linear):
    X, model = linear
    with pytest.warns(TrustkitWarning, match="2 explanations are all zero"):
        report = scorer(model, X).score(X[:2], np.zeros((2, 6)))
    assert np.isfinite(report.per_instance["skill_keep"]).all()
    assert (report.per_instance["n_nonzero"] == 0).all()


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda X, m: (scorer(m, X), X[:3], np.ones((3, 5))), ValueError, r"shape \(3, 5\); expected \(3, 6\)"),
        (lambda X, m: (scorer(object(), X), X[:3], np.ones((3, 6))), TypeError, "model must be callable or have predict_proba"),
        (lambda X, m: (FidelityComplexityScorer(m, baseline=np.zeros(4)), X, None), ValueError, r"baseline must have one value per feature, shape \(6,\)"),
        (lambda X, m: (scorer(m, X, budgets=(1, 9)), X[:3], np.ones((3, 6))), ValueError, "budget 9 exceeds the 6 units"),
        (lambda X, m: (scorer(m, X), X[:3], np.full((3, 6), np.nan)), InvalidAudioError, "non-finite attributions"),
        (lambda X, m: (FidelityComplexityScorer(m), X[:3], np.ones((3, 6))), ValueError, r"call fit\(X_background\) first"),
    ],
    ids=["shape", "no response", "baseline length", "budget", "nan", "not fitted"],
)
def test_bad_input(make, error, match, linear):
    X, model = linear
    with pytest.raises(error, match=match):
        s, x, W = make(X, model)
        if W is None:
            s.fit(x)
        else:
            s.score(x, W)


def test_segmenters_compose():
    x = np.sin(np.linspace(0, 200, 8000))
    seg = TimeSegments(4, baseline="silence")
    out = seg.compose(x, np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=bool))
    np.testing.assert_array_equal(out[0], x)
    assert not out[1].any() and np.array_equal(out[2, :2000], x[:2000]) and not out[2, 2000:].any()
    tf = TimeFrequencySegments(n_time=3, n_freq=2)
    assert tf.n_units(8000) == 6
    full, empty = tf.compose(x, np.array([[1] * 6, [0] * 6], dtype=bool))
    assert np.max(np.abs(full - x)) < 1e-4 and np.max(np.abs(empty)) < 1e-6


def test_time_segments_reference_noise_and_background_clips():
    rng = np.random.default_rng(0)
    x = 0.3 * np.sin(np.linspace(0, 400, 8000))
    masks = np.array([[0, 0, 0, 0], [1, 0, 0, 0]], dtype=bool)
    out = TimeSegments(4).compose(x, masks)  # the default: pink noise at the clip's own level
    assert np.sqrt(np.mean(out[0] ** 2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-6)
    np.testing.assert_array_equal(out[1, :2000], x[:2000])
    np.testing.assert_array_equal(out[1, 2000:], out[0, 2000:])  # one reference per clip, whatever the mask
    np.testing.assert_array_equal(TimeSegments(4).compose(x, masks), out)  # seeded by the clip: reproducible
    assert abs(np.corrcoef(out[0], x)[0, 1]) < 0.05  # nothing of the clip's content
    background = rng.standard_normal((5, 9000))
    seg = TimeSegments(4, baseline=np.vstack([np.r_[x, np.zeros(1000)], background]))  # the clip itself is there too
    ref = seg.reference(x)
    assert not np.array_equal(ref, x) and any(np.array_equal(ref, b[:8000]) for b in background)  # never the clip
    np.testing.assert_array_equal(seg.compose(x, masks)[0], ref)
    assert "6 background clips" in repr(seg) and len(repr(seg)) < 120
    with pytest.raises(ValueError, match=r"background clips of shape \(n_background, >= 8000\)"):
        TimeSegments(4, baseline=background[:, :100]).compose(x, masks)
    with pytest.raises(ValueError, match="baseline"):
        TimeSegments(4, baseline="zeros").compose(x, masks)


def _audio_task():
    import os
    from pathlib import Path

    data = Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent"))
    if data.is_dir():
        from trustkit.datasets import load_example_recordings

        X, y = load_example_recordings(duration=1.0, sr=16000, max_clips_per_recording=6, kinds=("music", "speech"))
        return X, y["kind"].to_numpy()
    from trustkit.datasets import make_music

    X, y = make_music(40, duration=1.0, sr=16000, random_state=0)
    return X, y["mode"].to_numpy()


@pytest.mark.slow
def test_audio_classifier_explained_with_lime_and_shap_end_to_end():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from trustkit.encoders import MFCCEncoder

    X, y = _audio_task()
    mfcc = MFCCEncoder(sr=16000)
    clf = make_pipeline(FunctionTransformer(mfcc.transform), StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    seg = TimeSegments(8)
    clips = X[:: max(1, len(X) // 6)][:6]
    W_lime = explain_with_lime(clf, clips, seg, num_samples=300, random_state=0)
    W_shap = explain_with_shap(clf, clips, seg, nsamples=256, random_state=0)
    s = FidelityComplexityScorer(clf, segmenter=seg, budgets=(1, 2, 4, "all"), n_neighbourhood=128, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustkitWarning)
        lime_report = s.score(clips, W_lime)
        shap_report = s.score(clips, W_shap)
    for r in (lime_report, shap_report):
        assert r.config["n_units"] == 8 and np.isfinite(float(r))
    # exact Shapley values (all 254 coalitions of 8 units) add up to f(x) - f(all absent), the effect the scorer measured
    np.testing.assert_allclose(W_shap.sum(axis=1), shap_report.per_instance["full_effect"], atol=1e-9)
    assert (shap_report.per_instance["fidelity"].dropna() > 0).all()  # SHAP orders coalitions better than chance
    assert len(lime_report.compare(shap_report).table) >= 3


def test_explainer_callable_is_run_and_timed(linear):
    X, model = linear
    s = scorer(model, X)

    def explainer(A):
        return (A - s.baseline_) * model.coef_

    report = s.score(X[:4], explainer)
    assert report.config["explainer_seconds"] is not None and report.config["explainer_seconds"] >= 0
    direct = s.score(X[:4], explainer(X[:4]))
    assert report.per_instance.equals(direct.per_instance)


# -- explainers enumerate coalitions when the units allow it (issue 13) --------------------------
class _Counting:
    """A model of four time segments with an interaction, counting the clips it is shown."""

    def __init__(self):
        self.rows = 0

    def __call__(self, X):
        self.rows += len(X)
        seg = np.asarray(X).reshape(len(X), 4, -1).std(axis=2)
        return seg @ [1.0, 2.0, -1.0, 0.5] + 3.0 * seg[:, 0] * seg[:, 1]


def _exact_shapley(f, d):
    import itertools
    import math

    v = {S: f(np.array([[1.0 if j in S else 0.0 for j in range(d)]]))[0]
         for r in range(d + 1) for S in itertools.combinations(range(d), r)}
    phi = np.zeros(d)
    for j in range(d):
        for S, value in v.items():
            if j in S:
                continue
            T = tuple(sorted((*S, j)))
            phi[j] += math.factorial(len(S)) * math.factorial(d - len(S) - 1) / math.factorial(d) * (v[T] - value)
    return phi


def test_lime_and_shap_enumerate_every_coalition_when_that_is_cheaper():
    from trustkit.fidelity.audio import _unit_model

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 4000))
    seg = TimeSegments(4)
    model = _Counting()
    a = explain_with_lime(model, X, seg, num_samples=1000, random_state=0)
    assert model.rows == 2 + 2 * 16  # targets, then the 2^4 coalitions per clip, not 1000 masks
    b = explain_with_lime(model, X, seg, num_samples=1000, random_state=1)
    np.testing.assert_array_equal(a, b)  # nothing left to chance
    W = explain_with_shap(model, X, seg, nsamples=512, random_state=0)
    for i, x in enumerate(X):
        exact = _exact_shapley(_unit_model(model, x, seg, 0), 4)
        np.testing.assert_allclose(W[i], exact, rtol=1e-8, atol=1e-10)


def test_surrogate_r2_has_a_scale_free_companion(linear):
    X, model = linear
    s = scorer(model, X)
    x = X[:10]
    phi = (x - s.baseline_) * model.coef_
    noise = np.random.default_rng(3).standard_normal(phi.shape)
    big, small = s.score(x, noise * 100.0).per_instance, s.score(x, noise * 0.01).per_instance
    assert (big["surrogate_r2@6"] < -100).all()  # the raw R2 punishes the scale (the audit saw -43 to -143)
    np.testing.assert_allclose(big["surrogate_r2_rescaled@6"], small["surrogate_r2_rescaled@6"], atol=1e-9)
    tripled = s.score(x, 3 * phi).per_instance
    np.testing.assert_allclose(tripled["surrogate_r2_rescaled@6"], 1.0, atol=1e-9)
    assert (tripled["surrogate_r2@6"] < 0).all()
    flipped = s.score(x, -phi).per_instance  # the best factor is never negative: the sign still counts
    assert (flipped["surrogate_r2_rescaled@6"] < 0.01).all()


def test_explainers_give_the_same_attributions_whatever_n_jobs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 4000))
    seg = TimeSegments(4)
    model = _Counting()
    for units in (seg, TimeSegments(8)):  # all 16 coalitions enumerated; 100 of 256 drawn (seeded per clip)
        np.testing.assert_array_equal(explain_with_lime(model, X, units, num_samples=100, random_state=0),
                                      explain_with_lime(model, X, units, num_samples=100, random_state=0, n_jobs=2))
    np.testing.assert_array_equal(explain_with_shap(model, X, seg, random_state=0),
                                  explain_with_shap(model, X, seg, random_state=0, n_jobs=2))
    with pytest.warns(TrustkitWarning, match="not reproducible"):
        explain_with_shap(model, X[:1], TimeSegments(4), nsamples=8)


def test_clone_keeps_the_fitted_model(linear):
    from sklearn.base import clone

    X, model = linear
    s = FidelityComplexityScorer(model, budgets=(1, "all"), random_state=0)
    copy = clone(s)
    assert copy.model is model and copy is not s
    phi = (X[:4] - X.mean(0)) * model.coef_
    a = s.fit(X).score(X[:4], phi)
    b = copy.fit(X).score(X[:4], phi)
    assert a.per_instance.equals(b.per_instance)


def test_shared_responses_give_the_same_numbers_with_one_model_call_per_mask():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.fidelity import TimeSegments, explain_with_lime, explain_with_shap, shared_responses

    X, y = make_music(12, duration=1.0, sr=8000, random_state=0)
    rows = []
    mfcc = MFCCEncoder(sr=8000, n_mels=32, n_fft=256, hop_length=64)

    def feats(Z):
        rows.append(len(Z))
        return mfcc.transform(Z)

    model = make_pipeline(FunctionTransformer(feats), LogisticRegression(max_iter=500)).fit(X, y["timbre"])
    seg, clips = TimeSegments(5), X[:3]

    def run():
        rows.clear()
        W_lime = explain_with_lime(model, clips, seg, num_samples=64, random_state=0)
        W_shap = explain_with_shap(model, clips, seg, nsamples=64, random_state=0)
        scorer = FidelityComplexityScorer(model, segmenter=seg, budgets=(1, 2), n_neighbourhood=32, n_random=3,
                                          random_state=0).fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrustkitWarning)
            reports = [scorer.score(clips, W) for W in (W_lime, W_shap)]
        return W_lime, W_shap, reports, sum(rows)

    plain = run()
    with shared_responses():
        shared = run()
    np.testing.assert_allclose(shared[0], plain[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(shared[1], plain[1], rtol=1e-9, atol=1e-12)
    for a, b in zip(shared[2], plain[2]):
        pd.testing.assert_frame_equal(a.table, b.table, rtol=1e-9)
    # 5 units: 32 masks per clip, so at most 3 x 32 masked inputs (+ the clips themselves) reach the model
    assert shared[3] <= 3 * 32 + 4 * len(clips) < plain[3]


def test_fast_spearman_equals_scipy_with_ties():
    import scipy.stats

    from trustkit.fidelity.scorer import _average_ranks, _spearman

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(2, 50))
        a = rng.integers(0, 4, n).astype(float) if rng.random() < 0.5 else rng.standard_normal(n)
        b = rng.integers(0, 4, n).astype(float) if rng.random() < 0.5 else rng.standard_normal(n)
        np.testing.assert_array_equal(_average_ranks(a), scipy.stats.rankdata(a))
        expected = 0.0 if np.ptp(a) == 0 or np.ptp(b) == 0 else scipy.stats.spearmanr(a, b).statistic
        assert _spearman(a, b) == pytest.approx(expected, abs=1e-12)


# -- the calibration battery (issue: an uninformative explanation must not pass) --------------------------------------

BATTERY_COEF = np.array([3.0, -2.0, 1.5, 1.0, -0.5, 0.3])


def _battery_models():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6))

    def interaction(Z):
        return Z @ BATTERY_COEF + 2 * Z[:, 0] * Z[:, 1] - 1.5 * Z[:, 2] * Z[:, 3]

    forest = RandomForestRegressor(60, min_samples_leaf=3, random_state=0).fit(X, interaction(X))
    return X, {"linear": lambda Z: Z @ BATTERY_COEF, "interaction": interaction,
               "tanh": lambda Z: np.tanh(0.5 * Z @ BATTERY_COEF), "forest": forest.predict}


def _shapley_against(f, x, b):
    """Shapley values of f at x against the single reference b, by enumerating all 2^d coalitions."""
    from math import factorial

    d = len(x)
    Z = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)
    v = dict(zip(map(bytes, Z), f(np.where(Z, x, b))))
    phi = np.zeros(d)
    for z in Z:
        s = int(z.sum())
        for j in np.flatnonzero(~z):
            with_j = z.copy()
            with_j[j] = True
            phi[j] += factorial(s) * factorial(d - s - 1) / factorial(d) * (v[bytes(with_j)] - v[bytes(z)])
    return phi


def _coalition_lime(f, x, b, seed):
    """LIME's own ridge (LimeBase) on 1000 random coalitions, absent units at the reference."""
    from lime.lime_base import LimeBase

    d = len(x)
    rng = np.random.default_rng(seed)
    Z = (rng.random((1000, d)) < 0.5).astype(float)
    Z[0] = 1.0
    y = f(np.where(Z > 0, x, b))
    dist = 1 - Z.sum(axis=1) / (np.sqrt(Z.sum(axis=1)) * np.sqrt(d) + 1e-12)
    base = LimeBase(lambda dd: np.sqrt(np.exp(-(dd**2) / 0.25**2)), random_state=seed)
    w = np.zeros(d)
    for j, value in base.explain_instance_with_data(Z, y[:, None], dist, 0, d)[1]:
        w[j] = value
    return w


@pytest.fixture(scope="module")
def battery():
    shap = pytest.importorskip("shap")
    X, models = _battery_models()
    x = X[:30]
    rng = np.random.default_rng(1)
    out = {}
    for name, f in models.items():
        s = FidelityComplexityScorer(f, random_state=0, n_bootstrap=300).fit(X)
        b = s.baseline_
        exact = np.array([_shapley_against(f, xi, b) for xi in x])
        kernel = np.asarray(shap.KernelExplainer(f, b[None, :], seed=0).shap_values(x, nsamples=40, silent=True))
        lime = np.array([_coalition_lime(f, xi, b, i) for i, xi in enumerate(x)])
        eps = 1e-4
        grad = np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(6)], axis=1) * (x - b)
        total = (f(x) - f(np.tile(b, (len(x), 1))))[:, None]
        W = {"exact": exact, "kernel_shap": kernel, "lime": lime, "grad_x_input": grad,
             "constant": np.repeat(total / 6, 6, axis=1), "constant_wrong_total": np.repeat(3 * total / 6 + 1, 6, axis=1),
             "random": rng.standard_normal(exact.shape), "flipped": -exact}
        with warnings.catch_warnings():  # grad x input on the forest is all zero: warned, and scored 0
            warnings.simplefilter("ignore", TrustkitWarning)
            out[name] = {k: s.score(x, w) for k, w in W.items()}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model", ["linear", "interaction", "tanh", "forest"])
def test_battery_orders_explanations_and_gives_no_information_zero(battery, model):
    r = battery[model]
    fid = {k: float(v) for k, v in r.items()}
    assert fid["exact"] > 0.94  # 1 for the additive model; > 0.94 with interactions
    assert fid["exact"] >= fid["kernel_shap"] - 1e-9 and fid["kernel_shap"] >= fid["lime"] - 0.01
    if model == "linear":
        assert fid["exact"] == pytest.approx(1.0, abs=1e-12) and fid["lime"] == pytest.approx(1.0, abs=1e-6)
    elif model == "forest":  # a piecewise-constant model has no gradient: grad x input is all zero, i.e. no information
        assert fid["grad_x_input"] == pytest.approx(0.0, abs=0.05)
    else:
        assert fid["lime"] > fid["grad_x_input"]
    # no information about which unit matters: exactly 0 whatever the total; random: an interval around 0
    assert fid["constant"] == 0.0 and fid["constant_wrong_total"] == 0.0
    low, high = r["random"]._headline_interval()
    assert low < 0 < high and abs(fid["random"]) < 0.15
    assert fid["flipped"] == pytest.approx(-fid["exact"], abs=1e-9)
    # the keep-curve concordance is kept as a secondary measure: it cannot tell an equal split of the right total
    assert r["constant"].table.set_index("measure").loc["concordance_keep", "statistic"] > 0.5


def test_skill_has_the_sign_of_the_ranking_when_the_effect_is_negative():
    # the reproduction: exact attributions read skill -0.82, flipped +0.55, and compare() could not tell them apart
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6))
    m = LinearRegression().fit(X, X @ [3, -2, 1.5, 1, -0.5, 0.3])
    s = FidelityComplexityScorer(m, random_state=0).fit(X)
    W = (X[:40] - s.baseline_) * m.coef_
    exact, flipped = s.score(X[:40], W), s.score(X[:40], -W)
    negative = exact.per_instance["full_effect"] < 0
    assert negative.sum() >= 10  # the case the issue is about is well represented
    assert (exact.per_instance.loc[negative, "skill_keep"] > 0).all()
    assert (flipped.per_instance.loc[negative, "skill_keep"] < 0).all()
    cmp = exact.compare(flipped).table.set_index("measure")
    assert cmp.loc["skill_keep", "statistic"] > 0 and cmp.loc["skill_keep", "wilcoxon_p"] < 1e-6


def test_surrogate_keeps_the_largest_contributions_of_either_sign():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6))
    m = LinearRegression().fit(X, X @ [3, -2, 1.5, 1, -0.5, 0.3])
    s = FidelityComplexityScorer(m, budgets=(3, "all"), random_state=0).fit(X)
    W = (X[:40] - s.baseline_) * m.coef_
    r2 = s.score(X[:40], W).table.set_index(["measure", "budget"]).loc[("surrogate_r2", "k=3"), "statistic"]
    assert r2 == pytest.approx(0.90, abs=0.02)  # by signed weight it read -0.38


def test_near_zero_is_relative_to_the_response_range():
    # a classifier whose probability moves by at most 2e-3 on one instance, over [0, 1] on the others
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    s = FidelityComplexityScorer(clf, random_state=0, n_bootstrap=100).fit(X)
    x = X[:12].copy()
    x[5] = s.baseline_ + np.r_[0.0, 0.0, 0.0, 0.0] + 1e-3 / np.abs(clf.coef_[0]).sum() * np.sign(clf.coef_[0])
    W = np.tile([1.0, 0.0, 0.0, 0.0], (12, 1))
    with pytest.warns(TrustkitWarning, match="1 of 12 instances have a near-zero effect"):
        report = s.score(x, W)
    assert report.per_instance["near_zero"].tolist() == [i == 5 for i in range(12)]
    assert report.config["response_range"] > 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustkitWarning)
        strict = FidelityComplexityScorer(clf, random_state=0, n_bootstrap=100, min_effect=1e-6).fit(X).score(x, W)
    assert not strict.per_instance["near_zero"].any()


def test_deletion_setting_computes_only_the_deletion_curve_and_equals_the_full_set(linear):
    # measures="deletion" evaluates d + 1 masks per instance (what Quantus's PixelFlipping does) and its curve,
    # shares and areas are those of the full set, bit for bit
    X, model = linear
    x = X[:15]
    full = scorer(model, X, n_bootstrap=200)
    phi = (x - full.baseline_) * model.coef_
    rich = full.score(x, phi)
    lean = scorer(model, X, n_bootstrap=200, measures="deletion").score(x, phi)
    assert lean.config["n_model_rows"] == 15 * 7 + 15  # 6 units: k = 0..6, plus the one call on X
    assert rich.config["n_model_rows"] > 5 * lean.config["n_model_rows"]
    shared = ["auc_remove", "concordance_remove", "remove@1", "remove@3", "remove_fidelity@2", "n_units_90"]
    pd.testing.assert_frame_equal(lean.per_instance[shared], rich.per_instance[shared])
    remove = rich.curves[rich.curves["mode"] == "remove"].reset_index(drop=True)
    cols = ["k", "response", "predicted", "value", "fidelity"]
    pd.testing.assert_frame_equal(lean.curves[cols], remove[cols])
    assert not {"fidelity", "skill_keep", "auc_keep_random", "k_star"} & set(lean.per_instance)
    # the headline: the deletion area, known in closed form for an exact additive explanation
    areas = []
    for i in range(len(x)):
        total = phi[i].sum()
        order = np.argsort(-np.sign(total) * phi[i], kind="stable")
        shares = np.array([phi[i, order[:k]].sum() / total for k in range(7)])
        areas.append(np.trapezoid(shares, np.arange(7) / 6))
    np.testing.assert_allclose(lean.per_instance["auc_remove"], areas, atol=1e-12)
    assert float(lean) == pytest.approx(np.mean(areas), abs=1e-12)
    assert lean.headline.startswith("deletion area") and lean._measure_name() == "deletion area"
    assert "measures='deletion'" in lean.summary() and lean.to_dict()["measure"] == "deletion area"


def test_deletion_setting_sees_a_flipped_explanation_and_refuses_mixed_comparisons(linear):
    X, model = linear
    s = scorer(model, X, n_bootstrap=200, measures="deletion")
    phi = (X[:30] - s.baseline_) * model.coef_
    exact, flipped = s.score(X[:30], phi), s.score(X[:30], -phi)
    noise = s.score(X[:30], np.random.default_rng(1).standard_normal((30, 6)))
    # an exact ranking of an additive model maximises every partial sum, so the area; flipped, it minimises it
    assert float(exact) > float(noise) + 0.5 > float(flipped) + 1.0
    assert (exact.per_instance["auc_remove"] >= noise.per_instance["auc_remove"] - 1e-12).all()
    cmp = exact.compare(flipped).table.set_index("measure")
    assert list(cmp.index) == ["auc_remove", "concordance_remove", "n_units_90"]
    assert cmp.loc["auc_remove", "wilcoxon_p"] < 1e-5
    with pytest.raises(ValueError, match="same measures"):
        exact.compare(scorer(model, X, n_bootstrap=200).score(X[:30], phi))
    with pytest.raises(ValueError, match="measures"):
        scorer(model, X, measures="quick").score(X[:3], phi[:3])


def test_deletion_setting_stacks_instances_into_calls_and_gives_the_same_numbers(linear):
    # without a segmenter the deletion curves of several instances share a model call: fewer calls, same numbers
    X, model = linear
    x = X[:20]
    phi = (x - X.mean(axis=0)) * model.coef_
    reports = {kw: scorer(model, X, n_bootstrap=100, measures="deletion", **dict([kw])).score(x, phi)
               for kw in (("batch_size", 256), ("batch_size", 5), ("n_jobs", 2))}
    first = reports[("batch_size", 256)]
    assert first.config["n_model_calls"] == 1 + 2 * 1  # the call on X, then 20 instances x 7 masks in 2 calls
    assert reports[("batch_size", 5)].config["n_model_calls"] > 20
    for report in reports.values():
        assert report.config["n_model_rows"] == 20 * 7 + 20
        pd.testing.assert_frame_equal(report.per_instance, first.per_instance)
        pd.testing.assert_frame_equal(report.table, first.table)


def test_deletion_setting_reads_an_explanation_that_ranks_nothing_as_undefined(linear):
    # equal weights (all zero included) would follow index order: no information, so no number to pass a gate
    X, model = linear
    s = scorer(model, X, n_bootstrap=100, measures="deletion")
    flat = np.tile([0.5] * 6, (10, 1))
    flat[:3] = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrustkitWarning)
        report = s.score(X[:10], flat)
    said = " | ".join(str(w.message) for w in caught)
    assert "3 explanations are all zero" in said and "deletion area is undefined on 10 instances" in said
    assert report.per_instance["auc_remove"].isna().all()
    assert np.isnan(float(report))
    assert "deletion area is undefined" in report.summary() and "ranks none" in report.summary()
    with pytest.raises(Exception, match="deletion area"):
        report.check(0.1)
