"""Known answers, properties, determinism and bad input for every perturbation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.signal
from conftest import SR, peak_hz, tone

from trustkit import InvalidAudioError
from trustkit.audio import integrated_loudness
from trustkit.perturbations import (
    AddBackgroundNoise,
    AddNoise,
    BandPass,
    Bitcrush,
    Clipping,
    Downsample,
    Gain,
    HighPass,
    Identity,
    LoudnessMatch,
    LowPass,
    Mp3Compression,
    PitchShift,
    Reverb,
    SpeedChange,
    TimeStretch,
    colored_noise,
    synthetic_rir,
)
from trustkit.perturbations.codec import codec_rate

BG = np.random.default_rng(1).standard_normal(SR // 2) * 0.1


def all_perturbations(random_state=0):
    return [
        AddNoise(snr_db=20, random_state=random_state),
        AddBackgroundNoise(BG, snr_db=10, random_state=random_state),
        PitchShift(n_steps=1.5, sr=SR),
        TimeStretch(rate=1.1, sr=SR),
        SpeedChange(factor=0.9, sr=SR),
        Mp3Compression(bitrate=64, sr=SR),
        Gain(gain_db=-6),
        LowPass(cutoff_hz=3000, sr=SR),
        HighPass(cutoff_hz=300, sr=SR),
        BandPass(low_hz=300, high_hz=3000, sr=SR),
        Reverb(rt60=0.4, sr=SR, random_state=random_state),
        Clipping(percent=2),
        Bitcrush(bits=6),
        Downsample(target_sr=8000, sr=SR),
        LoudnessMatch(AddNoise(snr_db=10, random_state=random_state), sr=SR),
        Identity(),
    ]


IDS = [type(t).__name__ for t in all_perturbations()]


def lag(a, b):
    c = scipy.signal.correlate(a, b, mode="full", method="fft")
    return int(np.argmax(c)) - (len(b) - 1)


# -- properties shared by all ------------------------------------------------------
@pytest.mark.parametrize("t", all_perturbations(), ids=IDS)
def test_shape_dtype_and_input_untouched(t, music):
    for dtype in (np.float32, np.float64):
        X = music.astype(dtype)  # read-only copy: in-place writes would raise
        X.flags.writeable = False
        before = X.copy()
        Xt, params = t.transform_with_params(X)
        assert Xt.shape == X.shape and Xt.dtype == dtype
        np.testing.assert_array_equal(X, before)
        assert np.all(np.isfinite(Xt))
        assert list(params["clip"]) == list(range(len(X)))
        assert (params["length_in"] == X.shape[1]).all()
        assert (params["length_out"] == X.shape[1]).all()


@pytest.mark.parametrize("t", all_perturbations(), ids=IDS)
def test_same_seed_same_output_whatever_split_order_and_jobs(t, music):
    full = t.transform(music)
    np.testing.assert_array_equal(full, t.transform(music))
    halves = np.vstack([t.transform(music[:1]), t.transform(music[1:])])
    np.testing.assert_array_equal(full, halves)
    reverse = t.transform(music[::-1])[::-1]
    np.testing.assert_array_equal(full, reverse)
    parallel = t.set_params(n_jobs=2).transform(music) if "n_jobs" in t.get_params() else full
    np.testing.assert_array_equal(full, parallel)
    # dtype does not change the draw either
    np.testing.assert_allclose(full, t.transform(music.astype(np.float64)), atol=1e-5)


def test_different_seeds_differ(music):
    a = AddNoise(snr_db=10, random_state=0).transform(music)
    b = AddNoise(snr_db=10, random_state=1).transform(music)
    assert not np.allclose(a, b)


def test_random_state_none_draws_fresh_noise(music):
    t = AddNoise(snr_db=10)
    assert not np.allclose(t.transform(music), t.transform(music))


@pytest.mark.parametrize(
    "t",
    [
        AddNoise(snr_db=np.inf),
        AddBackgroundNoise(BG, snr_db=np.inf),
        PitchShift(n_steps=0, sr=SR),
        TimeStretch(rate=1.0, sr=SR),
        SpeedChange(factor=1.0, sr=SR),
        Gain(gain_db=0),
        Reverb(rt60=0, sr=SR),
        Clipping(percent=0),
        Downsample(target_sr=SR, sr=SR),
        LoudnessMatch(sr=SR),
        Identity(),
    ],
    ids=lambda t: type(t).__name__,
)
def test_zero_severity_is_exact_identity(t, music):
    np.testing.assert_array_equal(t.fit_transform(music), music)


# -- known answers -------------------------------------------------------------------
@pytest.mark.parametrize("color", ["white", "pink", "brown", "blue", "violet"])
@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 27.5, 60.0])
def test_noise_snr_within_0_1_db(color, snr_db, music):
    Xt, params = AddNoise(snr_db=snr_db, color=color, random_state=3).transform_with_params(music)
    x = music.astype(np.float64)
    noise = Xt.astype(np.float64) - x
    measured = 20 * np.log10(np.sqrt(np.mean(x**2, axis=1)) / np.sqrt(np.mean(noise**2, axis=1)))
    assert np.all(np.abs(measured - snr_db) < 0.1)
    np.testing.assert_allclose(params["snr_db_realised"], snr_db, atol=1e-4)


@pytest.mark.parametrize(("color", "slope"), [("white", 0.0), ("pink", -10.0), ("brown", -20.0)])
def test_noise_colour_has_its_spectral_slope(color, slope):
    n = colored_noise(2**18, color, rng=0)
    f, p = scipy.signal.welch(n, fs=SR, nperseg=4096)
    band = (f > 50) & (f < 5000)
    fitted = np.polyfit(np.log10(f[band]), 10 * np.log10(p[band]), 1)[0]
    assert abs(fitted - slope) < 1.0


def test_background_noise_snr_crop_and_loop(music):
    long_noise = np.random.default_rng(0).standard_normal(SR * 5)
    _, p = AddBackgroundNoise(long_noise, snr_db=5, random_state=0).transform_with_params(music)
    np.testing.assert_allclose(p["snr_db_realised"], 5.0, atol=1e-4)
    assert not p["looped"].any() and p["offset"].nunique() > 1
    _, p = AddBackgroundNoise(BG, snr_db=5, random_state=0).transform_with_params(music)
    assert p["looped"].all()


def test_background_noise_from_files_and_bank(tmp_path, music):
    import soundfile as sf

    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, np.random.default_rng(0).standard_normal(16000) * 0.1, 16000)  # resampled to SR
    sf.write(b, np.random.default_rng(1).standard_normal(SR) * 0.1, SR)
    _, p = AddBackgroundNoise([a, b], snr_db=0, sr=SR, random_state=0).transform_with_params(np.vstack([music] * 4))
    assert set(p["recording"]) == {0, 1}
    np.testing.assert_allclose(p["snr_db_realised"], 0.0, atol=1e-4)


@pytest.mark.parametrize("method", ["signalsmith", pytest.param("librosa", marks=pytest.mark.slow)])
@pytest.mark.parametrize(("n_steps", "expected"), [(12, 880.0), (-12, 220.0), (0.5, 440 * 2 ** (0.5 / 12)), (-3, 440 * 2 ** (-3 / 12))])
def test_pitch_shift_moves_the_peak(method, n_steps, expected):
    x = tone(440, seconds=2.0)[np.newaxis]
    y = PitchShift(n_steps=n_steps, sr=SR, method=method).fit_transform(x)[0]
    assert abs(peak_hz(y) - expected) < 0.005 * expected


@pytest.mark.parametrize("method", ["signalsmith", pytest.param("librosa", marks=pytest.mark.slow)])
@pytest.mark.parametrize("rate", [0.5, 0.92, 1.08, 1.5])
def test_time_stretch_length_and_pitch(method, rate):
    x = tone(440, seconds=2.0)[np.newaxis]
    y = TimeStretch(rate=rate, sr=SR, length="allow", method=method).fit_transform(x)
    assert y.shape[1] == round(x.shape[1] / rate)
    assert abs(peak_hz(y[0]) - 440) < 3
    kept = TimeStretch(rate=rate, sr=SR, method=method).fit_transform(x)
    assert kept.shape == x.shape


def test_speed_change_is_varispeed():
    x = tone(440, seconds=2.0)[np.newaxis]
    y = SpeedChange(factor=2.0, sr=SR, length="allow").fit_transform(x)
    assert y.shape[1] == x.shape[1] // 2
    assert abs(peak_hz(y[0]) - 880) < 2


@pytest.mark.parametrize("bitrate", [16, 64, 128, 320])
def test_mp3_is_aligned_equal_length_deterministic(bitrate, music):
    t = Mp3Compression(bitrate=bitrate, sr=SR)
    Xt, p = t.transform_with_params(music)
    assert Xt.shape == music.shape
    for x, y in zip(music, Xt):
        assert lag(y, x) == 0
    np.testing.assert_array_equal(Xt, t.transform(music))
    assert (p["bitrate_kbps"] == bitrate).all()
    err = np.sqrt(np.mean((Xt - music) ** 2))
    assert err < 0.3 * np.sqrt(np.mean(music**2))


def test_mp3_above_full_scale_is_encoded_at_reduced_gain_and_restored(music):
    loud = music * (2.0 / np.abs(music).max(axis=1, keepdims=True))  # every clip peaks at exactly 2
    Xt, p = Mp3Compression(bitrate=128, sr=SR).transform_with_params(loud)
    np.testing.assert_allclose(p["encoder_gain_db"], -20 * np.log10(2.0), atol=1e-4)
    # the codec never clipped: the decoded level is the input's, far above 1
    assert np.all(np.abs(Xt).max(axis=1) > 1.5)
    # the same coding as the clip at half the level, scaled back up (the codec is level-invariant in full scale)
    half, quiet = Mp3Compression(bitrate=128, sr=SR).transform_with_params(loud / 2)
    np.testing.assert_allclose(Xt, 2 * half, atol=1e-3)
    assert (quiet["encoder_gain_db"] == 0).all()


def test_stretch_hands_writeable_rows_to_the_library_untouched(music):
    X = np.array(music, dtype=np.float32)  # writeable: rows go to python-stretch without a copy
    before = X.copy()
    for t in (PitchShift(n_steps=2, sr=SR), TimeStretch(rate=1.1, sr=SR)):
        Xt = t.transform(X)
        np.testing.assert_array_equal(X, before)  # the library copied the clip; it never wrote into it
        np.testing.assert_array_equal(Xt, t.transform(music))  # same result as from a read-only input


def test_mp3_quality_grows_with_bitrate(music):
    errs = [np.mean((Mp3Compression(bitrate=b, sr=SR).transform(music) - music) ** 2) for b in (16, 64, 320)]
    assert errs[0] > errs[1] > errs[2]


def test_mp3_codec_rate_is_where_the_bitrate_exists():
    assert codec_rate(22050, 128) == 22050
    assert codec_rate(22050, 320) == 32000  # MPEG-2 stops at 160 kbps; nearest MPEG-1 rate
    assert codec_rate(44100, 8) == 24000  # MPEG-1 starts at 32 kbps; nearest MPEG-2 rate
    assert codec_rate(16000, 256) == 32000
    assert codec_rate(96000, 128) == 48000


def test_gain_and_clip_policies():
    x = np.array([[0.5, -0.25, 0.1]])
    np.testing.assert_allclose(Gain(gain_db=6.0206).fit_transform(x), 2 * x, rtol=1e-4)
    y, p = Gain(gain_db=12, clip_policy="clip").transform_with_params(x)
    assert np.max(np.abs(y)) == 1.0 and p["fraction_clipped"][0] == pytest.approx(1 / 3)
    y, p = Gain(gain_db=12, clip_policy="rescale").transform_with_params(x)
    assert np.max(np.abs(y)) == pytest.approx(1.0)
    y, p = Gain(gain_db=12).transform_with_params(x)  # "none": nothing silently clipped
    assert y.max() > 1.9 and p["fraction_clipped"][0] == 0
    with pytest.raises(InvalidAudioError, match="clip 0 peaks at .* clip_policy='raise'"):
        Gain(gain_db=12, clip_policy="raise").fit_transform(x)


@pytest.mark.parametrize(
    ("t", "passed", "stopped"),
    [
        (LowPass(cutoff_hz=1000, sr=SR), 200, 4000),
        (HighPass(cutoff_hz=1000, sr=SR), 4000, 200),
        (BandPass(low_hz=500, high_hz=2000, sr=SR), 1000, 6000),
    ],
    ids=["lowpass", "highpass", "bandpass"],
)
def test_filters_pass_and_stop(t, passed, stopped):
    x = (tone(passed) + tone(stopped))[np.newaxis]
    y = t.fit_transform(x)[0]
    spec = np.abs(np.fft.rfft(y)) / (0.5 * SR / 2)
    assert spec[passed] == pytest.approx(1.0, abs=0.02)
    assert 20 * np.log10(spec[stopped]) < -40
    assert lag(y, tone(passed)) == 0  # zero phase: aligned


def test_reverb_rt60_and_alignment(music):
    for rt60 in (0.3, 1.0, 2.0):
        h = synthetic_rir(rt60, sr=SR, rng=0)
        assert h[0] == 1.0
        _, p = Reverb(rt60=rt60, sr=SR, random_state=0).transform_with_params(music)
        np.testing.assert_allclose(p["rt60_realised"], rt60, rtol=0.1)
    y = Reverb(rt60=0.5, sr=SR, drr_db=10, random_state=0).fit_transform(music)
    assert lag(y[0], music[0]) == 0


def test_clipping_fraction_and_bitcrush_levels():
    x = np.linspace(-0.9, 0.9, 10001)[np.newaxis]
    _, p = Clipping(percent=20).transform_with_params(x)
    assert p["fraction_distorted"][0] == pytest.approx(0.2, abs=1e-3)
    y, p = Bitcrush(bits=4).transform_with_params(x)
    assert len(np.unique(y)) == 15  # levels k/8 for k in -7..7 inside [-0.9, 0.9]
    assert p["snr_db_realised"][0] == pytest.approx(20 * np.log10(np.std(x) / (1 / 8 / np.sqrt(12))), abs=0.5)


def test_downsample_removes_the_upper_band():
    x = (tone(1000) + tone(6000))[np.newaxis]
    y = Downsample(target_sr=8000, sr=SR).fit_transform(x)[0]
    spec = np.abs(np.fft.rfft(y)) / (0.5 * SR / 2)
    assert spec[1000] == pytest.approx(1.0, abs=0.01) and spec[6000] < 1e-3


@pytest.mark.parametrize(
    "inner",
    [Gain(gain_db=-15), AddNoise(snr_db=0, random_state=0), LowPass(cutoff_hz=500, sr=SR), Reverb(rt60=1.0, sr=SR, random_state=0)],
    ids=lambda t: type(t).__name__,
)
def test_loudness_match_within_0_1_lu(inner, music):
    Xt, p = LoudnessMatch(inner, sr=SR).transform_with_params(music)
    ref = integrated_loudness(music, sr=SR)
    assert np.all(np.abs(integrated_loudness(Xt, sr=SR) - ref) < 0.1)
    assert np.all(np.abs(p["loudness_realised"] - p["loudness_reference"]) < 0.1)


@pytest.mark.parametrize(
    "inner",
    [AddNoise(snr_db=10, random_state=0), Mp3Compression(bitrate=64, sr=SR)],
    ids=lambda t: type(t).__name__,
)
def test_loudness_match_reports_the_inner_steps_own_row(inner, music):
    """The perturbation__ columns are the inner step's transform_with_params table, clip by clip."""
    from trustkit.perturbations import Compose

    for step in (inner, Compose([Gain(gain_db=-3), inner], sr=SR, random_state=0)):  # a composite builds its own table
        _, p = LoudnessMatch(step, sr=SR).transform_with_params(music)
        _, own = step.transform_with_params(music)
        cols = [c for c in own.columns if c != "clip"]
        got = p[[f"perturbation__{c}" for c in cols]].set_axis(cols, axis=1)
        pd.testing.assert_frame_equal(got, own[cols], check_dtype=False)


