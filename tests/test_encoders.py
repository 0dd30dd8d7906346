from __future__ import annotations

import numpy as np
import pytest
from conftest import SR
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from trustkit import InvalidAudioError, SensitivityMeter
from trustkit.encoders import (
    BasicPitchEncoder,
    CrepeEncoder,
    FunctionEncoder,
    MFCCEncoder,
    TorchEncoder,
    TransformerEncoder,
    as_encoder,
    pool_frames,
)


def test_mfcc_encoder_matches_librosa_by_hand(music):
    import librosa

    Z = MFCCEncoder(sr=SR).fit_transform(music)
    assert Z.shape == (len(music), 144)
    x = music[1]
    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=2048, hop_length=512, n_mels=128)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=25)[1:]
    F = np.vstack([mfcc, librosa.feature.delta(mfcc), librosa.feature.delta(mfcc, order=2)])
    np.testing.assert_allclose(Z[1], np.concatenate([F.mean(axis=1), F.std(axis=1)]), rtol=1e-5, atol=1e-6)
    assert MFCCEncoder(sr=SR, n_mfcc=13, deltas=False).fit_transform(music).shape == (len(music), 26)


@pytest.mark.parametrize("n_frames", [9, 10, 17, 130, 1301])
@pytest.mark.parametrize("order", [1, 2])
def test_savgol_delta_equals_librosa_delta(n_frames, order):
    import librosa

    from trustkit.encoders.mfcc import savgol_delta

    rng = np.random.default_rng(n_frames)
    m = 40 * rng.standard_normal((5, n_frames))
    np.testing.assert_allclose(savgol_delta(m, order=order), librosa.feature.delta(m, order=order), rtol=1e-12, atol=1e-11)
    m32 = m.astype(np.float32)  # scipy fits librosa's edges in float32 here: agreement to float32 precision
    got = savgol_delta(m32, order=order)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, librosa.feature.delta(m32, order=order), rtol=2e-5, atol=2e-4)
    with pytest.raises(ValueError, match="at least width=9 frames; got 8"):
        savgol_delta(m[:, :8])


def test_mfcc_too_short_clip(music):
    with pytest.raises(InvalidAudioError, match="MFCCEncoder needs at least 4097 samples"):
        MFCCEncoder(sr=SR).fit_transform(music[:, :4000])


@pytest.mark.parametrize(
    "enc",
    [MFCCEncoder(sr=SR), FunctionEncoder(lambda X: X / np.linalg.norm(X, axis=None), sr=SR)],
    ids=["mfcc", "batch-normalising callable"],
)
def test_embeddings_do_not_depend_on_batch_company(enc, music):
    full = enc.fit_transform(music)
    np.testing.assert_array_equal(full[2:], enc.transform(music[2:]))
    np.testing.assert_array_equal(full[::-1], enc.transform(music[::-1]))


def test_function_encoder_batch_mode_is_explicit(music):
    per_clip = FunctionEncoder(lambda X: X / np.abs(X).sum(), sr=SR).fit_transform(music)
    batch = FunctionEncoder(lambda X: X / np.abs(X).sum(), sr=SR, per_clip=False).fit_transform(music)
    assert not np.allclose(per_clip, batch)  # whole-batch normalisation is what per_clip prevents


def test_function_encoder_gets_sr_when_it_asks():
    seen = []

    def f(X, sr):
        seen.append(sr)
        return X[:, :2]

    as_encoder(f, sr=8000).transform(np.ones((2, 10)))
    assert seen == [8000, 8000]


def test_fitted_transformer_survives_clone(music):
    pipe = make_pipeline(FunctionTransformer(np.abs), PCA(n_components=2)).fit(music)
    enc = as_encoder(pipe, sr=SR)
    assert isinstance(enc, TransformerEncoder)
    np.testing.assert_allclose(clone(enc).transform(music), pipe.transform(music))
    meter = clone(SensitivityMeter(pipe, sr=SR))
    assert meter.encoder is pipe  # the meter never refits the model it measures


