"""SensitivityMeter overhead against the bare cost of its work, peak memory, DTW.

In one run:

1. ``bare``: perturb every clip for every setting of the imperceptible grid
   (loudness-matched, as the meter does) and encode it, plus encoding the
   originals once -- the work any robustness test must do;
2. ``meter``: ``SensitivityMeter(...).score(X)`` on the same data, n_jobs=1;
   overhead = meter / bare - 1 in wall and CPU time (target: at most 15 %);
   both under one BLAS thread, so like is compared with like (the meter's
   identity row reuses the originals' embeddings, which the bare loop does not
   need either);
3. the same meter with n_jobs=2;
4. peak traced memory of the meter against the size of the audio: it must not
   hold the perturbed audio of all settings at once;
5. the study's audio distances: the built-in DTW against a plain librosa loop
   over the same pairs (MFCC computed per pair, as a naive loop would), and
   SiMPle (diagonal sums of one Gram matrix per pair) against a brute-force
   matrix profile over the same frames; MC-KL's cost per pair is printed.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from trustkit import SensitivityMeter
from trustkit.datasets import make_music
from trustkit.encoders import MFCCEncoder
from trustkit.perturbations import LoudnessMatch, study_grid
from trustkit.perturbations._base import configure_step, resolve_entropy
from trustkit.robustness import dtw_audio_distance


def bare(X, sr, encoder, seed):
    """The work itself, under the same thread settings as the meter (one BLAS thread): wall and CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1):
        encoder.transform(X)
        entropy = resolve_entropy(seed)
        for k, point in enumerate(study_grid("imperceptible", sr=sr), start=1):
            step = LoudnessMatch(configure_step(point.perturbation, entropy=entropy, index=k, sr=sr, length="allow"), sr=sr)
            encoder.transform(step.fit_transform(X))
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sr", type=int, default=22050)
    parser.add_argument("--encoder", default="mfcc", choices=["mfcc", "musicnn", "crepe"],
                        help="the built-in encoder to measure (crepe needs the crepe extra)")
    parser.add_argument("--overhead-only", action="store_true", help="skip the memory and audio-distance parts")
    args = parser.parse_args(argv)
    X, _ = make_music(args.clips, duration=args.seconds, sr=args.sr, random_state=0)
    if args.encoder == "musicnn":
        from trustkit.encoders import MusicnnEncoder

        enc = MusicnnEncoder(sr=args.sr)
    elif args.encoder == "crepe":
        from trustkit.encoders import CrepeEncoder

        enc = CrepeEncoder(sr=args.sr)
    else:
        enc = MFCCEncoder(sr=args.sr)
    enc.transform(X[:1])  # warm-up: imports, numba

    t_bare, c_bare = bare(X, args.sr, enc, 0)
    t0, c0 = time.perf_counter(), time.process_time()
    report = SensitivityMeter(enc, "imperceptible", sr=args.sr, random_state=0).score(X)
    t_meter, c_meter = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    SensitivityMeter(enc, "imperceptible", sr=args.sr, random_state=0, n_jobs=2).score(X)
    t_par = time.perf_counter() - t0
    print(f"{args.clips} clips x {args.seconds:g} s, {report.config['n_settings']} settings + identity, "
          f"{getattr(enc, 'display_name', type(enc).__name__)}")
    print(f"bare perturb + encode     {t_bare:7.2f} s wall, {c_bare:7.2f} s CPU (one BLAS thread, as the meter)")
    print(f"SensitivityMeter n_jobs=1 {t_meter:7.2f} s wall, {c_meter:7.2f} s CPU   overhead "
          f"{100 * (t_meter / t_bare - 1):+.1f} % wall, {100 * (c_meter / c_bare - 1):+.1f} % CPU")
    print(f"SensitivityMeter n_jobs=2 {t_par:7.2f} s   speed-up {t_meter / t_par:.2f}x")
    if args.overhead_only:
        return

    tracemalloc.start()
    SensitivityMeter(enc, "imperceptible", sr=args.sr, random_state=0).score(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak traced memory {peak / 2**20:7.1f} MiB; audio {X.nbytes / 2**20:.1f} MiB; "
          f"all settings at once would be {X.nbytes * (report.config['n_settings'] + 1) / 2**20:.0f} MiB")

    n = min(args.clips, 8)
    A = X[:n]
    B = report and X[:n] * 0.9
    t0 = time.perf_counter()
    ours = dtw_audio_distance(A, B, sr=args.sr)
    t_ours = time.perf_counter() - t0
    import librosa

    t0 = time.perf_counter()
    naive = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            F = librosa.feature.mfcc(y=A[i], sr=args.sr, n_mfcc=25)
            G = librosa.feature.mfcc(y=B[j], sr=args.sr, n_mfcc=25)
            D, _ = librosa.sequence.dtw(X=F, Y=G, metric="euclidean")
            naive[i, j] = D[-1, -1]  # the study's DTW: total cost, not normalised
    t_naive = time.perf_counter() - t0
    assert np.allclose(ours, naive)
    print(f"DTW {n}x{n} pairs: trustkit {t_ours:.2f} s, plain librosa loop {t_naive:.2f} s "
          f"({t_naive / t_ours:.1f}x), same values")

    from trustkit.robustness.audio_distances import AudioDistance, simple_distance

    frames = [librosa.feature.mfcc(y=x, sr=args.sr, n_mfcc=25).T.astype(np.float64) for x in A]
    m = 50
    t0 = time.perf_counter()
    fast = np.array([[simple_distance(f, g, subsequence=m) for g in frames] for f in frames])
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    brute = np.empty_like(fast)
    for i, f in enumerate(frames):
        for j, g in enumerate(frames):
            mm = min(m, len(f), len(g))
            profile = [min(np.sum((f[a : a + mm] - g[b : b + mm]) ** 2) for b in range(len(g) - mm + 1))
                       for a in range(len(f) - mm + 1)]
            brute[i, j] = np.median(profile)
    t_brute = time.perf_counter() - t0
    assert np.allclose(fast, brute, rtol=1e-9, atol=1e-6)
    print(f"SiMPle {n}x{n} pairs on 25-MFCC frames: trustkit {t_fast:.3f} s, brute-force matrix profile "
          f"{t_brute:.2f} s ({t_brute / t_fast:.0f}x), same values")
    t0 = time.perf_counter()
    AudioDistance("mckl", sr=args.sr, seed=0).prepare(A)(B)
    t_mckl = time.perf_counter() - t0
    print(f"MC-KL {n}x{n} pairs (2 x {n} mixtures fitted): {t_mckl:.2f} s")


if __name__ == "__main__":
    main()
