from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from conftest import SR
from sklearn.base import BaseEstimator, TransformerMixin

from trustkit import InvalidAudioError, SensitivityMeter, TrustkitWarning
from trustkit.encoders import FunctionEncoder, MFCCEncoder
from trustkit.perturbations import AddNoise, Gain, PerturbationGrid
from trustkit.robustness import SensitivityGateError, neighbour_outcomes


def raw(X):
    """The identity encoder: the waveform itself (decimated)."""
    return X[:, ::8]


class NoiseOnSecondHalf(TransformerMixin, BaseEstimator):
    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        rng = np.random.default_rng(self.random_state)
        out = np.array(X, copy=True)
        half = X.shape[1] // 2
        out[:, half:] += rng.standard_normal((len(X), X.shape[1] - half)).astype(X.dtype)
        return out


@pytest.fixture(scope="module")
def clips():
    from trustkit.datasets import make_music

    X, _ = make_music(12, duration=1.0, sr=SR, random_state=1)
    return X


def meter(encoder, perturbations, **kw):
    kw.setdefault("sr", SR)
    kw.setdefault("random_state", 0)
    kw.setdefault("n_bootstrap", 200)
    return SensitivityMeter(encoder, perturbations, **kw)


def test_neighbour_outcomes_known_answer():
    D = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 3.0], [5.0, 4.0, 4.5]])
    out = neighbour_outcomes(D)
    assert out["consistent"].tolist() == [True, False, False]  # a tie fails
    assert out["rank"].tolist() == [1, 2, 2]
    np.testing.assert_allclose(out["distance_ratio"], [0.0, 1 / 2, 4.5 / 4.5])


@pytest.mark.parametrize("n", [2, 3, 8, 9])
def test_neighbour_outcomes_equal_the_textbook_definition_in_place_or_not(n):
    """Row by row with np.median over the other originals; the in-place path gives the same bits, the input is kept."""
    rng = np.random.default_rng(n)
    D = rng.integers(0, 4, size=(n, n)).astype(float) * 0.25  # many ties, zeros included
    kept = D.copy()
    for overwrite in (False, True):
        out = neighbour_outcomes(D if not overwrite else D.copy(), overwrite=overwrite)
        for i in range(n):
            others = np.delete(D[i], i)
            assert out["consistent"][i] == (D[i, i] < others.min())
            assert out["rank"][i] == 1 + np.sum(others <= D[i, i])
            med = np.median(others)
            expected = D[i, i] / med if med > 0 else (np.inf if D[i, i] > 0 else 1.0)
            assert out["distance_ratio"][i] == expected  # bit for bit: the same (a + b) / 2 as np.median
    np.testing.assert_array_equal(D, kept)  # overwrite=False never touches the caller's matrix


def test_identity_encoder_identity_perturbation_is_fully_consistent(clips):
    report = meter(raw, [("quieter", Gain(gain_db=-6))], loudness_match=False).score(clips)
    ident = report.wide()[report.wide()["setting"] == "identity"].iloc[0]
    assert ident["consistency"] == 1.0 and ident["n"] == len(clips)
    # Wilson interval of 12 of 12: [n / (n + z^2), 1], not the collapsed [1, 1] of a percentile bootstrap
    z = 1.959963984540054
    assert ident["consistency_low"] == pytest.approx(12 / (12 + z**2), rel=1e-9) and ident["consistency_high"] == 1.0
    assert ident["mrr"] == 1.0 and ident["distance_ratio"] == 0.0


def test_a_constant_or_random_encoder_is_stopped_before_any_perturbation(clips, monkeypatch):
    from trustkit import EncoderCheckError
    from trustkit.robustness import meter as meter_module

    monkeypatch.setattr(meter_module, "perturb", lambda *a: pytest.fail("perturbed before the preflight"))
    const = FunctionEncoder(lambda X: np.ones((len(X), 4)), sr=SR)
    with pytest.raises(EncoderCheckError, match=r"maps the 12 clips onto \(nearly\) one point"):
        meter(const, [("noise", AddNoise(snr_db=20))], metric="euclidean").score(clips)
    rng = np.random.default_rng(0)
    noisy = FunctionEncoder(lambda X: X[:, :16] + 0.01 * rng.standard_normal((len(X), 16)), sr=SR)  # dropout-like
    with pytest.raises(EncoderCheckError, match="different embeddings when they were embedded again"):
        meter(noisy, [("noise", AddNoise(snr_db=20))]).score(clips)
    with pytest.raises(EncoderCheckError, match="baseline"):  # the baseline is checked too
        meter(MFCCEncoder(sr=SR), [("noise", AddNoise(snr_db=20))], baseline=const).score(clips)