def test_torch_module_encoder(music):
    torch = pytest.importorskip("torch")

    class Frames(torch.nn.Module):
        def forward(self, x):  # (1, n) -> (1, frames, 4)
            return x[:, : 4 * (x.shape[1] // 4)].reshape(1, -1, 4)

    enc = as_encoder(Frames(), sr=SR)
    assert isinstance(enc, TorchEncoder)
    Z = enc.fit_transform(music)
    frames = music[0][: 4 * (music.shape[1] // 4)].reshape(-1, 4)
    np.testing.assert_allclose(Z[0], pool_frames(frames), rtol=1e-6)
    assert clone(enc).module is enc.module
    resampled = TorchEncoder(Frames(), sr=SR, model_sr=16000).fit_transform(music)
    assert resampled.shape == Z.shape and not np.allclose(resampled, Z)


@pytest.mark.parametrize(
    ("func", "error", "match"),
    [
        (lambda X: np.full((len(X), 3), np.nan), InvalidAudioError, r"non-finite embeddings \(NaN or inf\)"),
        (lambda X: X.mean(axis=1), ValueError, "must return 2-D embeddings"),
        (lambda X: np.ones((len(X) + 1, 2)), ValueError, "returned 2 embeddings for 1 clips"),
        (lambda X: np.ones((len(X), 2, 2)), ValueError, "must return 2-D"),
        (lambda X: "garbage", TypeError, "not a numeric array"),
    ],
    ids=["nan", "1-D", "rows", "3-D", "garbage"],
)
def test_encoder_returning_garbage(func, error, match, music):
    with pytest.raises(error, match=match):
        as_encoder(func, sr=SR).transform(music)


def test_as_encoder_refuses_what_it_cannot_adapt():
    with pytest.raises(TypeError, match="encoder must be a trustkit encoder"):
        as_encoder(42)


def test_crepe_encoder_real_network(music):
    pytest.importorskip("torchcrepe")
    enc = CrepeEncoder(sr=SR)
    Z = enc.fit_transform(music)
    assert Z.shape == (len(music), 512) and np.isfinite(Z).all()
    np.testing.assert_array_equal(Z[1:], enc.transform(music[1:]))  # per clip, deterministic
    assert not np.allclose(Z[0], Z[1])


def test_basic_pitch_encoder_real_network(music):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    if __import__("importlib").util.find_spec("basic_pitch") is None:
        pytest.skip("basic-pitch is not installed")
    enc = BasicPitchEncoder(sr=SR)
    Z = enc.fit_transform(music)
    assert Z.shape == (len(music), 2 * 32 * 88) and np.isfinite(Z).all()
    np.testing.assert_array_equal(Z[1:], enc.transform(music[1:]))
    long = np.tile(music[:1], (1, 3))  # > one 2-s window: padding frames are dropped
    assert BasicPitchEncoder(sr=SR).fit_transform(long).shape == (1, 5632)
    with pytest.raises(ValueError, match="not a tensor of the BasicPitchEncoder graph"):
        BasicPitchEncoder(sr=SR, layer="nope").fit_transform(music)


# -- the audio's sample rate reaches the encoder (held-out run, issue 13) -------------------------
def _encoders_available():
    import importlib.util

    from trustkit.encoders import MusicnnEncoder, RandomProjectionEncoder

    encs = [MFCCEncoder, MFCCEncoder.study, RandomProjectionEncoder, MusicnnEncoder]
    if importlib.util.find_spec("torchcrepe"):
        encs.append(CrepeEncoder)
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("basic_pitch"):
        encs.append(BasicPitchEncoder)
    return encs


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
@pytest.mark.parametrize("make", _encoders_available(), ids=lambda m: getattr(m, "__qualname__", str(m)))
def test_the_meter_tells_every_encoder_the_audios_rate(make, rate):
    from trustkit.perturbations import Identity

    t = np.arange(rate) / rate
    X = np.vstack([0.3 * np.sin(2 * np.pi * f * t) for f in (220.0, 330.0, 495.0)]).astype(np.float32)
    adapted = as_encoder(make(), sr=rate)
    assert adapted.get_params()["sr"] == rate
    report = SensitivityMeter(make(), [("same", Identity())], sr=rate, n_bootstrap=50, random_state=0).score(X)
    assert (report.wide()["consistency"] == 1.0).all()
    with pytest.raises(ValueError, match=rf"sr={rate + 1000}\) was handed audio at sr={rate} Hz"):
        as_encoder(make(sr=rate + 1000), sr=rate)
    with pytest.raises(ValueError, match=rf"was handed audio at sr={rate} Hz"):
        SensitivityMeter(make(sr=rate + 1000), [("same", Identity())], sr=rate).score(X)


def test_an_encoder_with_a_model_rate_sees_the_same_tone_at_every_input_rate():
    pytest.importorskip("torchcrepe")
    Z = []
    for rate in (8000, 22050, 44100):
        t = np.arange(rate) / rate
        x = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[None]
        Z.append(as_encoder(CrepeEncoder(), sr=rate).transform(x)[0])
    cos = [np.dot(Z[0], z) / np.linalg.norm(Z[0]) / np.linalg.norm(z) for z in Z[1:]]
    assert min(cos) > 0.99  # the rate reached the encoder: a 440 Hz tone stays a 440 Hz tone


def test_standalone_encoder_without_a_rate_says_how_to_give_one(music):
    with pytest.raises(ValueError, match=r"MFCCEncoder needs the sample rate: pass sr=<Hz>"):
        MFCCEncoder().fit_transform(music)


@pytest.mark.parametrize(("sr", "n_fft", "hop", "n_mels", "fmax"), [(22050, 2048, 512, 128, None), (8000, 512, 160, 40, 3000.0)])
def test_cached_filterbank_is_bit_identical_to_librosa(sr, n_fft, hop, n_mels, fmax):
    import librosa

    from trustkit.encoders.mfcc import mel_power

    x = np.random.default_rng(1).standard_normal(sr).astype(np.float32) * 0.1
    ref = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmax=fmax)
    for _ in range(2):  # built once, then reused
        np.testing.assert_array_equal(mel_power(x, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmax=fmax), ref)


def test_study_autotagger_mfcc_equals_music_nn_models_definition():
    # music-nn-models' MFCCEncoder (layers.py at be18946) rewritten in numpy: power STFT (n_fft 1024, hop 256,
    # periodic Hann) -> 128 mel bands -> 10 log10(max(M, 1e-10)) floored 80 dB below the maximum -> orthonormal
    # DCT-II -> c1..c24 -> frame differences -> [mean, std] of m, dm, ddm (their order: m.mean, m.std, dm.mean, ...)
    import librosa
    import scipy.fft

    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder

    sr = 22050
    X = make_music(2, duration=1.0, sr=sr, random_state=0)[0]
    ours = MFCCEncoder.study(sr, variant="autotagger").fit_transform(X)
    for x, z in zip(X, ours):
        S = np.abs(librosa.stft(x, n_fft=1024, hop_length=256)) ** 2
        M = librosa.filters.mel(sr=sr, n_fft=1024) @ S
        log_spec = 10 * np.log10(np.maximum(M, 1e-10))
        log_spec = np.maximum(log_spec, log_spec.max() - 80)
        m = scipy.fft.dct(log_spec, axis=0, norm="ortho")[1:25]
        dm = np.diff(m, axis=1)
        ddm = np.diff(dm, axis=1)
        theirs = np.r_[m.mean(1), m.std(1), dm.mean(1), dm.std(1), ddm.mean(1), ddm.std(1)]
        reordered = np.r_[z[0:24], z[72:96], z[24:48], z[96:120], z[48:72], z[120:144]]
        np.testing.assert_allclose(reordered, theirs, rtol=1e-4, atol=1e-3)
