"""Task-level robustness: clean-trained probes scored on perturbed test folds, the paired drop, and mCE."""

from __future__ import annotations

import numpy as np
import pytest

from trustkit import SensitivityMeter, TransferabilityProbe, compare_encoders
from trustkit.datasets import make_music
from trustkit.encoders import FunctionEncoder, MFCCEncoder
from trustkit.perturbations import AddNoise, Identity, LowPass

SR = 16000
PINK0 = ("pink 0 dB", AddNoise(snr_db=0, color="pink"))
LOW6K = ("low-pass 6 kHz", LowPass(cutoff_hz=6000))


@pytest.fixture(scope="module")
def timbre():
    X, labels = make_music(60, duration=2.0, sr=SR, random_state=0)
    return X, labels["timbre"].to_numpy()


def _probe(encoder, perturbations, **kw):
    kw = {"cv": 3, "n_bootstrap": 200, "random_state": 0, "estimators": (), **kw}
    return TransferabilityProbe(encoder, perturbations=perturbations, **kw)


def test_pink_noise_at_0_db_costs_the_mfcc_probe_accuracy_with_an_interval_excluding_0(timbre):
    report = _probe(MFCCEncoder(sr=SR), [PINK0, LOW6K]).score(*timbre)
    robust = report.under_perturbation.set_index("setting")
    pink = robust.loc["pink 0 dB"]
    assert pink["drop_low"] > 0.2 and pink["test"] == "McNemar exact" and pink["p"] < 1e-6
    assert pink["drop"] == pytest.approx(float(report) - pink["score"])
    assert "worst pink 0 dB" in report.summary()
    assert report.config["perturbations"] == ["pink 0 dB", "low-pass 6 kHz"]


def test_an_encoder_deaf_above_2_khz_loses_nothing_to_a_low_pass_at_6_khz(timbre):
    deaf = MFCCEncoder(sr=SR, fmax=2000)  # mel bands up to 2 kHz only
    robust = _probe(deaf, [LOW6K]).score(*timbre).under_perturbation.iloc[0]
    assert (robust["drop"], robust["drop_low"], robust["drop_high"]) == (0.0, 0.0, 0.0)


def test_the_identity_changes_no_prediction(timbre):
    report = _probe(MFCCEncoder(sr=SR), [("identity step", Identity())]).score(*timbre)
    assert (report.oof["pred"] == report.oof["pred@identity step"]).all()
    assert report.under_perturbation["drop"].iloc[0] == 0.0


def test_the_probe_perturbs_exactly_as_the_robustness_meter_does(timbre):
    """The same settings, draws and loudness matching: the encoder sees the same perturbed clips in both meters."""
    X = timbre[0][:12]
    seen: dict[str, list[np.ndarray]] = {"meter": [], "probe": []}

    def recorder(who):
        mfcc = MFCCEncoder(sr=SR)

        def encode(A):
            seen[who].append(np.array(A, copy=True))
            return mfcc.fit_transform(A)

        return FunctionEncoder(encode, sr=SR, per_clip=False)

    grid = [PINK0, ("noise 20 dB", AddNoise(snr_db=20))]
    SensitivityMeter(recorder("meter"), grid, sr=SR, random_state=3, n_bootstrap=50).score(X)
    _probe(recorder("probe"), grid, random_state=3, cv=2).score(X, np.repeat(["a", "b"], 6))
    meter_batches = {b.tobytes() for b in seen["meter"] if len(b) == len(X)}
    probe_batches = [b for b in seen["probe"] if len(b) == len(X)]
    assert len(probe_batches) == 3  # the clean clips and two settings
    assert all(b.tobytes() in meter_batches for b in probe_batches)


def test_numbers_do_not_depend_on_n_jobs(timbre):
    one = _probe(MFCCEncoder(sr=SR), [PINK0]).score(*timbre)
    two = _probe(MFCCEncoder(sr=SR), [PINK0], n_jobs=2).score(*timbre)
    np.testing.assert_array_equal(one.table["statistic"].to_numpy(float), two.table["statistic"].to_numpy(float))


def test_files_give_the_numbers_of_the_array(tmp_path, timbre):
    from trustkit.audio import save_audio
    from trustkit.datasets import Corpus

    X, y = timbre
    for i, x in enumerate(X[:30]):
        save_audio(tmp_path / f"{i:02d}.wav", x, sr=SR)
    corpus = Corpus.from_folder(tmp_path, labels=None)
    from_files = _probe(MFCCEncoder(sr=SR), [PINK0], chunk_size=7).score(corpus, y[:30])
    on_processes = _probe(MFCCEncoder(sr=SR), [PINK0], n_jobs=2).score(corpus, y[:30])  # auto chunks, loky workers
    from_array = _probe(MFCCEncoder(sr=SR), [PINK0]).score(corpus.load()[0], y[:30])
    for report in (from_files, on_processes):
        np.testing.assert_array_equal(report.table["statistic"].to_numpy(float),
                                      from_array.table["statistic"].to_numpy(float))


