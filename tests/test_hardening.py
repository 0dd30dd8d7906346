"""Hostile and careless inputs (issue 10): gates that cannot be fooled, safe HTML, report JSON."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser

import numpy as np
import pytest

from trustkit.cli import main

SR = 16000


# -- 1. every threshold is checked before any work -----------------------------------------------
@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["transfer", "--encoder", "mfcc", "--fail-below", "nan"], "--fail-below must be finite, got nan"),
        (["explain", "--fail-below", "nan"], "--fail-below must be finite, got nan"),
        (["sensitivity", "--encoder", "mfcc", "--fail-above", "nan"], "--fail-above must be finite, got nan"),
        (["sensitivity", "--encoder", "mfcc", "--fail-above", "inf"], "--fail-above must be finite"),
        (["sensitivity", "--encoder", "mfcc", "--fail-above", "1.5"], "--fail-above must be in"),
        (["transfer", "--encoder", "mfcc", "--fail-below", "2"], "--fail-below must be in"),
        (["explain", "--fail-below", "-3"], "--fail-below must be in"),
    ],
)
def test_nan_or_out_of_range_gates_are_refused_before_any_work(argv, match, capsys):
    t0 = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - t0 < 2.0  # refused up front, not after a run
    assert match in capsys.readouterr().err


def test_gates_in_the_api_refuse_nan_before_any_work():
    from trustkit.testing import assert_explanations_faithful, assert_sensitivity_below, assert_transfer_above

    calls = []

    def encoder(X):
        calls.append(1)
        return X[:, :4]

    X = np.random.default_rng(0).standard_normal((6, 4000)).astype(np.float32)
    with pytest.raises(ValueError, match="max_sensitivity must be finite"):
        assert_sensitivity_below(encoder, X, SR, max_sensitivity=float("nan"))
    with pytest.raises(ValueError, match="min_score must be finite"):
        assert_transfer_above(encoder, X, [0, 1] * 3, min_score=float("nan"))
    with pytest.raises(ValueError, match="min_fidelity must be finite"):
        assert_explanations_faithful(lambda A: A.sum(1), X[:, :4], X[:2, :4], np.ones((2, 4)), min_fidelity=float("nan"))
    assert calls == []


def test_an_undefined_headline_never_passes_a_gate():
    import io

    from trustkit.cli import _gate_at_least

    out = io.StringIO()
    assert _gate_at_least(float("nan"), 0.5, "accuracy", out) == 1
    assert "GATE FAILED" in out.getvalue()


# -- 2, 4, 5, 13. report JSON: validated, escaped, never overwriting, strict ---------------------
class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.img_src = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.img_src += [v for k, v in attrs if k == "src"]


def _trust_doc(**section):
    import base64

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
    sec = {"title": "t", "note": "", "summary": "s", "headline": 0.5, "higher_is_better": True, "table": [{"a": 1.0}],
           "plot_png": png, **section}
    return {"report": "TrustReport", "meta": {"description": "d"}, "sections": [sec]}


@pytest.mark.parametrize("field", ["plot_png", "title", "summary", "note"])
def test_no_markup_gets_into_the_page(field, tmp_path):
    from trustkit.trust import render_html

    evil = "x'><script>alert(1)</script><img src='x"
    src = tmp_path / "evil.json"
    src.write_text(json.dumps(_trust_doc(**{field: evil})))
    code = main(["report", str(src), "--out", str(tmp_path / "evil.html")])
    if field == "plot_png":
        assert code == 2 and not (tmp_path / "evil.html").exists()
        with pytest.raises(ValueError, match=r"sections\[0\]\.plot_png must be base64 PNG data"):
            render_html(_trust_doc(plot_png=evil))
    else:
        assert code == 0
        parser = _Elements()
        parser.feed((tmp_path / "evil.html").read_text())
        assert "script" not in parser.tags
        assert all(s.startswith("data:image/png;base64,") for s in parser.img_src)
    table = _trust_doc(table=[{"<script>": "<script>alert(1)</script>"}])
    parser = _Elements()
    parser.feed(render_html(table))
    assert "script" not in parser.tags


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[1, 2]", "the document must be a JSON object"),
        (json.dumps({**_trust_doc(), "meta": [1]}), "meta must be an object"),
        (json.dumps(_trust_doc(title=3)), r"sections\[0\]\.title must be text"),
        (json.dumps({"report": "TrustReport", "sections": [{"note": "x"}]}), r"sections\[0\]\.title must be text"),
        (json.dumps(_trust_doc(headline="high")), r"sections\[0\]\.headline must be a number or null"),
        (json.dumps(_trust_doc(table=[[1, 2]])), r"sections\[0\]\.table\[0\] must be an object"),
        (json.dumps(_trust_doc(table=[{"a": {"b": 1}}])), r"sections\[0\]\.table\[0\]\['a'\] must be a number"),
        (json.dumps({"report": "TrustReport", "sections": "all"}), "sections must be a list"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"report": 1}', "not a trustkit report"),
    ],
)
def test_malformed_report_json_names_the_field_and_exits_2(text, match, tmp_path, capsys):
    src = tmp_path / "bad.json"
    src.write_text(text)
    assert main(["report", str(src), "--out", str(tmp_path / "bad.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert __import__("re").search(match, err), err


def test_report_never_overwrites_its_input(tmp_path):
    src = tmp_path / "report.html"
    src.write_text(json.dumps(_trust_doc()))
    assert main(["report", str(src)]) == 2
    assert json.loads(src.read_text())["report"] == "TrustReport"  # untouched


def test_every_report_json_the_toolkit_writes_renders(tmp_path):
    from trustkit import SensitivityMeter, TransferabilityProbe
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import Gain

    X, y = make_music(8, duration=1.0, sr=SR, random_state=0)
    sens = SensitivityMeter(MFCCEncoder(), [("g", Gain(gain_db=-1))], sr=SR, n_bootstrap=20, random_state=0).score(X)
    rng = np.random.default_rng(0)
    F = np.eye(2)[np.repeat([0, 1], 10)] + 0.2 * rng.standard_normal((20, 2))
    probe = TransferabilityProbe("precomputed", cv=2, n_bootstrap=20, estimators=(), random_state=0).score(F, np.repeat([0, 1], 10))
    for name, report in (("sens", sens), ("probe", probe)):
        report.to_json(tmp_path / f"{name}.json")
        assert main(["report", str(tmp_path / f"{name}.json"), "--out", str(tmp_path / f"{name}.html")]) == 0
        page = (tmp_path / f"{name}.html").read_text()
        assert type(report).__name__ in page and report.summary().splitlines()[0][:30] in page


def test_trust_report_json_is_strict(tmp_path):
    from trustkit.trust import TrustReport

    report = TrustReport(sections=[{**_trust_doc()["sections"][0], "headline": float("nan")}], meta={"x": np.float64("nan")})
    data = json.loads(report.to_json())  # would raise on NaN with a strict parser; Python's accepts it, so check the text
    assert "NaN" not in report.to_json() and data["sections"][0]["headline"] is None and data["meta"]["x"] is None
    assert "undefined" in report.summary() and "undefined" in report.to_html()
