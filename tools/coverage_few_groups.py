"""Simulated coverage of 95 % intervals for an accuracy over clustered items, by number of groups.

Each data set: G groups (recordings, artists) of 8-24 items; a group's accuracy is
expit(logit(0.75) + 1.0 z), z ~ N(0, 1) (items of one group succeed or fail together
more than independent items would); items are Bernoulli. The target is the
population accuracy per item, E[n p] / E[n], by Monte Carlo. Intervals:
the percentile cluster bootstrap (trustkit's former interval), Wilson over items
(ignores the groups), and the cluster-robust t interval of
``trustkit.stats.cluster_mean_interval`` (trustkit's interval now).

    python tools/coverage_few_groups.py [--datasets 400]
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.special

from trustkit.stats import bootstrap_estimate, cluster_mean_interval, proportion_interval


def simulate(n_groups: int, n_datasets: int, rng: np.random.Generator, truth: float) -> dict[str, float]:
    hits = {"cluster bootstrap": 0, "Wilson over items": 0, "cluster-robust t": 0}
    for d in range(n_datasets):
        sizes = rng.integers(8, 25, n_groups)
        p = scipy.special.expit(scipy.special.logit(0.75) + rng.standard_normal(n_groups))
        groups = np.repeat(np.arange(n_groups), sizes)
        v = (rng.random(len(groups)) < p[groups]).astype(float)
        for name, e in (
            ("cluster bootstrap", bootstrap_estimate(v, groups=groups, n_bootstrap=1000, random_state=d)),
            ("Wilson over items", proportion_interval(int(v.sum()), len(v))),
            ("cluster-robust t", cluster_mean_interval(v, groups, bounds=(0.0, 1.0))),
        ):
            hits[name] += e.low <= truth <= e.high
    return {k: h / n_datasets for k, h in hits.items()}


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=400)
    parser.add_argument("--groups", type=int, nargs="+", default=[6, 10, 20, 40])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    z = rng.standard_normal(2_000_000)
    sizes = rng.integers(8, 25, len(z))
    truth = float(np.sum(sizes * scipy.special.expit(scipy.special.logit(0.75) + z)) / sizes.sum())
    out = {}
    print(f"true accuracy per item {truth:.4f}; {args.datasets} data sets per row; nominal 0.95")
    print(f"{'groups':>6s}  " + "  ".join(f"{k:>18s}" for k in ("cluster bootstrap", "Wilson over items", "cluster-robust t")))
    for g in args.groups:
        out[g] = simulate(g, args.datasets, rng, truth)
        print(f"{g:>6d}  " + "  ".join(f"{v:>18.3f}" for v in out[g].values()))
    return out


if __name__ == "__main__":
    main()
