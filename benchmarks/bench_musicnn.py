"""MusicnnEncoder (onnxruntime) against musicnn's own extractor (TensorFlow), per 30-s clip.

In one run, interleaved rounds, wall and CPU time, min and median:

1. ``trustkit``: ``MusicnnEncoder(model=m).transform`` on one 30-s clip at
   16 kHz (front-end, ten patches, one onnxruntime call per patch, pooling);
2. ``batched``: the same patches stacked into one onnxruntime call (what
   "batching patches across clips" would do), and how far its outputs are from
   the per-patch ones (not bit-identical for the musicnn models: batching
   would make a clip's embedding depend on its batch company);
3. ``musicnn``: ``musicnn.extractor.extractor(wav, model=m)`` (TensorFlow),
   only where TensorFlow and musicnn are importable -- they are in no extra of
   trustkit and never in CI; see ``tools/convert_musicnn.py`` for the venv. Its
   outputs are compared with trustkit's patch by patch: the network (musicnn's
   own patches through onnxruntime vs its TensorFlow taggram), and end to end
   (which adds musicnn's float16 log and librosa's changed STFT padding). The
   clip is scaled to a peak of 0.1: at make_music's level (peak 0.5) musicnn's
   float16 front-end overflows to inf and its outputs are garbage (counted
   below; ``tests/test_musicnn.py`` checks every layer against TensorFlow on
   trustkit's own front-end).

Ratios are peer time / trustkit time (above 1: trustkit is faster).

    python benchmarks/bench_musicnn.py                       # trustkit and batched only
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python benchmarks/bench_musicnn.py   # + musicnn/TensorFlow
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from conditions import conditions, header
from threadpoolctl import threadpool_limits

from trustkit.datasets import make_music
from trustkit.encoders import MusicnnEncoder
from trustkit.encoders._onnx import onnx_session
from trustkit.encoders.musicnn import _path, musicnn_logmel, musicnn_patches

SR = 16000


def timed(func, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = func(*args, **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0, out


def fmt(times):
    wall = [t[0] for t in times]
    cpu = [t[1] for t in times]
    return f"wall min {min(wall):.3f} s, median {statistics.median(wall):.3f} s; CPU median {statistics.median(cpu):.3f} s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["MSD_musicnn", "MTT_vgg"])
    args = parser.parse_args(argv)
    print(header(conditions(**{k: v for k, v in vars(args).items() if v is not None})), flush=True)
    X, _ = make_music(1, duration=args.seconds, sr=SR, random_state=0)
    loud = X.copy()
    X = X * (0.1 / np.abs(X).max())  # below musicnn 0.1.0's float16 overflow (see the docstring)
    have_tf = importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("musicnn") is not None
    wav = None
    if have_tf:
        import soundfile

        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from musicnn.extractor import batch_data, extractor

        wav = Path(tempfile.mkdtemp()) / "clip.wav"
        soundfile.write(wav, X[0], SR, subtype="FLOAT")  # librosa.load at 16 kHz reads it back unchanged
    print(f"one {args.seconds:g}-s clip at {SR} Hz, {args.rounds} interleaved rounds; musicnn/TensorFlow: "
          f"{'yes' if have_tf else 'not installed (trustkit only)'}\n")
    for model in args.models:
        layer = "pool5" if model.endswith("vgg") else "penultimate"
        enc = MusicnnEncoder(sr=SR, model=model, layer=layer)
        session = onnx_session(_path(model), owner="bench", install="")
        patches = musicnn_patches(musicnn_logmel(X[0]))
        enc.transform(X)  # warm-up (session, filterbank)
        session.run(["taggram"], {"logmel": patches})
        if have_tf:
            extractor(str(wav), model=model, extract_features=True)  # warm-up (imports)
        ours, batched, theirs = [], [], []
        for _ in range(args.rounds):
            with threadpool_limits(limits=1):  # as trustkit.encoders.embed runs every encoder inside the meters
                ours.append(timed(enc.transform, X))
            batched.append(timed(session.run, ["taggram", layer], {"logmel": patches}))
            if have_tf:
                theirs.append(timed(extractor, str(wav), model=model, extract_features=True))
        per_patch = [session.run(["taggram", layer], {"logmel": p[None]}) for p in patches]
        diff = max(float(np.abs(np.vstack([r[i] for r in per_patch]) - batched[-1][2][i]).max()) for i in range(2))
        print(f"{model} ({len(patches)} patches, layer {layer}):")
        print(f"  trustkit (one call per patch): {fmt(ours)}")
        print(f"  one batched call:              {fmt(batched)}; max |batched - per patch| = {diff:.2e}; "
              f"ratio batched/trustkit (forward only) {statistics.median(t[0] for t in batched) / statistics.median(t[0] for t in ours):.2f}")
        if have_tf:
            taggram_tf = theirs[-1][2][0]
            taggram_ours = np.vstack([r[0] for r in per_patch])
            n = min(len(taggram_tf), len(taggram_ours))
            their_patches, _ = batch_data(str(wav), 187, 187)
            network = np.vstack([session.run(["taggram"], {"logmel": p[None].astype(np.float32)})[0] for p in their_patches])
            loud_wav = wav.with_name("loud.wav")
            soundfile.write(loud_wav, loud[0], SR, subtype="FLOAT")
            _, loud_rep = batch_data(str(loud_wav), 187, 187)
            print(f"  musicnn extractor (TF):        {fmt(theirs)}")
            print(f"  ratio musicnn/trustkit: wall {statistics.median(t[0] for t in theirs) / statistics.median(t[0] for t in ours):.1f}x, "
                  f"CPU {statistics.median(t[1] for t in theirs) / statistics.median(t[1] for t in ours):.1f}x; "
                  f"taggram max |diff|: network (same patches) {np.abs(network - taggram_tf).max():.1e}, end to end "
                  f"{np.abs(taggram_tf[:n] - taggram_ours[:n]).max():.1e} (float16 log, STFT padding)")
            print(f"  at peak {np.abs(loud).max():.2f} (make_music's level) musicnn's float16 front-end has "
                  f"{int(np.isinf(loud_rep).sum())} inf values; trustkit's embedding stays finite: "
                  f"{bool(np.isfinite(enc.transform(loud)).all())}")
        print()


if __name__ == "__main__":
    main()
