"""Layer profiles: layer="all" gives every layer from one forward pass per clip, in every meter."""

from __future__ import annotations

import numpy as np
import pytest

from trustkit import SensitivityMeter, TransferabilityProbe, compare_encoders
from trustkit.datasets import make_music
from trustkit.encoders import MFCCEncoder, MusicnnEncoder, TorchEncoder, embed_layers, is_layer_profile
from trustkit.perturbations import AddNoise, Gain, PerturbationGrid

SR = 22050


@pytest.fixture(scope="module")
def music():
    return make_music(16, duration=1.5, sr=SR, random_state=3)


def test_all_layers_equal_each_layer_alone(music):
    X = music[0][:4]
    for model in ("MSD_musicnn", "MTT_vgg"):
        layers = MusicnnEncoder(sr=SR, model=model, layer="all").transform_layers(X)
        assert list(layers) == MusicnnEncoder(model=model).layer_names()
        for name, Z in layers.items():
            np.testing.assert_array_equal(Z, MusicnnEncoder(sr=SR, model=model, layer=name).transform(X))


def test_transform_with_all_layers_says_what_to_call(music):
    assert is_layer_profile(MusicnnEncoder(layer="all")) and not is_layer_profile(MFCCEncoder())
    with pytest.raises(ValueError, match=r"layer='all'\) gives one embedding per layer.*transform_layers"):
        MusicnnEncoder(sr=SR, layer="all").transform(music[0][:2])


class Counting:
    """A torch network of three stages that counts its forward passes."""

    def __new__(cls):
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.frames = torch.nn.Unfold(kernel_size=(1, 256), stride=(1, 256))
                self.embed = torch.nn.Linear(256, 12)
                self.mix = torch.nn.Linear(12, 8)
                self.head = torch.nn.Linear(8, 4)
                self.calls = 0

            def forward(self, x):
                self.calls += 1
                f = self.frames(x[:, None, None, :]).transpose(1, 2)  # (1, n_frames, 256)
                return self.head(torch.tanh(self.mix(torch.tanh(self.embed(f)))))

        return Net()


def test_torch_hooks_and_one_forward_pass_per_clip(music):
    pytest.importorskip("torch")
    import torch

    X = music[0][:6]
    net = Counting()
    enc = TorchEncoder(net, sr=SR, layer="all", pool="mean")
    assert enc.layer_names() == ["frames", "embed", "mix", "head"]
    layers = enc.transform_layers(X)
    assert net.calls == len(X)  # one pass per clip for all four layers
    with torch.no_grad():  # the 'mix' layer by hand
        f = net.frames(torch.as_tensor(X[:1, None, None, :].astype(np.float32))).transpose(1, 2)
        mix = net.mix(torch.tanh(net.embed(f)))[0].numpy().mean(axis=0)
    np.testing.assert_allclose(layers["mix"][0], mix, rtol=1e-5)
    np.testing.assert_array_equal(TorchEncoder(net, sr=SR, layer="mix", pool="mean").transform(X), layers["mix"])
    with pytest.raises(ValueError, match="layer 'nope' is not a sub-module of Net"):
        TorchEncoder(net, sr=SR, layer="nope").transform(X)

    grid = PerturbationGrid(AddNoise(), "snr_db", [20, 10], family="noise")
    net.calls = 0
    report = SensitivityMeter(TorchEncoder(net, layer="all", pool="mean"), grid, sr=SR, n_bootstrap=100,
                              random_state=0).score(X)
    assert net.calls == len(X) * 3  # originals + two settings, not x4 layers
    assert list(report.profile["layer"]) == ["frames", "embed", "mix", "head"]


def test_sensitivity_profile_equals_each_layer_alone(music):
    X = music[0][:10]
    grid = [("quieter", Gain(gain_db=-3)), ("noise30", AddNoise(snr_db=30)), ("noise5", AddNoise(snr_db=5))]
    kw = {"sr": SR, "n_bootstrap": 200, "random_state": 0}
    prof = SensitivityMeter(MusicnnEncoder(model="MTT_vgg", layer="all"), grid, **kw).score(X)
    assert prof.config["layers"] == ["pool1", "pool2", "pool3", "pool4", "pool5", "taggram"]
    for layer in ("pool2", "taggram"):
        alone = SensitivityMeter(MusicnnEncoder(model="MTT_vgg", layer=layer), grid, **kw).score(X)
        row = prof.profile[prof.profile["layer"] == layer].iloc[0]
        est = alone.headline_estimate
        assert (row["statistic"], row["low"], row["high"]) == (est.statistic, est.low, est.high)
        mine = prof.wide()[prof.wide()["layer"] == layer].reset_index(drop=True)
        np.testing.assert_array_equal(mine["consistency"], alone.wide()["consistency"])
    assert float(prof) == float(SensitivityMeter(MusicnnEncoder(model="MTT_vgg", layer="taggram"), grid, **kw).score(X))
    ax = prof.plot_profile()
    assert [t.get_text() for t in ax.get_xticklabels()] == prof.config["layers"]
    assert "Layer profile" in prof.summary()


def test_probe_and_comparison_profiles_use_the_same_folds(music):
    X, y = music
    kw = {"sr": SR, "cv": 3, "n_bootstrap": 100, "random_state": 0}
    prof = TransferabilityProbe(MusicnnEncoder(model="MTT_vgg", layer="all"), **kw).score(X, y["timbre"])
    assert list(prof.profile["layer"]) == ["pool1", "pool2", "pool3", "pool4", "pool5", "taggram"]
    for layer in ("pool1", "pool5"):
        alone = TransferabilityProbe(MusicnnEncoder(model="MTT_vgg", layer=layer), **kw).score(X, y["timbre"])
        row = prof.profile[prof.profile["layer"] == layer].iloc[0]
        assert row["statistic"] == float(alone)
    cmp = compare_encoders({"mfcc": MFCCEncoder(), "vgg": MusicnnEncoder(model="MTT_vgg", layer="all")},
                           {"timbre": (X, y["timbre"])}, estimators=(), **kw)
    assert list(cmp.wide()["encoder"]) == ["mfcc"] + [f"vgg/{n}" for n in prof.profile["layer"]]
    np.testing.assert_array_equal(cmp.profile["statistic"].to_numpy(), prof.profile["statistic"].to_numpy())
    assert set(cmp.profile["series"]) == {"vgg on timbre"}


def test_a_report_without_layers_says_how_to_get_a_profile(music):
    report = SensitivityMeter(MFCCEncoder(), [("quieter", Gain(gain_db=-3))], sr=SR, n_bootstrap=50,
                              random_state=0).score(music[0][:4])
    assert report.profile.empty
    with pytest.raises(ValueError, match="has no layer profile: score an encoder set to layer='all'"):
        report.plot_profile()


def test_embed_layers_is_cached_like_embed(music, tmp_path):
    X = music[0][:3]
    enc = MusicnnEncoder(sr=SR, model="MTT_vgg", layer="all")
    first = embed_layers(enc, X, memory=str(tmp_path))
    again = embed_layers(enc, X, memory=str(tmp_path))
    assert all(np.array_equal(first[k], again[k]) for k in first)
