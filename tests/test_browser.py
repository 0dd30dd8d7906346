"""The HTML trust report renders in a real browser (headless Chromium)."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_trust_report_renders_in_headless_chromium(tmp_path):
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder
    from trustkit.trust import run_trust_report

    X, y = make_music(20, duration=1.0, sr=16000, random_state=0)
    report = run_trust_report(X, y[["timbre", "mode"]], sr=16000, encoders={"mfcc": MFCCEncoder(sr=16000), "rp": RandomProjectionEncoder(sr=16000)}, fast=True,
                              stream=io.StringIO())
    page = tmp_path / "trust_report.html"
    report.to_html(page)
    profile = tmp_path / "profile"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    n_sections = len(report.sections)
    # per section: the compact long table and the full one (behind a toggle); + the scorecard's two
    assert dom.count("<img") == n_sections and dom.count("<table") == 2 * n_sections + 2
    assert dom.count("<details>") == n_sections  # every full table is folded away
    assert "Robustness of mfcc" in dom and "Transferability" in dom and "Explanations: SHAP" in dom
    shot = tmp_path / "report.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 2400 and pixels.shape[1] == 1200
    assert np.std(pixels[..., :3]) > 0.05  # not a blank page: text and figures were drawn


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_first_screen_holds_the_scorecard(tmp_path):
    """At 1280 x 800 the scorecard (verdicts with intervals) is on screen without scrolling."""
    import re

    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder
    from trustkit.trust import run_trust_report

    X, y = make_music(20, duration=1.0, sr=16000, random_state=0)
    report = run_trust_report(X, y[["timbre", "mode", "tempo_class"]], sr=16000,
                              encoders={"mfcc": MFCCEncoder(sr=16000), "rp": RandomProjectionEncoder(sr=16000)},
                              fast=True, stream=io.StringIO())
    probe = ("<script>const r = document.getElementById('scorecard').getBoundingClientRect();"
             "document.body.setAttribute('data-scorecard', r.top + ',' + r.bottom + ',' + r.right);</script>")
    page = tmp_path / "trust_report.html"
    page.write_text(report.to_html().replace("</body>", probe + "</body>"))
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,800",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    top, bottom, right = map(float, re.search(r'data-scorecard="([^"]+)"', dom).group(1).split(","))
    assert 0 < top < bottom <= 800 and right <= 1280
    verdicts = sum(dom.count(f'class="{c}"') for c in ("good", "bad", "open"))
    assert verdicts == 2 * 4 + 2  # per encoder: robustness and three tasks; per explainer: fidelity
