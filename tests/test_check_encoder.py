"""check_encoder and the meters' preflight: an encoder that cannot be measured is stopped, naming why."""

from __future__ import annotations

import numpy as np
import pytest

from trustkit import EncoderCheckError, SensitivityMeter, check_encoder
from trustkit.datasets import make_music
from trustkit.encoders import FunctionEncoder, MFCCEncoder
from trustkit.perturbations import AddNoise

SR = 16000
KW = {"sr": SR, "n_clips": 5, "duration": 1.0}


def test_a_good_encoder_passes_every_judged_check():
    report = check_encoder(MFCCEncoder(sr=SR), **KW)
    assert float(report) == 1.0 and report.failed == []
    checks = dict(zip(report.table["measure"], report.table["passed"]))
    assert checks == {"output": "yes", "deterministic": "yes", "batch": "yes", "distinct": "yes", "rate": "yes",
                      "edges": "yes", "silence_tail": "reported", "shift": "reported"}
    assert report.table.set_index("measure").loc["deterministic", "statistic"] == 0.0
    assert "refuses audio at 22050 Hz" in report.summary()
    report.check(min_share=1.0)  # the one gate, as every report has


def _failed(encoder, **kw):
    with pytest.raises(EncoderCheckError) as info:
        check_encoder(encoder, **{**KW, **kw})
    return info.value


def test_constant_and_loudness_only_encoders_fail_distinct():
    const = _failed(lambda X: np.ones((len(X), 4)))
    assert const.report.failed == ["distinct"] and "a constant encoder, or one that hears only loudness" in str(const)
    loudness = _failed(lambda X: np.sqrt(np.mean(X.astype(np.float64) ** 2, axis=1, keepdims=True)) * [1.0, 2.0])
    assert "distinct" in loudness.report.failed


def test_an_encoder_that_hears_only_loudness_is_stopped_by_the_meter():
    """On clips at one loudness it maps every clip onto one point: the meter stops before any perturbation."""
    X, _ = make_music(8, duration=1.0, sr=SR, random_state=0)
    X = 0.1 * X / np.sqrt(np.mean(X**2, axis=1, keepdims=True))  # the same loudness
    rms = FunctionEncoder(lambda A: np.sqrt(np.mean(A.astype(np.float64) ** 2, axis=1, keepdims=True)) * [1.0, 2.0],
                          sr=SR)
    with pytest.raises(EncoderCheckError, match="onto \\(nearly\\) one point"):
        SensitivityMeter(rms, [("noise", AddNoise(snr_db=30))], random_state=0).score(X.astype(np.float32))


def test_random_and_batch_dependent_encoders_fail():
    rng = np.random.default_rng(0)
    noisy = _failed(lambda X: X[:, :8] + 1e-3 * rng.standard_normal((len(X), 8)))
    assert "deterministic" in noisy.report.failed and "dropout" in str(noisy)
    centred = _failed(FunctionEncoder(lambda X: X[:, :8] - X[:, :8].mean(axis=0), sr=SR, per_clip=False))
    assert centred.report.failed == ["batch"] and "depends on the other clips of the batch" in str(centred)


def test_dropout_left_on_in_a_torch_module_is_caught():
    torch = pytest.importorskip("torch")

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Unflatten(1, (1, -1)), torch.nn.Conv1d(1, 4, 64, stride=32),
                              torch.nn.Dropout(0.5), torch.nn.ReLU())

    def embed(X):  # a user's own callable: the module is run as it is (TorchEncoder would put it in eval mode)
        with torch.no_grad():
            return net(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).mean(dim=2).numpy()

    net.train()  # dropout on
    assert "deterministic" in _failed(embed).report.failed
    net.eval()
    assert check_encoder(embed, **KW).failed == []


def test_nan_on_an_edge_input_fails_and_an_unstated_rate_is_reported():
    def log_energy(X):
        with np.errstate(divide="ignore"):
            return np.log(np.mean(X.astype(np.float64) ** 2, axis=1, keepdims=True)) * [1.0, 1.0] + X[:, 100:102]

    edges = _failed(FunctionEncoder(log_energy, sr=SR, per_clip=False))
    assert "edges" in edges.report.failed and "silence: non-finite values" in str(edges)
    report = check_encoder(lambda X: X[:, 200:210] * 10, **KW)
    rate = report.table.set_index("measure").loc["rate"]
    assert rate["passed"] == "reported" and "states no rate" in rate["detail"]


def test_check_encoder_needs_a_rate():
    with pytest.raises(ValueError, match="check_encoder needs the sample rate"):
        check_encoder(lambda X: X[:, :4])


def test_an_embedding_whose_size_follows_the_clip_length_fails_output():
    error = _failed(lambda X: X[:, ::400])
    assert "fixed_size" in error.report.failed and "must not depend on the clip's length" in str(error)


def test_the_preflight_command(tmp_path, capsys):
    import json

    from trustkit.cli import main

    assert main(["preflight", "--encoder", "mfcc", "--sr", "16000", "--clips", "4",
                 "--json", str(tmp_path / "ok.json")]) == 0
    assert "pass distinct" in capsys.readouterr().out
    assert json.loads((tmp_path / "ok.json").read_text())["report"] == "EncoderCheckReport"
    assert main(["preflight", "--encoder", "numpy:ones_like", "--clips", "4"]) == 1  # a constant encoder
    out, err = capsys.readouterr()
    assert "FAIL distinct" in out and "trustkit: preflight failed: the encoder failed 2 checks: distinct" in err
