"""Is the study's "imperceptible" grid imperceptible? MOS-LQO per setting on real recordings and rendered folk tunes.

``SensitivityMeter(quality=True)`` on the study's imperceptible grid (24
settings, every perturbed clip loudness matched, seed 0), on 3-s clips at
44.1 kHz (ViSQOL's audio mode compares bands up to 24 kHz: a band-limited
clip scores higher, since its empty bands agree trivially):

- *real music*: librosa's eight music recordings, two consecutive clips each;
- *folk tunes*: 16 tunes of Ryan's Mammoth Collection rendered with the
  General MIDI soundfont (``load_folk_tunes``).

Prints one Markdown table (MOS-LQO [95 % interval over clips] and the verdict
per data set) and writes it to ``--out``. Needs the ``quality`` and ``folk``
extras and librosa's recordings (``LIBROSA_DATA_DIR``).

Usage: ``python tools/certify_grid.py [--clips 16] [--out certify.md]``.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def certify(X, sr: int, clips: int) -> pd.DataFrame:
    from trustkit import SensitivityMeter
    from trustkit.encoders import MFCCEncoder

    report = SensitivityMeter(MFCCEncoder(sr=sr), "imperceptible", sr=sr, random_state=0, quality=True,
                              quality_clips=clips, n_jobs=-1).score(X)
    return report.quality


def main(argv: list[str] | None = None) -> None:
    from trustkit.datasets import load_example_recordings, load_folk_tunes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--sr", type=int, default=44100)
    parser.add_argument("--out", default="certify.md")
    args = parser.parse_args(argv)
    data = {}
    t0 = time.perf_counter()
    X, _ = load_example_recordings(duration=3.0, sr=args.sr, max_clips_per_recording=2, kinds=("music",))
    data["real music"] = (X, certify(X, args.sr, args.clips))
    X, _ = load_folk_tunes(args.clips, duration=3.0, sr=args.sr, random_state=0)
    data["folk tunes"] = (X, certify(X, args.sr, args.clips))
    header = "| setting | " + " | ".join(f"{k} MOS-LQO ({len(v[1]) and int(v[1]['n'].iloc[0])} clips) | verdict"
                                         for k, v in data.items()) + " |"
    lines = [header, "|---|" + "---|---|" * len(data)]
    first = next(iter(data.values()))[1]
    for i, setting in enumerate(first["setting"]):
        cells = []
        for _, q in data.values():
            r = q.iloc[i]
            cells.append(f"{r.mos_lqo:.2f} [{r.mos_lqo_low:.2f}, {r.mos_lqo_high:.2f}] | {r.verdict}")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
