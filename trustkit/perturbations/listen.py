"""Hear the perturbations: every setting of a few clips as WAV files, spectrograms and one page to compare them.

``trustkit listen`` runs :func:`run_listen`.
"""

from __future__ import annotations

import html
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["demo_perturbations", "run_listen"]


def demo_perturbations(sr: int, *, random_state: int = 0) -> list[tuple[str, Any]]:
    """List the perturbations shown by ``trustkit demo``.

    One barely audible and one clearly audible setting per family of the
    robustness study, the other steps, and two degradation presets.
    """
    from .. import perturbations as P

    return [
        ("pitch_shift_+0.5", P.PitchShift(n_steps=0.5, sr=sr)),
        ("pitch_shift_+4", P.PitchShift(n_steps=4, sr=sr)),
        ("time_stretch_1.04", P.TimeStretch(rate=1.04, sr=sr)),
        ("time_stretch_0.6", P.TimeStretch(rate=0.6, sr=sr)),
        ("pink_noise_28.5dB", P.AddNoise(snr_db=28.5, random_state=random_state)),
        ("pink_noise_3dB", P.AddNoise(snr_db=3, random_state=random_state)),
        ("mp3_256kbps", P.Mp3Compression(bitrate=256, sr=sr)),
        ("mp3_16kbps", P.Mp3Compression(bitrate=16, sr=sr)),
        ("reverb_1.2s", P.Reverb(rt60=1.2, sr=sr, random_state=random_state)),
        ("bandpass_300-3400", P.BandPass(low_hz=300, high_hz=3400, sr=sr)),
        ("clipping_5pct", P.Clipping(percent=5)),
        ("bitcrush_6bit", P.Bitcrush(bits=6)),
        ("downsample_8k", P.Downsample(target_sr=8000, sr=sr)),
        ("speed_1.06", P.SpeedChange(factor=1.06, sr=sr)),
        ("live_recording", P.degradation("live_recording", sr=sr, random_state=random_state)),
        ("vinyl", P.degradation("vinyl", sr=sr, random_state=random_state)),
    ]


def _spectrogram_grid(path: Path, x: np.ndarray, outputs: list[tuple[str, np.ndarray]], sr: int) -> None:
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("original", x), *outputs]
    ncols = 3
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.4 * nrows), sharex=True, sharey=True)
    for ax, (name, y) in zip(axes.flat, panels):
        S = librosa.amplitude_to_db(np.abs(librosa.stft(np.asarray(y, dtype=np.float32), n_fft=1024)), ref=np.max(np.abs(x)) * 512)
        ax.imshow(S, origin="lower", aspect="auto", vmin=-80, vmax=0, cmap="magma",
                  extent=(0, len(y) / sr, 0, sr / 2000))
        ax.set_title(name, fontsize=9)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("kHz")
    for ax in axes[-1]:
        ax.set_xlabel("s")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_listen(out: str | Path, *, n_clips: int = 3, duration: float = 4.0, sr: int = 22050,
               random_state: int = 0, fast: bool = False, stream: Any = None) -> dict[str, Any]:
    """Perturb built-in music and write something to look at and listen to.

    Writes, under ``out``: the original clips and every perturbed version as
    WAV files, a spectrogram grid (PNG), the per-clip realised parameters
    (JSON) and an ``index.html`` page that plays them side by side.

    Returns
    -------
    dict
        Paths written and a per-perturbation summary.
    """
    from ..audio import save_audio
    from ..datasets import make_music

    stream = stream or sys.stdout
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fast:
        n_clips, duration = 2, 1.0
    X, y = make_music(n_clips, duration=duration, sr=sr, random_state=random_state)
    results: dict[str, Any] = {"sr": sr, "clips": y.to_dict(orient="records"), "perturbations": {}}
    outputs = []
    for i, x in enumerate(X):
        save_audio(out / f"original_{i}.wav", x, sr=sr)
    steps = demo_perturbations(sr, random_state=random_state)
    for k, (name, step) in enumerate(steps, 1):
        t0 = time.perf_counter()
        Xt, params = step.transform_with_params(X)
        elapsed = time.perf_counter() - t0
        for i, xt in enumerate(Xt):
            save_audio(out / f"{name}_{i}.wav", xt, sr=sr)
        outputs.append((name, Xt[0]))
        results["perturbations"][name] = {
            "step": repr(step),
            "seconds": round(elapsed, 3),
            "params": json.loads(params.to_json(orient="records")),
        }
        print(f"[{k:2d}/{len(steps)}] {name:<20s} {elapsed:6.2f} s", file=stream)
    _spectrogram_grid(out / "spectrograms.png", X[0], outputs, sr)
    (out / "perturbations.json").write_text(json.dumps(results, indent=1))
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f'<td><audio controls preload="none" src="{html.escape(name)}_{i}.wav"></audio></td>' for i in range(len(X)))
        + f"<td><code>{html.escape(results['perturbations'][name]['step'])}</code></td></tr>"
        for name in ["original", *results["perturbations"]]
        if name != "original"
    )
    head = "".join(f'<td><audio controls preload="none" src="original_{i}.wav"></audio></td>' for i in range(len(X)))
    labels = "".join(f"<th>clip {i}: {html.escape(str(c['timbre']))}, {html.escape(str(c['mode']))}, "
                     f"{html.escape(str(c['tempo_bpm']))} bpm</th>" for i, c in enumerate(results["clips"]))
    from ..reports.html import render_page

    body = ("<p>Realised values per clip: <a href='perturbations.json'>perturbations.json</a>.</p>"
            "<img src='spectrograms.png' alt='spectrograms of every perturbation'>"
            f"<table><tr><th>perturbation</th>{labels}<th>settings</th></tr>"
            f"<tr><td>original</td>{head}<td></td></tr>{rows}</table>")
    (out / "index.html").write_text(render_page(
        "trustkit: audio perturbations",
        f"Built-in music (trustkit.datasets.make_music) at {sr} Hz, perturbed by trustkit.perturbations.", body))
    print(f"\nWrote {len(steps) + 1} x {len(X)} WAV files, spectrograms.png and perturbations.json", file=stream)
    print(f"Open {out / 'index.html'} to look and listen.", file=stream)
    return {"out": str(out), "index": str(out / "index.html"), "results": results}
