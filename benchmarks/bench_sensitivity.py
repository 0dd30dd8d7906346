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
5. with ``--workers`` instead: the meter's worker processes for the
   settings that hold the GIL against threads alone, by amount of audio;
6. the study's audio distances: the built-in DTW against a plain librosa loop
   over the same pairs (MFCC computed per pair, as a naive loop would), and
   SiMPle (diagonal sums of one Gram matrix per pair) against a brute-force
   matrix profile over the same frames; MC-KL's cost per pair is printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import tracemalloc

import numpy as np
from conditions import conditions, header
from threadpoolctl import threadpool_limits

from trustkit import SensitivityMeter
from trustkit.datasets import make_music
from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder
from trustkit.perturbations import LoudnessMatch, study_grid
from trustkit.perturbations._base import configure_step, resolve_entropy
from trustkit.robustness.audio_distances import AudioDistance, simple_distance


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


def _musicnn(sr):
    from trustkit.encoders import MusicnnEncoder

    return MusicnnEncoder(sr=sr)


def _crepe(sr):
    from trustkit.encoders import CrepeEncoder

    return CrepeEncoder(sr=sr)


def _basic_pitch(sr):
    from trustkit.encoders import BasicPitchEncoder

    return BasicPitchEncoder(sr=sr)


ENCODERS = {
    "mfcc": lambda sr: MFCCEncoder(sr=sr),
    "random_projection": lambda sr: RandomProjectionEncoder(sr=sr),
    "musicnn": _musicnn,
    "crepe": _crepe,
    "basic_pitch": _basic_pitch,
}


def meter_run(X, sr, encoder, n_jobs=1):
    """The meter's own run: wall and CPU seconds, and the report."""
    t0, c0 = time.perf_counter(), time.process_time()
    report = SensitivityMeter(encoder, "imperceptible", sr=sr, random_state=0, n_jobs=n_jobs).score(X)
    return time.perf_counter() - t0, time.process_time() - c0, report


def workers_sweep(sizes, sr, rounds):
    """n_jobs=2 with the settings that hold the GIL on worker processes against all on threads, by amount of audio.

    The source of ``trustkit.robustness.meter.MIN_WORKER_AUDIO_S``: below
    some amount of such audio, starting the workers costs more than they
    save. Both sides forced (the threshold set to 0, or no step said to
    hold the GIL); rounds interleaved, minimum of each; same numbers asserted.
    """
    from unittest import mock

    rows = []
    for n, seconds in sizes:
        X, _ = make_music(n, duration=seconds, sr=sr, random_state=0, n_jobs=2)
        times: dict[str, list[float]] = {"threads": [], "workers": []}
        reports = {}
        for r in range(rounds):
            for side in ("threads", "workers") if r % 2 == 0 else ("workers", "threads"):
                patch = (mock.patch("trustkit.robustness.meter.holds_gil", lambda step: False) if side == "threads"
                         else mock.patch("trustkit.robustness.meter.MIN_WORKER_AUDIO_S", 0.0))
                with patch:
                    t, _, reports[side] = meter_run(X, sr, MFCCEncoder(sr=sr), n_jobs=2)
                times[side].append(t)
        assert reports["threads"].table.equals(reports["workers"].table)
        gil_audio = 19 * n * seconds  # 8 pitch shifts, 8 time stretches, 3 MP3 settings in the imperceptible grid
        ratio = min(times["threads"]) / min(times["workers"])
        print(f"{n:4d} clips x {seconds:g} s ({gil_audio:6.0f} s of GIL-bound audio): threads {min(times['threads']):6.1f} s,"
              f" workers {min(times['workers']):6.1f} s, {ratio:.2f}x", flush=True)
        rows.append({"clips": n, "seconds": seconds, "gil_audio_s": gil_audio, "threads_s": min(times["threads"]),
                     "workers_s": min(times["workers"]), "ratio": ratio})
    return rows