def test_loudness_to_fixed_target(music):
    Xt = LoudnessMatch(target_lufs=-30, sr=SR).fit_transform(music)
    np.testing.assert_allclose(integrated_loudness(Xt, sr=SR), -30, atol=0.1)


# -- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize("t", all_perturbations(), ids=IDS)
def test_bad_audio_is_refused_clearly(t, music):
    bad = music.copy()
    bad[1, 7] = np.nan
    with pytest.raises(InvalidAudioError, match=r"1 non-finite samples .*clip 1, sample 7"):
        t.fit_transform(bad)
    bad[1, 7] = np.inf
    with pytest.raises(InvalidAudioError, match="non-finite"):
        t.fit_transform(bad)
    with pytest.raises(ValueError, match=r"2-D \(n_clips, n_samples\); got shape \(\d+,\)\. .*X\[np.newaxis, :\]"):
        t.fit_transform(music[0])
    with pytest.raises(ValueError, match="multichannel"):
        t.fit_transform(music[np.newaxis])
    with pytest.raises(InvalidAudioError, match="int16 .*pcm_to_float"):
        t.fit_transform((music * 32767).astype(np.int16))
    with pytest.raises(InvalidAudioError, match="clips of 0 samples"):
        t.fit_transform(music[:, :0])
    with pytest.raises(ValueError, match="holds no clip"):
        t.fit_transform(music[:0])


