"""Every example runs (short smoke mode) and finishes cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
#: optional packages an example cannot run without (the "folk" extra renders the tunes)
NEEDS = {"compare_encoders_real.py": ("music21", "pretty_midi", "tinysoundfont"),
         "heldout_recompute.py": ("music21", "pretty_midi", "tinysoundfont")}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    for module in NEEDS.get(script.name, ()):
        pytest.importorskip(module)
    env = {**os.environ, "TRUSTKIT_SMOKE": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:trustkit", str(script), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert any(tmp_path.iterdir())
