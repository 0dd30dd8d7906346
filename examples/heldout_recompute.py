"""Held-out check: trustkit's numbers against a plain scikit-learn / scipy recomputation.

A composer task none of the other examples or tests use: excerpts of scores by
Bach, Palestrina, Monteverdi and the Trecento composers from music21's corpus,
rendered to audio with :func:`trustkit.datasets.render_score` (piano, 100 qpm),
three excerpts per piece, **grouped by piece**. Then:

- the probe's accuracy against GridSearchCV + LogisticRegression on the same
  grouped folds, fold by fold;
- the grouped kNN estimator against KNeighborsClassifier with LeaveOneGroupOut;
- the H-score against ``tr(pinv(cov F) cov(E[F|y]))`` with numpy;
- LogME against a direct maximisation of the evidence (scipy.optimize);
- the meter's within-space consistency and its Wilson interval against a
  ``cdist`` by hand and the Wilson formula.

Run::

    python examples/heldout_recompute.py            # 12 pieces per composer (a minute or two)
    TRUSTKIT_SMOKE=1 python examples/heldout_recompute.py OUT   # the test suite's tiny run
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.spatial.distance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut, StratifiedGroupKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from trustkit import SensitivityMeter, TransferabilityProbe
from trustkit.datasets import render_score
from trustkit.encoders import MFCCEncoder
from trustkit.perturbations import LowPass
from trustkit.perturbations._base import child_seed, resolve_entropy
from trustkit.transferability import knn_loo_accuracy, logme

SMOKE = bool(os.environ.get("TRUSTKIT_SMOKE"))
SR = 16000
COMPOSERS = ("bach", "palestrina", "monteverdi", "trecento")
PIECES = 3 if SMOKE else 12
EXCERPTS, SECONDS = 3, 3.0

out = Path(sys.argv[1] if len(sys.argv) > 1 else "heldout-example")
out.mkdir(parents=True, exist_ok=True)

# -- the data: rendered excerpts, grouped by piece -------------------------------------------------
import music21  # noqa: E402

root = Path(music21.__file__).parent / "corpus"
clips, labels, groups = [], [], []
for composer in COMPOSERS:
    files = sorted(p for p in (root / composer).rglob("*") if p.suffix in (".mxl", ".krn", ".xml", ".musicxml", ".mid"))
    rng = np.random.default_rng(0)
    taken = 0
    for f in rng.permutation(files):
        if taken == PIECES:
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = render_score(f, sr=SR, qpm=100, program=0, duration=EXCERPTS * SECONDS)
        except Exception:  # scores music21 cannot read or expand
            continue
        n = int(SECONDS * SR)
        parts = [x[k * n : (k + 1) * n] for k in range(EXCERPTS)]
        if any(np.sqrt(np.mean(p**2)) < 1e-3 for p in parts):
            continue
        for p in parts:
            clips.append(0.5 * p / np.abs(p).max())
            labels.append(composer)
            groups.append(f"{composer}/{f.stem}")
        taken += 1
X = np.vstack(clips).astype(np.float32)
y = np.array(labels)
groups = np.array(groups)
print(f"{len(X)} excerpts of {len(set(groups))} pieces by {len(COMPOSERS)} composers, {SECONDS:g} s at {SR} Hz\n")

rows = []


def compare(what, ours, theirs):
    rows.append({"quantity": what, "trustkit": ours, "recomputed": theirs, "abs_difference": abs(ours - theirs)})


# -- the probe against GridSearchCV on the same grouped folds ------------------------------------------
cv = 3 if SMOKE else 5
report = TransferabilityProbe(MFCCEncoder(), sr=SR, cv=cv, estimators=("logme", "hscore", "knn"), n_bootstrap=200,
                              random_state=0).score(X, y, groups)
F = MFCCEncoder(sr=SR).transform(X)
codes = np.unique(y, return_inverse=True)[1]
fold = report.oof["fold"].to_numpy()
entropy = resolve_entropy(0)
pred = np.empty(len(y), dtype=int)
for k in range(fold.max() + 1):
    tr, te = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
    inner = StratifiedGroupKFold(min(3, np.bincount(codes[tr]).min()), shuffle=True, random_state=child_seed(entropy, 1 + k))
    search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("probe", LogisticRegression(max_iter=2000))]),
                          {"probe__C": list(np.logspace(-3, 2, 6))}, cv=inner, scoring="accuracy")
    search.fit(F[tr], codes[tr], groups=groups[tr])
    pred[te] = search.predict(F[te])
    compare(f"fold {k} accuracy", float(report.folds.loc[k, "accuracy"]), float(np.mean(pred[te] == codes[te])))
compare("out-of-fold accuracy", float(report), float(np.mean(pred == codes)))
for g in np.unique(groups):
    assert len(set(fold[groups == g])) == 1, "a piece straddles two folds"

# -- training-free estimators ---------------------------------------------------------------------------
est = report.estimators.set_index("estimator")["statistic"]
knn = cross_val_predict(KNeighborsClassifier(5, metric="cosine"), F, codes, groups=groups, cv=LeaveOneGroupOut())
compare("kNN (leave one piece out)", float(est["knn"]), float(np.mean(knn == codes)))
compare("kNN by knn_loo_accuracy(groups=)", knn_loo_accuracy(F, y, groups=groups), float(np.mean(knn == codes)))
Fc = F - F.mean(axis=0)
G = np.vstack([F[codes == c].mean(axis=0) for c in range(codes.max() + 1)])[codes]
Gc = G - G.mean(axis=0)
cov_f, cov_g = Fc.T @ Fc / (len(F) - 1), Gc.T @ Gc / (len(F) - 1)
compare("H-score", float(est["hscore"]), float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g)))


P = Fc @ np.linalg.svd(Fc, full_matrices=False)[2][:16].T  # 16 principal components: n > d, where the fixed point converges


def evidence(log_ab, t):
    a, b = np.exp(log_ab)
    n, d = P.shape
    A = a * np.eye(d) + b * P.T @ P
    m = b * np.linalg.solve(A, P.T @ t)
    return -(d / 2 * np.log(a) + n / 2 * np.log(b) - 0.5 * np.linalg.slogdet(A)[1]
             - b / 2 * np.sum((t - P @ m) ** 2) - a / 2 * m @ m - n / 2 * np.log(2 * np.pi)) / n


direct = np.mean([-scipy.optimize.minimize(evidence, [0.0, 0.0], args=((codes == c).astype(float),), method="Nelder-Mead",
                                           options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000}).fun
                  for c in range(codes.max() + 1)])
compare("LogME on 16 PCs (fixed point vs direct maximisation)", logme(P, y), float(direct))
if F.shape[1] > len(F):
    print(f"note: with d = {F.shape[1]} > n = {len(F)}, LogME as the authors' code computes it is {logme(F, y, complete=False):.3f}, "
          f"not a log evidence; logme(complete=True) gives {logme(F, y, complete=True):.3f}\n")

# -- the meter against cdist by hand ----------------------------------------------------------------------
step = LowPass(cutoff_hz=1000, sr=SR)
meter = SensitivityMeter(MFCCEncoder(), [("lowpass", step)], sr=SR, loudness_match=False, random_state=0,
                         n_bootstrap=200).score(X)
row = meter.wide().set_index("setting").loc["lowpass"]
Zp = MFCCEncoder(sr=SR).transform(step.fit_transform(X))
D = scipy.spatial.distance.cdist(Zp, F, "cosine")
own = np.diag(D).copy()
np.fill_diagonal(D, np.inf)
k_ok, n = int(np.sum(own < D.min(axis=1))), len(X)
z = 1.959963984540054
p = k_ok / n
centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
compare("consistency under a 1 kHz low-pass", float(row["consistency"]), p)
compare("its Wilson interval, low", float(row["consistency_low"]), centre - half)
compare("its Wilson interval, high", float(row["consistency_high"]), min(centre + half, 1.0))

table = pd.DataFrame(rows)
pd.set_option("display.width", 160)
print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
table.to_csv(out / "heldout_recompute.csv", index=False)
print(f"\nprobe: {report.summary().splitlines()[3]}")