@pytest.mark.parametrize(
    ("t", "minimum"),
    [(PitchShift(sr=SR), 256), (Mp3Compression(sr=SR), 1152), (LoudnessMatch(sr=SR, target_lufs=-23), 8820)],
    ids=lambda v: type(v).__name__ if not isinstance(v, int) else str(v),
)
def test_too_short_clips(t, minimum):
    with pytest.raises(InvalidAudioError, match=f"at least {minimum} samples"):
        t.fit_transform(np.full((1, minimum - 1), 0.1))


@pytest.mark.parametrize("t", [AddNoise(), AddBackgroundNoise(BG)], ids=["AddNoise", "AddBackgroundNoise"])
def test_silence_has_no_snr(t, music):
    X = music.copy()
    X[2] = 0
    with pytest.raises(InvalidAudioError, match="silent clips .*first is clip 2"):
        t.fit_transform(X)


def test_silent_noise_recording_and_quiet_loudness(music):
    with pytest.raises(InvalidAudioError, match="noise recording 0 is silent"):
        AddBackgroundNoise(np.zeros(1000)).fit_transform(music)
    with pytest.raises(ValueError, match="needs a noise recording"):
        AddBackgroundNoise().fit_transform(music)
    X = music.copy()
    X[0] = 0
    with pytest.raises(InvalidAudioError, match="too quiet for BS.1770"):
        LoudnessMatch(Gain(gain_db=-3), sr=SR).fit_transform(X)


