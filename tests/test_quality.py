"""Is a perturbation heard? ViSQOL's MOS-LQO and the signal measures, alone and inside the robustness meter."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from trustkit import SensitivityMeter
from trustkit.datasets import make_music
from trustkit.encoders import MFCCEncoder
from trustkit.perturbations import AddNoise, Gain, Identity, PitchShift
from trustkit.perturbations.quality import (
    lsd_db,
    measure_quality,
    mos_lqo,
    quality_verdict,
    segmental_snr_db,
    snr_db,
)

pytest.importorskip("visqol")
SR = 16000


@pytest.fixture(scope="module")
def clips():
    X, _ = make_music(6, duration=2.0, sr=SR, random_state=0)
    return X


def test_visqol_scores_a_louder_and_a_60_db_copy_near_its_ceiling_and_0_db_far_below():
    # fullband audio: ViSQOL's audio mode compares bands up to 24 kHz, and bands empty in both signals agree
    # trivially (at 16 kHz a 0-dB copy scores up to 4.4)
    X, _ = make_music(4, duration=2.0, sr=44100, random_state=0)
    identical = mos_lqo(X[0], X[0], 44100)
    assert identical == pytest.approx(4.732, abs=0.005)  # ViSQOL v3 audio mode's ceiling (C++ conformance: 4.7321)
    louder = measure_quality(Gain(gain_db=6.0), X, sr=44100, clips=3).set_index("measure")
    assert louder.loc["mos_lqo", "low"] > 4.6
    sixty = measure_quality(AddNoise(snr_db=60), X, sr=44100, clips=3, random_state=0)
    assert sixty.set_index("measure").loc["mos_lqo", "low"] > 4.6 and sixty.attrs["verdict"] == "imperceptible"
    zero = measure_quality(AddNoise(snr_db=0), X, sr=44100, clips=3, random_state=0)
    assert zero.set_index("measure").loc["mos_lqo", "high"] < 3.5 and zero.attrs["verdict"] == "perceptible"


def test_the_signal_measures_have_their_known_values(clips):
    x = clips[1]
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(x))
    noisy = x + noise * np.sqrt(np.sum(x**2) / np.sum(noise**2)) * 10 ** (-20 / 20)
    assert snr_db(x, noisy) == pytest.approx(20.0, abs=1e-6)
    assert snr_db(x, x) == float("inf") and segmental_snr_db(x, x, SR) == 35.0 and lsd_db(x, x, SR) == 0.0
    assert lsd_db(noise, 0.5 * noise, SR) == pytest.approx(20 * np.log10(2), abs=1e-6)  # -6.02 dB in every bin
    assert -10.0 <= segmental_snr_db(x, rng.standard_normal(len(x)), SR) <= 35.0  # clamped


def test_the_verdict_follows_the_interval_against_bs1116s_boundary():
    assert quality_verdict(4.5, 4.7) == "imperceptible"
    assert quality_verdict(4.0, 4.49) == "perceptible"
    assert quality_verdict(4.4, 4.6).startswith("undecided")
    assert quality_verdict(np.nan, 4.6) == "undefined"


def test_the_meter_reports_each_settings_audibility_on_a_few_clips(clips):
    grid = [("copy", Identity()), ("noise 0 dB", AddNoise(snr_db=0)), ("pitch +1", PitchShift(n_steps=1.0))]
    report = SensitivityMeter(MFCCEncoder(sr=SR), grid, sr=SR, random_state=0, n_bootstrap=100, quality=True,
                              quality_clips=3).score(clips)
    q = report.quality.set_index("setting")
    assert list(q.index) == ["copy", "noise 0 dB", "pitch +1"] and (q["n"] == 3).all()
    assert q.loc["copy", "verdict"] == "imperceptible" and q.loc["copy", "lsd_db"] == 0.0
    assert q.loc["noise 0 dB", "verdict"] == "perceptible"
    assert q.loc["noise 0 dB", "snr_db"] < 3.0  # 0 dB added, then loudness matched (scaled down): a little above 0
    assert report.config["quality"]["clips"] == [0, 2, 5]
    assert "Audibility on 3 clips" in report.summary()
    assert len(report.wide()) == 4  # the quality rows stay out of the settings' table (identity + 3 settings)


def test_files_measure_the_same_clips_as_the_array(clips, tmp_path):
    from trustkit.audio import save_audio
    from trustkit.datasets import Corpus

    for i, x in enumerate(clips):
        save_audio(tmp_path / f"{i}.wav", x, sr=SR)
    corpus = Corpus.from_folder(tmp_path, labels=None)
    kw = {"sr": SR, "random_state": 0, "n_bootstrap": 100, "quality": "signal", "quality_clips": 3}
    grid = [("noise 10 dB", AddNoise(snr_db=10))]
    streamed = SensitivityMeter(MFCCEncoder(sr=SR), grid, chunk_size=2, **kw).score(corpus)
    in_memory = SensitivityMeter(MFCCEncoder(sr=SR), grid, **kw).score(corpus.load()[0])
    a, b = streamed.quality, in_memory.quality
    np.testing.assert_array_equal(a["segmental_snr_db"], b["segmental_snr_db"])
    assert a["verdict"].iloc[0] == "not measured (quality='signal')"


def test_bad_quality_settings_are_refused_before_any_work(clips, monkeypatch):
    with pytest.raises(ValueError, match="quality must be False, True"):
        SensitivityMeter(MFCCEncoder(sr=SR), [("n", AddNoise(snr_db=10))], quality="yes").score(clips)
    with pytest.raises(ValueError, match="quality_clips"):
        SensitivityMeter(MFCCEncoder(sr=SR), [("n", AddNoise(snr_db=10))], quality=True, quality_clips=0).score(clips)
    short, _ = make_music(3, duration=0.5, sr=SR, random_state=0)
    with pytest.raises(ValueError, match=r"ViSQOL scores clips of at least 1 s .* the clips are 0.5 s"):
        SensitivityMeter(MFCCEncoder(sr=SR), [("n", AddNoise(snr_db=10))], quality=True).score(short)
    with pytest.raises(ValueError, match="quality='signal'"):
        measure_quality(AddNoise(snr_db=10), short, sr=SR)
    monkeypatch.setitem(sys.modules, "visqol.api", None)  # the extra not installed
    with pytest.raises(ImportError, match=r"pip install 'trustkit\[quality\]'"):
        SensitivityMeter(MFCCEncoder(sr=SR), [("n", AddNoise(snr_db=10))], quality=True).score(clips)


def test_the_command_line_measures_audibility(tmp_path, capsys):
    from trustkit.cli import main

    out = tmp_path / "q.json"
    assert main(["sensitivity", "--encoder", "mfcc", "--clips", "4", "--duration", "1", "--sr", "16000",
                 "--perturbations", "imperceptible", "--quality", "signal", "--quality-clips", "2", "--json", str(out),
                 "--progress", "off"]) == 0
    assert "Audibility on 2 clips" in capsys.readouterr().out
    import json

    rows = [r for r in json.loads(out.read_text())["table"] if r["scope"] == "quality"]
    assert len(rows) == 24 * 4  # every setting, four measures
    assert main(["sensitivity", "--encoder", "mfcc", "--clips", "4", "--quality", "signal", "--quality-clips", "0"]) == 2


def test_settings_measured_in_threads_neither_crash_nor_change_a_figure(clips):
    """ViSQOL runs on numba's parallel layer, which aborts the process when two threads enter it at once."""
    grid = [("noise 10 dB", AddNoise(snr_db=10)), ("noise 20 dB", AddNoise(snr_db=20)), ("pitch +1", PitchShift(n_steps=1.0))]
    kw = {"sr": SR, "random_state": 0, "n_bootstrap": 100, "quality": True, "quality_clips": 2}
    one = SensitivityMeter(MFCCEncoder(sr=SR), grid, n_jobs=1, **kw).score(clips).quality
    two = SensitivityMeter(MFCCEncoder(sr=SR), grid, n_jobs=2, **kw).score(clips).quality
    # ViSQOL's numba kernels may differ in the last bits from one call to the next (measured up to 3e-14 MOS on a
    # fresh numba cache; one numba thread, which the meter pins, repeats exactly in most runs): equal to 1e-12
    np.testing.assert_allclose(one["mos_lqo"], two["mos_lqo"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(one["segmental_snr_db"], two["segmental_snr_db"])  # ours: exact
