"""Audio from files: a corpus read chunk by chunk gives the numbers of the same clips in one array."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.spatial.distance import cdist

from trustkit import SensitivityMeter
from trustkit.datasets import Corpus, make_music
from trustkit.encoders import MFCCEncoder
from trustkit.exceptions import InvalidAudioError
from trustkit.perturbations import AddNoise, Gain, PerturbationGrid
from trustkit.robustness import neighbour_outcomes
from trustkit.robustness.consistency import blocked_outcomes

SR = 16000


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """11 clips of 1 s in two label folders, and two exact copies of clip 0 (ties)."""
    root = tmp_path_factory.mktemp("corpus")
    X, y = make_music(11, duration=1.0, sr=SR, random_state=3)
    for i, x in enumerate(X):
        (root / y["timbre"][i]).mkdir(exist_ok=True)
        sf.write(root / y["timbre"][i] / f"{i:02d}.wav", x, SR, subtype="FLOAT")
    return root


@pytest.fixture
def perturb_calls(monkeypatch):
    """The number of clips of every perturbation the meter runs (cache hits run none)."""
    from trustkit.robustness import meter as meter_module

    calls = []
    real = meter_module.perturb

    def counting(step, X, pool=None):
        calls.append(len(X))
        return real(step, X, pool)

    monkeypatch.setattr(meter_module, "perturb", counting)
    return calls


def _grid():
    return PerturbationGrid(AddNoise(), "snr_db", [20, 0], family="noise")


def _same_numbers(a, b):
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.per_clip, b.per_clip)
    assert a.headline_estimate == b.headline_estimate


@pytest.mark.parametrize("chunk_size", [4, 11, 64, None])  # 11 clips: chunks of 4 leave 3; None: 11 chunks of 1
def test_a_corpus_in_chunks_gives_the_numbers_of_one_array(folder, chunk_size):
    corpus = Corpus.from_folder(folder)
    X, _ = corpus.load()
    kw = {"baseline": MFCCEncoder(sr=SR, n_mfcc=13), "random_state": 0, "n_bootstrap": 100}
    in_memory = SensitivityMeter(MFCCEncoder(sr=SR), _grid(), sr=SR, **kw).score(X)
    streamed = SensitivityMeter(MFCCEncoder(sr=SR), _grid(), chunk_size=chunk_size, n_jobs=2, **kw).score(corpus)
    _same_numbers(in_memory, streamed)
    cut = streamed.config["corpus"]
    assert cut["n_files"] == 11 and cut["chunk_size"] == (chunk_size or "auto")
    assert cut["n_chunks"] == {4: 3, 11: 1, 64: 1, None: 11}[chunk_size]
    for m in ("consistency", "mrr", "distance_ratio"):  # every measure, not only the headline
        np.testing.assert_array_equal(in_memory.wide()[m], streamed.wide()[m])


def test_a_folder_and_a_list_of_paths_need_no_rate(folder):
    paths = sorted(str(p) for p in folder.rglob("*.wav"))
    a = SensitivityMeter(MFCCEncoder(), _grid(), random_state=0, n_bootstrap=50).score(folder)
    b = SensitivityMeter(MFCCEncoder(), _grid(), random_state=0, n_bootstrap=50).score(paths)
    assert a.config["sr"] == SR == b.config["sr"]
    _same_numbers(a, b)


def test_the_rate_is_the_meters_then_the_encoders_then_the_files(tmp_path):
    X, _ = make_music(3, duration=1.0, sr=SR, random_state=0)
    for i, x in enumerate(X):
        sf.write(tmp_path / f"{i}.wav", x, SR)
    grid = [("g", Gain(gain_db=-1))]
    assert SensitivityMeter(MFCCEncoder(), grid, n_bootstrap=20).score(tmp_path).config["sr"] == SR  # the files'
    # the encoder's declared rate: every file resampled to it
    assert SensitivityMeter(MFCCEncoder(sr=22050), grid, n_bootstrap=20).score(tmp_path).config["sr"] == 22050
    assert SensitivityMeter(MFCCEncoder(), grid, sr=8000, n_bootstrap=20).score(tmp_path).config["sr"] == 8000
    sf.write(tmp_path / "3.wav", X[0][:8000], 8000)  # files at two rates, and nobody states one
    with pytest.raises(InvalidAudioError, match="2 sample rates"):
        SensitivityMeter(lambda A: A[:, :8], grid).score(tmp_path)
    with pytest.raises(ValueError, match="reads its clips at 16000 Hz but they are needed at 22050 Hz"):
        SensitivityMeter(MFCCEncoder(sr=22050), grid).score(Corpus.from_folder(tmp_path, labels=None, sr=SR))


def test_bad_files_are_named_and_skipped_only_when_asked(folder, tmp_path):
    for f in folder.rglob("*.wav"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    sf.write(tmp_path / "short.wav", np.zeros(800, dtype=np.float32) + 0.1, SR)
    (tmp_path / "notes.txt").write_text("not audio")
    paths = sorted(str(p) for p in tmp_path.iterdir())
    with pytest.raises(InvalidAudioError) as info:
        Corpus.from_files(paths, duration=1.0)
    message = str(info.value)
    for reason in ("broken.wav (unreadable", "empty.wav (empty)", "short.wav (too short: 0.05 s",
                   "notes.txt (unreadable: unsupported format '.txt'", "on_error='skip'"):
        assert reason in message, reason
    corpus = Corpus.from_files(paths, duration=1.0, on_error="skip")
    assert len(corpus) == 11 and [f.split("/")[-1] for f, _ in corpus.skipped] == [
        "broken.wav", "empty.wav", "notes.txt", "short.wav"]
    report = SensitivityMeter(MFCCEncoder(), _grid(), n_bootstrap=20, random_state=0).score(corpus)
    assert len(report.config["corpus"]["skipped"]) == 4
    assert "4 files left out (on_error='skip')" in report.summary() and "empty.wav (empty)" in report.summary()


def test_centred_excerpts_and_csv_corpora(folder, tmp_path):
    corpus = Corpus.from_folder(folder, duration=0.5, excerpt="centre")
    assert corpus.n_samples == SR // 2 and set(corpus.offsets) == {0.25}
    X_full, _ = Corpus.from_folder(folder).load()
    np.testing.assert_array_equal(corpus.read([0]), X_full[:1, SR // 4 : SR // 4 + SR // 2])
    csv = tmp_path / "items.csv"
    names = list(Corpus.from_folder(folder).names)
    pd.DataFrame({"file": [str(folder / n) for n in names[:4]], "label": list("abab"),
                  "group": ["g1", "g1", "g2", "g2"]}).to_csv(csv, index=False)
    listed = Corpus.from_csv(csv)
    assert listed.labels == tuple("abab") and listed.groups == ("g1", "g1", "g2", "g2")
    with pytest.raises(ValueError, match="pass duration"):
        Corpus.from_folder(folder, excerpt="centre")


def test_between_space_consistency_needs_the_array(folder):
    with pytest.raises(ValueError, match="audio_distance compares every pair"):
        SensitivityMeter(MFCCEncoder(), _grid(), audio_distance="dtw").score(folder)


@pytest.mark.parametrize("block_rows", [1, 3, 7, 50])
def test_blocks_of_rows_give_the_whole_matrix_outcomes_with_ties(block_rows):
    rng = np.random.default_rng(0)
    originals = rng.standard_normal((50, 6))
    originals[7] = originals[3]  # a tie: two originals in the same place
    perturbed = originals + 0.3 * rng.standard_normal((50, 6))
    perturbed[11] = originals[11]  # distance 0 to its own original
    whole = neighbour_outcomes(cdist(perturbed, originals, "cosine"))
    blocks = blocked_outcomes(perturbed, originals, lambda A, B: cdist(A, B, "cosine"),
                              block_bytes=block_rows * 50 * 8)
    for k in whole:
        np.testing.assert_array_equal(whole[k], blocks[k])
    assert not whole["consistent"][3] and not whole["consistent"][7]  # ties fail


def test_memory_keeps_finished_chunks(folder, tmp_path, perturb_calls):
    calls = perturb_calls
    kw = {"random_state": 0, "n_bootstrap": 20, "chunk_size": 4, "memory": str(tmp_path)}
    first = SensitivityMeter(MFCCEncoder(), _grid(), **kw).score(folder)
    assert sorted(calls) == sorted([4, 4, 3] * 2)  # 3 chunks x 2 settings
    again = SensitivityMeter(MFCCEncoder(), _grid(), **kw).score(folder)
    assert len(calls) == 6  # nothing perturbed again: every chunk came from the cache
    _same_numbers(first, again)


def test_the_probe_reads_labels_and_embeddings_from_files(folder):
    from trustkit import TransferabilityProbe

    corpus = Corpus.from_folder(folder)
    X, y = corpus.load()
    kw = {"cv": 2, "n_bootstrap": 50, "random_state": 0, "estimators": ("logme", "knn")}
    in_memory = TransferabilityProbe(MFCCEncoder(sr=SR), **kw).score(X, y["label"])
    streamed = TransferabilityProbe(MFCCEncoder(), chunk_size=4, n_jobs=2, **kw).score(folder)  # labels: folders
    pd.testing.assert_frame_equal(in_memory.table.drop(columns="encoder"), streamed.table.drop(columns="encoder"))
    assert streamed.config["corpus"]["n_files"] == 11
    with pytest.raises(TypeError, match="needs y"):
        TransferabilityProbe(MFCCEncoder(), **kw).score(sorted(str(p) for p in folder.rglob("*.wav")))


def test_compare_encoders_takes_a_labelled_folder_as_a_task(folder):
    from trustkit import compare_encoders

    X, y = Corpus.from_folder(folder).load()
    encoders = {"mfcc": MFCCEncoder(), "small": MFCCEncoder(n_mfcc=8)}
    kw = {"cv": 2, "n_bootstrap": 50, "random_state": 0, "estimators": ("logme",), "sr": SR}
    in_memory = compare_encoders(encoders, {"timbre": (X, y["label"])}, **kw)
    streamed = compare_encoders(encoders, {"timbre": folder}, chunk_size=3, **kw)
    pd.testing.assert_frame_equal(in_memory.table, streamed.table)
    with pytest.raises(ValueError, match="chunk_size"):
        compare_encoders(encoders, {"timbre": folder}, chunk_size=0, **kw)


def test_a_bad_chunk_size_is_refused_before_any_file_is_read(folder):
    from trustkit import TransferabilityProbe

    with pytest.raises(ValueError, match="chunk_size"):
        SensitivityMeter(MFCCEncoder(), _grid(), chunk_size=0).score(folder / "missing")
    with pytest.raises(TypeError, match="chunk_size must be an integer, got 2.5"):
        TransferabilityProbe(MFCCEncoder(), chunk_size=2.5).score(folder)


def test_the_fidelity_scorer_reads_its_instances_from_files(folder):
    from trustkit import FidelityComplexityScorer
    from trustkit.fidelity import TimeSegments, mfcc_classifier

    corpus = Corpus.from_folder(folder)
    X, y = corpus.load()
    model = mfcc_classifier(SR).fit(X, y["label"])
    W = np.random.default_rng(0).standard_normal((3, 4))
    kw = {"segmenter": TimeSegments(4, baseline="noise"), "budgets": (1, "all"), "n_bootstrap": 50, "random_state": 0}
    in_memory = FidelityComplexityScorer(model, **kw).fit(X).score(X[:3], W)
    from_files = FidelityComplexityScorer(model, **kw).fit(folder).score(list(corpus.files[:3]), W)
    pd.testing.assert_frame_equal(in_memory.table, from_files.table)
    with pytest.raises(TypeError, match="no segmenter"):
        FidelityComplexityScorer(model).fit(folder)


def test_the_command_line_streams_audio_and_lists_what_it_skipped(folder, tmp_path, capsys):
    import json

    from trustkit.cli import main

    for f in list(folder.rglob("*.wav"))[:4]:
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    argv = ["sensitivity", "--encoder", "mfcc", "--audio", str(tmp_path), "--perturbations", "imperceptible",
            "--chunk-size", "3", "--json", str(tmp_path / "out.json")]
    assert main(argv) == 2 and "broken.wav (unreadable" in capsys.readouterr().err
    assert main([*argv, "--on-error", "skip"]) == 0
    out = capsys.readouterr().out
    assert "1 files left out (on_error='skip'): broken.wav (unreadable" in out
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["config"]["corpus"]["skipped"][0]["file"] == "broken.wav" and doc["config"]["corpus"]["chunk_size"] == 3


def test_the_command_line_resumes_from_its_cache(folder, tmp_path, perturb_calls):
    import json

    from trustkit.cli import main

    calls = perturb_calls
    argv = ["sensitivity", "--encoder", "mfcc", "--audio", str(folder), "--chunk-size", "6", "--cache",
            str(tmp_path / "cache"), "--perturbations", "imperceptible"]
    assert main([*argv, "--json", str(tmp_path / "a.json")]) == 0
    first = len(calls)
    assert first > 0 and main([*argv, "--json", str(tmp_path / "b.json")]) == 0
    assert len(calls) == first  # every chunk came back from the cache
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["long"] == b["long"]


def test_embeddings_that_would_not_fit_are_memory_mapped_with_the_same_numbers(folder, monkeypatch):
    from trustkit import corpus as corpus_module

    kw = {"random_state": 0, "n_bootstrap": 50, "chunk_size": 4, "baseline": MFCCEncoder(n_mfcc=8)}
    in_ram = SensitivityMeter(MFCCEncoder(), _grid(), **kw).score(folder)
    opened = []
    real = corpus_module.RowStore.put

    def put(self, key, index, rows):
        real(self, key, index, rows)
        opened.append(self.mapped)

    monkeypatch.setattr(corpus_module, "_ram_budget", lambda: 0)  # nothing fits: every array is a file
    monkeypatch.setattr(corpus_module.RowStore, "put", put)
    mapped = SensitivityMeter(MFCCEncoder(), _grid(), **kw).score(folder)
    assert opened and all(opened)
    _same_numbers(in_ram, mapped)


def test_a_store_refuses_chunks_of_another_shape():
    from trustkit.corpus import RowStore

    with RowStore(4, n_arrays=1) as store:
        store.put("z", [0, 1], np.zeros((2, 3)))
        with pytest.raises(ValueError, match=r"rows of shape \(5,\) in one chunk but \(3,\) in an earlier one"):
            store.put("z", [2, 3], np.zeros((2, 5)))


@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", ["1", "2"])  # 2: the chunks in worker processes
def test_ctrl_c_on_a_streamed_run_keeps_its_finished_chunks(tmp_path, n_jobs):
    """SIGINT half-way: exit 130 and nothing written; run again, the finished chunks come from the cache, same numbers."""
    import json
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from trustkit.cli import main

    X, _ = make_music(48, duration=2.0, sr=SR, random_state=5)
    audio = tmp_path / "audio"
    audio.mkdir()
    for i, x in enumerate(X):
        sf.write(audio / f"{i:02d}.wav", x, SR, subtype="FLOAT")
    cache = tmp_path / "cache"
    argv = ["sensitivity", "--encoder", "mfcc", "--audio", str(audio), "--chunk-size", "4", "--n-jobs", n_jobs,
            "--cache", str(cache), "--perturbations", "imperceptible"]
    exe = shutil.which("trustkit") or str(Path(sys.executable).parent / "trustkit")
    proc = subprocess.Popen([exe, *argv, "--json", str(tmp_path / "stopped.json")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and len(list(cache.rglob("output.pkl"))) < 2 * 24:
        time.sleep(0.05)  # until two chunks' perturbations are in the cache
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("trustkit:") or "Traceback" in line or "terminate" in line]
    assert lines == ["trustkit: interrupted; nothing was written."], err[-2000:]
    assert not (tmp_path / "stopped.json").exists()
    kept = {p: p.stat().st_mtime_ns for p in cache.rglob("output.pkl")}
    assert len(kept) >= 2 * 24  # nothing finished was lost

    assert main([*argv, "--json", str(tmp_path / "resumed.json")]) == 0
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("output.pkl")}
    assert len(after) > len(kept) and all(after[p] == t for p, t in kept.items())  # the rest added, nothing redone
    clean = [a for a in argv if a not in ("--cache", str(cache))]
    assert main([*clean, "--json", str(tmp_path / "clean.json")]) == 0
    resumed, fresh = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("resumed", "clean"))
    assert resumed["long"] == fresh["long"]


def test_chunks_in_worker_processes_send_back_their_warnings_and_errors(tmp_path):
    """Files on two workers run each chunk in a loky process: what it warns or refuses reaches the caller as in one."""
    from trustkit import TrustkitWarning

    X, _ = make_music(6, duration=1.0, sr=SR, random_state=1)
    X[4, : SR * 3 // 4] = 0.0  # three quarters digital silence
    for i, x in enumerate(X):
        sf.write(tmp_path / f"{i}.wav", x, SR, subtype="FLOAT")
    kw = {"random_state": 0, "n_bootstrap": 20, "chunk_size": 2}
    with pytest.warns(TrustkitWarning, match=r"digital silence \(clip 4: 75%"):
        alone = SensitivityMeter(MFCCEncoder(), _grid(), **kw).score(tmp_path)
    with pytest.warns(TrustkitWarning, match=r"digital silence \(clip 4: 75%"):
        two = SensitivityMeter(MFCCEncoder(), _grid(), n_jobs=2, **kw).score(tmp_path)
    _same_numbers(alone, two)
    sf.write(tmp_path / "5.wav", np.zeros(SR, dtype=np.float32), SR, subtype="FLOAT")  # clip 5: silent throughout
    with pytest.warns(TrustkitWarning), pytest.raises(InvalidAudioError, match="clip 5 .*too quiet for loudness"):
        SensitivityMeter(MFCCEncoder(), _grid(), n_jobs=2, **kw).score(tmp_path)


def test_an_encoder_that_cannot_be_sent_to_a_process_runs_its_chunks_on_threads(folder):
    import threading

    lock = threading.Lock()  # cannot be pickled: the chunks stay in this process

    class Locked(MFCCEncoder):
        def _embed(self, x, sr):
            with lock:
                return super()._embed(x, sr)

    meter = SensitivityMeter(Locked(), _grid(), random_state=0, n_bootstrap=20, n_jobs=2, chunk_size=4)
    from trustkit._meter import can_pickle

    assert not can_pickle(meter) and can_pickle(SensitivityMeter(MFCCEncoder(), _grid()))
    locked = meter.score(folder)
    sent = SensitivityMeter(MFCCEncoder(), _grid(), random_state=0, n_bootstrap=20, n_jobs=2, chunk_size=4).score(folder)
    for col in ("statistic", "low", "high"):
        np.testing.assert_array_equal(locked.table[col], sent.table[col])


def test_an_encoder_that_cannot_be_sent_once_used_runs_its_chunks_on_threads(folder):
    import threading

    class LockedOnUse(MFCCEncoder):  # pickles until its first embedding, as a lazily opened session would not
        def _embed(self, x, sr):
            self.lock_ = getattr(self, "lock_", None) or threading.Lock()
            return super()._embed(x, sr)

    kw = {"random_state": 0, "n_bootstrap": 20, "n_jobs": 2, "chunk_size": 4}
    used = SensitivityMeter(LockedOnUse(), _grid(), **kw).score(folder)
    sent = SensitivityMeter(MFCCEncoder(), _grid(), **kw).score(folder)
    np.testing.assert_array_equal(used.table["statistic"], sent.table["statistic"])
