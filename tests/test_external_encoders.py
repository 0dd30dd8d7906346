"""HEAR-API modules and Hugging Face audio models as encoders, offline.

The HEAR module is defined here (written to a temporary folder and imported
by name, as a user's module would be); the transformers models are tiny,
randomly initialised from configs and saved with ``save_pretrained``, so the
real loading path (AutoModel/AutoFeatureExtractor from a folder) runs.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trustkit.encoders import HearEncoder, HFAudioEncoder, as_encoder  # noqa: E402

TOY_HEAR = '''
"""A HEAR-API module: band energies of 16-kHz audio, recording what it was given."""
import torch

SEEN = []


class Model(torch.nn.Module):
    sample_rate = 16000
    scene_embedding_size = 16
    timestamp_embedding_size = 8

    def forward(self, audio):
        spec = torch.stft(audio, n_fft=256, hop_length=128, window=torch.hann_window(256), return_complex=True).abs() ** 2
        bands = spec[:, 1:129].reshape(audio.shape[0], 8, 16, -1).sum(dim=2)  # (n, 8 bands, frames)
        return torch.log(bands + 1e-6).transpose(1, 2)  # (n, frames, 8)


def load_model(model_file_path=""):
    return Model()


def get_timestamp_embeddings(audio, model):
    SEEN.append(tuple(audio.shape))
    emb = model(audio)
    ts = torch.arange(emb.shape[1]) * 128 / 16.0
    return emb, ts.expand(audio.shape[0], -1)


def get_scene_embeddings(audio, model):
    SEEN.append(tuple(audio.shape))
    emb = model(audio)
    return torch.cat([emb.mean(dim=1), emb.std(dim=1, correction=0)], dim=1)
'''


@pytest.fixture
def toy_hear(tmp_path, monkeypatch):
    (tmp_path / "toy_hear.py").write_text(textwrap.dedent(TOY_HEAR))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    from trustkit.encoders.external import _hear_model

    _hear_model.cache_clear()
    module = importlib.import_module("toy_hear")
    yield module
    _hear_model.cache_clear()


def tones(sr, seconds=1.0, freqs=(220.0, 440.0, 1000.0)):
    t = np.arange(int(seconds * sr)) / sr
    return np.vstack([0.3 * np.sin(2 * np.pi * f * t) for f in freqs]).astype(np.float32)


def test_hear_module_gets_its_own_rate_one_clip_at_a_time(toy_hear):
    import soxr

    X = tones(22050)
    Z = HearEncoder("toy_hear", sr=22050).fit_transform(X)
    assert Z.shape == (3, 16)
    assert set(toy_hear.SEEN) == {(1, 16000)}  # resampled to model.sample_rate, one clip per call
    model = toy_hear.load_model()
    for i, x in enumerate(X):
        y = torch.as_tensor(soxr.resample(x, 22050, 16000, quality="HQ")[None])
        np.testing.assert_allclose(Z[i], toy_hear.get_scene_embeddings(y, model)[0].numpy(), rtol=1e-6)


def test_hear_timestamp_embeddings_are_pooled(toy_hear):
    X = tones(16000)
    Z = HearEncoder("toy_hear", sr=16000, kind="timestamp", pool="meanstd").fit_transform(X)
    np.testing.assert_allclose(Z, HearEncoder("toy_hear", sr=16000).fit_transform(X), rtol=1e-5)  # same stats
    assert HearEncoder("toy_hear", sr=16000, kind="timestamp", pool="mean").fit_transform(X).shape == (3, 8)


def test_hear_batch_independent_and_in_a_meter(toy_hear):
    from trustkit import SensitivityMeter
    from trustkit.perturbations import Gain, Identity

    X = tones(16000, freqs=(220.0, 330.0, 495.0, 742.0))
    enc = as_encoder(HearEncoder("toy_hear"), sr=16000)
    Z = enc.transform(X)
    for i in range(len(X)):
        np.testing.assert_array_equal(Z[i], enc.transform(X[i : i + 1])[0])
    report = SensitivityMeter(HearEncoder("toy_hear"), [("same", Identity()), ("quieter", Gain(gain_db=-1))], sr=16000,
                              n_bootstrap=50, random_state=0).score(X)
    assert (report.wide()["consistency"] == 1.0).all()
    assert report.config["encoder"] == "HEAR toy_hear (scene)"


def test_hear_errors_name_the_problem(toy_hear, tmp_path):
    X = tones(16000)
    with pytest.raises(ImportError, match="cannot import the HEAR module 'no_such_module'"):
        HearEncoder("no_such_module", sr=16000).fit_transform(X)
    (tmp_path / "not_hear.py").write_text("def load_model():\n    return None\n")
    with pytest.raises(TypeError, match="does not follow the HEAR API: it has no get_scene_embeddings, get_timestamp_embeddings"):
        HearEncoder("not_hear", sr=16000).fit_transform(X)
    with pytest.raises(TypeError, match="module must be the import name of a HEAR module"):
        HearEncoder(42, sr=16000).fit_transform(X)
    with pytest.raises(ValueError, match="kind must be one of 'scene', 'timestamp'"):
        HearEncoder("toy_hear", sr=16000, kind="frames").fit_transform(X)


# -- Hugging Face -------------------------------------------------------------------------------------
transformers = pytest.importorskip("transformers")


def _save(model, fe, folder):
    model.save_pretrained(folder)
    fe.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def wav2vec2_folder(tmp_path_factory):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=8,
                         num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)
    fe = Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True)
    return _save(Wav2Vec2Model(cfg), fe, tmp_path_factory.mktemp("wav2vec2"))


@pytest.fixture(scope="module")
def hubert_folder(tmp_path_factory):
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(2)
    cfg = HubertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                       conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=8,
                       num_conv_pos_embedding_groups=2)
    fe = Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=False, return_attention_mask=False)
    return _save(HubertModel(cfg), fe, tmp_path_factory.mktemp("hubert"))


@pytest.fixture(scope="module")
def ast_folder(tmp_path_factory):
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    torch.manual_seed(1)
    cfg = ASTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, max_length=100,
                    num_mel_bins=16, patch_size=16, frequency_stride=10, time_stride=10)
    fe = ASTFeatureExtractor(num_mel_bins=16, max_length=100, sampling_rate=16000)
    return _save(ASTModel(cfg), fe, tmp_path_factory.mktemp("ast"))


def _reference(folder, x16, layer):
    """The same thing written directly with transformers: one clip, hidden state ``layer``, mean over time."""
    from transformers import AutoFeatureExtractor, AutoModel

    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    fe = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
    with torch.no_grad():
        out = model(**fe(x16, sampling_rate=16000, return_tensors="pt"), output_hidden_states=True)
    return out.hidden_states[layer][0].numpy().mean(axis=0)


@pytest.mark.parametrize("which", ["wav2vec2", "hubert", "ast"])
def test_hf_encoder_equals_transformers_by_hand(which, wav2vec2_folder, hubert_folder, ast_folder):
    import soxr

    folder = {"wav2vec2": wav2vec2_folder, "hubert": hubert_folder, "ast": ast_folder}[which]
    X = tones(22050)
    for layer in (0, 1, -1):
        Z = HFAudioEncoder(folder, sr=22050, layer=layer).fit_transform(X)
        assert Z.shape == (3, 16)
        for i, x in enumerate(X):
            ref = _reference(folder, soxr.resample(x, 22050, 16000, quality="HQ"), layer)
            np.testing.assert_allclose(Z[i], ref, rtol=1e-5, atol=1e-6)


def test_import_trustkit_stays_light():
    import subprocess
    import sys

    code = ("import sys, trustkit, trustkit.encoders, trustkit.cli; "
            "heavy = [m for m in ('torch', 'transformers', 'onnxruntime', 'tensorflow') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hf_padding_never_leaks_between_clips(wav2vec2_folder):
    """Clips of different lengths in one call: each embedding equals the clip's embedding alone.

    A naive batched call pads the short clip to the long one's length; with the
    padded batch the short clip's embedding changes (shown below), which is why
    the encoder never batches.
    """
    from transformers import AutoFeatureExtractor, AutoModel

    rng = np.random.default_rng(0)
    short, long_ = 0.1 * rng.standard_normal(8000), 0.1 * rng.standard_normal(16000)
    enc = HFAudioEncoder(wav2vec2_folder, sr=16000, layer=-1)
    alone = enc.fit_transform(short[None])[0]
    together = enc.fit_transform(np.vstack([np.pad(short, (0, 8000)), long_]))  # the meter's padded matrix is not it
    # the encoder sees each row alone: the padded row is a different clip (zeros appended), the long one is unchanged
    np.testing.assert_array_equal(together[1], enc.fit_transform(long_[None])[0])
    model = AutoModel.from_pretrained(wav2vec2_folder, local_files_only=True).eval()
    fe = AutoFeatureExtractor.from_pretrained(wav2vec2_folder, local_files_only=True)
    batch = fe([short.astype(np.float32), long_.astype(np.float32)], sampling_rate=16000, padding=True, return_tensors="pt")
    with torch.no_grad():
        naive = model(**batch, output_hidden_states=True).hidden_states[-1][0].numpy().mean(axis=0)
    assert np.abs(naive - alone).max() > 1e-3  # padding a batch changes a clip's embedding; one clip per call does not


def test_hf_layers_and_errors(wav2vec2_folder, tmp_path):
    X = tones(16000)
    enc = HFAudioEncoder(wav2vec2_folder, sr=16000)
    assert len(enc.hidden_states(X[0])) == 4  # input embedding + 3 layers
    with pytest.raises(ValueError, match=r"layer must be an int in \[-4, 3\]"):
        HFAudioEncoder(wav2vec2_folder, sr=16000, layer=4).fit_transform(X)
    with pytest.raises(OSError, match="is a folder but not a saved transformers audio model"):
        HFAudioEncoder(str(tmp_path), sr=16000).fit_transform(X)
    assert HFAudioEncoder(wav2vec2_folder, sr=16000, pool="meanstd").fit_transform(X).shape == (3, 32)


def test_hf_offline_fails_at_once_with_the_fix(monkeypatch):
    import socket
    import time

    from trustkit.encoders import external

    def unreachable(*args, **kwargs):
        raise OSError("Name or service not known")

    def no_retries(seconds):
        raise AssertionError(f"slept {seconds} s: a retry loop ran")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(time, "sleep", no_retries)
    assert external._hub_reachable() == "huggingface.co cannot be reached (Name or service not known)"
    external._hf_load_cached.cache_clear()
    with pytest.raises(OSError, match=r"not in the Hugging Face cache, and huggingface.co cannot be reached.*huggingface-cli download"):
        HFAudioEncoder("no-such-org/no-such-model", sr=16000).fit_transform(tones(16000))


def test_hf_layer_profile_in_one_pass(wav2vec2_folder):
    from trustkit import SensitivityMeter
    from trustkit.perturbations import Gain

    X = tones(16000)
    enc = HFAudioEncoder(wav2vec2_folder, sr=16000, layer="all")
    assert enc.layer_names() == ["0", "1", "2", "3"]
    layers = enc.transform_layers(X)
    for name, Z in layers.items():
        np.testing.assert_array_equal(Z, HFAudioEncoder(wav2vec2_folder, sr=16000, layer=int(name)).transform(X))
    report = SensitivityMeter(HFAudioEncoder(wav2vec2_folder, layer="all"), [("quieter", Gain(gain_db=-6))], sr=16000,
                              n_bootstrap=50, random_state=0).score(X)
    assert list(report.profile["layer"]) == ["0", "1", "2", "3"]
    assert report.config["encoder"] == f"HF {enc.display_name.split(' ', 1)[1]}/3"


@pytest.mark.parametrize(("module", "dim"), [("hearbaseline.vqt", 540), ("hearbaseline.torchcrepe", 2048)])
def test_real_third_party_hear_modules(module, dim):
    """hearbaseline 2021.1.1 (pip install --no-deps): its VQT and CREPE baselines run; its naive one does not."""
    pytest.importorskip("hearbaseline")
    if module.endswith("torchcrepe"):
        pytest.importorskip("torchcrepe")
    from trustkit import SensitivityMeter
    from trustkit.perturbations import Gain

    X = tones(22050)
    Z = HearEncoder(module, sr=22050).fit_transform(X)
    assert Z.shape == (3, dim) and np.isfinite(Z).all()
    report = SensitivityMeter(HearEncoder(module), [("quieter", Gain(gain_db=-1))], sr=22050, n_bootstrap=50,
                              random_state=0).score(X)
    assert report.wide()["consistency"].between(0, 1).all()


def test_hearbaseline_naive_fails_inside_the_module_with_its_own_error():
    pytest.importorskip("hearbaseline")
    # librosa >= 0.10 is keyword-only: the module's own error, named with the module that raised it
    with pytest.raises(ValueError, match=r"hearbaseline.naive.load_model failed .*mel\(\) takes 0 positional arguments"):
        HearEncoder("hearbaseline.naive", sr=16000).fit_transform(tones(16000))
