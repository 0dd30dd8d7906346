"""Throughput of every perturbation, and the ratio against audiomentations.

Run with ``make bench`` (or ``python benchmarks/bench_perturbations.py``).
Batches of 1, 4, 8 and 32 clips (``--clips``) of 30 s of built-in music at
44.1 kHz are perturbed by each trustkit step (whole batch) and by its
audiomentations counterpart (clip by clip, p=1, min == max, the same
parameters, every output kept, as a user who perturbs a batch keeps it) in
the same run. The batch size matters for steps that read and write each
sample once: 8 clips of 30 s at 44.1 kHz in float32 are 40 MiB, above the
largest block glibc reuses (32 MiB), so an output of that size is fresh
pages the kernel zeroes on first touch, a second pass over the output;
trustkit's large outputs reuse memory it handed out before and nobody holds
any more (``trustkit._buffers``). The machine, its load at the start and end,
and the workload are printed first and stored in the JSON. Reported:

- ``x realtime``: seconds of audio processed per second of wall time;
- ``ratio``: audiomentations time / trustkit time (> 1: trustkit is faster);
- ``vs the bare library call``: where both sides spend their time in the same
  library call (python-stretch, fast-mp3-augment; numpy's multiply for gain),
  that call alone, once per clip, against trustkit: the limit either side can
  reach;
- ``batch``: the same with audiomentations' clips stacked into one
  ``(n_clips, n_samples)`` array, the output trustkit returns (one copy of the
  output; it matters only where both sides spend their time in the same
  library call);
- ``pedalboard``: the same ratio against Spotify's pedalboard where it has the
  same transform at the same settings (pitch shift and time stretch through
  Rubber Band, gain, bit crush, convolution with the same impulse response).
  Not compared: pedalboard's MP3Compressor encodes VBR (``vbr_quality``), not
  the CBR bitrate trustkit and audiomentations use, so the work differs; its
  ``Reverb`` is an algorithmic (Freeverb) reverb, not a convolution; its
  ``Clipping`` clips at a threshold in dB, not at a percentile of samples.

Definitions that differ from the peer's, so the ratio compares similar, not
identical, work:

- Clipping(5 %): trustkit clips at the 95th percentile of ``|x|`` (5 % of
  samples, one symmetric threshold); audiomentations at the signed
  percentiles ``int(5 / 2)`` and ``100 - int(5 / 2)`` (2nd and 98th: about
  4 % of samples, two thresholds).
- Reverb: trustkit draws a seeded synthetic response per clip and measures
  its RT60 (reported per clip); audiomentations loads one response file and
  convolves every clip with it. ``vs the bare library call`` is scipy's
  overlap-add convolution with that one response: the ratio to it is what
  drawing costs. pedalboard's ``Convolution`` normalises the response (its
  output's RMS is 0.088 of the plain convolution's here; audiomentations'
  0.67): the same work, another level.
- LoudnessMatch(-23 LUFS): trustkit lands on -23.000 LUFS (pyloudnorm's
  measure of the output), audiomentations on -23.04 to -23.05.

Timings are the median of ``--repeat`` interleaved rounds (every side in
every round, in alternating order: a side that runs right after another
inherits its cache and allocator state), single-threaded (n_jobs=None).
A transform that takes less than ``--min-time`` is called repeatedly within
a round and timed per call (a sub-millisecond call timed once is mostly
timer and scheduler noise). ``ratio`` uses the medians, ``ratio_min`` (in the
JSON) the fastest rounds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from conditions import conditions, finish, header

from trustkit import perturbations as P
from trustkit.datasets import make_music
from trustkit.perturbations import synthetic_rir


def timed(fn, number=1):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def calls_per_round(fn, min_time):
    """How many calls make one timed sample last at least ``min_time`` seconds."""
    return max(1, int(np.ceil(min_time / max(timed(fn), 1e-9))))


def pairs(sr, tmp):
    import audiomentations as A

    noise_path = tmp / "noise.wav"
    sf.write(noise_path, np.random.default_rng(0).standard_normal(sr * 10).astype(np.float32) * 0.1, sr)
    ir_path = tmp / "ir.wav"
    sf.write(ir_path, synthetic_rir(0.5, sr=sr, rng=0).astype(np.float32), sr)
    return [
        ("AddNoise(pink, 20 dB)", P.AddNoise(snr_db=20, color="pink", random_state=0),
         A.AddColorNoise(min_snr_db=20, max_snr_db=20, min_f_decay=-3.01, max_f_decay=-3.01, p=1.0)),
        ("AddBackgroundNoise(10 dB)", P.AddBackgroundNoise(str(noise_path), snr_db=10, sr=sr, random_state=0),
         A.AddBackgroundNoise(sounds_path=str(noise_path), min_snr_db=10, max_snr_db=10, p=1.0)),
        ("PitchShift(+2)", P.PitchShift(n_steps=2, sr=sr),
         A.PitchShift(min_semitones=2, max_semitones=2, method="signalsmith_stretch", p=1.0)),
        ("TimeStretch(1.1)", P.TimeStretch(rate=1.1, sr=sr),
         A.TimeStretch(min_rate=1.1, max_rate=1.1, leave_length_unchanged=True, method="signalsmith_stretch", p=1.0)),
        ("Mp3Compression(128 kbps, q=2)", P.Mp3Compression(bitrate=128, sr=sr, quality=2),
         A.Mp3Compression(min_bitrate=128, max_bitrate=128, backend="fast-mp3-augment", quality=2, p=1.0)),
        ("Gain(-6 dB)", P.Gain(gain_db=-6), A.Gain(min_gain_db=-6, max_gain_db=-6, p=1.0)),
        # zero phase squares the magnitude response: order 2 forward-backward is 24 dB/oct, as audiomentations' rolloff 24
        ("LowPass(2 kHz, 24 dB/oct, zero phase)", P.LowPass(cutoff_hz=2000, sr=sr, order=2),
         A.LowPassFilter(min_cutoff_freq=2000, max_cutoff_freq=2000, min_rolloff=24, max_rolloff=24, zero_phase=True, p=1.0)),
        ("HighPass(200 Hz, 24 dB/oct, zero phase)", P.HighPass(cutoff_hz=200, sr=sr, order=2),
         A.HighPassFilter(min_cutoff_freq=200, max_cutoff_freq=200, min_rolloff=24, max_rolloff=24, zero_phase=True, p=1.0)),
        ("BandPass(500-1500 Hz, 24 dB/oct, zero phase)", P.BandPass(low_hz=500, high_hz=1500, sr=sr, order=2),
         A.BandPassFilter(min_center_freq=1000, max_center_freq=1000, min_bandwidth_fraction=1.0,
                          max_bandwidth_fraction=1.0, min_rolloff=24, max_rolloff=24, zero_phase=True, p=1.0)),
        ("Reverb(0.5 s) vs ApplyImpulseResponse", P.Reverb(rt60=0.5, sr=sr, random_state=0),
         A.ApplyImpulseResponse(ir_path=str(ir_path), p=1.0)),
        ("Clipping(5 %)", P.Clipping(percent=5),
         A.ClippingDistortion(min_percentile_threshold=5, max_percentile_threshold=5, p=1.0)),
        ("Bitcrush(8 bits)", P.Bitcrush(bits=8), A.BitCrush(min_bit_depth=8, max_bit_depth=8, p=1.0)),
        ("LoudnessMatch(-23 LUFS)", P.LoudnessMatch(target_lufs=-23, sr=sr),
         A.LoudnessNormalization(min_lufs=-23, max_lufs=-23, p=1.0)),
        ("Downsample(8 kHz)", P.Downsample(target_sr=8000, sr=sr), None),
        ("SpeedChange(1.05)", P.SpeedChange(factor=1.05, sr=sr), None),
        ("LoudnessMatch(PitchShift(+2))", P.LoudnessMatch(P.PitchShift(n_steps=2), sr=sr), None),
    ]


def library_floors(sr, tmp):
    """The bare call that does the work where both sides use the same library (the limit for either), by name.

    One call per clip at the same settings, nothing around it: no input check,
    no batch output, no report. For reverb: scipy's overlap-add convolution
    (trustkit's call) with the one impulse response audiomentations loads, for
    every clip; trustkit draws a response per clip and measures its RT60, so
    its ratio to this floor is what drawing costs.
    """
    import fast_mp3_augment
    import scipy.signal
    from python_stretch.Signalsmith import Stretch

    def stretch(semitones=0.0, rate=1.0):
        def call(x):
            st = Stretch(0)
            st.preset(1, float(sr))
            if semitones:
                st.setTransposeSemitones(semitones)
            if rate != 1.0:
                st.setTimeFactor(rate)
            return st.process(x[np.newaxis])[0]
        return call

    g = np.float32(10 ** (-6 / 20))
    ir = sf.read(tmp / "ir.wav", dtype="float32")[0]
    return {
        "Reverb(0.5 s) vs ApplyImpulseResponse": lambda x: scipy.signal.oaconvolve(x, ir)[: len(x)],
        "PitchShift(+2)": stretch(semitones=2.0),
        "TimeStretch(1.1)": stretch(rate=1.1),
        "Mp3Compression(128 kbps, q=2)": lambda x: fast_mp3_augment.compress_roundtrip(x, sr, 128, quality=2),
        "Gain(-6 dB)": lambda x: x * g,
    }


def pedalboard_peers(sr, tmp):
    """pedalboard's callables for the same transforms at the same settings, by name (None when not installed)."""
    try:
        import pedalboard as pb
    except ImportError:
        return {}
    ir_path = tmp / "ir.wav"

    def board(*plugins):
        b = pb.Pedalboard(list(plugins))
        return lambda x: b(x[np.newaxis], sr)[0]

    return {
        "PitchShift(+2)": board(pb.PitchShift(semitones=2)),
        "TimeStretch(1.1)": lambda x: pb.time_stretch(x[np.newaxis], sr, stretch_factor=1.1)[0],
        "Gain(-6 dB)": board(pb.Gain(gain_db=-6)),
        "Bitcrush(8 bits)": board(pb.Bitcrush(bit_depth=8)),
        "Reverb(0.5 s) vs ApplyImpulseResponse": board(pb.Convolution(str(ir_path), mix=1.0)),
    }


def measure(name, ours, theirs, pb_fn, floor, X, args):
    """One row: every side on the batch ``X``, interleaved rounds in alternating order, medians."""
    ours.transform(X[:1, : args.sr])  # warm-up (imports, first calls, compiled kernels)
    if theirs is not None:
        theirs(X[0, : args.sr], sample_rate=args.sr)
    sides = [("ours", lambda: ours.transform(X))]
    if theirs is not None:
        sides.append(("theirs", lambda: [theirs(x, sample_rate=args.sr) for x in X]))
        # the same clips as one (n_clips, n_samples) batch, as trustkit returns them
        sides.append(("theirs_batch", lambda: np.stack([theirs(x, sample_rate=args.sr) for x in X])))
    if pb_fn is not None:
        pb_fn(X[0, : args.sr])
        sides.append(("pedalboard", lambda: [pb_fn(x) for x in X]))
    if floor is not None:
        floor(X[0, : args.sr])
        sides.append(("floor", lambda: [floor(x) for x in X]))
    number = max(calls_per_round(fn, args.min_time) for _, fn in sides)
    times = {side: [] for side, _ in sides}
    for r in range(args.repeat):  # interleaved rounds, alternating order: every side sees the same machine
        for side, fn in (sides if r % 2 == 0 else sides[::-1]):
            times[side].append(timed(fn, number))
    audio_seconds = X.shape[0] * X.shape[1] / args.sr
    t_ours = float(np.median(times["ours"]))
    row = {"perturbation": name, "clips": X.shape[0], "trustkit_s": t_ours, "trustkit_min_s": min(times["ours"]),
           "trustkit_x_realtime": audio_seconds / t_ours}
    if theirs is not None:
        t_theirs, t_batch = float(np.median(times["theirs"])), float(np.median(times["theirs_batch"]))
        row.update(audiomentations_s=t_theirs, audiomentations_x_realtime=audio_seconds / t_theirs,
                   ratio=t_theirs / t_ours, ratio_min=min(times["theirs"]) / min(times["ours"]),
                   audiomentations_batch_s=t_batch, ratio_batch=t_batch / t_ours)
    if pb_fn is not None:
        t_pb = float(np.median(times["pedalboard"]))
        row.update(pedalboard_s=t_pb, ratio_pedalboard=t_pb / t_ours)
    if floor is not None:
        t_floor = float(np.median(times["floor"]))
        row.update(library_floor_s=t_floor, ratio_floor=t_floor / t_ours)
    return row


def print_row(row):
    ratio = f"{row['ratio']:6.2f} (batch {row['ratio_batch']:4.2f})" if "ratio" in row else "     -"
    ratio_pb = f"{row['ratio_pedalboard']:6.2f}" if "ratio_pedalboard" in row else "     -"
    floor = f"   vs the bare library call {row['ratio_floor']:4.2f}" if "ratio_floor" in row else ""
    print(f"{row['clips']:3d} x {row['perturbation']:<42s} {row['trustkit_x_realtime']:9.1f} x realtime   "
          f"ratio vs audiomentations {ratio}   vs pedalboard {ratio_pb}{floor}", flush=True)


def summary(rows, sizes):
    """The ratio against audiomentations (clip by clip) at every batch size, one line per transform."""
    lines = ["", "ratio vs audiomentations (clip by clip, outputs kept) by batch size; [batch]: stacked; pb: pedalboard",
             f"{'':<44s}" + "".join(f"{n:>8d}" for n in sizes) + "   range   [batch range]   pb range"]
    names = list(dict.fromkeys(r["perturbation"] for r in rows))
    for name in names:
        mine = {r["clips"]: r for r in rows if r["perturbation"] == name}
        if not any("ratio" in r for r in mine.values()):
            continue
        cells = "".join(f"{mine[n]['ratio']:8.2f}" if n in mine else f"{'':8s}" for n in sizes)
        ratios = [r["ratio"] for r in mine.values()]
        batch = [r["ratio_batch"] for r in mine.values()]
        pb = [r["ratio_pedalboard"] for r in mine.values() if "ratio_pedalboard" in r]
        pb_text = f"   {min(pb):.2f}-{max(pb):.2f}" if pb else ""
        lines.append(f"{name:<44s}{cells}   {min(ratios):.2f}-{max(ratios):.2f}   [{min(batch):.2f}-{max(batch):.2f}]"
                     + pb_text)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[1, 4, 8, 32],
                        help="batch sizes to sweep (clips per call)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sr", type=int, default=44100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds per timed sample; faster transforms are called repeatedly within a round")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="measure only the perturbations whose label starts with one of these (e.g. Gain MP3)")
    parser.add_argument("--out", default="benchmarks/results/perturbations.json")
    args = parser.parse_args(argv)

    meta = conditions(clips=args.clips, seconds=args.seconds, sr=args.sr, repeat=args.repeat, min_time=args.min_time,
                      threads="one (n_jobs=None on both sides)")
    print(header(meta), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        all_pairs = pairs(args.sr, Path(tmp))  # writes the impulse response pedalboard convolves with too
        peers = pedalboard_peers(args.sr, Path(tmp))
        floors = library_floors(args.sr, Path(tmp))
        if args.only:
            wanted = tuple(w.lower() for w in args.only)
            all_pairs = [p for p in all_pairs if p[0].lower().startswith(wanted)]
        for n in args.clips:
            X, _ = make_music(n, duration=args.seconds, sr=args.sr, random_state=0)
            for name, ours, theirs in all_pairs:
                rows.append(measure(name, ours, theirs, peers.get(name), floors.get(name), X, args))
                print_row(rows[-1])
            del X
    print(summary(rows, args.clips))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": finish(meta), "rows": rows}, indent=1))
    slower = sorted({f"{r['perturbation']} at {r['clips']}" for r in rows if r.get("ratio", np.inf) < 1})
    print(f"\n{len(rows)} rows; slower than audiomentations: {slower or 'none'}; results in {out}")


if __name__ == "__main__":
    main()
