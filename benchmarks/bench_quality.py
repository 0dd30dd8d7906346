"""What measuring imperceptibility and task-level robustness costs, as ratios in one run.

1. ``mos``: ViSQOL v3 MOS-LQO (visqol-python, audio mode at 48 kHz) on clips
   of a few lengths: seconds of compute per second of audio (the reference is
   the audio's own duration: a ratio of 1 is real time), after a warm-up call
   that compiles its kernels; beside it the signal measures (SNR, segmental
   SNR, LSD) on the same pairs;
2. ``probe``: ``TransferabilityProbe(MFCCEncoder())`` on N clips with the
   imperceptible grid (24 settings) against the same probe without it, wall
   time and ratio, each in a fresh meter (no cache);
3. ``meter``: ``SensitivityMeter`` on the imperceptible grid with
   ``quality=True`` against ``quality=False``.

Usage: ``python benchmarks/bench_quality.py [--clips 40 --seconds 3 --quality-clips 8]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from conditions import conditions, finish, header

SR = 22050


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    from trustkit import SensitivityMeter, TransferabilityProbe
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import AddNoise
    from trustkit.perturbations.quality import lsd_db, mos_lqo, segmental_snr_db, snr_db

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--quality-clips", type=int, default=8)
    parser.add_argument("--lengths", type=float, nargs="*", default=[1.0, 3.0, 10.0], help="seconds, for the MOS runs")
    parser.add_argument("--grid", default="imperceptible")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "quality.json"))
    args = parser.parse_args(argv)
    meta = conditions(clips=args.clips, seconds=args.seconds, quality_clips=args.quality_clips, sr=SR, grid=args.grid)
    print(header(meta), flush=True)
    result: dict = {"meta": meta}
    rows = []
    X, labels = make_music(max(args.clips, 3), duration=max(args.lengths), sr=SR, random_state=0)
    noisy = AddNoise(snr_db=30, random_state=0).fit_transform(X[:3])
    mos_lqo(X[0, :SR], noisy[0, :SR], SR)  # warm-up: numba compiles ViSQOL's kernels once per process
    for seconds in args.lengths:
        n = round(seconds * SR)
        _, t_mos = timed(lambda n=n: [mos_lqo(x[:n], y[:n], SR) for x, y in zip(X[:3], noisy)])
        _, t_sig = timed(lambda n=n: [(snr_db(x[:n], y[:n]), segmental_snr_db(x[:n], y[:n], SR), lsd_db(x[:n], y[:n], SR))
                                      for x, y in zip(X[:3], noisy)])
        audio = 3 * seconds
        row = {"seconds": seconds, "mos_s_per_audio_s": round(t_mos / audio, 4),
               "signal_s_per_audio_s": round(t_sig / audio, 4)}
        rows.append(row)
        print(row, flush=True)
    result["mos"] = rows
    X, labels = make_music(args.clips, duration=args.seconds, sr=SR, random_state=0)
    y = labels["timbre"]
    kw = {"cv": 3, "random_state": 0, "estimators": (), "n_bootstrap": 1000}
    _, t_clean = timed(lambda: TransferabilityProbe(MFCCEncoder(sr=SR), **kw).score(X, y))
    _, t_grid = timed(lambda: TransferabilityProbe(MFCCEncoder(sr=SR), perturbations=args.grid, **kw).score(X, y))
    result["probe"] = {"clean_s": round(t_clean, 2), "with_grid_s": round(t_grid, 2), "ratio": round(t_grid / t_clean, 2)}
    print("probe:", result["probe"], flush=True)
    mkw = {"sr": SR, "random_state": 0}
    _, t_plain = timed(lambda: SensitivityMeter(MFCCEncoder(sr=SR), args.grid, **mkw).score(X))
    _, t_quality = timed(lambda: SensitivityMeter(MFCCEncoder(sr=SR), args.grid, quality=True,
                                                  quality_clips=args.quality_clips, **mkw).score(X))
    result["meter"] = {"plain_s": round(t_plain, 2), "quality_s": round(t_quality, 2),
                       "ratio": round(t_quality / t_plain, 2)}
    print("meter:", result["meter"], flush=True)
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps({**result, "meta": finish(meta)}, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