def overhead(X, sr, enc, name, rounds):
    """Bare and meter runs interleaved in alternating order; the minimum of each is compared."""
    bare_t, meter_t = [], []
    for r in range(rounds):
        for which in ("bare", "meter") if r % 2 == 0 else ("meter", "bare"):
            if which == "bare":
                bare_t.append(bare(X, sr, enc, 0))
            else:
                meter_t.append(meter_run(X, sr, enc)[:2])
    t_bare, c_bare = min(t for t, _ in bare_t), min(c for _, c in bare_t)
    t_meter, c_meter = min(t for t, _ in meter_t), min(c for _, c in meter_t)
    t_par = meter_run(X, sr, enc, n_jobs=2)[0]
    print(f"{len(X)} clips x {X.shape[1] / sr:g} s, imperceptible grid + identity, "
          f"{getattr(enc, 'display_name', type(enc).__name__)} (min of {rounds} interleaved rounds)")
    print(f"bare perturb + encode     {t_bare:7.2f} s wall, {c_bare:7.2f} s CPU (one BLAS thread, as the meter)")
    print(f"SensitivityMeter n_jobs=1 {t_meter:7.2f} s wall, {c_meter:7.2f} s CPU   overhead "
          f"{100 * (t_meter / t_bare - 1):+.1f} % wall, {100 * (c_meter / c_bare - 1):+.1f} % CPU")
    print(f"SensitivityMeter n_jobs=2 {t_par:7.2f} s   speed-up {t_meter / t_par:.2f}x", flush=True)
    return {"encoder": name, "bare_s": t_bare, "bare_cpu_s": c_bare, "meter_s": t_meter, "meter_cpu_s": c_meter,
            "overhead_wall": t_meter / t_bare - 1, "overhead_cpu": c_meter / c_bare - 1, "meter_n_jobs2_s": t_par}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sr", type=int, default=22050)
    parser.add_argument("--encoder", default="mfcc", choices=[*ENCODERS, "all"],
                        help="the built-in encoder to measure, or all of them (crepe needs the crepe extra, "
                             "basic_pitch the basic-pitch extra; a missing one is skipped)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved bare / meter rounds; the minimum of each is compared")
    parser.add_argument("--overhead-only", action="store_true", help="skip the memory and audio-distance parts")
    parser.add_argument("--json", help="write the overhead rows to this file")
    parser.add_argument("--workers", action="store_true",
                        help="only the sweep of worker processes against threads by amount of audio (MFCC, n_jobs=2)")
    parser.add_argument("--sizes", nargs="+", default=["8x5", "16x5", "32x5", "60x3", "120x5"],
                        help="the --workers sweep's batches, CLIPSxSECONDS")
    args = parser.parse_args(argv)
    print(header(conditions(**{k: v for k, v in vars(args).items() if v is not None})), flush=True)
    if args.workers:
        sizes = [(int(n), float(s)) for n, s in (size.split("x") for size in args.sizes)]
        rows = workers_sweep(sizes, args.sr, max(2, args.rounds - 1))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"meta": conditions(sr=args.sr), "rows": rows}, fh, indent=1)
        return
    X, _ = make_music(args.clips, duration=args.seconds, sr=args.sr, random_state=0)
    names = list(ENCODERS) if args.encoder == "all" else [args.encoder]
    rows = []
    for name in names:
        try:
            enc = ENCODERS[name](args.sr)
            enc.transform(X[:1])  # warm-up: imports, numba, model load
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        rows.append(overhead(X, args.sr, enc, name, args.rounds))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": {"clips": args.clips, "seconds": args.seconds, "sr": args.sr, "rounds": args.rounds,
                                "machine": platform.platform(), "python": platform.python_version()},
                       "rows": rows}, fh, indent=1)
    if args.overhead_only or len(names) > 1:
        return
    report = SensitivityMeter(enc, "imperceptible", sr=args.sr, random_state=0).score(X)

    tracemalloc.start()
    SensitivityMeter(enc, "imperceptible", sr=args.sr, random_state=0).score(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak traced memory {peak / 2**20:7.1f} MiB; audio {X.nbytes / 2**20:.1f} MiB; "
          f"all settings at once would be {X.nbytes * (report.config['n_settings'] + 1) / 2**20:.0f} MiB")

    n = min(args.clips, 8)
    A = X[:n]
    B = X[:n] * 0.9
    t0 = time.perf_counter()
    ours = AudioDistance("dtw", sr=args.sr, seed=0).prepare(B)(A)
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
