from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from trustkit.datasets import make_music
from trustkit.encoders import FunctionEncoder, MFCCEncoder
from trustkit.perturbations import AddNoise, PerturbationGrid
from trustkit.testing import assert_explanations_faithful, assert_sensitivity_below, assert_transfer_above

SR = 16000


@pytest.fixture(scope="module")
def clips():
    return make_music(15, duration=1.0, sr=SR, random_state=0)


def test_sensitivity_gate(clips):
    X, _ = clips
    grid = PerturbationGrid(AddNoise(), "snr_db", [30, -15], family="noise")
    report = assert_sensitivity_below(MFCCEncoder(sr=SR), X, SR, max_sensitivity=1.0, perturbations=grid, n_bootstrap=100)
    assert float(report) <= 1.0
    with pytest.raises(AssertionError, match=r"mean sensitivity 0\.\d+ > 0 \(max_sensitivity\)(.|\n)*SensitivityMeter: MFCCEncoder"):
        assert_sensitivity_below(MFCCEncoder(sr=SR), X, SR, max_sensitivity=0.0, perturbations=grid, n_bootstrap=100)


def test_helpers_use_the_reports_gate_its_ranges_and_one_error(clips):
    X, _ = clips
    grid = PerturbationGrid(AddNoise(), "snr_db", [-15], family="noise")
    with pytest.raises(AssertionError) as info:
        assert_sensitivity_below(MFCCEncoder(sr=SR), X, SR, max_sensitivity=0.0, perturbations=grid, n_bootstrap=100)
    assert type(info.value).__name__ == "SensitivityGateError" and info.value.__cause__ is None
    assert len(info.value.__notes__) == 1 and info.value.__notes__[0].startswith("SensitivityMeter")  # the summary
    for helper, args, kwargs, match in [
        (assert_sensitivity_below, (MFCCEncoder(sr=SR), X, SR), {"max_sensitivity": 1.5}, r"max_sensitivity must be in \[0, 1\]"),
        (assert_transfer_above, (MFCCEncoder(sr=SR), X, clips[1]["timbre"]), {"min_score": 2.0}, "min_score must be"),
        (assert_explanations_faithful, (None, X, X, X), {"min_fidelity": -1.5}, r"min_fidelity must be in \[-1, 1\]"),
    ]:
        with pytest.raises(ValueError, match=match):  # before any work: the encoder or model is never called
            helper(*args, **kwargs)


def test_transfer_gate(clips):
    X, y = clips
    report = assert_transfer_above(MFCCEncoder(sr=SR), X, y["timbre"], min_score=0.3, cv=3, n_bootstrap=100)
    assert float(report) >= 0.3
    with pytest.raises(AssertionError, match=r"lower end of the interval of the accuracy 0\.\d+ < 0\.99 \(min_score\)"):
        assert_transfer_above(FunctionEncoder(lambda A: A[:, 50:52], sr=SR), X,
                              y["timbre"], min_score=0.99, use_interval=True, cv=3, n_bootstrap=100, estimators=())


def test_explanation_gate():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    model = LinearRegression().fit(X, X @ [3.0, -2.0, 1.0, 0.0])
    exact = (X[:20] - X.mean(0)) * model.coef_
    report = assert_explanations_faithful(model, X, X[:20], exact, min_fidelity=0.99, budgets=(1, "all"))
    assert float(report) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(AssertionError, match=r"fidelity -?\d\.\d+ < 0\.5 \(min_fidelity\)"):
        assert_explanations_faithful(model, X, X[:20], rng.standard_normal((20, 4)), min_fidelity=0.5, budgets=(1, "all"))
