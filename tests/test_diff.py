"""Two runs compared clip by clip (report.compare_to, trustkit diff) and the formats CI systems read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import scipy.stats

from trustkit import SensitivityMeter, TransferabilityProbe
from trustkit.audio import content_keys
from trustkit.cli import main
from trustkit.datasets import make_music
from trustkit.encoders import FunctionEncoder, MFCCEncoder
from trustkit.exceptions import GateError
from trustkit.perturbations import AddNoise, LowPass
from trustkit.reports.ci import junit_xml, markdown_summary, run_gate
from trustkit.reports.diff import NotComparableError, compare_runs, decode_share, encode_share
from trustkit.stats import mcnemar_exact, paired_bootstrap

SR = 16000
GRID = [("noise 30 dB", AddNoise(snr_db=30)), ("noise 20 dB", AddNoise(snr_db=20)), ("low-pass 4 kHz", LowPass(cutoff_hz=4000))]


@pytest.fixture(scope="module")
def clips():
    X, _ = make_music(48, duration=1.0, sr=SR, random_state=0)
    return X


def _noisy_mfcc(scale: float) -> FunctionEncoder:
    """MFCC statistics plus noise fixed by each clip's content: a deterministic, degraded copy of the encoder."""
    mfcc = MFCCEncoder(sr=SR)

    def encode(X):
        Z = mfcc.fit_transform(X)
        seeds = [int(k[:8], 16) for k in content_keys(X)]
        return Z + scale * np.stack([np.random.default_rng(s).standard_normal(Z.shape[1]) for s in seeds])

    return FunctionEncoder(encode, sr=SR, per_clip=False)


def _meter(encoder, **kw):
    return SensitivityMeter(encoder, GRID, sr=SR, n_bootstrap=100, random_state=0, **kw)


@pytest.fixture(scope="module")
def runs(clips):
    return {"old": _meter(MFCCEncoder(sr=SR)).score(clips), "again": _meter(MFCCEncoder(sr=SR)).score(clips),
            "degraded": _meter(_noisy_mfcc(12.0)).score(clips)}


# -- statistics ------------------------------------------------------------------------


def test_mcnemar_exact_is_the_binomial_test_of_the_discordant_pairs():
    old = np.r_[np.ones(30), np.zeros(10)].astype(bool)
    new = old.copy()
    new[:8] = False  # 8 lost
    new[-3:] = True  # 3 gained
    assert mcnemar_exact(old, new) == pytest.approx(scipy.stats.binomtest(8, 11, 0.5).pvalue)
    assert mcnemar_exact(old, old) == 1.0
    assert mcnemar_exact([1] * 8, [0] * 8) == pytest.approx(2 * 0.5 ** 8)


def test_paired_bootstrap_p_value_is_not_floored_by_the_resamples():
    a = np.r_[np.ones(30), np.zeros(30)]
    b = np.r_[np.zeros(30), np.ones(30)][::-1] * 0 + np.r_[np.ones(5), np.zeros(55)]
    d, p = paired_bootstrap(lambda i: b[i].mean() - a[i].mean(), 60, n_bootstrap=200, random_state=0)
    assert d.statistic == pytest.approx(5 / 60 - 0.5)
    assert p < 2 / 201  # far below what counting 200 resamples could show
    zero, p0 = paired_bootstrap(lambda i: a[i].mean() - a[i].mean(), 60, n_bootstrap=200, random_state=0)
    assert (zero.statistic, zero.low, zero.high, p0) == (0.0, 0.0, 0.0, 1.0)


def test_share_encoding_round_trips_with_missing_clips():
    flags = np.array([1.0, 0.0, np.nan, 1.0])
    assert encode_share(flags) == "10.1"
    np.testing.assert_array_equal(decode_share("10.1"), flags)


def _share_payload(flags, keys=None):
    return {"report": "Synthetic", "n_units": len(flags), "keys": keys, "design": {},
            "comparisons": [{"name": "failure", "scope": "headline", "higher_is_better": False, "statistic": "share",
                             "values": encode_share(flags)}]}


