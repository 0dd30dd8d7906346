"""Which layer of a model is the most robust, and which transfers best? A layer profile.

MSD_musicnn (shipped inside trustkit) with ``layer="all"``: every layer from one
forward pass per clip, scored by the robustness meter over the study's
imperceptible grid and by the transferability probe on the generated music's
timbre and tempo labels, on the same clips and folds. Swap in your own model:
``HFAudioEncoder("path/to/checkpoint", layer="all")`` (a transformers audio
model) or ``TorchEncoder(module, layer="all")`` (a torch module's children).

    python examples/layer_profile.py [out_dir]      # about a minute
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt

from trustkit import SensitivityMeter, compare_encoders
from trustkit.datasets import make_music
from trustkit.encoders import MFCCEncoder, MusicnnEncoder
from trustkit.perturbations import study_grid

SR = 22050
SMOKE = bool(os.environ.get("TRUSTKIT_SMOKE"))  # the test suite runs a tiny version
out = Path(sys.argv[1] if len(sys.argv) > 1 else "layer-profile-example")
out.mkdir(parents=True, exist_ok=True)

X, y = make_music(20 if SMOKE else 40, duration=3.0, sr=SR, random_state=0)
grid = study_grid("imperceptible", sr=SR, families=["pink_noise"]) if SMOKE else "imperceptible"
robust = SensitivityMeter(MusicnnEncoder(layer="all"), grid, sr=SR, random_state=0, n_jobs=2).score(X)
transfer = compare_encoders({"mfcc": MFCCEncoder(), "musicnn": MusicnnEncoder(layer="all")},
                            {"timbre": (X, y["timbre"]), "tempo": (X, y["tempo_class"])}, sr=SR, cv=2 if SMOKE else 3,
                            n_bootstrap=200 if SMOKE else 1000, estimators=(), random_state=0)
print(robust.summary().split("\nIdentity")[0])
print(transfer.profile[["series", "layer", "statistic", "low", "high"]].to_string(index=False, float_format="%.3f"))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
robust.plot_profile(axes[0]).set_title("robustness (lower is better)")
transfer.plot_profile(axes[1]).set_title("transferability (higher is better)")
fig.savefig(out / "layer_profile.png", dpi=90)
robust.to_json(out / "robustness_profile.json")
transfer.to_json(out / "transfer_profile.json")
print(f"\nFigure and reports in {out}/")