@pytest.mark.parametrize(
    "cls", [PitchShift, TimeStretch, SpeedChange, Mp3Compression, LowPass, HighPass, BandPass, Reverb, Downsample, LoudnessMatch]
)
def test_missing_sr_says_how_to_pass_it(cls, music):
    with pytest.raises(ValueError, match=rf"{cls.__name__} needs the sample rate: pass sr=<Hz>, e\.g\. {cls.__name__}\(.*sr=22050\)"):
        cls().fit_transform(music)


@pytest.mark.parametrize(
    ("t", "error", "match"),
    [
        (AddNoise(snr_db=True), TypeError, r"snr_db must be a real number, got True \(bool\)"),
        (AddNoise(snr_db="20"), TypeError, "snr_db must be a real number"),
        (AddNoise(snr_db=np.nan), ValueError, "snr_db must be finite"),
        (AddNoise(color="purple"), ValueError, "color must be one of 'white', 'pink'"),
        (PitchShift(n_steps=30, sr=SR), ValueError, r"n_steps must be in \[-24, 24\], got 30"),
        (PitchShift(n_steps=1, sr=SR, method="rubberband"), ValueError, "method must be one of"),
        (TimeStretch(rate=0, sr=SR), ValueError, "rate must be in"),
        (TimeStretch(rate=1.1, sr=SR, length="trim"), ValueError, "length must be one of 'preserve', 'allow'"),
        (Mp3Compression(bitrate=100, sr=SR), ValueError, "bitrate must be an MP3 Layer III bitrate"),
        (Mp3Compression(bitrate=128.5, sr=SR), TypeError, "bitrate must be an integer"),
        (LowPass(cutoff_hz=11025, sr=SR), ValueError, r"cutoff_hz must be in \(0, 11025\)"),
        (BandPass(low_hz=3000, high_hz=300, sr=SR), ValueError, "low_hz must be below high_hz"),
        (Clipping(percent=100), ValueError, "percent must be in"),
        (Bitcrush(bits=0), ValueError, "bits must be in"),
        (Downsample(target_sr=44100, sr=SR), ValueError, "target_sr must be in"),
        (Reverb(rt60=-1, sr=SR), ValueError, "rt60 must be in"),
        (Gain(gain_db=-6, clip_policy="wrap"), ValueError, "clip_policy must be one of"),
        (PitchShift(n_steps=1, sr=-5), ValueError, "sr must be in"),
        (PitchShift(n_steps=1, sr=22050.5), ValueError, "sr must be a whole number"),
        (AddNoise(random_state=-1), ValueError, "random_state must be a non-negative int"),
        (LoudnessMatch("noise", sr=SR), TypeError, "perturbation must be a transformer"),
    ],
    ids=lambda v: None,
)
def test_bad_parameters(t, error, match, music):
    with pytest.raises(error, match=match):
        t.fit_transform(music)


