"""Perturbations you can listen to: the robustness study's grid on one clip.

Writes one WAV per setting of the study's imperceptible and graver grids
(Kim et al., 2019), loudness-matched to the original as in the study, plus a
CSV of what each step realised. Listen to where "imperceptible" ends.

    python examples/perturbations_you_can_listen_to.py [out_dir]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from trustkit.audio import save_audio
from trustkit.datasets import make_music
from trustkit.perturbations import LoudnessMatch, study_grid

SR = 22050
SMOKE = bool(os.environ.get("TRUSTKIT_SMOKE"))  # the test suite runs a short version

out = Path(sys.argv[1] if len(sys.argv) > 1 else "perturbation-examples")
out.mkdir(parents=True, exist_ok=True)
X, labels = make_music(1, duration=1.0 if SMOKE else 6.0, sr=SR, random_state=0)
save_audio(out / "original.wav", X[0], sr=SR)

grid = study_grid("all", sr=SR, random_state=0)
points = list(grid)[::8] if SMOKE else list(grid)
rows = []
for point in points:
    step = LoudnessMatch(point.perturbation, sr=SR)  # loudness alone must not be the difference
    Xt, params = step.transform_with_params(X)
    save_audio(out / f"{point.severity}_{point.name}.wav", Xt[0], sr=SR)
    rows.append({"name": point.name, "severity": point.severity, **params.iloc[0].to_dict()})

table = pd.DataFrame(rows)
table.to_csv(out / "realised.csv", index=False)
print(table[["name", "severity", "gain_db", "loudness_realised"]].to_string(index=False))
print(f"\n{len(points)} perturbed versions of a {labels['timbre'][0]} clip in {out}/")