def test_nothing_changed_reads_worse_at_most_alpha_of_the_time():
    """Two runs whose outcomes come from one distribution: 'worse' in at most ~alpha of them (Holm, McNemar)."""
    rng = np.random.default_rng(1)
    worse = 0
    for _ in range(200):
        a, b = rng.random(80) < 0.3, rng.random(80) < 0.3
        diff = compare_runs(_share_payload(a), _share_payload(b), margin=0.0, n_bootstrap=200)
        worse += float(diff) > 0
    assert worse / 200 <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 200)  # within two standard errors of alpha


def test_a_real_loss_is_found_worse_and_a_small_one_within_the_margin_is_not():
    base = np.r_[np.zeros(300), np.ones(100)]
    worse = base.copy()
    worse[:60] = 1  # 15 points more failures
    tiny = base.copy()
    tiny[:2] = 1  # half a point
    assert compare_runs(_share_payload(base), _share_payload(worse)).verdicts() == {"failure": "worse"}
    assert compare_runs(_share_payload(worse), _share_payload(base)).verdicts() == {"failure": "better"}
    assert compare_runs(_share_payload(base), _share_payload(tiny), margin=0.05).verdicts() == {"failure": "equivalent"}
    few = compare_runs(_share_payload(base[::40]), _share_payload(worse[::40]), margin=0.05)  # 10 clips cannot tell
    assert few.verdicts() == {"failure": "undecided"}


# -- sensitivity runs -------------------------------------------------------------------


def test_a_degraded_encoder_is_worse_and_the_same_encoder_twice_is_equivalent(runs):
    diff = runs["degraded"].compare_to(runs["old"])
    assert float(runs["degraded"]) > float(runs["old"]) + 0.1
    assert diff.verdicts() == {"sensitivity": "worse"} and float(diff) == 1
    head = diff.row("difference", scope="headline")
    assert head["low"] > 0.02 and head["confidence"] == pytest.approx(0.90)
    assert head["old"] == pytest.approx(float(runs["old"])) and head["new"] == pytest.approx(float(runs["degraded"]))
    with pytest.raises(GateError, match="worse: sensitivity"):
        diff.check(0)
    same = runs["again"].compare_to(runs["old"])
    assert set(same.verdicts(scope=None).values()) == {"equivalent"}
    assert same.table["statistic"].abs().max() == 0.0
    same.check(0, scope="undecided")  # strict: every headline shown equivalent


def test_the_settings_are_judged_by_mcnemar_and_holm(runs):
    diff = runs["degraded"].compare_to(runs["old"])
    settings = diff.table[diff.table["scope"] == "setting"]
    assert list(settings["name"]) == [name for name, _ in GRID]
    assert set(settings["test"]) == {"McNemar exact"}
    assert (settings["p_holm"] >= settings["p"]).all()
    old_pc = runs["old"].per_clip
    for _, row in settings.iterrows():  # each setting's old value is the old run's sensitivity on that setting
        flags = old_pc[(old_pc["role"] == "encoder") & (old_pc["setting"] == row["name"])]["consistent"]
        assert row["old"] == pytest.approx(1 - flags.mean())


def test_runs_on_other_clips_settings_or_seeds_are_refused_naming_what_differs(clips, runs):
    other = _meter(MFCCEncoder(sr=SR)).score(np.r_[clips[:-1], clips[:1] * 0.5])
    with pytest.raises(NotComparableError, match="1 of the old run's 48 clips are not in the new run"):
        other.compare_to(runs["old"])
    seeded = SensitivityMeter(MFCCEncoder(sr=SR), GRID, sr=SR, n_bootstrap=100, random_state=1).score(clips)
    with pytest.raises(NotComparableError, match="seed_entropy: old 0, new 1"):
        seeded.compare_to(runs["old"])
    fewer = SensitivityMeter(MFCCEncoder(sr=SR), GRID[:2], sr=SR, n_bootstrap=100, random_state=0).score(clips)
    with pytest.raises(NotComparableError, match="settings"):
        fewer.compare_to(runs["old"])
    F, y = _features(0.0, n=30)
    with pytest.raises(NotComparableError, match="the old run is a TransferReport"):
        runs["old"].compare_to(TransferabilityProbe("precomputed", cv=2, n_bootstrap=50, random_state=0).score(F, y))