def test_init_does_no_validation():
    # scikit-learn contract: bad values are only reported by fit/transform
    t = AddNoise(snr_db="loud", color=42)
    assert t.get_params()["snr_db"] == "loud"


def test_seed_key_sees_a_one_ulp_change():
    from trustkit.perturbations._base import _clip_key

    x = np.random.default_rng(0).standard_normal(50000).astype(np.float32)
    y = x.copy()
    y[777] = np.nextafter(y[777], np.float32(10))
    assert _clip_key(x) != _clip_key(y)
    assert _clip_key(x) == _clip_key(x.astype(np.float64))
    a = AddNoise(snr_db=0, random_state=0).transform(np.vstack([x, y]))
    assert not np.allclose(a[0] - x, a[1] - y)


# -- SNR over the active part of a clip (held-out run, issue 13) --------------------------------
def test_active_snr_is_measured_where_the_signal_is():
    from trustkit.perturbations import AddBackgroundNoise, AddNoise
    from trustkit.perturbations.noise import active_mask

    sr = 16000
    t = np.arange(sr) / sr
    speech = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    x = np.r_[speech, np.zeros(int(1.3 * sr), dtype=np.float32)][None]  # 57 % padding
    active = active_mask(x[0])
    assert 0.42 < active.mean() < 0.50  # 43 % sound, plus up to a frame of the pause
    for step in (AddNoise(snr_db=28.5, random_state=0, snr_reference="active"),
                 AddBackgroundNoise(np.random.default_rng(0).standard_normal(sr), snr_db=28.5, random_state=0,
                                    snr_reference="active")):
        y, params = step.transform_with_params(x)
        noise = (y - x)[0].astype(np.float64)
        p_sig = np.mean(x[0, active].astype(np.float64) ** 2)
        measured = 10 * np.log10(p_sig / np.mean(noise**2))
        assert measured == pytest.approx(28.5, abs=0.01) and params["snr_db_realised"][0] == pytest.approx(28.5, abs=1e-4)
    y_clip = AddNoise(snr_db=28.5, random_state=0).fit_transform(x)
    y_active = AddNoise(snr_db=28.5, random_state=0, snr_reference="active").fit_transform(x)
    # the clip-level SNR averages the pauses into the signal's power: its noise is 10 log10(1 / active share)
    # dB quieter than the noise set against the sound that is there
    ratio = np.std(y_clip[0, ~active]) / np.std(y_active[0, ~active])
    assert 20 * np.log10(ratio) == pytest.approx(10 * np.log10(active.mean()), abs=0.05)
    with pytest.raises(ValueError, match="snr_reference must be one of"):
        AddNoise(snr_reference="speech").fit_transform(x)


