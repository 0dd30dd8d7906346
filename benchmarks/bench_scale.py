"""A corpus from files: memory bounded by the chunk, processes against threads, the distance blocks.

In one run:

1. ``memory``: ``SensitivityMeter(MFCCEncoder(), "imperceptible")`` on N and
   2N audio files, each run in a fresh process; its peak RSS streamed from the
   folder (``score(folder)``, ``chunk_size`` clips at a time) against the same
   clips loaded into one array first (the reference). Streamed, the peak must
   not grow with the corpus (the issue's bound: < 10 % from N to 2N). Peak
   RSS of the process itself and of the process with its workers (sampled);
2. ``engines``: the same streamed meter on N files with one worker, with two
   threads (``joblib.parallel_config(backend="threading")``: the GIL-bound
   perturbations then go to worker processes), and with two worker processes
   (the meter's default for files: every chunk a loky task): wall time,
   ratio to one worker (medians of ``--repeats`` interleaved runs), the
   tables asserted identical, and the machine's own ceiling: a fixed numpy
   workload on two processes against one after the other;
3. ``blocks``: within-space outcomes of n x n synthetic 256-d embeddings
   (cosine), by row blocks against the whole matrix at once: time and peak
   traced memory (numpy reports its buffers to tracemalloc). The whole matrix
   is measured only while it fits; the blocks go on to the largest n asked.

Usage: ``python benchmarks/bench_scale.py [--files 100 --seconds 4 --blocks 2000 5000 10000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from conditions import conditions, finish, header

SR = 16000


def write_corpus(folder: Path, n: int, seconds: float) -> None:
    """``n`` generated clips as float WAV files, 50 at a time (never all in memory)."""
    import soundfile as sf

    from trustkit.datasets import make_music

    for start in range(0, n, 50):
        X, _ = make_music(min(50, n - start), duration=seconds, sr=SR, random_state=start)
        for i, x in enumerate(X):
            sf.write(folder / f"{start + i:05d}.wav", x, SR, subtype="FLOAT")


def own_peak_mib() -> float:
    """This process's peak resident memory since it started its program.

    Linux's ``VmHWM``: ``getrusage``'s ``ru_maxrss`` keeps, across ``exec``,
    the high-water mark of the process that forked it (a child started from a
    1.2-GB pytest worker reads 1.2 GB however little it uses).
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeRss:
    """Peak resident memory of this process and every process it started (its workers), sampled every 20 ms."""

    def __init__(self) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import contextlib

        try:
            import psutil
        except ImportError:  # without psutil: this process only (getrusage, below)
            return
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker that ended between the listing and the reading
                    total += p.memory_info().rss
            self.peak = max(self.peak, total / 2**20)
            self._stop.wait(0.02)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child(mode: str, folder: str, n: int, chunk_size: int | None, engine: str) -> dict:
    """One meter run in this (fresh) process: wall seconds, peak RSS, the headline and a digest of the table.

    ``engine``: ``one`` (n_jobs=1), ``processes`` (n_jobs=2, the meter's default for files: each chunk in a worker
    process), ``threads`` (n_jobs=2 under ``joblib.parallel_config(backend="threading")``: the chunks on threads,
    the GIL-bound settings in worker processes).
    """
    import contextlib

    import joblib

    from trustkit import SensitivityMeter
    from trustkit.datasets import Corpus
    from trustkit.encoders import MFCCEncoder

    paths = sorted(str(p) for p in Path(folder).glob("*.wav"))[:n]
    corpus = Corpus.from_files(paths)
    n_jobs = 1 if engine == "one" else 2
    meter = SensitivityMeter(MFCCEncoder(), "imperceptible", n_bootstrap=200, random_state=0, n_jobs=n_jobs,
                             chunk_size=chunk_size)
    config = joblib.parallel_config(backend="threading") if engine == "threads" else contextlib.nullcontext()
    t0 = time.perf_counter()
    with TreeRss() as tree, config:
        if mode == "array":
            X, _ = corpus.load()
            report = meter.set_params(sr=corpus.sr).score(X)
        else:
            report = meter.score(corpus)
    wall = time.perf_counter() - t0
    digest = float(np.nansum(report.table["statistic"].to_numpy(float) * np.arange(1, len(report.table) + 1)))
    return {"mode": mode, "engine": engine, "n_files": n, "wall_s": round(wall, 2),
            "peak_rss_mib": round(own_peak_mib(), 1),  # this process
            "peak_tree_mib": round(tree.peak, 1),  # this process and its workers, at the same moment
            "headline": float(report), "digest": digest}


def _fft_work(seconds_hint: float) -> float:
    """A fixed numpy workload (FFTs), the same in every call: its wall time."""
    a = np.random.default_rng(0).standard_normal(2**16)
    t0 = time.perf_counter()
    for _ in range(int(600 * seconds_hint)):
        np.fft.rfft(a)
    return time.perf_counter() - t0


def machine_ceiling(repeats: int) -> dict:
    """What two processes give on this machine at best: the fixed workload twice in turn, then on two processes."""
    import multiprocessing

    ratios = []
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_fft_work, [0.1, 0.1])  # the workers started and warm
        for _ in range(repeats):
            t0 = time.perf_counter()
            _fft_work(2.0), _fft_work(2.0)
            one = time.perf_counter() - t0
            t0 = time.perf_counter()
            pool.map(_fft_work, [2.0, 2.0])
            ratios.append(round(one / (time.perf_counter() - t0), 2))
    return {"ratios": ratios, "median": float(np.median(ratios))}