def test_clips_in_another_order_are_paired_by_content(clips, runs):
    order = np.random.default_rng(0).permutation(len(clips))
    shuffled = _meter(_noisy_mfcc(12.0)).score(clips[order])
    a, b = runs["degraded"].compare_to(runs["old"]), shuffled.compare_to(runs["old"])
    np.testing.assert_allclose(a.table["old"].astype(float), b.table["old"].astype(float))
    np.testing.assert_allclose(a.table["new"].astype(float), b.table["new"].astype(float))
    assert a.verdicts(None) == b.verdicts(None)
    assert "matched by content" in b.config["notes"][0]


def test_the_json_carries_what_the_diff_needs_and_gives_the_same_verdicts(tmp_path, runs):
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    runs["old"].to_json(old_path)
    runs["degraded"].to_json(new_path)
    from_files = compare_runs(old_path, new_path)
    in_memory = runs["degraded"].compare_to(runs["old"])
    np.testing.assert_array_equal(from_files.table["statistic"], in_memory.table["statistic"])
    assert from_files.verdicts(None) == in_memory.verdicts(None)
    paired = json.loads(old_path.read_text())["paired"]
    assert paired["keys"] == content_keys(np.asarray(make_music(48, duration=1.0, sr=SR, random_state=0)[0]))
    with pytest.raises(NotComparableError, match="carries no per-clip outcomes"):
        compare_runs({"report": "SensitivityReport", "version": "0.3.0"}, new_path)


# -- probe, comparison, fidelity ---------------------------------------------------------


