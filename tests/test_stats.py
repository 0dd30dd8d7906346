from __future__ import annotations

import numpy as np
import pytest

from trustkit.stats import bootstrap_estimate, bootstrap_indices, friedman_nemenyi, proportion_interval


def _wilson(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(6, 6), (0, 12), (3, 10), (29, 30)])
def test_wilson_interval_by_formula_and_never_collapsed(k, n):
    e = proportion_interval(k, n)
    low, high = _wilson(k, n)
    assert e.statistic == k / n
    assert e.low == pytest.approx(max(low, 0.0), abs=1e-12) and e.high == pytest.approx(min(high, 1.0), abs=1e-12)
    assert e.high - e.low > 0.05  # a percentile bootstrap would give [1, 1] for 6 of 6


def test_clopper_pearson_contains_wilson_at_the_edges():
    w, cp = proportion_interval(6, 6), proportion_interval(6, 6, method="exact")
    assert cp.low == pytest.approx(0.025 ** (1 / 6), rel=1e-9)  # (alpha / 2) ** (1 / n)
    assert cp.low < w.low


def _coverage(grouped, n_sims=300, cluster=True):
    rng = np.random.default_rng(1)
    hits = 0
    groups = np.repeat(np.arange(40), 5)
    for s in range(n_sims):
        p = rng.beta(1.2, 0.8, 40) if grouped else np.full(40, 0.6)  # mean 0.6 in both cases
        v = (rng.random(200) < np.repeat(p, 5)).astype(float)
        e = bootstrap_estimate(v, groups=groups if cluster else None, n_bootstrap=400, random_state=s)
        hits += e.low <= 0.6 <= e.high
    return hits / n_sims


@pytest.mark.slow
def test_cluster_bootstrap_covers_the_truth_in_95_percent_of_data_sets():
    # 300 simulated data sets of 40 groups x 5 items; binomial SE of a 95 % coverage is 1.3 %
    assert 0.91 <= _coverage(grouped=True) <= 0.99
    assert 0.91 <= _coverage(grouped=False) <= 0.99
    # resampling items of grouped data is what the audit found: far too narrow
    assert _coverage(grouped=True, cluster=False) < 0.87


def test_bootstrap_indices_draw_whole_groups():
    groups = np.array(["a", "a", "b", "b", "b", "c"])
    for idx in bootstrap_indices(6, groups=groups, n_bootstrap=50, random_state=0):
        drawn = groups[idx]
        for g in np.unique(drawn):  # every drawn group comes with all of its items, as often as it was drawn
            assert np.sum(drawn == g) % np.sum(groups == g) == 0
    with pytest.raises(ValueError, match="one group per item"):
        bootstrap_indices(6, groups=[0, 1])


def test_friedman_nemenyi_says_when_no_result_can_be_significant():
    res = friedman_nemenyi([[0.9, 0.8, 0.7], [0.8, 0.7, 0.6]])  # 2 tasks x 3 encoders, perfect agreement
    assert not res["significance_possible"] and not res["friedman_rejects"]
    assert res["critical_difference"] > 2  # exceeds the largest possible rank gap
    assert "no result can be significant" in res["reason"]
    assert not np.asarray(res["significant"]).any()


def test_nemenyi_only_after_friedman_rejects():
    rng = np.random.default_rng(0)
    # 12 tasks, 3 methods: method 0 always best, 1 and 2 random order
    scores = np.c_[np.ones(12), rng.random((12, 2)) * 0.5]
    res = friedman_nemenyi(scores)
    assert res["significance_possible"] and res["friedman_rejects"]
    assert res["significant"][0, 1] or res["significant"][0, 2]
    # no signal: Friedman does not reject and no pair is declared different, whatever the rank gaps
    flat = friedman_nemenyi(rng.random((12, 3)))
    assert not flat["friedman_rejects"] and not np.asarray(flat["significant"]).any()
