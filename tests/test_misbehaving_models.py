"""Encoders that misbehave: the caller's audio is never modified, and out-of-spec outputs are named (hardening round 2)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from trustkit import SensitivityMeter
from trustkit.datasets import make_music
from trustkit.encoders import FunctionEncoder, as_encoder

SR = 16000


def _clips():
    return make_music(6, duration=1.0, sr=SR, random_state=0)[0]


def vandal(X):
    """Writes into its input, then embeds."""
    X *= 0.0
    X += 1.0
    return np.c_[X.mean(axis=1), X.std(axis=1)]


def test_an_encoder_that_writes_into_its_input_never_changes_the_callers_audio():
    X = _clips()
    before = X.copy()
    as_encoder(vandal, sr=SR).transform(X)
    np.testing.assert_array_equal(X, before)

    def vandal_with_stats(X):
        stats = np.c_[X.mean(axis=1), X.std(axis=1), np.abs(X).max(axis=1)]
        X[:] = 0
        return stats

    SensitivityMeter(vandal_with_stats, "imperceptible", sr=SR, random_state=0).score(X)
    np.testing.assert_array_equal(X, before)


def test_a_torch_module_that_writes_into_its_input_never_changes_the_callers_audio():
    torch = pytest.importorskip("torch")
    from trustkit.encoders import TorchEncoder

    class InPlace(torch.nn.Module):
        def forward(self, audio):
            out = torch.stack([audio.mean(dim=1), audio.std(dim=1)], dim=1)
            audio.mul_(0)  # shares memory with the numpy array it came from
            return out

    X = _clips().astype(np.float32)
    before = X.copy()
    TorchEncoder(InPlace(), sr=SR).transform(X)
    np.testing.assert_array_equal(X, before)


def test_an_encoder_whose_dimension_changes_is_named_with_both_shapes():
    X = _clips()
    calls = []

    def unstable(X):
        calls.append(1)
        d = 4 if len(calls) == 1 else 5
        return np.tile(np.c_[X.mean(axis=1), X.std(axis=1)], (1, 3))[:, :d]

    # stopped by the preflight, before any perturbation, naming both shapes
    with pytest.raises(ValueError, match=r"returned embeddings of shape \(2, 5\) for 2 clips it had embedded as \(2, 4\)"):
        SensitivityMeter(FunctionEncoder(unstable, sr=SR, per_clip=False), "imperceptible", sr=SR, random_state=0).score(X)


COMPLEX_HEAR = """
import torch

class Model(torch.nn.Module):
    sample_rate = 16000
    scene_embedding_size = 4
    timestamp_embedding_size = 4

def load_model(model_file_path=""):
    return Model()

def get_scene_embeddings(audio, model):
    spec = torch.fft.rfft(audio)[:, 1:5]
    return spec  # complex: out of the HEAR spec

def get_timestamp_embeddings(audio, model):
    return torch.zeros(1, 3, 4), torch.zeros(1, 3)
"""


def test_a_hear_module_returning_complex_embeddings_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from trustkit.encoders import HearEncoder
    from trustkit.encoders.external import _hear_model

    (tmp_path / "complex_hear.py").write_text(textwrap.dedent(COMPLEX_HEAR))
    monkeypatch.syspath_prepend(str(tmp_path))
    _hear_model.cache_clear()
    try:
        with pytest.raises(TypeError, match=r"complex_hear.get_scene_embeddings returned complex64 values; the HEAR "
                                            r"API returns real float32 embeddings"):
            HearEncoder("complex_hear", sr=SR).transform(_clips())
    finally:
        _hear_model.cache_clear()


# -- Hugging Face folders ------------------------------------------------------------------------------------------
def _tiny_wav2vec2(folder, layers=2, seed=0):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    cfg = transformers.Wav2Vec2Config(hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                                      intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4),
                                      num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    transformers.Wav2Vec2Model(cfg).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return str(folder)


def test_hf_folders_that_misbehave_are_refused_naming_the_folder(tmp_path):
    import json

    from trustkit.encoders import HFAudioEncoder

    X = _clips()
    # a config declaring 4 layers over weights holding 2: the missing layers would be random, per process
    folder = _tiny_wav2vec2(tmp_path / "short", layers=2)
    cfg = json.loads((tmp_path / "short" / "config.json").read_text())
    cfg["num_hidden_layers"] = 4
    (tmp_path / "short" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"weights in .*short.* do not match its config: \d+ weights missing"):
        HFAudioEncoder(folder, sr=SR).transform(X)
    # a truncated weights file
    folder = _tiny_wav2vec2(tmp_path / "cut")
    weights = tmp_path / "cut" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises((ValueError, OSError), match=r"cut"):
        HFAudioEncoder(folder, sr=SR).transform(X)
    # a clip shorter than the receptive field
    folder = _tiny_wav2vec2(tmp_path / "ok")
    with pytest.raises(ValueError, match=r"failed on a clip of 10 samples at 16000 Hz .* use longer clips"):
        HFAudioEncoder(folder, sr=SR).transform(np.zeros((1, 10)) + 0.1)


def test_hf_model_cache_follows_the_folders_files(tmp_path):
    from trustkit.encoders import HFAudioEncoder

    X = _clips()
    folder = _tiny_wav2vec2(tmp_path / "m", seed=0)
    first = HFAudioEncoder(folder, sr=SR).transform(X)
    _tiny_wav2vec2(tmp_path / "m", seed=1)  # new weights in the same folder, same process
    second = HFAudioEncoder(folder, sr=SR).transform(X)
    assert not np.allclose(first, second)  # not the stale model
