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
    with pytest.raises(ValueError, match="not a tensor of the Basic Pitch graph"):
        BasicPitchEncoder(sr=SR, layer="nope").fit_transform(music)
