from __future__ import annotations

import json

import numpy as np
import pytest

from trustkit.cli import main
from trustkit.datasets import TIMBRES, make_music
from trustkit.perturbations.listen import run_listen


def test_make_music_is_deterministic_and_labelled():
    X, y = make_music(10, duration=1.0, sr=16000, random_state=3)
    X2, y2 = make_music(10, duration=1.0, sr=16000, random_state=3)
    np.testing.assert_array_equal(X, X2)
    assert y.equals(y2)
    assert X.shape == (10, 16000) and X.dtype == np.float32
    np.testing.assert_allclose(np.abs(X).max(axis=1), 0.5, rtol=1e-6)
    assert set(y["timbre"]) == set(TIMBRES)
    assert set(y["tempo_class"]) <= {"slow", "fast"}
    assert ((y["tempo_bpm"] < 100) == (y["tempo_class"] == "slow")).all()
    assert not np.allclose(X, make_music(10, duration=1.0, sr=16000, random_state=4)[0])


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_make_music_same_clips_on_threads(n_jobs):
    # values of the sequential generator before the clips were rendered on threads (draws first, then sines)
    # (to float32 precision: a CPU's vectorised sine may round differently), and bit for bit whatever n_jobs
    X, y = make_music(6, duration=1.0, sr=16000, random_state=3, n_jobs=n_jobs)
    assert X[4, 8000:8003].tolist() == pytest.approx([-0.17434287071228027, -0.07652851939201355, 0.004571295343339443],
                                                      rel=1e-6)
    assert float(X.astype(np.float64).sum()) == pytest.approx(3.0722088712694813, abs=1e-5)
    assert float((X.astype(np.float64) ** 2).sum()) == pytest.approx(2347.1348628638407, rel=1e-7)
    X1, y1 = make_music(6, duration=1.0, sr=16000, random_state=3)
    np.testing.assert_array_equal(X, X1)
    assert y.equals(y1)


def test_make_music_bad_input():
    with pytest.raises(ValueError, match="duration must be in"):
        make_music(2, duration=0.1)


def test_listen_writes_audio_pictures_and_json(tmp_path, capsys):
    result = run_listen(tmp_path, fast=True)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"index.html", "spectrograms.png", "perturbations.json", "original_0.wav"} <= files
    data = json.loads((tmp_path / "perturbations.json").read_text())
    noise = data["perturbations"]["pink_noise_28.5dB"]["params"]
    assert all(abs(row["snr_db_realised"] - 28.5) < 0.1 for row in noise)
    assert "Open" in capsys.readouterr().out
    assert result["index"].endswith("index.html")
    from trustkit.reports.html import PAGE

    page = (tmp_path / "index.html").read_text()  # the one template every trustkit page comes from
    assert page.startswith(PAGE.template[:50]) and page.count("<audio") == (len(data["perturbations"]) + 1) * len(data["clips"])


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    assert main(["listen", "--fast", "--sr", "-5", "--out", str(tmp_path)]) == 2
    assert "trustkit: error: --sr must be an integer in [1, 768000]; got -5" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2


def test_demo_writes_the_trust_report_and_report_rerenders_it(tmp_path, capsys):
    import json

    assert main(["demo", "--fast", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Robustness of mfcc" in out and "Transferability" in out and "Explanations: SHAP" in out
    data = json.loads((tmp_path / "trust_report.json").read_text())
    assert data["report"] == "TrustReport" and len(data["sections"]) >= 4
    page = (tmp_path / "trust_report.html").read_text()
    assert page.count("data:image/png;base64,") == len(data["sections"]) and "<table" in page
    assert main(["report", str(tmp_path / "trust_report.json"), "--out", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text() == page


def test_cli_input_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["demo", "--fast", "--data", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "is not valid JSON" in err and len(err.strip().splitlines()) == 1
    assert main(["report", str(tmp_path / "nope.json")]) == 2
    with pytest.raises(SystemExit) as exc:  # unknown grid: argparse's one-line usage error
        main(["sensitivity", "--encoder", "mfcc", "--perturbations", "mild"])
    assert exc.value.code == 2
