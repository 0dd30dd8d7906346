"""Batched deletion curves against one model call per masked input.

The scorer evaluates all masked inputs of an instance (keep and remove curves,
random controls, neighbourhood) in batches of ``batch_size`` rows. Per-sample
toolkits call the model once per masked input. This benchmark computes the
deletion (remove) curve both ways for the same model, instances and
attributions, checks that the values agree, and reports the time ratio.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from conditions import conditions, finish, header
from sklearn.ensemble import RandomForestClassifier


def deletion_curve_per_call(model, x, w, baseline, grid):
    target = int(np.argmax(model.predict_proba(x[None])[0]))
    # the scorer's signed ranking, in the direction of the full effect (towards the observed response first)
    full, base = model.predict_proba(np.stack([x, baseline]))[:, target]
    order = np.argsort(-(w if full >= base else -w), kind="stable")
    values = []
    for k in grid:
        z = x.copy()
        z[order[:k]] = baseline[order[:k]]
        values.append(model.predict_proba(z[None])[0, target])  # one call per masked input
    return np.array(values)


def main(argv=None):
    from trustkit import FidelityComplexityScorer, TrustkitWarning

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--d", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the Quantus comparison")
    args = parser.parse_args(argv)
    meta = conditions(instances=f"{args.n} and {10 * args.n}", units=args.d, rounds=args.rounds)
    print(header(meta), flush=True)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, args.d))
    y = (X[:, 0] + X[:, 1] - X[:, 2] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1).fit(X, y)
    W = rng.standard_normal((args.n, args.d)) * np.r_[3, 3, 3, np.ones(args.d - 3)]
    x = X[: args.n]
    scorer = FidelityComplexityScorer(model, budgets=(1, 5, "all"), modes=("keep", "remove"), n_random=1,
                                      n_neighbourhood=2, random_state=0).fit(X)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # 2 neighbourhood masks leave the headline undefined: only the curves are timed
        warnings.simplefilter("ignore", TrustkitWarning)
        report = scorer.score(x, W)
    t_batched = time.perf_counter() - t0
    curves = report.curves[report.curves["mode"] == "remove"]
    grid = np.sort(curves["k"].unique())
    t0 = time.perf_counter()
    per_call = [deletion_curve_per_call(model, x[i], W[i], scorer.baseline_, grid) for i in range(args.n)]
    t_loop = time.perf_counter() - t0
    # the scorer reports the drop as a share of the full effect; rebuild responses to compare values
    max_diff = 0.0
    for i in range(args.n):
        c = curves[curves["instance"] == i].sort_values("k")
        r = per_call[i]
        share = (r[0] - r) / (r[0] - r[-1]) if r[0] != r[-1] else np.zeros_like(r)
        ok = np.isfinite(c["value"].to_numpy())
        if ok.any():
            max_diff = max(max_diff, float(np.max(np.abs(c["value"].to_numpy()[ok] - share[ok]))))
    rows = report.config["n_model_rows"]
    print(f"{args.n} instances x {args.d} features, random forest: scorer (all curves, controls, "
          f"neighbourhood: {rows} inputs in {report.config['n_model_calls']} calls) {t_batched:.2f} s; "
          f"deletion curve alone, one call per input ({args.n * len(grid)} calls) {t_loop:.2f} s; "
          f"ratio {t_loop / t_batched:.1f}x; max |difference| of the deletion curves {max_diff:.1e}")

    for n in (args.n, 10 * args.n):  # 50 and 500 instances by default
        quantus_comparison(n, args.d, rounds=args.rounds)
    lime_threads()
    print(f"# load at the end {'/'.join(f'{v:.2f}' for v in finish(meta)['load_end'])}")


def lime_threads():
    """explain_with_lime pins BLAS once per call; unpinned, BLAS threads fight the cores (attributions equal to ~1e-9)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from threadpoolctl import threadpool_limits

    from trustkit._seeds import SeedTree
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.fidelity import TimeSegments, explain_with_lime
    from trustkit.fidelity.audio import _lime_one, _response_and_targets

    X, y = make_music(20, duration=2.0, sr=16000, random_state=0)
    clf = make_pipeline(FunctionTransformer(MFCCEncoder(sr=16000).transform), StandardScaler(),
                        LogisticRegression(max_iter=2000)).fit(X, y["timbre"])
    seg = TimeSegments(12)  # 4,096 coalitions > 600 samples: sampled, as in the demo
    fn, targets = _response_and_targets(clf, X[:1])
    with threadpool_limits(limits=None):  # the machine's default: as before the fix
        t0 = time.perf_counter()
        # the seed explain_with_lime gives clip 0 (leaf ("instance", 0) of random_state=0's seed tree)
        w_free = _lime_one(fn, X[0], seg, int(targets[0]), 12, 12, 600, 0.25, SeedTree(0).seed("instance", 0))
        t_free = time.perf_counter() - t0
    t0 = time.perf_counter()
    w_pinned = explain_with_lime(clf, X[:1], seg, num_samples=600, random_state=0)[0]
    t_pinned = time.perf_counter() - t0
    print(f"LIME, one clip x 600 samples: BLAS unpinned {t_free:.2f} s, pinned once per call {t_pinned:.2f} s "
          f"({t_free / t_pinned:.1f}x); max |difference| of the attributions {np.max(np.abs(w_free - w_pinned)):.1e}")