def _features(noise: float, n: int = 150, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(["a", "b", "c"], n // 3)
    F = np.eye(3)[np.repeat([0, 1, 2], n // 3)] + 0.5 * rng.standard_normal((n, 3))
    return F + noise * np.random.default_rng(99).standard_normal(F.shape), y


def test_probe_runs_accuracy_by_mcnemar_and_groups_by_cluster_bootstrap():
    probe = TransferabilityProbe("precomputed", cv=3, n_bootstrap=100, random_state=0)
    (F, y), (G, _) = _features(0.0), _features(1.5)
    diff = compare_runs(probe.score(F, y), probe.score(G, y))
    assert diff.verdicts() == {"accuracy": "worse"} and diff.table["test"].iloc[0] == "McNemar exact"
    assert "matched by position" in diff.config["notes"][0]  # embeddings given: no content keys
    groups = np.tile(np.arange(25), 6)
    grouped = compare_runs(probe.score(F, y, groups), probe.score(G, y, groups))
    assert grouped.table["test"].iloc[0] == "paired bootstrap by group"
    with pytest.raises(NotComparableError, match="fold of the clips differ|label of the clips differ"):
        compare_runs(probe.score(F, y), probe.score(F, y[::-1]))


def test_probe_regression_compares_r2_by_the_paired_bootstrap():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((120, 4))
    y = F @ [1.0, -1.0, 0.5, 0.0] + 0.3 * rng.standard_normal(120)
    probe = TransferabilityProbe("precomputed", cv=3, n_bootstrap=100, random_state=0)
    old, new = probe.score(F, y), probe.score(F + 1.0 * rng.standard_normal(F.shape), y)
    diff = new.compare_to(old, margin=0.05)
    row = diff.row("difference", scope="headline")
    assert row["compared"] == "r2" and row["test"] == "paired bootstrap"
    assert row["old"] == pytest.approx(float(old), abs=1e-12) and row["new"] == pytest.approx(float(new), abs=1e-12)
    assert diff.verdicts() == {"r2": "worse"}


def test_a_comparison_of_encoders_is_compared_part_by_part(clips):
    from trustkit import compare_encoders

    y = np.repeat(["x", "y"], 24)
    kw = {"cv": 3, "n_bootstrap": 50, "random_state": 0, "estimators": ()}
    encoders = {"mfcc": MFCCEncoder(sr=SR), "mfcc8": MFCCEncoder(sr=SR, n_mfcc=8)}
    old = compare_encoders(encoders, {"task": (clips, y)}, **kw)
    new = compare_encoders(encoders, {"task": (clips, y)}, **kw)
    diff = new.compare_to(old)
    assert diff.verdicts() == {"mfcc on task: accuracy": "equivalent", "mfcc8 on task: accuracy": "equivalent"}
    assert list(diff.table["part"]) == ["mfcc on task", "mfcc8 on task"]
    paired = old.to_dict()["paired"]["parts"]["mfcc on task"]
    assert paired["keys"] == content_keys(clips) and paired["per_unit"]["label"] == list(y)


def test_fidelity_reports_compare_instance_by_instance():
    from trustkit import FidelityComplexityScorer

    rng = np.random.default_rng(0)
    w = np.array([3.0, -2.0, 1.0, 0.5, 0.0, 0.0])
    X = rng.standard_normal((30, 6))
    model = lambda Z: Z @ w  # noqa: E731
    scorer = FidelityComplexityScorer(model, n_bootstrap=100, random_state=0).fit(rng.standard_normal((50, 6)))
    exact = scorer.score(X, X * w)
    blurred = scorer.score(X, X * w + 3.0 * rng.standard_normal(X.shape))
    diff = blurred.compare_to(exact)
    assert diff.verdicts() == {"fidelity": "worse"}
    assert exact.compare_to(exact).verdicts() == {"fidelity": "equivalent"}


# -- what CI reads -----------------------------------------------------------------------


def test_junit_has_a_case_per_headline_and_gate_and_a_failed_gate_fails(runs):
    report = runs["degraded"]
    gates = [run_gate(report, 0.05, name="--fail-above 0.05"), run_gate(report, 0.9, name="--fail-above 0.9")]
    root = ET.fromstring(junit_xml(report, gates))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert list(cases) == ["headline: mean sensitivity", "gate: --fail-above 0.05", "gate: --fail-above 0.9"]
    assert root.get("failures") == "1"
    failure = cases["gate: --fail-above 0.05"].find("failure")
    assert f"{float(report):.3f} > 0.05" in failure.get("message")
    assert cases["gate: --fail-above 0.9"].find("failure") is None
    md = markdown_summary(report, gates)
    assert "| gate: --fail-above 0.05 | **FAILED** |" in md and "| gate: --fail-above 0.9 | passed |" in md


def test_trustkit_diff_exit_codes_junit_and_the_github_summary(tmp_path, runs, monkeypatch):
    paths = {}
    for name in ("old", "again", "degraded"):
        paths[name] = tmp_path / f"{name}.json"
        runs[name].to_json(paths[name])
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "diff.xml"
    assert main(["diff", str(paths["old"]), str(paths["again"]), "--junit", str(junit)]) == 0
    assert main(["diff", str(paths["old"]), str(paths["degraded"]), "--junit", str(junit),
                 "--json", str(tmp_path / "d.json")]) == 1
    root = ET.fromstring(junit.read_text())
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == ["headline: sensitivity", "gate: no headline worse (--fail-on worse, --margin 0.02)"]
    assert json.loads((tmp_path / "d.json").read_text())["report"] == "DiffReport"
    text = summary.read_text()
    assert text.startswith("earlier step\n") and text.count("### trustkit diff") == 2  # appended, step by step
    assert main(["diff", str(paths["old"]), str(paths["degraded"]), "--margin", "0.5"]) == 0  # within a wide margin
    assert main(["diff", str(paths["old"]), str(paths["degraded"]), "--margin", "0.4", "--fail-on", "undecided"]) == 1
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({**json.loads(paths["old"].read_text()), "paired": None}))
    assert main(["diff", str(paths["old"]), str(bad)]) == 2
    assert main(["diff", str(paths["old"]), str(tmp_path / "missing.json")]) == 2


def test_files_streamed_in_chunks_carry_the_same_keys_and_outcomes_as_the_array(tmp_path, clips, runs):
    from trustkit.audio import save_audio

    for i, x in enumerate(clips):
        save_audio(tmp_path / f"{i:03d}.wav", x, sr=SR)
    streamed = _meter(MFCCEncoder(sr=SR), chunk_size=10).score(tmp_path)  # 48 clips: chunks of 10, the last of 8
    from_array = _meter(MFCCEncoder(sr=SR)).score(_wav_clips(tmp_path))
    assert streamed.clip_keys == from_array.clip_keys
    diff = streamed.compare_to(from_array)
    assert set(diff.verdicts(None).values()) == {"equivalent"} and diff.table["statistic"].abs().max() == 0
    probe = TransferabilityProbe(MFCCEncoder(sr=SR), cv=3, n_bootstrap=50, random_state=0, chunk_size=10)
    y = np.repeat(["x", "y"], 24)
    assert probe.score(tmp_path, y).clip_keys == streamed.clip_keys


def _wav_clips(folder):
    from trustkit.datasets import Corpus

    return Corpus.from_folder(folder, labels=None).load()[0]
