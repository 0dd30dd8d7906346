"""Hostile and careless inputs (issue 10): gates that cannot be fooled, safe HTML, report JSON."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from pathlib import Path

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
def test_nan_or_out_of_range_gates_are_refused_before_any_work(argv, match, capsys, monkeypatch):
    _no_work(monkeypatch)
    assert main(argv) == 2  # refused up front: no command ran
    assert match in capsys.readouterr().err


def _no_work(monkeypatch):
    """Make every command fail loudly if it starts: what is refused must be refused before any work."""
    import trustkit.cli as cli

    def started(*args, **kwargs):
        raise AssertionError("the command started its work")

    for name in ("run_demo", "run_sensitivity", "run_transfer", "run_explain", "run_report", "run_listen_command"):
        monkeypatch.setattr(cli, name, started)


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
    from trustkit.exceptions import GateError
    from trustkit.reports import Report
    from trustkit.reports.ci import junit_xml, run_gate

    class Undefined(Report):
        higher_is_better = True
        headline = "accuracy"
        table = config = None

        def __float__(self):
            return float("nan")

    outcome = run_gate(Undefined(), 0.5, name="--fail-below 0.5")  # what the command line gates with
    assert not outcome.passed and "accuracy is undefined, so it cannot pass 0.5" in outcome.message
    assert junit_xml(Undefined(), [outcome]).count("<failure") == 2  # the headline's case and the gate's
    for higher in (True, False):  # whichever way is better, NaN fails
        Undefined.higher_is_better = higher
        with pytest.raises(GateError):
            Undefined().check(0.5)


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

    X, _ = make_music(8, duration=1.0, sr=SR, random_state=0)
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


# -- 3. Ctrl-C: one line, exit 130, nothing half-written ------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", ["1", "2"])
def test_interrupt_ends_with_one_line_exit_130_and_no_output(tmp_path, n_jobs):
    import os
    import shutil
    import signal
    import subprocess
    import sys

    exe = shutil.which("trustkit") or str(Path(sys.executable).parent / "trustkit")
    out = tmp_path / "demo"
    proc = subprocess.Popen([exe, "demo", "--fast", "--n-jobs", n_jobs, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    deadline = time.time() + 120
    while time.time() < deadline and "robustness" not in (proc.stderr.readline() or ""):
        pass  # wait until the work has started
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("trustkit:") or "Traceback" in line or "terminate" in line]
    assert lines == ["trustkit: interrupted; nothing was written."], err[-2000:]
    assert not (out / "trust_report.json").exists() and not (out / "trust_report.html").exists()


# -- 6. outputs checked before any work, written whole ---------------------------------------------
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    _no_work(monkeypatch)
    (tmp_path / "demo" / "trust_report.html").mkdir(parents=True)
    assert main(["demo", "--fast", "--out", str(tmp_path / "demo")]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path / "demo" / "trust_report.json").exists()
    (tmp_path / "file").write_text("x")
    for argv, match in [
        (["sensitivity", "--encoder", "mfcc", "--json", str(tmp_path / "file" / "r.json")], "is a file, not a folder"),
        (["transfer", "--encoder", "mfcc", "--html", str(tmp_path)], "is a folder"),
        (["demo", "--fast", "--out", str(tmp_path / "file")], "is a file"),
    ]:
        assert main(argv) == 2
        assert match in capsys.readouterr().err


def test_outputs_are_written_atomically_and_replacements_are_said(tmp_path, capsys, monkeypatch):
    import trustkit.reports.files as reports

    target = tmp_path / "r.json"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(reports.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        reports.write_text_atomic(target, "new")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]  # no half file, no temp left
    monkeypatch.undo()
    doc = tmp_path / "d.json"
    doc.write_text(json.dumps(_trust_doc()))
    assert main(["report", str(doc), "--out", str(tmp_path / "d.html")]) == 0
    assert main(["report", str(doc), "--out", str(tmp_path / "d.html")]) == 0
    assert "Replaced" in capsys.readouterr().out


# -- 7. MODULE:OBJECT runs code (said), cached embeddings are checked --------------------------------
def test_code_execution_is_documented_and_cached_results_are_checked(tmp_path, capsys):
    import joblib

    from trustkit.encoders import FunctionEncoder, embed

    with pytest.raises(SystemExit):
        main(["sensitivity", "--help"])
    assert "imports and runs that module's code" in " ".join(capsys.readouterr().out.split())
    enc = FunctionEncoder(_first_four, sr=SR, per_clip=False)
    X = np.random.default_rng(0).standard_normal((3, 4000)).astype(np.float32)
    memory = joblib.Memory(tmp_path, verbose=0)
    embed(enc, X, memory=memory)
    for pkl in tmp_path.rglob("output.pkl"):  # a poisoned (here: wrong) cache entry
        joblib.dump(np.ones((2, 2)), pkl)
    with pytest.raises(ValueError, match="the embedding cache of FunctionEncoder returned 2 embeddings for 3 clips"):
        embed(enc, X, memory=memory)


def _first_four(X):
    return X[:, :4]


# -- 8. no silent NaN in explanations ---------------------------------------------------------------
def test_explanations_of_a_nan_model_or_nan_input_are_refused_and_a_constant_model_is_counted():
    from trustkit import FidelityComplexityScorer, InvalidAudioError, TrustkitWarning

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))

    def nan_on_masked(A):
        out = A.sum(axis=1)
        return np.where(np.isclose(A, X.mean(0)).any(axis=1), np.nan, out)

    s = FidelityComplexityScorer(nan_on_masked, random_state=0).fit(X)
    with pytest.raises(ValueError, match="the model returned non-finite values .* for a masked input"):
        s.score(X[:3], np.ones((3, 4)))
    with pytest.raises(InvalidAudioError, match="X has non-finite values"):
        FidelityComplexityScorer(lambda A: A.sum(1), random_state=0).fit(X).score(np.full((2, 4), np.nan), np.ones((2, 4)))
    const = FidelityComplexityScorer(lambda A: np.ones(len(A)), random_state=0).fit(X)
    with pytest.warns(TrustkitWarning, match="3 of 3 instances have a near-zero effect"):
        report = const.score(X[:3], np.ones((3, 4)))
    assert report.config["n_near_zero"] == 3 and np.isnan(float(report))  # undefined, said, and no gate passes


# -- 9. huge amplitudes ------------------------------------------------------------------------------
@pytest.mark.parametrize("peak", [1e30, 1e5, 32767.0])
def test_absurd_levels_get_a_clear_error_before_any_overflow(peak):
    from trustkit import InvalidAudioError, SensitivityMeter
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import AddNoise

    X = (np.random.default_rng(0).standard_normal((3, 8000)) * peak / 4).astype(np.float32)
    X[0, 0] = peak
    for run in (lambda: AddNoise(random_state=0).fit_transform(X), lambda: MFCCEncoder(sr=8000).transform(X),
                lambda: SensitivityMeter(MFCCEncoder(), [("n", AddNoise())], sr=8000).score(X)):
        with pytest.raises(InvalidAudioError, match=r"X peaks at .* float audio is expected near \[-1, 1\]"):
            run()
    if peak == 32767.0:
        with pytest.raises(InvalidAudioError, match="divide by 32768"):
            AddNoise().fit_transform(X)


# -- 10, 11, 12. messages that name the argument, the problem and the fix ------------------------
@pytest.mark.parametrize(
    ("y", "error", "match"),
    [
        ([0, 1, np.nan, 1, 0, 1], ValueError, r"y has 1 missing targets \(None or NaN; first at item 2\)"),
        (["a", "b", None, "a", "b", "a"], ValueError, r"y has 1 missing targets"),
        (["a", "b", 1, "a", "b", "a"], TypeError, "y mixes label types"),
    ],
)
def test_probe_labels(y, error, match):
    from trustkit import TransferabilityProbe

    F = np.random.default_rng(0).standard_normal((6, 3))
    with pytest.raises(error, match=match):
        TransferabilityProbe("precomputed", cv=2).score(F, np.asarray(y, dtype=object))


def test_probe_and_scorer_vague_inputs():
    from trustkit import FidelityComplexityScorer, TransferabilityProbe

    with pytest.raises(ValueError, match=r"must hold at least 2 items .* got shape \(0, 3\)"):
        TransferabilityProbe("precomputed").score(np.zeros((0, 3)), [])
    X = np.random.default_rng(0).standard_normal((20, 3))
    s = FidelityComplexityScorer(lambda A: A.sum(1), budgets=None, random_state=0).fit(X)
    with pytest.raises(TypeError, match="budgets must be 'auto' or a tuple"):
        s.score(X[:2], np.ones((2, 3)))
    s = FidelityComplexityScorer(lambda A: A.sum(1), random_state=0).fit(X)
    with pytest.raises(TypeError, match="explanations must be numbers"):
        s.score(X[:2], [["a", "b", "c"], ["d", "e", "f"]])


def test_cli_vague_inputs(tmp_path, capsys):
    import soundfile as sf

    from trustkit.datasets import make_music

    X, _ = make_music(4, duration=1.0, sr=SR, random_state=0)
    for i, x in enumerate(X):
        (tmp_path / "ab"[i % 2]).mkdir(exist_ok=True)
        sf.write(tmp_path / "ab"[i % 2] / f"{i}.wav", x, SR)
    cases = [
        (["explain", "--model", "os:sep", "--clips", "10"], "--model 'os:sep' is a str, not a classifier"),
        (["sensitivity", "--encoder", "trustkit.perturbations:Gain", "--clips", "3"], "Gain is a perturbation"),
        (["sensitivity", "--encoder", "mfcc", "--audio", str(tmp_path), "--sr", str(SR), "--offset", "100"],
         "offset=100 s is at or past the end of 4 of 4 files"),
    ]
    for argv, match in cases:
        assert main(argv) == 2
        assert match in capsys.readouterr().err
    sf.write(tmp_path / "loose.wav", X[0], SR)
    assert main(["transfer", "--encoder", "mfcc", "--audio", str(tmp_path), "--sr", str(SR)]) == 2
    assert "1 audio files sit directly in" in capsys.readouterr().err


def test_make_music_refuses_rates_it_cannot_render():
    from trustkit.datasets import make_music

    with pytest.raises(ValueError, match="make_music needs sr >= 4000 Hz"):
        make_music(6, duration=1, sr=100)


# -- 14. library bugs are not usage errors ----------------------------------------------------------
def test_an_unexpected_error_is_reported_as_a_bug_with_its_own_exit_code(monkeypatch, capsys):
    import trustkit.cli as cli

    def boom(args, stream=None):
        return np.linalg.inv(np.zeros((2, 2)))  # LinAlgError from numpy, not a usage error

    monkeypatch.setattr(cli, "run_report", boom)
    assert cli.main(["report", "x.json", "--out", "y.html"]) == 3
    err = capsys.readouterr().err
    assert "internal error: LinAlgError" in err and "Please report it" in err and "Traceback" not in err
    assert cli.main(["--debug", "report", "x.json", "--out", "y.html"]) == 3
    assert "Traceback" in capsys.readouterr().err

    def value_error_inside_numpy(args, stream=None):
        return np.zeros(3).reshape(2, 2)  # a ValueError raised by numpy: a bug of ours, not the user's input

    monkeypatch.setattr(cli, "run_report", value_error_inside_numpy)
    assert cli.main(["report", "x.json", "--out", "y.html"]) == 3


# -- 15. only the frames needed are read --------------------------------------------------------------
def test_loading_an_excerpt_reads_only_its_frames(tmp_path, monkeypatch):
    import soundfile as sf

    from trustkit.audio import load_audio

    long = np.random.default_rng(0).standard_normal(SR * 600).astype(np.float32) * 0.1  # 10 minutes
    path = tmp_path / "long.wav"
    sf.write(path, long, SR, subtype="FLOAT")
    read = []
    original = sf.SoundFile.read

    def counting(self, frames=-1, *args, **kwargs):
        out = original(self, frames, *args, **kwargs)
        read.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting)
    x = load_audio(path, sr=SR, offset=30.0, duration=2.0)
    assert read == [2 * SR] and len(x) == 2 * SR
    np.testing.assert_array_equal(x, long[30 * SR : 32 * SR])


def test_an_error_while_unwinding_from_ctrl_c_is_still_an_interrupt(monkeypatch, capsys):
    import trustkit.cli as cli

    def interrupted_then_cleanup_fails(args, stream=None):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise OSError(39, "Directory not empty") from None  # as a temporary cache's cleanup did in CI

    monkeypatch.setattr(cli, "run_report", interrupted_then_cleanup_fails)
    assert cli.main(["report", "x.json", "--out", "y.html"]) == 130
    assert capsys.readouterr().err == "trustkit: interrupted; nothing was written.\n"


def test_scorecard_verdicts_are_honest_and_its_text_is_escaped():
    from types import SimpleNamespace

    from trustkit.reports.trust import _transfer_cell, _verdict
    from trustkit.trust import check_report_document, render_html

    assert _verdict(0.0, 0.08, 0.1, "robust", "sensitive") == "robust"
    assert _verdict(0.12, 0.3, 0.1, "robust", "sensitive") == "sensitive"
    assert _verdict(0.05, 0.2, 0.1, "robust", "sensitive").startswith("undecided")
    assert _verdict(0.6, 0.9, 0.5, "faithful", "not faithful", at_least=True) == "faithful"
    assert _verdict(0.1, 0.4, 0.5, "faithful", "not faithful", at_least=True) == "not faithful"
    row = SimpleNamespace(statistic=0.8, low=0.6, high=0.95, chance=0.62, majority=0.75)
    assert _transfer_cell(row)[1] == "not distinguishable from chance"  # 0.80 looks high, but 0.60 <= chance
    row.low = 0.7
    assert _transfer_cell(row)[1] == "above chance, not above majority"
    row.low = 0.76
    assert _transfer_cell(row)[1] == "above chance and majority"
    doc = {"report": "TrustReport", "meta": {}, "sections": [],
           "scorecard": {"encoders": [{"encoder": "<script>x</script>", "robustness verdict": "robust"}],
                         "meaning": ["<b>m</b>"]}}
    page = render_html(doc)
    assert "<script>x" not in page and "&lt;script&gt;x" in page and "&lt;b&gt;m" in page
    assert "<td class='good'>robust</td>" in page
    with pytest.raises(ValueError, match=r"scorecard.encoders\[0\]\['x'\] must be a number, text"):
        check_report_document({**doc, "scorecard": {"encoders": [{"x": [1]}]}})
    assert "Scorecard" not in render_html({"report": "TrustReport", "meta": {}, "sections": []})  # older JSON


def test_every_report_has_a_one_line_repr_with_its_interval_and_a_notebook_view():
    import re

    from trustkit import FidelityComplexityScorer, SensitivityMeter, TransferabilityProbe, compare_encoders
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder
    from trustkit.perturbations import Gain

    X, y = make_music(12, duration=1.0, sr=8000, random_state=0)
    rng = np.random.default_rng(0)
    F = rng.standard_normal((40, 3))
    reports = [
        SensitivityMeter(MFCCEncoder(), [("q", Gain(gain_db=-3))], sr=8000, n_bootstrap=50, random_state=0).score(X),
        TransferabilityProbe("precomputed", cv=3, n_bootstrap=50, random_state=0).score(F, (F[:, 0] > 0).astype(int)),
        compare_encoders({"a": MFCCEncoder(), "b": RandomProjectionEncoder()}, {"t": (X, y["timbre"])}, sr=8000, cv=2,
                         n_bootstrap=50, estimators=(), random_state=0),
    ]
    from sklearn.linear_model import LinearRegression

    Z = rng.standard_normal((30, 5))
    model = LinearRegression().fit(Z, Z @ np.arange(5.0))
    reports.append(FidelityComplexityScorer(model, random_state=0).fit(Z).score(Z[:5], model.coef_ * Z[:5]))
    for r in reports:
        text = repr(r)
        assert "\n" not in text and len(text) < 240 and text.startswith(f"<{type(r).__name__}: ")
        if type(r).__name__ != "ComparisonReport":
            assert re.search(r"\d\.\d{3} \[-?\d\.\d{3}, -?\d\.\d{3}\]", text), text  # the headline with its interval
        page = r._repr_html_()
        assert page.startswith("<pre>") and "<table" in page