def _quiet(fn, category):
    def call(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category)
            return fn(*args)

    return call


def quantus_comparison(n, d, rounds=5):
    """Against Quantus's PixelFlipping on a small torch model, when Quantus is installed.

    Three sides, interleaved: Quantus (the deletion curve, one model input per
    unit removed); the scorer with ``measures="deletion"`` (the same curve, the
    same number of model inputs: equal work, compared per call); the scorer
    with every measure at its defaults (keep and remove curves, ten random
    rankings, 256 random coalitions: about 27x the inputs, compared per model
    input). The deletion curves are compared on the instances whose full effect
    is positive: for a negative one trustkit ranks the units in the direction of
    the effect, Quantus by the attributions as given.
    """
    try:
        import quantus
        import torch
    except ImportError:
        print("Quantus or torch not installed: skipping the PixelFlipping comparison")
        return None
    from trustkit import FidelityComplexityScorer, TrustkitWarning

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)).eval()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 1, d)).astype(np.float32)
    W = rng.standard_normal((n, 1, d)).astype(np.float32)

    def proba(A):
        with torch.no_grad():
            return torch.softmax(net(torch.as_tensor(np.asarray(A, dtype=np.float32).reshape(len(A), 1, d))), dim=1).numpy()

    y = proba(X).argmax(axis=1)
    metric = quantus.PixelFlipping(features_in_step=1, abs=True, normalise=False, perturb_baseline=0.0,
                                   disable_warnings=True, display_progressbar=False)

    def run_quantus(k=n):
        return np.asarray(metric(model=net, x_batch=X[:k], y_batch=y[:k], a_batch=np.abs(W[:k]), device="cpu",
                                 softmax=True, batch_size=64))

    scorers = {measures: FidelityComplexityScorer(proba, baseline=np.zeros(d), budgets=("all",), measures=measures,
                                                  random_state=0).fit(X[:, 0])
               for measures in ("deletion", "all")}

    def run_scorer(measures, k=n):
        with warnings.catch_warnings():  # instances with a near-zero effect are flagged: not what is timed
            warnings.simplefilter("ignore", TrustkitWarning)
            return scorers[measures].score(X[:k, 0], np.abs(W[:k, 0]))

    run_quantus(2), run_scorer("deletion", 2), run_scorer("all", 2)  # warm-up
    sides = {"quantus": run_quantus, "deletion": lambda: run_scorer("deletion"), "all": lambda: run_scorer("all")}
    times = {side: [] for side in sides}
    results = {}
    for r in range(rounds):  # interleaved, alternating order: every side sees the same machine state
        for side, fn in (list(sides.items()) if r % 2 == 0 else list(sides.items())[::-1]):
            t0 = time.perf_counter()
            results[side] = fn()
            times[side].append(time.perf_counter() - t0)
    t = {side: float(np.median(v)) for side, v in times.items()}
    curves_q = results["quantus"]
    r_x = proba(X)[np.arange(n), y]
    diffs = {}
    for side in ("deletion", "all"):
        report, worst = results[side], 0.0
        remove = report.curves[report.curves["mode"] == "remove"]
        for i in range(n):
            if report.per_instance.loc[i, "full_effect"] < 0:  # trustkit ranks towards the observed response: reversed
                continue
            c = remove[remove["instance"] == i].set_index("k")["value"]
            q = np.r_[r_x[i], curves_q[i]]  # response after removing 0..d features
            share_q = (r_x[i] - q) / (r_x[i] - q[-1])
            worst = max(worst, float(np.nanmax(np.abs(c.to_numpy() - share_q[c.index.to_numpy()]))))
        diffs[side] = worst
    n_q = n * (d + 1)
    n_del, n_all = results["deletion"].config["n_model_rows"], results["all"].config["n_model_rows"]
    row = {"instances": n, "units": d, "quantus_s": t["quantus"], "deletion_s": t["deletion"], "all_s": t["all"],
           "quantus_inputs": n_q, "deletion_inputs": n_del, "all_inputs": n_all,
           "per_call_equal_work": t["quantus"] / t["deletion"],
           "per_input_deletion": (t["quantus"] / n_q) / (t["deletion"] / n_del),
           "per_input_all": (t["quantus"] / n_q) / (t["all"] / n_all),
           "max_curve_difference": max(diffs.values())}
    print(f"Quantus {quantus.__version__} PixelFlipping, {n} x {d} torch MLP (warmed up, {rounds} interleaved rounds, "
          f"medians): Quantus {t['quantus']:.3f} s for {n_q} inputs; measures='deletion' {t['deletion']:.3f} s for "
          f"{n_del} inputs: {row['per_call_equal_work']:.2f}x per call at equal work; every measure {t['all']:.3f} s "
          f"for {n_all} inputs: {row['per_input_all']:.2f}x per model input; max |difference| of the deletion "
          f"curves {row['max_curve_difference']:.1e}", flush=True)
    return row


if __name__ == "__main__":
    main()
