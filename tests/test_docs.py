"""The documentation builds with Sphinx, warnings as errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    index = (tmp_path / "html" / "api.html").read_text()
    assert "SensitivityMeter" in index and "FidelityComplexityScorer" in index


# -- every code block of the docs runs (held-out run, issue 13) ----------------------------------
import re  # noqa: E402

ROOT = DOCS.parent
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"(?:<!-- not run: (?P<why>[^>]*?) -->\s*)?```python\n(?P<code>.*?)```", re.S)


def _blocks(page):
    return [(m["why"], m["code"]) for m in BLOCK.finditer(page.read_text())]


def test_blocks_that_do_not_run_say_why():
    for page in PAGES:
        for why, _ in _blocks(page):
            assert why is None or len(why) > 10, page.name


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if any(why is None for why, _ in _blocks(p))], ids=lambda p: p.name)
def test_every_code_block_runs(page, tmp_path, monkeypatch):
    """Each page's blocks run in order in one namespace; test functions a block defines are called."""
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt

    from trustkit import TrustkitWarning

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for k, (why, code) in enumerate(_blocks(page)):
        if why is not None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("always", TrustkitWarning)  # shown to a reader, as in a notebook; other warnings fail
            try:
                exec(compile(code, f"{page.name} (code block {k + 1})", "exec"), namespace)
            except ImportError as exc:
                if "pip install" not in str(exc):  # only a missing optional extra, said by trustkit, is a skip
                    raise
                pytest.skip(f"{page.name} code block {k + 1} needs an optional extra: {exc}")
        for name, fn in list(namespace.items()):
            if name.startswith("test_") and callable(fn) and fn.__code__.co_argcount == 0:
                fn()
                del namespace[name]
    plt.close("all")
