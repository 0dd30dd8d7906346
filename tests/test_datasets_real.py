from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from trustkit import TrustkitWarning

pytest.importorskip("music21")
pytest.importorskip("tinysoundfont")


def _folk(tmp_path, **kw):
    import warnings

    from trustkit.datasets import load_folk_tunes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrustkitWarning)
        X, y = load_folk_tunes(cache=tmp_path, **kw)
    return X, y, caught


def test_folk_tunes_are_real_labelled_and_cached(tmp_path):
    X, y, caught = _folk(tmp_path, n_clips=12, duration=2.0, sr=16000, random_state=0)
    assert X.shape == (12, 32000) and X.dtype == np.float32
    np.testing.assert_allclose(np.abs(X).max(axis=1), 0.5, rtol=1e-6)
    assert list(y.columns[:2]) == ["tune_type", "mode"]
    assert y["tune_type"].value_counts().to_dict() == {"reel": 3, "hornpipe": 3, "jig": 3, "strathspey": 3}
    assert set(y["mode"]) <= {"major", "minor"}
    assert y["title"].nunique() == 12 and y["file"].str.endswith(".abc").all()
    for w in caught:  # skipped tunes are named, never silent
        assert ".abc (" in str(w.message)
    files = list(tmp_path.glob("folk_*.npz"))
    assert len(files) == 1
    X2, y2, _ = _folk(tmp_path, n_clips=12, duration=2.0, sr=16000, random_state=0, label="mode")
    np.testing.assert_array_equal(X, X2)
    assert y2.columns[0] == "mode" and (y2["tune_type"] == y["tune_type"]).all()
    X3, _, _ = _folk(tmp_path, n_clips=12, duration=2.0, sr=16000, random_state=1)
    assert not np.array_equal(X, X3)


def test_folk_tunes_bad_input(tmp_path):
    from trustkit.datasets import load_folk_tunes

    with pytest.raises(ValueError, match="label must be one of"):
        load_folk_tunes(4, label="composer", cache=tmp_path)
    with pytest.raises(ValueError, match="no tunes of type"):
        load_folk_tunes(4, classes=("polka",), cache=tmp_path)


def test_mode_from_abc_key():
    from trustkit.datasets import _mode_from_key

    assert [_mode_from_key(k) for k in ("Am", "Emin", "Ador", "G", "D", "AMix", "Bbmaj", "F#m", "")] == [
        "minor", "minor", "minor", "major", "major", "major", "major", "minor", "major"]


DATA = Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent"))


@pytest.mark.skipif(not DATA.is_dir(), reason="librosa's example recordings are not available")
def test_example_recordings_task():
    from trustkit.datasets import load_example_recordings

    X, y = load_example_recordings(duration=2.0, sr=16000, max_clips_per_recording=3)
    assert X.shape[1] == 32000 and len(X) == len(y)
    assert set(y["kind"]) == {"music", "speech", "animal"}
    assert y.groupby("recording").size().max() <= 3


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_dir(), reason="librosa's example recordings are not available")
def test_compare_real_encoders_on_real_tasks(tmp_path):
    import importlib.util

    from trustkit import compare_encoders
    from trustkit.datasets import load_example_recordings
    from trustkit.encoders import (
        BasicPitchEncoder,
        CrepeEncoder,
        MFCCEncoder,
        MusicnnEncoder,
        RandomProjectionEncoder,
    )

    X_folk, folk, _ = _folk(tmp_path, n_clips=40, duration=4.0, sr=22050, random_state=0)
    X_ex, ex = load_example_recordings(duration=2.0, sr=22050, max_clips_per_recording=4)
    encoders = {"mfcc": MFCCEncoder(), "random_projection": RandomProjectionEncoder(), "musicnn": MusicnnEncoder()}
    if importlib.util.find_spec("torchcrepe"):
        encoders["crepe"] = CrepeEncoder()
    if importlib.util.find_spec("basic_pitch"):
        encoders["basic_pitch"] = BasicPitchEncoder()
    tasks = {"tune_type": (X_folk, folk["tune_type"]), "kind": (X_ex, ex["kind"], ex["recording"])}
    report = compare_encoders(encoders, tasks, cv=3, n_bootstrap=200, sr=22050, random_state=0)
    wide = report.wide()
    assert len(wide) == len(encoders) * 2
    assert (wide["low"] <= wide["statistic"]).all() and (wide["statistic"] <= wide["high"]).all()
    assert len(report.pairwise) == 2 * len(encoders) * (len(encoders) - 1) // 2
    assert np.isfinite(report.friedman["critical_difference"])
    kind = wide[wide["task"] == "kind"]
    assert (kind["statistic"] > kind["chance"]).any()  # someone tells music from speech from animals


def test_render_score_plays_every_note_at_its_pitch(tmp_path):
    import librosa

    from trustkit.datasets import render_score

    abc = "X:1\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|"
    x = render_score(abc, sr=16000, qpm=120, program=73)
    assert x.shape == (int(16000 * (8 * 0.5 + 1.0)),) and x.dtype == np.float32
    chroma = librosa.feature.chroma_stft(y=x, sr=16000, hop_length=512)
    frames = lambda t: slice(int(t * 16000 / 512), int((t + 0.3) * 16000 / 512))  # noqa: E731
    played = [int(chroma[:, frames(k * 0.5 + 0.1)].mean(axis=1).argmax()) for k in range(8)]
    assert played == [0, 2, 4, 5, 7, 9, 11, 0]  # C D E F G A B C
    path = tmp_path / "scale.abc"
    path.write_text(abc)
    np.testing.assert_array_equal(render_score(path, sr=16000, qpm=120, program=73), x)  # a file renders the same
    assert render_score(abc, sr=8000, duration=1.0).shape == (8000,)
    with pytest.raises(FileNotFoundError, match="no file 'missing.mid'"):
        render_score("missing.mid")