def test_encoder_blind_to_the_perturbed_part(clips):
    first_half = FunctionEncoder(lambda X: X[:, : X.shape[1] // 2 : 4], sr=SR)
    report = meter(first_half, [("late noise", NoiseOnSecondHalf())], loudness_match=False).score(clips)
    row = report.wide()[report.wide()["setting"] == "late noise"].iloc[0]
    assert row["consistency"] == 1.0 and row["distance_ratio"] == 0.0
    full = meter(raw, [("late noise", NoiseOnSecondHalf())], loudness_match=False).score(clips)
    assert full.wide()[full.wide()["setting"] == "late noise"]["distance_ratio"].iloc[0] > 0


def test_loudness_match_makes_gain_invisible(clips):
    report = meter(raw, [("louder", Gain(gain_db=12))]).score(clips)
    row = report.wide()[report.wide()["setting"] == "louder"].iloc[0]
    assert row["consistency"] == 1.0 and row["distance_ratio"] < 1e-3


@pytest.mark.parametrize("name", ["mfcc", "musicnn", "crepe"])
def test_same_seed_same_report_whatever_n_jobs(name, clips):
    if name == "musicnn":
        from trustkit.encoders import MusicnnEncoder

        enc = MusicnnEncoder(sr=SR)
    elif name == "crepe":
        pytest.importorskip("torchcrepe")
        from trustkit.encoders import CrepeEncoder

        enc, clips = CrepeEncoder(sr=SR), clips[:6]
    else:
        enc = MFCCEncoder(sr=SR)
    grid = PerturbationGrid(AddNoise(), "snr_db", [0, -5, -10], family="noise")
    a = meter(enc, grid, n_jobs=1).score(clips)
    b = meter(enc, grid, n_jobs=2).score(clips)
    cols = list(a.table.columns)
    assert a.table[cols].equals(b.table[cols])
    assert a.per_clip.equals(b.per_clip)
    assert float(a) == float(b)


def test_settings_that_hold_the_gil_are_perturbed_in_processes_with_the_same_numbers(clips, tmp_path, monkeypatch):
    import trustkit.robustness.meter as sensitivity
    from trustkit._meter import ProcessPool
    from trustkit.perturbations import Mp3Compression, PitchShift

    grid = (PerturbationGrid(PitchShift(), "n_steps", [0.5, -0.5], family="pitch")
            + PerturbationGrid(Mp3Compression(), "bitrate", [96], family="mp3")
            + PerturbationGrid(AddNoise(), "snr_db", [10], family="noise"))
    blocks, starts = [], []
    map_rows, start = ProcessPool.map_rows, ProcessPool._start
    monkeypatch.setattr(ProcessPool, "map_rows", lambda self, fn, X: blocks.append(len(X)) or map_rows(self, fn, X))
    monkeypatch.setattr(ProcessPool, "_start", lambda self: starts.append(1) or start(self))
    one = meter(MFCCEncoder(sr=SR), grid, n_jobs=1).score(clips)
    assert blocks == [] and starts == []  # one job: no process started
    meter(MFCCEncoder(sr=SR), grid, n_jobs=2).score(clips)
    assert blocks == [] and starts == []  # 36 s of such audio: less than a worker's start costs
    monkeypatch.setattr(sensitivity, "MIN_WORKER_AUDIO_S", 30.0)
    two = meter(MFCCEncoder(sr=SR), grid, n_jobs=2, memory=tmp_path).score(clips)
    assert blocks == [len(clips)] * 3 and starts  # pitch twice and MP3 in the workers, the noise on threads
    assert one.table.equals(two.table) and one.per_clip.equals(two.per_clip)
    # the cache key leaves the pool out: a meter with one job finds the workers' audio, and a meter with two
    # jobs that finds every setting there starts no process
    monkeypatch.setattr(PitchShift, "_perturb", lambda *a: pytest.fail("perturbed again"))
    blocks.clear(), starts.clear()
    assert meter(MFCCEncoder(sr=SR), grid, n_jobs=1, memory=tmp_path).score(clips).table.equals(one.table)
    assert meter(MFCCEncoder(sr=SR), grid, n_jobs=2, memory=tmp_path).score(clips).table.equals(one.table)
    assert blocks == [] and starts == []


def test_baseline_comparison_and_audio_distance(clips):
    grid = PerturbationGrid(AddNoise(), "snr_db", [20, -10], family="noise")
    report = meter(raw, grid, baseline=MFCCEncoder(sr=SR), audio_distance="dtw").score(clips[:6])
    assert set(report.wide()["role"]) == {"encoder", "baseline"}
    assert len(report.comparison) == 3
    for col in ("agreement", "spearman", "audio_consistency"):
        assert report.wide()[col].between(-1, 1).all()
    # identity: audio distance of a clip to itself is 0, so audio and embedding agree fully
    ident = report.wide()[report.wide()["setting"] == "identity"]
    assert (ident["agreement"] == 1.0).all()


def test_custom_audio_distance_and_metric(clips):
    def l2(A, B):
        return np.sqrt(((A[:, None, ::16] - B[None, :, ::16]) ** 2).sum(-1))

    report = meter(raw, [("n", AddNoise(snr_db=10))], audio_distance=l2, metric=l2).score(clips[:5])
    row = report.wide()[report.wide()["setting"] == "n"].iloc[0]
    assert row["agreement"] == 1.0  # the same distance in both spaces


def test_report_outputs(clips, tmp_path):
    grid = PerturbationGrid(AddNoise(), "snr_db", [10, -10], family="noise", severity="imperceptible")
    report = meter(MFCCEncoder(sr=SR), grid).score(clips)
    assert report.higher_is_better is False
    scope = report.wide()[(report.wide()["in_headline"])]
    assert set(scope["setting"]) == {"noise(snr_db=10)", "noise(snr_db=-10)"}
    assert float(report) == pytest.approx(1 - report.per_clip[report.per_clip["setting"].isin(scope["setting"])]["consistent"].mean())
    data = json.loads(report.to_json(tmp_path / "r.json"))
    assert data["headline"]["higher_is_better"] is False and len(data["wide"]) == 3 and data["long"][0]["scope"] == "headline"
    assert (tmp_path / "r.json").exists()
    page = report.to_html(tmp_path / "r.html")
    assert "data:image/png;base64," in page and "noise(snr_db=-10)" in page
    assert "Identity sanity row: consistency 1.000" in report.summary()
    assert report.to_frame() is not report.table
    assert report.config["timing"]["total_s"] > 0


def test_gate(clips):
    grid = PerturbationGrid(AddNoise(), "snr_db", [30, -15], family="noise")
    report = meter(MFCCEncoder(sr=SR), grid).score(clips)
    assert report.check(max_sensitivity=1.0) == report.check(1.0) == f"mean sensitivity {float(report):.3f} <= 1"
    with pytest.raises(SensitivityGateError, match=r"mean sensitivity 0\.\d+ > 0 \(max_sensitivity\); encoder "
                       r"MFCCEncoder; settings above it: noise\(snr_db=-15\) \(0\.\d+\)\.$"):
        report.check(max_sensitivity=0.0)
    assert isinstance(SensitivityGateError("x"), AssertionError)
    # every setting of the headline's scope, by value or by the upper end of its interval
    scope = report.wide()[(report.wide()["role"] == "encoder") & report.wide()["in_headline"]]
    worst, worst_high = scope["sensitivity"].max(), scope["sensitivity_high"].max()
    assert report.check(worst, scope="per_setting") == "all 2 settings <= " + f"{worst:g}"
    with pytest.raises(SensitivityGateError, match=r"1 of 2 upper ends of the settings' intervals exceed "
                       r"max_sensitivity="):
        report.check((worst + worst_high) / 2, scope="per_setting", use_interval=True)
    # the limit is the report's to check: its range and its name, before any comparison
    with pytest.raises(ValueError, match=r"max_sensitivity must be in \[0, 1\], got 1.5"):
        report.check(1.5)
    with pytest.raises(ValueError, match="max_sensitivity must be finite"):
        report.check(float("nan"))
    with pytest.raises(ValueError, match="scope must be one of 'headline', 'per_setting'"):
        report.check(0.5, scope="per_clip")
    with pytest.raises(TypeError, match="takes one limit, positionally or as max_sensitivity="):
        report.check(0.5, max_sensitivity=0.5)
    with pytest.raises(TypeError, match="takes one limit"):
        report.check(min_score=0.5)


CALLS: list[int] = []


def counting(X):
    CALLS.append(len(X))
    return X[:, ::8]


def test_memory_caches_the_originals_and_every_setting(clips, tmp_path):
    calls = CALLS
    calls.clear()
    enc = FunctionEncoder(counting, sr=SR, per_clip=False)
    m = meter(enc, [("n", AddNoise(snr_db=10))], memory=joblib.Memory(tmp_path, verbose=0))
    m.score(clips)
    first = list(calls)
    m.score(clips)
    # originals once, two clips again uncached (the preflight: does the encoder give a clip one embedding?), then the
    # one setting: the identity row reuses the originals' embeddings
    assert first == [12, 2, 12]
    assert calls[3:] == [2]  # the second run reads the originals and the setting from the cache; the preflight reruns


@pytest.mark.parametrize(
    ("kwargs", "X_slice", "error", "match"),
    [
        ({}, slice(0, 1), ValueError, "needs at least 2 clips"),
        ({"perturbations": "mild"}, slice(None), ValueError, "perturbations must be one of 'imperceptible'"),
        ({"metric": "hamming"}, slice(None), ValueError, "metric must be one of 'cosine'"),
        ({"sr": None}, slice(None), ValueError, "SensitivityMeter needs the sample rate"),
        ({"encoder": None}, slice(None), ValueError, "needs an encoder"),
        ({"audio_distance": "euclid"}, slice(None), ValueError, "audio_distance must be one of 'dtw', 'simple', 'mckl'"),
        ({"perturbations": []}, slice(None), ValueError, "non-empty list"),
    ],
)
def test_bad_meter_input(kwargs, X_slice, error, match, clips):
    kw = {"encoder": raw, "perturbations": [("g", Gain(gain_db=-3))], **kwargs}
    enc = kw.pop("encoder")
    pert = kw.pop("perturbations")
    with pytest.raises(error, match=match):
        meter(enc, pert, **kw).score(clips[X_slice])


def test_bad_encoders_in_the_meter(clips):
    with pytest.raises(InvalidAudioError, match="MFCCEncoder needs at least"):
        meter(MFCCEncoder(sr=SR), [("g", Gain())]).score(clips[:, :2000])
    with pytest.raises(InvalidAudioError, match="non-finite embeddings"):
        meter(lambda X: np.full((len(X), 2), np.nan), [("g", Gain())]).score(clips)
    with pytest.raises(ValueError, match="must return 2-D"):
        meter(lambda X: X.sum(axis=1), [("g", Gain())]).score(clips)
    with pytest.raises(ValueError, match="one row per clip"):
        meter(FunctionEncoder(lambda X: np.ones((3, 2)), sr=SR, per_clip=False), [("g", Gain())]).score(clips)
    first = clips[0]  # an all-zero embedding for one clip: the cosine distance to it is undefined
    zero = FunctionEncoder(lambda X: np.zeros((len(X), 2)) if np.array_equal(X[0], first) else 100 * X[:, 1000:1002],
                           sr=SR)
    with pytest.raises(ValueError, match="cosine distance is undefined"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the zero rows are also the same embedding
        meter(zero, [("g", Gain())]).score(clips)


DATA = Path(os.environ.get("LIBROSA_DATA_DIR", "/nonexistent"))


@pytest.mark.skipif(not DATA.is_dir(), reason="librosa's example recordings are not available")
def test_mfcc_consistency_falls_with_noise_on_real_music():
    import scipy.stats

    from trustkit.audio import load_audio

    clips = []
    for path in sorted(DATA.glob("*.ogg")):
        if ".hq." in path.name or any(s in path.name for s in ("198-209", "3436-", "5703-", "robin")):
            continue
        x = load_audio(path, sr=SR)
        for start in range(5, 20, 5):
            seg = x[start * SR : start * SR + 2 * SR]
            if len(seg) == 2 * SR and np.std(seg) > 1e-3:
                clips.append(seg)
    X = np.vstack(clips)
    snrs = [30, 10, 0, -10, -15]
    grid = PerturbationGrid(AddNoise(color="pink"), "snr_db", snrs, family="pink_noise")
    report = meter(MFCCEncoder(sr=SR), grid).score(X)
    t = report.wide()[report.wide()["family"] == "pink_noise"].set_index("param_value").loc[snrs]
    assert scipy.stats.kendalltau(snrs, t["consistency"]).statistic > 0.6
    assert t["consistency_low"].iloc[0] > t["consistency_high"].iloc[-1]  # intervals separate


# -- the study's definitions (audit of issue 9) -------------------------------------------------
class RepeatSamples(TransformerMixin, BaseEstimator):
    """A perfect 'stretch' by an integer factor: every sample repeated ``factor`` times."""

    def __init__(self, factor=2):
        self.factor = factor

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.repeat(X, self.factor, axis=1)


def quantiles(X):
    """Invariant to repeating samples: the empirical distribution of the samples is unchanged."""
    return np.quantile(X, np.linspace(0.05, 0.95, 19), axis=1, method="inverted_cdf").T


def test_a_tempo_invariant_encoder_reads_full_consistency_whatever_the_length(clips):
    report = meter(quantiles, [("x2", RepeatSamples(2)), ("x3", RepeatSamples(3))], loudness_match=False).score(clips)
    t = report.wide().set_index("setting")
    assert t.loc["x2", "length_out"] == 2 * clips.shape[1] and t.loc["x3", "length_out"] == 3 * clips.shape[1]
    np.testing.assert_array_equal(t["consistency"], 1.0)
    np.testing.assert_allclose(t["distance_ratio"], 0.0, atol=1e-12)


def test_time_stretch_is_measured_on_the_stretched_signal_not_on_padding(clips):
    from trustkit.perturbations import TimeStretch

    rates = [0.7, 0.92, 1.08, 1.3, 1.5]
    # a user's grid with the default length="preserve": the meter still embeds the whole stretched clip
    grid = PerturbationGrid(TimeStretch(length="preserve"), "rate", rates, family="time_stretch")
    report = meter(MFCCEncoder(sr=SR), grid).score(clips)
    t = report.wide()[report.wide()["family"] == "time_stretch"].set_index("param_value").loc[rates]
    np.testing.assert_array_equal(t["length_out"], [round(clips.shape[1] / r) for r in rates])
    np.testing.assert_array_equal(t["consistency"], 1.0)  # zero padding gave 0.42 at rate 1.3 (audit)
    assert (t["distance_ratio"] < 0.02).all()


def test_between_space_consistency_pooled_as_in_the_study_and_per_clip(clips):
    import scipy.spatial.distance
    import scipy.stats

    from trustkit.perturbations import LowPass

    def audio_l2(A, B):
        return scipy.spatial.distance.cdist(A[:, ::16], B[:, ::16])

    X = clips[:8]
    step = LowPass(cutoff_hz=2000, sr=SR)
    report = meter(MFCCEncoder(sr=SR), [("lp", step)], audio_distance=audio_l2, loudness_match=False).score(X)
    row = report.wide().set_index("setting").loc["lp"]
    Xp = step.fit_transform(X)
    Da = audio_l2(Xp, X)
    Dz = scipy.spatial.distance.cdist(MFCCEncoder(sr=SR).transform(Xp), MFCCEncoder(sr=SR).transform(X), "cosine")
    pooled = scipy.stats.spearmanr(Da.ravel(), Dz.ravel()).statistic
    per_clip = np.mean([scipy.stats.spearmanr(Da[i], Dz[i]).statistic for i in range(len(X))])
    assert row["spearman"] == pytest.approx(pooled, abs=1e-12)
    assert row["spearman_per_clip"] == pytest.approx(per_clip, abs=1e-12)
    assert abs(pooled - per_clip) > 0.01  # two different numbers, each named
    assert row["spearman_low"] <= pooled <= row["spearman_high"]


@pytest.mark.parametrize("kind", ["dtw", "simple", "mckl"])
def test_study_audio_distances_in_the_meter(kind, clips):
    grid = PerturbationGrid(AddNoise(), "snr_db", [30, 0], family="noise")
    report = meter(MFCCEncoder(sr=SR), grid, audio_distance=kind).score(clips[:5])
    t = report.wide().set_index("setting")
    assert t.loc["identity", "audio_consistency"] == 1.0 and t.loc["identity", "agreement"] == 1.0
    rho = t.loc["noise(snr_db=0)", "spearman"]
    if kind == "mckl":  # a Monte-Carlo estimate from 5-component mixtures of ~40 frames: 0.02-0.33 across seeds
        assert -1 <= rho <= 1
    else:  # deterministic distances: 0.49-0.53 across seeds
        assert rho > 0.3  # audio and embedding distances agree, loosely
    assert report.config["audio_distance"] == kind


def test_sensitivity_intervals_are_wilson_and_headline_never_collapses(clips):
    report = meter(MFCCEncoder(sr=SR), [("quiet", Gain(gain_db=-1))]).score(clips[:6])
    row = report.wide().set_index("setting").loc["quiet"]
    assert row["consistency"] == 1.0 and row["consistency_low"] == pytest.approx(0.6097, abs=1e-4)  # Wilson 6/6
    assert row["sensitivity_high"] == pytest.approx(1 - 0.6097, abs=1e-4)
    e = report.headline_estimate
    assert e.statistic == 0.0 and e.low == 0.0 and e.high == pytest.approx(1 - 0.6097, abs=1e-4)


def test_summary_gives_the_baselines_own_headline(clips):
    report = meter(raw, [("n", AddNoise(snr_db=0))], baseline=MFCCEncoder(sr=SR)).score(clips[:6])
    assert report.baseline_estimate is not None
    text = report.summary()
    assert f"Baseline MFCCEncoder: sensitivity {report.baseline_estimate:.3f}" in text
    base = report.per_clip[(report.per_clip["role"] == "baseline") & (report.per_clip["setting"] == "n")]
    assert report.baseline_estimate.statistic == pytest.approx(1 - base["consistent"].mean())


def test_meters_sharing_a_cache_perturb_each_setting_once(clips, tmp_path, monkeypatch):
    import trustkit.robustness.meter as sensitivity

    perturbed = []
    original = sensitivity.perturb

    def counting(step, X, pool=None):
        perturbed.append(type(step).__name__)
        return original(step, X, pool)

    monkeypatch.setattr(sensitivity, "perturb", counting)
    memory = joblib.Memory(tmp_path, verbose=0)
    grid = PerturbationGrid(AddNoise(), "snr_db", [10, 0], family="noise")
    a = meter(raw, grid, baseline=MFCCEncoder(sr=SR), memory=memory).score(clips[:6])
    n_first = len(perturbed)
    b = meter(FunctionEncoder(lambda X: X[:, ::16], sr=SR), grid, baseline=MFCCEncoder(sr=SR), memory=memory)
    with pytest.warns(TrustkitWarning, match="is not cached"):  # the lambda encoder cannot be hashed; the rest is
        b = b.score(clips[:6])
    assert n_first == 2 and len(perturbed) == 2  # the second meter perturbed nothing again
    base_a = a.wide()[a.wide()["role"] == "baseline"].reset_index(drop=True)
    base_b = b.wide()[b.wide()["role"] == "baseline"].reset_index(drop=True)
    assert base_a.drop(columns=["encoder"]).equals(base_b.drop(columns=["encoder"]))  # same numbers from the cache


def test_reports_name_the_studys_baseline(clips):
    report = meter(raw, [("n", AddNoise(snr_db=0))], baseline=MFCCEncoder.study()).score(clips[:6])
    assert report.config["baseline"] == "MFCCEncoder.study()"
    assert "Baseline MFCCEncoder.study(): sensitivity" in report.summary()


def test_an_encoder_reads_the_same_as_encoder_or_as_baseline(clips):
    grid = PerturbationGrid(AddNoise(), "snr_db", [10, 0], family="noise")
    alone = meter(MFCCEncoder(sr=SR), grid).score(clips[:8])
    as_baseline = meter(raw, grid, baseline=MFCCEncoder(sr=SR)).score(clips[:8])
    a = alone.wide()[alone.wide()["role"] == "encoder"].drop(columns=["role"]).reset_index(drop=True)
    b = as_baseline.wide()[as_baseline.wide()["role"] == "baseline"].drop(columns=["role"]).reset_index(drop=True)
    assert a.equals(b)  # the same numbers and the same intervals
    assert alone.headline_estimate == as_baseline.baseline_estimate


def test_originals_loudness_is_measured_once_and_numbers_are_unchanged(clips, monkeypatch):
    import contextlib

    import pandas as pd

    import trustkit.perturbations.loudness as L
    import trustkit.robustness.meter as S

    grid = PerturbationGrid(AddNoise(), "snr_db", [30, 20, 10], family="noise")
    calls = []
    real = L.loudness_blocks
    monkeypatch.setattr(L, "loudness_blocks", lambda x, sr: calls.append(len(x)) or real(x, sr=sr))
    after = meter(MFCCEncoder(sr=SR), grid).score(clips)
    assert len(calls) == len(clips) * (1 + 3)  # the originals once, then each perturbed clip
    calls.clear()
    monkeypatch.setattr(S, "known_loudness", lambda X, sr: contextlib.nullcontext())  # the old way
    before = meter(MFCCEncoder(sr=SR), grid).score(clips)
    assert len(calls) == len(clips) * 2 * 3  # originals measured again in every setting
    pd.testing.assert_frame_equal(before.table, after.table)
    with L.known_loudness(clips, SR) as view:  # inside the block the originals are read-only
        assert not view.flags.writeable


def test_the_one_gate_on_the_interval(clips):
    grid = PerturbationGrid(AddNoise(), "snr_db", [30, -15], family="noise")
    report = meter(MFCCEncoder(sr=SR), grid).score(clips)
    high = report.headline_estimate.high
    assert report.check(high) == f"mean sensitivity {float(report):.3f} <= {high:g}"
    assert report.check(high, use_interval=True).startswith("upper end of the interval of the mean sensitivity")
    with pytest.raises(SensitivityGateError, match="upper end of the interval"):
        report.check((float(report) + high) / 2, use_interval=True)  # the value passes, its interval does not


def test_scoped_tables_hold_in_their_block_and_its_workers_only(clips):
    """The blocks are context variables: seen by the code they enclose and trustkit's workers, by no other thread."""
    import threading

    import trustkit.fidelity.audio as FA
    import trustkit.perturbations.loudness as L
    from trustkit._meter import parallel_map

    elsewhere = []
    with L.known_loudness(clips[:2], SR) as first, FA.shared_responses():
        with L.known_loudness(clips[2:4], SR) as second:
            assert L._known(second[0], SR) is not None and L._known(first[0], SR) is not None
            seen = parallel_map(lambda x: (L._known(x, SR) is not None, FA._SHARED.get() is not None),
                                [(first[0],), (second[1],), (clips[5],)], n_jobs=2)
            assert seen == [(True, True), (True, True), (False, True)]  # the workers see the caller's blocks
            thread = threading.Thread(target=lambda: elsewhere.append((L._known(first[0], SR), FA._SHARED.get())))
            thread.start()
            thread.join()
        assert L._known(second[0], SR) is None and L._known(first[0], SR) is not None  # the inner block ended
    assert elsewhere == [(None, None)]  # another thread never sees a block it is not inside
    assert L._KNOWN.get() == () and L._known(first[0], SR) is None and FA._SHARED.get() is None


def test_the_meter_takes_the_rate_the_encoder_states(clips):
    grid = PerturbationGrid(AddNoise(), "snr_db", [10], family="noise")
    stated = SensitivityMeter(MFCCEncoder(sr=SR), grid, random_state=0, n_bootstrap=100).score(clips)
    given = SensitivityMeter(MFCCEncoder(), grid, sr=SR, random_state=0, n_bootstrap=100).score(clips)
    assert stated.config["sr"] == SR and stated.table.equals(given.table)
    with pytest.raises(ValueError, match="SensitivityMeter needs the sample rate"):  # neither the meter nor the encoder
        SensitivityMeter(MFCCEncoder(), grid).score(clips)
    with pytest.raises(ValueError, match=r"MFCCEncoder\(sr=16000\) was handed audio at sr=22050"):  # they disagree
        SensitivityMeter(MFCCEncoder(sr=16000), grid, sr=SR).score(clips)