def test_meter_warns_about_clips_that_are_mostly_digital_silence():
    from trustkit import SensitivityMeter, TrustkitWarning
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import Gain

    sr = 16000
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((3, sr)) * 0.1).astype(np.float32)
    X[1, sr // 3 :] = 0.0
    with pytest.warns(TrustkitWarning, match=r"1 clips are more than 25% digital silence \(clip 1: 67%"):
        SensitivityMeter(MFCCEncoder(), [("g", Gain(gain_db=-1))], sr=sr, n_bootstrap=20, random_state=0).score(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_gain_and_bitcrush_equal_numpy_and_check_values_in_the_same_pass(dtype):
    from trustkit.exceptions import InvalidAudioError
    from trustkit.perturbations import Bitcrush, Gain

    X = (np.random.default_rng(0).uniform(-0.9, 0.9, (3, 5000))).astype(dtype)
    g = 10 ** (-6 / 20)
    np.testing.assert_array_equal(Gain(gain_db=-6).fit_transform(X), X * g)
    q = 2.0**7
    expected = np.round(X * q) / q
    Y, p = Bitcrush(bits=8).transform_with_params(X)
    np.testing.assert_array_equal(Y, expected.astype(dtype))
    snr = 10 * np.log10(np.sum(X.astype(float) ** 2, axis=1) / np.sum((Y.astype(float) - X) ** 2, axis=1))
    np.testing.assert_allclose(p["snr_db_realised"], snr, rtol=1e-5)
    for step in (Gain(gain_db=-6), Bitcrush(bits=8)):  # the fused (sequential) and the per-clip (threads) paths agree
        np.testing.assert_array_equal(step.fit_transform(X), step.set_params(n_jobs=2).fit_transform(X))
        bad = X.copy()
        bad[1, 17] = np.nan
        with pytest.raises(InvalidAudioError, match="1 non-finite samples .*first at clip 1, sample 17"):
            step.set_params(n_jobs=None).fit_transform(bad)
        with pytest.raises(InvalidAudioError, match=r"peaks at 1e\+05 \(clip 2\)"):
            loud = X.copy()
            loud[2, 3] = 1e5
            step.fit_transform(loud)
    with pytest.raises(InvalidAudioError, match="non-finite"):
        Gain(gain_db=0).fit_transform(np.array([[0.1, np.inf]]))  # the identity checks its input too


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("step", "design"),
    [
        (LowPass(cutoff_hz=2000, sr=SR, order=2), (2, 2000, "lowpass")),
        (HighPass(cutoff_hz=200, sr=SR, order=1), (1, 200, "highpass")),
        (BandPass(low_hz=500, high_hz=1500, sr=SR, order=2), (2, [500, 1500], "bandpass")),  # two sections
        (LowPass(cutoff_hz=3000, sr=SR, order=5), (5, 3000, "lowpass")),  # three: a pair and a single
        (HighPass(cutoff_hz=100, sr=SR, order=8), (8, 100, "highpass")),  # four
    ],
)
def test_zero_phase_filters_equal_scipy_sosfiltfilt(step, design, dtype):
    """The compiled forward-backward pass is scipy's sosfiltfilt (odd padding, steady-state start) to 1e-10."""
    X = np.vstack([np.random.default_rng(0).standard_normal(1000) * 0.2, np.r_[np.zeros(100), np.ones(900)] * 0.5,
                   np.random.default_rng(1).standard_normal(1000) * 0.1]).astype(dtype)  # noise, a step, noise
    sos = scipy.signal.butter(*design[:2], btype=design[2], fs=SR, output="sos")
    for x in (X[:, :1000], X[:, :7], X[:, :1]):  # padlen is cut to the clip for the short ones
        padlen = min(x.shape[1] - 1, 3 * (2 * len(sos) + 1))
        expected = scipy.signal.sosfiltfilt(sos, x.astype(np.float64), axis=-1, padlen=padlen)
        Y = step.fit_transform(x)
        assert Y.dtype == dtype
        np.testing.assert_allclose(Y, expected.astype(dtype), rtol=0, atol=1e-10 if dtype == np.float64 else 1e-6)
        # the per-clip (threads) path runs the same kernel on one row
        np.testing.assert_array_equal(step.set_params(n_jobs=2).fit_transform(x), Y)
        step.set_params(n_jobs=None)


def test_background_noise_mixes_the_looped_excerpt_without_copying_it(music):
    """The compiled mix equals x + g * the looped excerpt, g set from the excerpt's own energy."""
    rec = np.random.default_rng(3).standard_normal(SR // 3).astype(np.float32) * 0.3  # shorter than the clips
    X = np.vstack([music, music[:, ::-1]]).astype(np.float32)
    Y, p = AddBackgroundNoise(rec, snr_db=7, random_state=0).transform_with_params(X)
    for x, y, (_, row) in zip(X, Y, p.iterrows()):
        seg = np.resize(np.roll(rec, -row["offset"]), len(x)).astype(np.float64)
        g = np.sqrt(np.dot(x.astype(float), x) / (np.dot(seg, seg) * 10 ** 0.7))
        np.testing.assert_allclose(y, x + (g * seg).astype(np.float32), rtol=0, atol=1e-6)
        added = (y.astype(float) - x)
        assert 10 * np.log10(np.dot(x.astype(float), x) / np.dot(added, added)) == pytest.approx(7.0, abs=1e-3)
    np.testing.assert_allclose(p["snr_db_realised"], 7.0, atol=1e-4)
    assert p["looped"].all()
    # rows written in place from threads equal the sequential run, and the input is untouched
    before = X.copy()
    np.testing.assert_array_equal(AddBackgroundNoise(rec, snr_db=7, random_state=0, n_jobs=2).fit_transform(X), Y)
    np.testing.assert_array_equal(X, before)
    with pytest.raises(InvalidAudioError, match="excerpt of noise recording 0 drawn for a clip is silent"):
        AddBackgroundNoise(np.r_[np.zeros(SR * 3), 1.0], snr_db=7, random_state=0).fit_transform(music)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipping_threshold_is_the_percentile_from_exact_order_statistics(dtype):
    """The radix pass finds the two order statistics exactly (as a full sort does), and the percentile
    interpolated between them is numpy's (float64 index and weight, as numpy 2.4.6 computes it; numpy 2.0
    computes a float32 index for float32 data, up to ~1e-5 apart): noise, ties, tiny values, one sample, -0."""
    from trustkit._kernels import _abs_order_stats, _magnitude_bits, abs_percentile

    rng = np.random.default_rng(0)
    rows = [rng.standard_normal(4001), np.round(rng.standard_normal(999), 1), np.r_[np.zeros(600), np.full(300, 0.5)],
            rng.standard_normal(777) * 1e-30, np.sign(rng.standard_normal(500)) * 0.25, np.array([-0.3]),
            np.array([0.0, -0.0, 0.0])]
    for x in rows:
        x = x.astype(dtype)
        ordered = np.sort(np.abs(x))
        bits = _magnitude_bits(x)
        for k in sorted({0, len(x) // 3, len(x) // 2, len(x) - 2, len(x) - 1} - {-1}):
            k2 = min(k + 1, len(x) - 1)
            assert _abs_order_stats(x, *bits, k, k2) == (ordered[k], ordered[k2])  # bit for bit
        for q in (0.0, 1.0, 37.3, 50.0, 95.0, 99.0, 99.9, 100.0, float(rng.uniform(0, 100))):
            expected = np.percentile(np.abs(x), q)
            got = abs_percentile(x, q)
            assert got.dtype == x.dtype
            np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=0)


def test_clipping_clips_at_the_percentile_and_counts_the_clipped(music):
    X = np.asarray(music, dtype=np.float64)
    Y, p = Clipping(percent=5).transform_with_params(X)
    for x, y, (_, row) in zip(X, Y, p.iterrows()):
        t = np.percentile(np.abs(x), 95)
        assert row["threshold"] == pytest.approx(t, rel=1e-12)
        t = row["threshold"]
        np.testing.assert_array_equal(y, np.clip(x, -t, t))
        assert row["fraction_distorted"] == np.count_nonzero(np.abs(x) > t) / len(x)
