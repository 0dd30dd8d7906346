"""The musicnn auto-taggers through ONNX: equal to TensorFlow, free of musicnn 0.1.0's two faults.

``tests/data/musicnn_reference.npz`` was made once with TensorFlow 2.21 running
musicnn 0.1.0's own graph and checkpoints (``tools/convert_musicnn.py
reference``; the recipe and versions are in that script): the fixture's three
clips (int16 at 16 kHz, stored in the file), cut into patches with
trustkit's front-end, every patch through TensorFlow on its own, every layer
that trustkit exposes. Nothing here needs TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from trustkit.encoders import MusicnnEncoder, as_encoder, pool_frames
from trustkit.encoders.musicnn import LAYERS, MODELS, PATCH, musicnn_logmel, musicnn_patches

FIXTURE = Path(__file__).parent / "data" / "musicnn_reference.npz"
CLIPS = ("melody", "loud_sine", "short")


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return dict(data)


def audio(ref, clip):
    return ref[f"audio/{clip}"].astype(np.float32) / 32768


def close_to_tensorflow(ours, theirs):
    # onnxruntime and TensorFlow sum in different orders: 1e-4 of the layer's scale (measured: <= 4.2e-5)
    scale = max(float(np.abs(theirs).max()), 1e-3)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * scale)


@pytest.mark.parametrize("model", MODELS)
def test_every_layer_equals_tensorflow_patch_by_patch(ref, model):
    arch = "vgg" if model.endswith("vgg") else "musicnn"
    for clip in CLIPS:
        x = audio(ref, clip)[None]
        for layer in LAYERS[arch]:
            (patches,) = MusicnnEncoder(sr=16000, model=model, layer=layer).transform_patches(x)
            close_to_tensorflow(patches, ref[f"{model}/{clip}/{layer}"])


@pytest.mark.parametrize(("model", "layer"), [("MSD_musicnn", "penultimate"), ("MTT_musicnn", "taggram"),
                                              ("MSD_vgg", "pool5"), ("MTT_vgg", "taggram")])
@pytest.mark.parametrize("pool", ["meanstd", "mean", "max"])
def test_clip_embedding_pools_the_tensorflow_patches(ref, model, layer, pool):
    X = np.vstack([audio(ref, "melody")[: 4 * 16000], audio(ref, "loud_sine")])
    Z = MusicnnEncoder(sr=16000, model=model, layer=layer, pool=pool).fit_transform(X)
    close_to_tensorflow(Z[1], pool_frames(ref[f"{model}/loud_sine/{layer}"], pool))
    # the 7.2-s clip: three patches (0-3 s, 3-6 s, and one ending at 7.2 s)
    z = MusicnnEncoder(sr=16000, model=model, layer=layer, pool=pool).fit_transform(audio(ref, "melody")[None])[0]
    close_to_tensorflow(z, pool_frames(ref[f"{model}/melody/{layer}"], pool))


def test_later_patches_are_their_own_not_the_first_ones(ref):
    """musicnn 0.1.0's extractor returns patch 0's cnn1..cnn3/penultimate for every later patch."""
    x = audio(ref, "melody")[None]
    for layer in ("cnn1", "cnn2", "cnn3", "penultimate"):
        (patches,) = MusicnnEncoder(sr=16000, layer=layer).transform_patches(x)
        assert len(patches) == 3
        for k in (1, 2):
            assert np.abs(patches[k] - patches[0]).max() > 0.05 * np.abs(patches[0]).max()
            close_to_tensorflow(patches[k], ref[f"MSD_musicnn/melody/{layer}"][k])


def test_loud_audio_gives_finite_embeddings_equal_to_tensorflow(ref):
    """musicnn 0.1.0 takes the log in float16: mel power above ~6.55 overflows to inf, embeddings to NaN."""
    x = audio(ref, "loud_sine")
    S = (10 ** musicnn_logmel(x).astype(np.float64) - 1) / 10000  # the mel power, undone from the float32 log
    with np.errstate(over="ignore"):
        musicnn_010 = np.float16(10000) * S.astype(np.float16) + np.float16(1)  # musicnn 0.1.0's front-end
    assert np.isinf(musicnn_010).any() and S.max() > 6.55
    for model in MODELS:
        z = MusicnnEncoder(sr=16000, model=model).fit_transform(x[None])
        assert np.isfinite(z).all()
        layer = "pool5" if model.endswith("vgg") else "penultimate"
        close_to_tensorflow(z[0], pool_frames(ref[f"{model}/loud_sine/{layer}"]))


def test_a_short_clip_is_repeated_to_fill_one_patch(ref):
    x = audio(ref, "short")  # 1.5 s: 94 frames, repeated to 187 (musicnn's training: "repeat-pad")
    rep = musicnn_logmel(x)
    (patch,) = musicnn_patches(rep)
    np.testing.assert_array_equal(patch[: len(rep)], rep)
    np.testing.assert_array_equal(patch[len(rep) :], rep[: PATCH - len(rep)])
    for model in MODELS:
        z = MusicnnEncoder(sr=16000, model=model, pool="mean").fit_transform(x[None])[0]
        layer = "pool5" if model.endswith("vgg") else "penultimate"
        close_to_tensorflow(z, ref[f"{model}/short/{layer}"][0])


def test_clips_shorter_than_one_second_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"MusicnnEncoder needs at least 22050 samples \(1 s at 22050 Hz\).*fix_length"):
        MusicnnEncoder(sr=22050).fit_transform(np.full((2, 20000), 0.1))


def test_patches_cover_the_clip_and_k_times_3_s_gives_k_patches():
    rep = np.arange(2000.0)[:, None] * np.ones(96)
    p = musicnn_patches(rep[:400])
    assert [int(q[0, 0]) for q in p] == [0, 187, 213]  # a tail of 26 frames: one more patch, ending at the end
    assert len(musicnn_patches(rep[:374])) == 2 and len(musicnn_patches(rep[:392])) == 2  # tails of 0 and 18 frames
    for k in range(1, 11):  # clips of 3 s to 30 s: 1 + floor(187.5 k) frames
        n = len(musicnn_logmel(np.zeros(48000 * k)))
        assert len(musicnn_patches(rep[:n])) == k


def test_deterministic_and_batch_independent(ref):
    X = np.vstack([audio(ref, "melody")[: 5 * 16000], np.tile(audio(ref, "loud_sine"), 2)[: 5 * 16000] * 0.2,
                   audio(ref, "melody")[16000 : 6 * 16000]])
    enc = MusicnnEncoder(sr=16000)
    Z = enc.fit_transform(X)
    np.testing.assert_array_equal(Z, enc.transform(X))
    for i in range(len(X)):
        np.testing.assert_array_equal(Z[i], enc.transform(X[i : i + 1])[0])
    np.testing.assert_array_equal(Z[::-1], enc.transform(X[::-1]))


@pytest.mark.parametrize("rate", [22050, 44100])
def test_any_sample_rate_is_resampled_to_16k(ref, rate):
    import soxr

    x = audio(ref, "melody")
    for model in ("MSD_musicnn", "MTT_vgg"):
        z16 = MusicnnEncoder(sr=16000, model=model).fit_transform(x[None])[0]
        z = as_encoder(MusicnnEncoder(model=model), sr=rate).transform(soxr.resample(x, 16000, rate, quality="HQ")[None])[0]
        assert np.dot(z, z16) / np.linalg.norm(z) / np.linalg.norm(z16) > 0.99  # measured: 0.997 and 0.99999990


def test_tags_name_the_taggram_columns(ref):
    x = audio(ref, "melody")[None]
    for model, first in (("MSD_musicnn", "rock"), ("MTT_musicnn", "guitar"), ("MTT_vgg", "guitar")):
        enc = MusicnnEncoder(sr=16000, model=model)
        tags = enc.predict_tags(x)
        assert list(tags.columns) == list(enc.tags) and len(enc.tags) == 50 and enc.tags[0] == first
        close_to_tensorflow(tags.to_numpy()[0], ref[f"{model}/melody/taggram"].mean(axis=0))
        assert ((tags.to_numpy() >= 0) & (tags.to_numpy() <= 1)).all()
    names = MusicnnEncoder(model="MTT_vgg", layer="taggram").get_feature_names_out()
    assert names[0] == "mean_guitar" and names[50] == "std_guitar" and len(names) == 100


@pytest.mark.parametrize("model", MODELS)
def test_feature_names_match_every_layer(ref, model):
    x = audio(ref, "short")[None]
    for layer in LAYERS["vgg" if model.endswith("vgg") else "musicnn"]:
        enc = MusicnnEncoder(sr=16000, model=model, layer=layer, pool="mean")
        assert len(enc.get_feature_names_out()) == enc.fit_transform(x).shape[1]


def test_wrong_model_or_layer_names_the_choices():
    X = np.full((1, 16000), 0.1)
    with pytest.raises(ValueError, match=r"model must be one of 'MSD_musicnn', 'MTT_musicnn'.*got 'MSD'"):
        MusicnnEncoder(sr=16000, model="MSD").fit_transform(X)
    with pytest.raises(ValueError, match=r"layer \(of MSD_musicnn\) must be one of 'timbral'.*got 'pool5'"):
        MusicnnEncoder(sr=16000, layer="pool5").fit_transform(X)


def test_display_name_says_model_and_layer():
    assert MusicnnEncoder(model="MTT_vgg").display_name == "musicnn MTT_vgg/pool5"
