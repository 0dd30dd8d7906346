"""Perturbations on real recordings (librosa's examples in ../shared/data/librosa)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from trustkit.audio import integrated_loudness, load_audio
from trustkit.perturbations import (
    AddBackgroundNoise,
    AddNoise,
    LoudnessMatch,
    Mp3Compression,
    PitchShift,
    study_grid,
)

SR = 22050
DATA = Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent"))
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="LIBROSA_DATA_DIR with librosa's example recordings is not available")


def recording(stem, seconds=4.0, offset=5.0):
    path = next(DATA.glob(f"*{stem}*.ogg"))
    x = load_audio(path, sr=SR)
    start = int(offset * SR)
    return x[start : start + int(seconds * SR)]


@pytest.fixture(scope="module")
def real():
    X = np.vstack([recording(s) for s in ("Hungarian_Dance", "Vibe_Ace", "Drum-bass", "ragtime")])
    X.flags.writeable = False
    return X


def test_mp3_on_real_music_is_aligned(real):
    Xt, p = Mp3Compression(bitrate=128, sr=SR).transform_with_params(real)
    for x, y in zip(real, Xt):
        c = scipy.signal.correlate(y, x, mode="full", method="fft")
        assert int(np.argmax(c)) - (len(x) - 1) == 0
    assert (p["codec_sr"] == SR).all()


def test_snr_and_loudness_on_real_music(real):
    Xt = AddNoise(snr_db=27.5, random_state=0).transform(real)
    snr = 20 * np.log10(np.std(real, axis=1) / np.std(Xt - real, axis=1))
    assert np.all(np.abs(snr - 27.5) < 0.1)
    matched = LoudnessMatch(PitchShift(n_steps=-4), sr=SR).fit_transform(real)
    assert np.all(np.abs(integrated_loudness(matched, sr=SR) - integrated_loudness(real, sr=SR)) < 0.1)


def test_environmental_noise_from_a_real_recording(real):
    whale = next(DATA.glob("*humpback*.ogg"))
    _, p = AddBackgroundNoise(whale, snr_db=6, sr=SR, random_state=0).transform_with_params(real)
    np.testing.assert_allclose(p["snr_db_realised"], 6.0, atol=1e-4)


@pytest.mark.slow
def test_whole_imperceptible_grid_runs_on_real_music(real):
    for point in study_grid("imperceptible", sr=SR, random_state=0):
        Xt = point.perturbation.fit_transform(real)
        assert Xt.shape == real.shape and np.isfinite(Xt).all(), point.name


@pytest.mark.slow
def test_mfcc_and_deep_encoders_over_the_imperceptible_grid(real):
    import importlib.util

    from trustkit import SensitivityMeter
    from trustkit.encoders import BasicPitchEncoder, CrepeEncoder, MFCCEncoder, MusicnnEncoder

    X = np.vstack([real[:, : 2 * SR], real[:, 2 * SR :]])  # 8 excerpts of 2 s
    encoders = [MFCCEncoder(sr=SR), MusicnnEncoder(sr=SR), MusicnnEncoder(sr=SR, model="MTT_vgg")]
    if importlib.util.find_spec("torchcrepe"):
        encoders.append(CrepeEncoder(sr=SR))
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("basic_pitch"):
        encoders.append(BasicPitchEncoder(sr=SR))
    for enc in encoders:
        report = SensitivityMeter(enc, "imperceptible", sr=SR, random_state=0, n_bootstrap=200).score(X)
        table = report.wide()
        assert table.loc[table["setting"] == "identity", "consistency"].item() == 1.0
        assert len(table) == 25 and table["consistency"].between(0, 1).all()
        assert 0.0 <= float(report) <= 1.0
        low, high = report.headline_estimate.low, report.headline_estimate.high
        assert low <= float(report) <= high
