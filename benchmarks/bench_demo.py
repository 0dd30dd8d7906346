"""The default trust report (``trustkit demo``), with the meters sharing their work and each on its own.

Run with ``python benchmarks/bench_demo.py`` (part of ``make bench``). Both
runs build the same report in the same process on the same data (60 clips of
``make_music`` at 22,050 Hz, MFCC, random projection and MSD_musicnn, every
core): ``share=True`` is what ``trustkit demo`` does (one cache: each setting
perturbed once and each (encoder, setting) embedded once across meters; LIME,
SHAP and the scorer share the model's responses to the same masked clips);
``share=False`` runs every meter on its own. Printed: wall and CPU time of
each, the time of each stage (from the report's step lines), the ratio, and
the largest difference between the two reports' numbers: zero except for
rounding in the last bit (the model's responses to masked clips are computed
in batches of other sizes when LIME, SHAP and the scorer share them, and BLAS
rounds a product in the last bit differently for other batch shapes; measured
9e-16 relative on the SHAP rows, 0 everywhere else).
"""

from __future__ import annotations

import argparse
import io
import itertools
import re
import time

import numpy as np
from conditions import conditions, header


def run(share: bool, args) -> tuple[object, float, float, dict[str, float]]:
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder, MusicnnEncoder, RandomProjectionEncoder
    from trustkit.trust import run_trust_report

    X, y = make_music(args.clips, duration=1.5 if args.fast else 3.0, sr=args.sr, random_state=0)
    encoders = {"mfcc": MFCCEncoder(sr=args.sr), "random_projection": RandomProjectionEncoder(sr=args.sr),
                "musicnn": MusicnnEncoder(sr=args.sr)}
    stream = io.StringIO()
    t0, c0 = time.perf_counter(), time.process_time()
    report = run_trust_report(X, y[["timbre", "tempo_class"]], sr=args.sr, encoders=encoders, n_jobs=-1,
                              random_state=0, stream=stream, share=share, fast=args.fast)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    marks = [(float(m.group(1)), m.group(2).split(":")[0]) for m in re.finditer(r"\[\s*([\d.]+) s\] (.*)", stream.getvalue())]
    stages: dict[str, float] = {}
    for (t, name), (t_next, _) in itertools.pairwise(marks):
        stages[name] = stages.get(name, 0.0) + t_next - t
    return report, wall, cpu, stages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--sr", type=int, default=22050)
    parser.add_argument("--fast", action="store_true", help="the settings of trustkit demo --fast (1.5-s clips)")
    args = parser.parse_args(argv)
    print(header(conditions(**{k: v for k, v in vars(args).items() if v is not None})), flush=True)
    run(True, argparse.Namespace(clips=20, sr=args.sr, fast=True))  # warm-up: imports, compiled kernels, the ONNX session
    results = {}
    for share in (False, True):
        results[share] = run(share, args)
        _report, wall, cpu, stages = results[share]
        print(f"share={share!s:<5}  wall {wall:6.1f} s  CPU {cpu:6.1f} s   " +
              ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()), flush=True)
    (alone, w0, c0, _), (shared, w1, c1, _) = results[False], results[True]
    print(f"\nsharing is {w0 / w1:.2f}x faster in wall time ({c0 / c1:.2f}x in CPU time)")
    a, b = alone.to_long(), shared.to_long()
    same = a[["statistic", "low", "high"]].to_numpy(dtype=float)
    other = b[["statistic", "low", "high"]].to_numpy(dtype=float)
    diff = np.abs(same - other)[np.isfinite(same) & np.isfinite(other)]
    rel = diff / np.maximum(np.abs(same[np.isfinite(same) & np.isfinite(other)]), 1e-300)
    print(f"numbers: {int((diff > 0).sum())} of {diff.size} differ, by at most {rel.max():.1e} relative "
          f"(the last bit); NaN in the same places: {bool(np.array_equal(np.isnan(same), np.isnan(other)))}")


if __name__ == "__main__":
    main()
