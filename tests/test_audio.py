from __future__ import annotations

import numpy as np
import pytest

from trustkit import InvalidAudioError
from trustkit._validation import check_audio, check_number, check_sr
from trustkit.audio import fix_length, integrated_loudness, load_audio, pcm_to_float, save_audio


def test_fix_length_crops_and_pads_without_touching_input():
    x = np.arange(6.0).reshape(2, 3)
    assert fix_length(x, 2).shape == (2, 2)
    padded = fix_length(x, 5)
    assert padded.shape == (2, 5) and (padded[:, 3:] == 0).all()
    assert x.shape == (2, 3)


def test_pcm_to_float():
    np.testing.assert_array_equal(pcm_to_float(np.array([[-128, 0, 64]], dtype=np.int8)), [[-1, 0, 0.5]])
    np.testing.assert_array_equal(pcm_to_float(np.array([[0, 128]], dtype=np.uint8)), [[-1, 0]])


def test_loudness_of_a_reference_tone():
    # BS.1770: a 997 Hz sine at -20 dBFS RMS... reads -20 LUFS (within the K-weighting gain at 1 kHz)
    sr = 48000
    t = np.arange(3 * sr) / sr
    x = 10 ** (-20 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 997 * t)
    assert integrated_loudness(x[np.newaxis], sr=sr)[0] == pytest.approx(-20.0, abs=0.1)
    louder = integrated_loudness(2 * x[np.newaxis], sr=sr)[0]
    assert louder - (-20.0) == pytest.approx(20 * np.log10(2), abs=0.1)


def test_save_and_load_roundtrip(tmp_path):
    x = np.random.default_rng(0).uniform(-1.5, 1.5, 16000).astype(np.float32)
    save_audio(tmp_path / "x.wav", x, sr=16000)
    np.testing.assert_array_equal(load_audio(tmp_path / "x.wav", sr=16000), x)  # nothing clipped
    assert load_audio(tmp_path / "x.wav", sr=8000).shape == (8000,)
    with pytest.raises(InvalidAudioError, match="is at 16000 Hz, not sr=8000"):
        load_audio(tmp_path / "x.wav", sr=8000, resample=False)
    with pytest.raises(InvalidAudioError, match="Could not read audio file"):
        load_audio(tmp_path / "missing.wav", sr=8000)


def test_check_audio_messages():
    with pytest.raises(TypeError, match="sparse input is not supported"):
        import scipy.sparse

        check_audio(scipy.sparse.csr_matrix(np.ones((2, 3))))
    with pytest.raises(ValueError, match="rectangular"):
        check_audio([[0.1, 0.2], [0.3]])
    with pytest.raises(TypeError, match="got str"):
        check_audio("x.wav")
    with pytest.raises(InvalidAudioError, match=r"Complex data not supported"):
        check_audio(np.ones((1, 4), dtype=complex))
    with pytest.raises(InvalidAudioError, match=r"at least 100 samples \(0.01 s at 10000 Hz\)"):
        check_audio(np.ones((1, 10)), min_samples=100, sr=10000, owner="Thing")
    with pytest.raises(InvalidAudioError, match="1 silent clips"):
        check_audio(np.vstack([np.ones(4), np.zeros(4)]), allow_silent=False)
    X = np.ones((2, 4), dtype=np.float32)
    assert check_audio(X) is X  # no copy
    assert check_audio(np.ones((1, 4), dtype=np.float16)).dtype == np.float64


def test_check_number_and_sr():
    assert check_number(2, "k", integer=True) == 2
    with pytest.raises(TypeError, match=r"k must be an integer, got 2.5 \(float\)"):
        check_number(2.5, "k", integer=True)
    with pytest.raises(ValueError, match=r"x must be in \(0, 1\], got 0\.$"):
        check_number(0, "x", low=0, high=1, low_inclusive=False)
    with pytest.raises(ValueError, match="needs the sample rate"):
        check_sr(None, "Thing")


@pytest.mark.parametrize("sr", [11025, 16000, 22050, 44100, 48000])
def test_loudness_agrees_with_pyloudnorm(sr):
    import pyloudnorm

    from trustkit.datasets import make_music

    X, _ = make_music(2, duration=3.3, sr=sr, random_state=0)
    gated = X[1].astype(np.float64).copy()
    gated[: sr] *= 1e-4  # a quiet first second: exercises both gates
    quiet = X[0] * 10 ** (-60 / 20)  # near the absolute gate
    for x in (X[0], gated, quiet, np.random.default_rng(0).standard_normal(int(0.45 * sr)) * 0.1):
        ours = integrated_loudness(np.asarray(x)[np.newaxis], sr=sr)[0]
        ref = pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, dtype=np.float64))
        assert ours == pytest.approx(ref, abs=1e-6)
    with np.errstate(divide="ignore"):
        assert integrated_loudness(np.zeros((1, sr)), sr=sr)[0] == -np.inf


def test_energy_proves_the_value_checks_only_within_its_rounding_bound():
    """A sum of squares proves finiteness and the peak limit only when its worst-case rounding cannot hide a peak."""
    from trustkit._validation import MAX_PEAK, _energy_bounds_peak, check_audio_values

    n = 1_000_000
    slack = n * np.finfo(np.float32).eps
    below = (1 - slack) * MAX_PEAK**2
    assert _energy_bounds_peak(np.array([below * 0.999]), n, np.dtype(np.float32))
    assert not _energy_bounds_peak(np.array([below * 1.001]), n, np.dtype(np.float32))  # then examined exactly
    assert not _energy_bounds_peak(np.array([1.0, np.nan]), n, np.dtype(np.float32))
    assert not _energy_bounds_peak(np.array([1.0]), 2**23, np.dtype(np.float32))  # rounding could be half the sum
    assert _energy_bounds_peak(np.array([1.0]), 2**23, np.dtype(np.float64))
    # one sample just over the limit with an energy that a float32 sum could round below it: caught exactly
    x = np.zeros((1, n), dtype=np.float32)
    x[0, 5] = MAX_PEAK * 1.0001
    with pytest.raises(InvalidAudioError, match=r"peaks at 1e\+04 \(clip 0\)"):
        check_audio_values(x, energy=np.array([MAX_PEAK**2 * 0.9999], dtype=np.float32))
    with pytest.raises(InvalidAudioError, match="peaks at"):
        check_audio_values(x)  # the BLAS pass in blocks of rows
    # many long rows: blocks of rows keep each sum short enough to prove the checks
    ok = np.full((40, 100_000), 0.5, dtype=np.float32)
    check_audio_values(ok)


def test_loudness_blocks_equal_the_filtered_squares_for_any_dtype_and_layout():
    import scipy.signal

    from trustkit.audio import _k_weighting, loudness_blocks

    sr = 22050
    x = np.random.default_rng(0).standard_normal(int(2.3 * sr)) * 0.1
    b, a = _k_weighting(sr)
    z = scipy.signal.lfilter(b, a, x) ** 2
    starts = (0.4 * 0.25 * np.arange(len(loudness_blocks(x, sr=sr))) * sr).astype(int)
    expected = [z[s : min(s + int(0.4 * sr), len(x))].sum() / (0.4 * sr) for s in starts]
    for variant in (x, x.astype(np.float32), np.repeat(x, 2)[::2]):  # float32 and a strided view
        np.testing.assert_allclose(loudness_blocks(variant, sr=sr), expected, rtol=1e-5 if variant.dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="read-only"):
        _k_weighting(sr)[0][0] = 1.0  # the cached coefficients are shared
