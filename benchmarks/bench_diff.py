"""What a run's JSON weighs with the per-clip outcomes a paired comparison needs, and what the comparison costs.

In one run: ``SensitivityMeter`` on N clips over the study's imperceptible
grid (24 settings), twice (the second encoder a degraded copy of the first);
then

1. ``size``: the JSON (``report.to_json()``) in bytes, by top-level key
   (``per_clip``, ``paired``, the tables, the figure) and gzipped: the issue
   asks for the size at 1,000 clips x 24 settings, "kept reasonable";
2. ``time``: ``compare_runs`` (2,000 paired resamples per comparison) from
   the two JSON files, as a ratio to the meter run that produced one of them
   (the reference, in the same process).

Usage: ``python benchmarks/bench_diff.py [--clips 1000 --seconds 0.5]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from conditions import conditions, finish, header

SR = 16000


def _degraded(scale: float):
    from trustkit.audio import content_keys
    from trustkit.encoders import FunctionEncoder, MFCCEncoder

    mfcc = MFCCEncoder(sr=SR)

    def encode(X):
        Z = mfcc.fit_transform(X)
        return Z + scale * np.stack([np.random.default_rng(int(k[:8], 16)).standard_normal(Z.shape[1])
                                     for k in content_keys(X)])

    return FunctionEncoder(encode, sr=SR, per_clip=False)


def main(argv: list[str] | None = None) -> None:
    from trustkit import SensitivityMeter
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.reports.diff import compare_runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--grid", default="imperceptible", help="the grid by name (default: imperceptible, 24 settings)")
    parser.add_argument("--n-bootstrap", type=int, default=2000, help="resamples of the comparison (default 2000)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "diff.json"))
    args = parser.parse_args(argv)
    meta = conditions(clips=args.clips, seconds=args.seconds, sr=SR, grid=args.grid, n_bootstrap=args.n_bootstrap)
    print(header(meta), flush=True)
    X, _ = make_music(args.clips, duration=args.seconds, sr=SR, random_state=0)
    t0 = time.perf_counter()
    old = SensitivityMeter(MFCCEncoder(sr=SR), args.grid, sr=SR, random_state=0, n_jobs=-1).score(X)
    meter_s = time.perf_counter() - t0
    new = SensitivityMeter(_degraded(6.0), args.grid, sr=SR, random_state=0, n_jobs=-1).score(X)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / "old.json", Path(tmp) / "new.json"]
        t0 = time.perf_counter()
        old.to_json(paths[0])
        json_s = time.perf_counter() - t0
        new.to_json(paths[1])
        text = paths[0].read_text()
        t0 = time.perf_counter()
        diff = compare_runs(paths[0], paths[1], n_bootstrap=args.n_bootstrap)
        diff_s = time.perf_counter() - t0
    doc = json.loads(text)
    by_key = {k: len(json.dumps(v, indent=1)) for k, v in doc.items()}
    n_settings = int(old.config["n_settings"])
    size = {"total_bytes": len(text.encode()), "gzip_bytes": len(gzip.compress(text.encode())),
            "by_key_bytes": dict(sorted(by_key.items(), key=lambda kv: -kv[1])),
            "paired_bytes_per_clip_setting": round(by_key["paired"] / (args.clips * n_settings), 2)}
    timing = {"meter_s": round(meter_s, 2), "to_json_s": round(json_s, 2), "compare_runs_s": round(diff_s, 2),
              "compare_over_meter": round(diff_s / meter_s, 4), "n_comparisons": int(diff.config["n_comparisons"])}
    print(f"{args.clips} clips x {n_settings} settings: JSON {size['total_bytes'] / 2**20:.2f} MiB "
          f"({size['gzip_bytes'] / 2**20:.2f} MiB gzipped); paired {by_key['paired'] / 2**10:.0f} KiB "
          f"({size['paired_bytes_per_clip_setting']} bytes per clip and setting)")
    print("by key (KiB): " + ", ".join(f"{k} {v / 2**10:.0f}" for k, v in size["by_key_bytes"].items() if v > 1024))
    print(f"meter {meter_s:.1f} s, compare_runs {diff_s:.2f} s ({100 * diff_s / meter_s:.2f} % of the meter), "
          f"to_json {json_s:.2f} s; verdict {diff.verdicts()}")
    assert diff.verdicts()["sensitivity"] in ("worse", "undecided"), "the degraded copy was not found worse"
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": finish(meta), "size": size, "time": timing,
                                          "verdicts": diff.verdicts(None)}, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