def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def blocks(sizes: list[int], whole_limit: int) -> list[dict]:
    from scipy.spatial.distance import cdist

    from trustkit.robustness.consistency import blocked_outcomes, neighbour_outcomes

    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        originals = rng.standard_normal((n, 256)).astype(np.float32)
        perturbed = originals + 0.5 * rng.standard_normal((n, 256)).astype(np.float32)
        dist = lambda A, B: cdist(A, B, "cosine")  # noqa: E731
        tracemalloc.start()
        t0 = time.perf_counter()
        blocked = blocked_outcomes(perturbed, originals.astype(np.float64), dist)  # as the meter: converted once
        row = {"n": n, "blocks_s": round(time.perf_counter() - t0, 2),
               "blocks_peak_mib": round(tracemalloc.get_traced_memory()[1] / 2**20, 1)}
        tracemalloc.stop()
        if n <= whole_limit:
            tracemalloc.start()
            t0 = time.perf_counter()
            whole = neighbour_outcomes(dist(perturbed, originals))
            row.update(whole_s=round(time.perf_counter() - t0, 2),
                       whole_peak_mib=round(tracemalloc.get_traced_memory()[1] / 2**20, 1))
            tracemalloc.stop()
            assert all(np.array_equal(whole[k], blocked[k]) for k in whole), "blocks differ from the whole matrix"
            row["identical"] = True
        rows.append(row)
        print(row, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100, help="N: the memory runs use N and 2N files (default 100)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per file (default 4)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="clips per chunk (default: the meter's own cut, at least 16 equal chunks)")
    parser.add_argument("--blocks", type=int, nargs="*", default=[2000, 5000, 10000],
                        help="n for the distance blocks (default 2000 5000 10000)")
    parser.add_argument("--whole-limit", type=int, default=10000, help="largest n measured as one whole matrix")
    parser.add_argument("--repeats", type=int, default=1, help="engine runs per engine, interleaved (median reported)")
    parser.add_argument("--engines", nargs="+", default=["one", "threads", "processes"],
                        choices=["one", "threads", "processes"], help="the engines compared (the first is the reference)")
    parser.add_argument("--engine", default="processes", choices=["one", "threads", "processes"],
                        help="the memory runs' engine (default: processes, the meter's default for files on 2 workers)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["memory", "engines", "blocks"])
    parser.add_argument("--modes", nargs="*", default=["stream", "array"], choices=["stream", "array"],
                        help="the memory runs: streamed and/or one array (the reference; skip it for big corpora)")
    parser.add_argument("--folder", default=None,
                        help="write (or reuse) the generated files here instead of a temporary folder")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.json"))
    args = parser.parse_args(argv)
    meta = conditions(files=args.files, seconds=args.seconds, sr=SR, chunk_size=args.chunk_size, blocks=args.blocks)
    print(header(meta), flush=True)
    result = {"meta": meta}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if {"memory", "engines"} - set(args.skip) and len(list(folder.glob("*.wav"))) < 2 * args.files:
            write_corpus(folder, 2 * args.files, args.seconds)
        if "memory" not in args.skip:
            rows = []
            for n in (args.files, 2 * args.files):
                for mode in args.modes:
                    rows.append(run_child(mode, folder, n, args.chunk_size, args.engine))
                    print(rows[-1], flush=True)
            for mode in args.modes:
                for key in ("peak_rss_mib", "peak_tree_mib"):
                    a, b = (r[key] for r in rows if r["mode"] == mode)
                    print(f"{mode}: {key} {a} -> {b} MiB from {args.files} to {2 * args.files} files "
                          f"(+{100 * (b / a - 1):.1f} %)")
            for n in (args.files, 2 * args.files):
                assert len({r["digest"] for r in rows if r["n_files"] == n}) == 1, "streamed != array"
            result["memory"] = rows
        if "engines" not in args.skip:
            runs = []
            for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every engine
                for engine in args.engines:
                    runs.append(run_child("stream", folder, args.files, args.chunk_size, engine))
                    print(runs[-1], flush=True)
            assert len({r["digest"] for r in runs}) == 1, "the engines gave different numbers"
            rows = []
            for engine in args.engines:
                walls = [r["wall_s"] for r in runs if r["engine"] == engine]
                rows.append({**next(r for r in runs if r["engine"] == engine), "wall_s": float(np.median(walls)),
                             "walls_s": walls})
            for r in rows:
                r["speedup"] = round(rows[0]["wall_s"] / r["wall_s"], 2)
                print(f"{r['engine']}: median {r['wall_s']} s of {r['walls_s']}, {r['speedup']}x", flush=True)
            ceiling = machine_ceiling(args.repeats)
            print(f"the machine's own ceiling (two processes of numpy FFTs against one after the other): {ceiling}",
                  flush=True)
            result["engines"] = rows
            result["engine_runs"] = runs
            result["ceiling"] = ceiling
    if "blocks" not in args.skip:
        result["blocks"] = blocks(args.blocks, args.whole_limit)
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps({**result, "meta": finish(meta)}, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, folder, n, chunk, engine = sys.argv[2:7]
        print(json.dumps(child(mode, folder, int(n), None if chunk == "None" else int(chunk), engine)))
    else:
        main()
