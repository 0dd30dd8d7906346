"""Directional checks: a perturbation is verified to have done what it claims on the clips used."""

from __future__ import annotations

import numpy as np
import pytest

from trustkit.datasets import make_music
from trustkit.perturbations import AddNoise, Mp3Compression, PitchShift, TimeStretch
from trustkit.perturbations.verify import estimated_key, estimated_shift, verify_perturbations

SR = 22050


@pytest.fixture(scope="module")
def tonal():
    X, _ = make_music(8, duration=3.0, sr=SR, random_state=0)
    return X


def test_a_shift_of_2_semitones_moves_the_key_by_2_on_tonal_clips(tonal):
    v = verify_perturbations([("up 2", PitchShift(n_steps=2.0)), ("down 1", PitchShift(n_steps=-1.0))], tonal, sr=SR)
    v = v.set_index("setting")
    assert v.loc["up 2", "measured"] == 2.0 and v.loc["up 2", "verdict"] == "happened"
    assert v.loc["up 2", "key_moved"] >= 0.75 and v.loc["down 1", "key_moved"] >= 0.75
    before, after = estimated_key(tonal[0], SR), estimated_key(PitchShift(n_steps=2.0, sr=SR).fit_transform(tonal[:1])[0], SR)
    assert (after[0] - before[0]) % 12 == 2 and after[1] == before[1]


def test_a_quarter_tone_and_a_stretch_are_seen_and_the_snr_is_as_asked(tonal):
    v = verify_perturbations([("q", PitchShift(n_steps=0.25)), ("fast", TimeStretch(rate=1.08)),
                              ("noise", AddNoise(snr_db=30)), ("mp3", Mp3Compression(bitrate=128))], tonal, sr=SR)
    v = v.set_index("setting")
    assert v.loc["q", "measured"] == 0.25 and v.loc["q", "verdict"] == "happened"
    assert v.loc["fast", "measured"] == pytest.approx(1.08, abs=0.02) and v.loc["fast", "verdict"] == "happened"
    assert v.loc["noise", "measured"] == pytest.approx(30.0, abs=0.1) and v.loc["noise", "share"] == 1.0
    assert v.loc["mp3", "verdict"] == "no claim"


def test_a_perturbation_that_does_not_happen_is_caught(tonal):
    class Silent(PitchShift):
        """Claims a shift of two semitones, returns the clips untouched (e.g. a broken backend)."""

        def _perturb(self, x, sr, rng, params):
            return np.array(x, copy=True), {"n_steps": 0.0}

    v = verify_perturbations([("claims +2", Silent(n_steps=2.0))], tonal, sr=SR)
    assert v.loc[0, "verdict"] == "did not happen" and v.loc[0, "measured"] == 0.0 and v.loc[0, "high"] < 0.5


def test_the_shift_estimate_is_exact_on_harmonic_tones():
    t = np.arange(SR) / SR
    tone = lambda f: sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3, 4))  # noqa: E731
    for k in (-2.0, -0.5, 0.25, 1.0):
        assert estimated_shift(tone(220.0), tone(220.0 * 2 ** (k / 12)), SR) == k


def test_the_meter_verifies_its_settings_and_warns_about_one_that_did_not_happen(tonal):
    from trustkit import SensitivityMeter, TrustkitWarning
    from trustkit.encoders import MFCCEncoder

    class Silent(PitchShift):
        def _perturb(self, x, sr, rng, params):
            return np.array(x, copy=True), {"n_steps": 0.0}

    grid = [("up 1", PitchShift(n_steps=1.0)), ("broken +2", Silent(n_steps=2.0)), ("mp3", Mp3Compression(bitrate=128))]
    meter = SensitivityMeter(MFCCEncoder(sr=SR), grid, sr=SR, random_state=0, n_bootstrap=100, verify=True,
                             quality_clips=4)
    with pytest.warns(TrustkitWarning, match="'broken \\+2' claims pitch \\+2 semitones but measured 0"):
        report = meter.score(tonal)
    v = report.verification.set_index("setting")
    assert list(v.index) == ["up 1", "broken +2"]  # MP3 makes no directional claim
    assert v.loc["up 1", "verdict"] == "happened" and v.loc["broken +2", "verdict"] == "did not happen"
    assert "broken +2" in report.summary() and report.config["verification"]["clips"] == [0, 2, 5, 7]