def test_what_cannot_be_perturbed_is_refused_before_any_work(timbre):
    X, y = timbre
    with pytest.raises(ValueError, match="needs audio and an encoder"):
        TransferabilityProbe("precomputed", perturbations=[PINK0]).score(np.ones((60, 3)), y)
    with pytest.raises(ValueError, match="needs the audio's sample rate"):
        TransferabilityProbe(FunctionEncoder(lambda A: A[:, :4]), perturbations=[PINK0]).score(X, y)
    with pytest.raises(ValueError, match="perturbations must be one of"):
        _probe(MFCCEncoder(sr=SR), "imperceptibel").score(X, y)


def test_a_perturbed_setting_is_a_setting_of_the_paired_comparison(timbre):
    old = _probe(MFCCEncoder(sr=SR), [PINK0, LOW6K]).score(*timbre)
    again = _probe(MFCCEncoder(sr=SR), [PINK0, LOW6K]).score(*timbre)
    diff = again.compare_to(old)
    assert diff.verdicts(scope="setting") == {"pink 0 dB": "equivalent", "low-pass 6 kHz": "equivalent"}
    with pytest.raises(ValueError, match="perturbations"):
        _probe(MFCCEncoder(sr=SR), [PINK0]).score(*timbre).compare_to(old)


def test_corruption_error_is_1_for_the_baseline_and_measured_for_the_others(timbre):
    X, y = timbre
    encoders = {"mfcc": MFCCEncoder(sr=SR), "deaf": MFCCEncoder(sr=SR, fmax=2000)}
    report = compare_encoders(encoders, {"timbre": (X, y)}, cv=3, n_bootstrap=200, random_state=0, estimators=(),
                              perturbations=[PINK0, ("pink 10 dB", AddNoise(snr_db=10, color="pink")), LOW6K])
    ce = report.table[report.table["scope"] == "corruption error"].set_index(["encoder", "measure"])
    assert ce.loc[("mfcc", "mCE"), "statistic"] == 1.0 and ce.loc[("mfcc", "relative mCE"), "statistic"] == 1.0
    deaf = ce.loc[("deaf", "mCE")]
    # by hand: the noise family's summed errors over the baseline's (the low-pass family: 0 / 0 for neither)
    oof = {n: r.oof for (n, _), r in report.reports.items()}
    err = {n: sum((o[f"pred@{s}"] != o["true"]).mean() for s in ("pink 0 dB", "pink 10 dB")) for n, o in oof.items()}
    lowpass = {n: (o["pred@low-pass 6 kHz"] != o["true"]).mean() for n, o in oof.items()}
    expected = np.mean([err["deaf"] / err["mfcc"], lowpass["deaf"] / lowpass["mfcc"]])
    assert deaf["statistic"] == pytest.approx(expected) and deaf["low"] <= deaf["statistic"] <= deaf["high"]
    assert report.config["corruption_baseline"] == "mfcc" and "corruption error against mfcc" in report.summary()


def test_after_the_robustness_meter_the_probe_perturbs_and_embeds_nothing_again(timbre, tmp_path, monkeypatch):
    """With one cache (as the trust report shares it), the probe finds every perturbed setting and embedding there."""
    import joblib

    import trustkit.robustness.meter as meter_module
    import trustkit.transferability.probe as probe_module
    from trustkit.perturbations import perturb

    calls = []

    def counting(step, X, pool=None):
        calls.append(len(X))
        return perturb(step, X, pool)

    monkeypatch.setattr(meter_module, "perturb", counting)
    monkeypatch.setattr(probe_module, "perturb", counting)
    memory = joblib.Memory(tmp_path, verbose=0)
    X, y = timbre
    grid = [PINK0, ("noise 20 dB", AddNoise(snr_db=20))]
    SensitivityMeter(MFCCEncoder(sr=SR), grid, sr=SR, random_state=0, n_bootstrap=50, memory=memory).score(X)
    assert calls == [len(X), len(X)]
    embedded = []
    real_transform = MFCCEncoder.transform
    monkeypatch.setattr(MFCCEncoder, "transform", lambda self, A: embedded.append(len(A)) or real_transform(self, A))
    _probe(MFCCEncoder(sr=SR), grid, memory=memory).score(X, y)
    assert calls == [len(X), len(X)]  # no setting perturbed again
    assert embedded == [2]  # nor any clip embedded again: only the preflight's two clips (determinism, uncached)


def test_compare_encoders_refuses_a_bad_grid_before_any_encoder_runs(timbre):
    X, y = timbre
    calls = []

    def spy(A):
        calls.append(len(A))
        return A[:, :4]

    encoders = {"spy": FunctionEncoder(spy, sr=SR, per_clip=False), "mfcc": MFCCEncoder(sr=SR)}
    with pytest.raises(ValueError, match="perturbations must be one of"):
        compare_encoders(encoders, {"t": (X, y)}, perturbations="imperceptibel")
    assert calls == []
