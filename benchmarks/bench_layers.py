"""A layer profile costs one forward pass per clip, not one per layer.

In one run, interleaved rounds, BLAS pinned to one thread (as in the meters):

1. ``profile``: ``MusicnnEncoder(layer="all").transform_layers(X)``: the nine
   layers of MSD_musicnn from one pass per patch;
2. ``loop``: ``MusicnnEncoder(layer=name).transform(X)`` for each of the nine
   layers (what a user without profiles would write);
3. the same at the meter: ``SensitivityMeter(MusicnnEncoder(layer="all"))``
   against one meter per layer, on a small grid.

Ratio = loop / profile (above 1: the profile is faster); the outputs are
checked equal.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from conditions import conditions, header
from threadpoolctl import threadpool_limits

from trustkit import SensitivityMeter
from trustkit.datasets import make_music
from trustkit.encoders import MusicnnEncoder
from trustkit.perturbations import AddNoise, Gain


def timed(func, *args):
    t0 = time.perf_counter()
    out = func(*args)
    return time.perf_counter() - t0, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(header(conditions(**{k: v for k, v in vars(args).items() if v is not None})), flush=True)
    sr = 16000
    X, _ = make_music(args.clips, duration=args.seconds, sr=sr, random_state=0)
    names = MusicnnEncoder().layer_names()
    profile_enc = MusicnnEncoder(sr=sr, layer="all")
    singles = [MusicnnEncoder(sr=sr, layer=n) for n in names]
    with threadpool_limits(limits=1):
        profile_enc.transform_layers(X[:1])  # warm-up
        prof, loop = [], []
        for _ in range(args.rounds):
            t, layers = timed(profile_enc.transform_layers, X)
            prof.append(t)
            t0 = time.perf_counter()
            outs = [enc.transform(X) for enc in singles]
            loop.append(time.perf_counter() - t0)
    assert all(np.array_equal(layers[n], Z) for n, Z in zip(names, outs))
    p, lo = statistics.median(prof), statistics.median(loop)
    print(f"{args.clips} clips of {args.seconds:g} s, MSD_musicnn, {len(names)} layers, {args.rounds} interleaved rounds")
    print(f"encoder: profile {p:.2f} s, loop over layers {lo:.2f} s: ratio {lo / p:.1f}x (equal outputs)")

    grid = [("quieter", Gain(gain_db=-3)), ("noise", AddNoise(snr_db=30))]
    kw = {"sr": sr, "n_bootstrap": 200, "random_state": 0}
    t_prof, report = timed(SensitivityMeter(MusicnnEncoder(layer="all"), grid, **kw).score, X)
    t0 = time.perf_counter()
    alone = [float(SensitivityMeter(MusicnnEncoder(layer=n), grid, **kw).score(X)) for n in names]
    t_loop = time.perf_counter() - t0
    assert np.allclose(report.profile["statistic"], alone)
    print(f"SensitivityMeter: profile {t_prof:.2f} s, one meter per layer {t_loop:.2f} s: ratio {t_loop / t_prof:.1f}x "
          "(equal headlines per layer)")


if __name__ == "__main__":
    main()
