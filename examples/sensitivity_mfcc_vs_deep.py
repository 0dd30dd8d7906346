"""Sensitivity of MFCC vs deep encoders to barely audible changes.

The robustness study (Kim et al., 2019) found deep music embeddings far more
sensitive than MFCCs to perturbations one can hardly hear. This script repeats
the test on real music when librosa's example recordings are available
(LIBROSA_DATA_DIR), otherwise on trustkit's generated music, with the MFCC
baseline and the pre-trained deep encoders that are installed (CREPE, Basic
Pitch).

    python examples/sensitivity_mfcc_vs_deep.py [out_dir]              # < 1 minute (CREPE)
    TRUSTKIT_FULL=1 python examples/sensitivity_mfcc_vs_deep.py       # + Basic Pitch, more clips
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from trustkit import SensitivityMeter
from trustkit.audio import load_audio
from trustkit.datasets import make_music
from trustkit.encoders import BasicPitchEncoder, CrepeEncoder, MFCCEncoder

SR = 22050
SMOKE = bool(os.environ.get("TRUSTKIT_SMOKE"))  # the test suite runs a tiny version
FULL = bool(os.environ.get("TRUSTKIT_FULL"))  # the larger run quoted in the project notes (minutes)
MUSIC = ["Vibe_Ace", "Drum-bass", "Sugar_Plum", "Hungarian_Dance", "solo-trumpet", "Fishin", "sweet-waltz", "ragtime"]

out = Path(sys.argv[1] if len(sys.argv) > 1 else "sensitivity-example")
out.mkdir(parents=True, exist_ok=True)
seconds, per_recording = (1.0, 1) if SMOKE else ((3.0, 4) if FULL else (2.0, 2))
data = Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent"))
clips = []
if data.is_dir():
    for stem in MUSIC:
        path = next((p for p in data.glob("*.ogg") if stem in p.name and ".hq." not in p.name), None)
        if path is None:
            continue
        x = load_audio(path, sr=SR)
        for k in range(per_recording):
            start = int((2 + 4 * k) * SR)
            seg = x[start : start + int(seconds * SR)]
            if len(seg) == int(seconds * SR) and np.std(seg) > 1e-3:
                clips.append(seg)
if clips:
    X, source = np.vstack(clips), f"{len(clips)} excerpts of real music from {data}"
else:
    X, _ = make_music(6 if SMOKE else (24 if FULL else 12), duration=seconds, sr=SR, random_state=0)
    source = f"{len(X)} generated clips (make_music)"

deep = []
if importlib.util.find_spec("torchcrepe"):
    deep.append(CrepeEncoder(sr=SR))
if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("basic_pitch") and FULL:
    deep.append(BasicPitchEncoder(sr=SR))
grid = "imperceptible"
if SMOKE:
    from trustkit.perturbations import study_grid

    grid = study_grid("imperceptible", sr=SR, families=["pink_noise"])

print(f"Data: {source}, {seconds:g} s each at {SR} Hz\n")
for encoder in deep or [MFCCEncoder(sr=SR)]:
    report = SensitivityMeter(encoder, grid, sr=SR, baseline=MFCCEncoder.study(sr=SR), random_state=0, n_jobs=2).score(X)
    name = type(encoder).__name__
    print(report.summary(), "\n")
    report.to_html(out / f"sensitivity_{name}.html")
    report.to_json(out / f"sensitivity_{name}.json")
print(f"Reports in {out}/")
