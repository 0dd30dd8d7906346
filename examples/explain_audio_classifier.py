"""Explain an audio classifier with LIME and SHAP over time segments, and score both.

A logistic-regression classifier on MFCC statistics learns music vs speech
from librosa's example recordings (when LIBROSA_DATA_DIR holds them;
otherwise major vs minor on generated music). LIME and Kernel SHAP explain its
predictions over 8 time segments (an absent segment becomes the same segment
of another, unexplained clip: the classifier calls digital silence music with
P = 1.000, so silence would be a class, not an absence), and
FidelityComplexityScorer judges both explanations on the same clips.

    python examples/explain_audio_classifier.py [out_dir]          # under a minute
    TRUSTKIT_FULL=1 python examples/explain_audio_classifier.py   # the project notes' run
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from trustkit import FidelityComplexityScorer, TrustkitWarning
from trustkit.encoders import MFCCEncoder
from trustkit.fidelity import TimeSegments, explain_with_lime, explain_with_shap

SR = 16000
SMOKE = bool(os.environ.get("TRUSTKIT_SMOKE"))  # the test suite runs a tiny version
FULL = bool(os.environ.get("TRUSTKIT_FULL"))  # the larger run quoted in the project notes
out = Path(sys.argv[1] if len(sys.argv) > 1 else "explain-example")
out.mkdir(parents=True, exist_ok=True)

if Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent")).is_dir():
    from trustkit.datasets import load_example_recordings

    X, meta = load_example_recordings(duration=2.0, sr=SR, max_clips_per_recording=8, kinds=("music", "speech"))
    y, task = meta["kind"].to_numpy(), "music vs speech (librosa's recordings)"
else:
    from trustkit.datasets import make_music

    X, meta = make_music(40, duration=2.0, sr=SR, random_state=0)
    y, task = meta["mode"].to_numpy(), "major vs minor (generated music)"

mfcc = MFCCEncoder(sr=SR)
model = make_pipeline(FunctionTransformer(mfcc.transform), StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
rng = np.random.default_rng(0)
chosen = rng.choice(len(X), 3 if SMOKE else (12 if FULL else 6), replace=False)
clips = X[chosen]
segments = TimeSegments(8, baseline=np.delete(X, chosen, axis=0))  # absent: the same segment of another clip
lime_W = explain_with_lime(model, clips, segments, num_samples=100 if SMOKE else (1000 if FULL else 500), random_state=0)
shap_W = explain_with_shap(model, clips, segments, nsamples=254 if SMOKE else (512 if FULL else 256), random_state=0)

scorer = FidelityComplexityScorer(model, segmenter=segments, budgets=(1, 2, 4, "all"),
                                  n_neighbourhood=64 if SMOKE else 256, random_state=0).fit(X)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", TrustkitWarning)
    lime_report = scorer.score(clips, lime_W)
    shap_report = scorer.score(clips, shap_W)
print(f"Task: {task}; {len(clips)} clips explained over {segments.n_units(X.shape[1])} time segments\n")
print("LIME\n" + lime_report.summary() + "\n")
print("SHAP\n" + shap_report.summary() + "\n")
print("SHAP minus LIME, paired over clips (Wilcoxon):")
print(shap_report.compare(lime_report))
lime_report.to_html(out / "lime.html")
shap_report.to_html(out / "shap.html")
