"""One report contract: every report derives from Report, shares the long table, the gate, repr and one renderer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from trustkit import GateError
from trustkit.reports import LONG_COLUMNS, Report
from trustkit.reports.html import PAGE
from trustkit.stats import Estimate


@pytest.fixture(scope="module")
def trust():
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder
    from trustkit.trust import run_trust_report

    X, y = make_music(20, duration=1.0, sr=16000, random_state=0)
    return run_trust_report(X, y[["timbre", "mode"]], sr=16000, fast=True, stream=io.StringIO(),
                            encoders={"mfcc": MFCCEncoder(sr=16000), "rp": RandomProjectionEncoder(sr=16000)})


def test_estimates_carry_scipys_names():
    e = Estimate(0.5, 0.4, 0.7, 12, 0.9)
    assert e.statistic == 0.5 and e.confidence_interval == (0.4, 0.7)
    assert e.confidence_interval.low == 0.4 and e.confidence_interval.high == 0.7


def test_every_report_shares_the_long_table_gate_repr_and_renderer(trust, tmp_path):
    from trustkit.fidelity import ExplanationComparison

    for section in trust.sections:
        assert set(section) >= {"title", "headline", "table", "compact", "plot_png"}
    # the meters' reports, rebuilt from the trust report's run
    import trustkit

    assert isinstance(trust, Report)
    reports = {type(trust).__name__: trust}
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder

    X, y = make_music(16, duration=1.0, sr=16000, random_state=1)
    from trustkit.perturbations import Gain

    reports["SensitivityReport"] = trustkit.SensitivityMeter(MFCCEncoder(sr=16000), [("g", Gain(gain_db=-3))], sr=16000,
                                                             baseline=MFCCEncoder(sr=16000), n_bootstrap=50,
                                                             random_state=0).score(X)
    reports["TransferReport"] = trustkit.TransferabilityProbe(MFCCEncoder(sr=16000), cv=2, n_bootstrap=50,
                                                              random_state=0).score(X, y["timbre"])
    reports["ComparisonReport"] = trustkit.compare_encoders(
        {"a": MFCCEncoder(sr=16000), "b": MFCCEncoder(sr=16000, n_mfcc=13)}, {"timbre": (X, y["timbre"])}, cv=2,
        n_bootstrap=50, random_state=0)
    rng = np.random.default_rng(0)
    from sklearn.linear_model import LinearRegression

    F = rng.standard_normal((40, 4))
    model = LinearRegression().fit(F, F @ [1.0, -2.0, 0.5, 0.0])
    scorer = trustkit.FidelityComplexityScorer(model, n_bootstrap=50, random_state=0).fit(F)
    exact = scorer.score(F[:8], (F[:8] - scorer.baseline_) * model.coef_)
    noisy = scorer.score(F[:8], rng.standard_normal((8, 4)))
    reports["FidelityComplexityReport"] = exact
    reports["ExplanationComparison"] = exact.compare(noisy, names=("exact", "noise"))
    assert isinstance(reports["ExplanationComparison"], ExplanationComparison)
    for name, rep in reports.items():
        assert isinstance(rep, Report), name
        long = rep.to_long()
        assert tuple(long.columns[-len(LONG_COLUMNS):]) == LONG_COLUMNS, name
        head = long.iloc[0]
        assert head["scope"] == "headline"
        assert head["statistic"] == pytest.approx(float(rep), nan_ok=True), name
        assert len(long) > 1 or name == "TrustReport"
        # the one stored shape: the table is the long table without the headline, and wide() pivots it back
        assert tuple(rep.table.columns[-len(LONG_COLUMNS):]) == LONG_COLUMNS, name
        assert len(long) == len(rep.table) + 1, name
        np.testing.assert_array_equal(long["statistic"].to_numpy(float)[1:], rep.table["statistic"].to_numpy(float))
        assert (long["confidence"] > 0).all() and (long["confidence"] < 1).all()
        finite = long[np.isfinite(long["low"].astype(float)) & np.isfinite(long["high"].astype(float))]
        assert (finite["low"] <= finite["high"] + 1e-12).all(), name
        text = repr(rep)
        assert "\n" not in text and text.startswith(f"<{name}:"), text
        assert "<pre>" in rep._repr_html_()
        doc = json.loads(rep.to_json())
        assert doc["version"] == trustkit.__version__ and doc["report"] == name
        assert len(doc["long"]) == len(long)
        page = rep.to_html(tmp_path / f"{name}.html")
        assert page.startswith(PAGE.template[:40]) and "<script" not in page, name
    sens = reports["SensitivityReport"]  # wide(): one row per setting and role, a column per measure
    rows = sens.table[(sens.table["scope"] == "setting") & (sens.table["measure"] == "sensitivity")]
    np.testing.assert_array_equal(sens.wide()["sensitivity"], rows["statistic"].to_numpy(float))
    np.testing.assert_array_equal(sens.wide()["sensitivity_high"], rows["high"].to_numpy(float))
    assert list(sens.wide()["role"]) == ["encoder", "baseline"] * 2  # identity and "g"
    probe = reports["TransferReport"].wide().set_index("metric").loc["accuracy"]
    assert probe["statistic"] == float(reports["TransferReport"]) and probe["normalised_low"] < probe["normalised"]
    low, high = reports["ComparisonReport"]._headline_interval()  # the mean of the tasks' normalised bounds
    assert low <= float(reports["ComparisonReport"]) <= high
    # the comparison's headline is the fidelity difference, and the exact explanation wins
    cmp = reports["ExplanationComparison"]
    assert float(cmp) > 0.5 and cmp._headline_interval()[0] > 0
    assert "exact vs noise" in cmp.summary()
    cmp.check(0.1, use_interval=True)


def test_the_trust_report_gates_on_its_verdicts(trust):
    verdicts = [v for row in trust.scorecard["encoders"] + trust.scorecard["explanations"]
                for k, v in row.items() if k.endswith("verdict")]
    favourable = sum(v in ("robust", "faithful", "above chance and majority") for v in verdicts)
    assert float(trust) == pytest.approx(favourable / len(verdicts))
    assert trust.to_long().iloc[0]["n"] == len(verdicts)
    assert trust.check(0.0)
    if favourable < len(verdicts):
        with pytest.raises(GateError, match="share of favourable verdicts"):
            trust.check(1.0)
    long = trust.to_long()
    assert set(long["section"]) >= {s["title"] for s in trust.sections}


def test_trustkit_report_reads_every_json_the_toolkit_writes(trust, tmp_path, capsys):
    from trustkit.cli import main

    path = tmp_path / "trust.json"
    trust.to_json(path)
    assert main(["report", str(path), "--out", str(tmp_path / "t.html")]) == 0
    page = (tmp_path / "t.html").read_text()
    assert "id='scorecard'" in page and page.count("<details>") == len(trust.sections)
    old = json.loads(path.read_text())  # a report written before the long table existed still renders
    for s in old["sections"]:
        s.pop("compact")
    old.pop("long")
    path.write_text(json.dumps(old))
    assert main(["report", str(path), "--out", str(tmp_path / "old.html")]) == 0
    assert "<details open>" in (tmp_path / "old.html").read_text()


def test_sharing_work_between_meters_changes_no_number(trust, capsys):
    """The trust report with one cache and shared model responses equals every meter run on its own."""
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder
    from trustkit.trust import run_trust_report

    X, y = make_music(20, duration=1.0, sr=16000, random_state=0)
    alone = run_trust_report(X, y[["timbre", "mode"]], sr=16000, fast=True, share=False,
                             encoders={"mfcc": MFCCEncoder(sr=16000), "rp": RandomProjectionEncoder(sr=16000)})
    assert capsys.readouterr() == ("", "")  # nothing printed unless asked (a stream, or verbose)
    a = alone.to_long()[["statistic", "low", "high"]].to_numpy(dtype=float)
    b = trust.to_long()[["statistic", "low", "high"]].to_numpy(dtype=float)
    # equal up to the last bit: shared responses are computed in other batch shapes, which BLAS may round
    # differently in the last bit (bit-identical on the development machine; 4e-15 relative with numpy 2.0.0)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert alone.scorecard == trust.scorecard


def test_no_raw_share_is_presented_in_a_summary_table(trust):
    """Raw keep/remove shares explode when the full effect is small; tables show their bounded fidelity only."""
    for section in trust.sections:
        if not section["title"].startswith("Explanations"):
            continue
        measures = {r["measure"] for r in section["compact"]}
        assert not measures & {"keep", "remove"}
        bounded = [r for r in section["compact"] if r["measure"] in ("keep_fidelity", "remove_fidelity")]
        assert bounded and all(0 <= r[k] <= 1 for r in bounded for k in ("statistic", "low", "high"))


def test_every_headline_on_the_page_carries_its_interval(trust):
    from trustkit.trust import render_html

    page = trust.to_html()
    for s in trust.sections:
        if s["interval"] is not None:
            low, high = s["interval"]
            assert f"{s['headline']:.3f} [{low:.3f}, {high:.3f}]" in page, s["title"]
    doc = trust.to_dict()
    doc["sections"][0]["interval"] = ["<script>alert(1)</script>", 1.0]
    with pytest.raises(ValueError, match=r"sections\[0\].interval must be two numbers"):
        render_html(doc)


GOLDEN = Path(__file__).parent / "data" / "trust_report_long.csv"


def test_every_number_of_the_trust_report_is_as_recorded(trust):
    """The net under any restructuring of the reports: every row of the trust report's long table, as recorded.

    Recorded when the reports were restructured (issue 23): every meter on 20 generated clips, fast settings.
    A deliberate change of a number regenerates it:
    ``run_trust_report(...).to_long().to_csv(GOLDEN, index=False, float_format="%.17g")`` with this module's
    ``trust`` fixture's arguments.
    """
    import pandas as pd

    want = pd.read_csv(GOLDEN, keep_default_na=False, na_values=[""])
    got = pd.read_csv(io.StringIO(trust.to_long().to_csv(index=False, float_format="%.17g")), keep_default_na=False,
                      na_values=[""])
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    numbers = ["statistic", "low", "high", "n", "confidence"]
    ids = [c for c in want.columns if c not in numbers]
    assert got[ids].astype(str).equals(want[ids].astype(str))
    # to the last few bits: BLAS may round a product differently on another CPU
    np.testing.assert_allclose(got[numbers].to_numpy(float), want[numbers].to_numpy(float), rtol=1e-9, atol=1e-12)
