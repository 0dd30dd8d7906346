"""Outputs are all or nothing, never replace an input, and write streams as streams (hardening round 2)."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading

import numpy as np
import pytest
import soundfile as sf

from trustkit.cli import main
from trustkit.reports import is_stream_target, write_texts_atomic

SR = 16000
BASE = ["transfer", "--encoder", "mfcc", "--clips", "12", "--sr", str(SR), "--duration", "1", "--cv", "2",
        "--progress", "off"]


@pytest.fixture
def counted(monkeypatch):
    """Counts the encoder's forward passes: a refusal must come before any."""
    from trustkit.encoders import MFCCEncoder

    calls = []
    original = MFCCEncoder._embed
    monkeypatch.setattr(MFCCEncoder, "_embed", lambda self, x, sr: calls.append(1) or original(self, x, sr))
    return calls


def test_json_and_html_naming_one_file_are_refused_before_any_work(tmp_path, capsys, counted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*BASE, "--json", "a.json", "--html", "./a.json"]) == 2
    err = capsys.readouterr().err
    assert "--json and --html name the same file ('./a.json')" in err and not counted
    assert not (tmp_path / "a.json").exists()
    os.symlink(tmp_path / "b.json", tmp_path / "link.json")
    assert main([*BASE, "--json", "b.json", "--html", "link.json"]) == 2  # the same file through a symlink
    assert main([*BASE, "--json", "-", "--html", "-"]) == 2 and "name the same stream" in capsys.readouterr().err


def test_an_output_never_replaces_an_input_file(tmp_path, capsys, counted):
    folder = tmp_path / "clips"
    for label in "ab":
        (folder / label).mkdir(parents=True)
        for i in range(3):
            sf.write(folder / label / f"{i}.wav", np.random.default_rng(i).standard_normal(SR).astype(np.float32) * 0.1, SR)
    before = (folder / "a" / "0.wav").read_bytes()
    args = ["transfer", "--encoder", "mfcc", "--audio", str(folder), "--cv", "2", "--progress", "off"]
    assert main([*args, "--json", str(folder / "a" / "0.wav")]) == 2
    err = capsys.readouterr().err
    assert "is an input of this run" in err and "0.wav" in err and not counted
    assert (folder / "a" / "0.wav").read_bytes() == before


@pytest.fixture
def disk_full_after_one_file(monkeypatch):
    """The first temporary file is written; the disk is full for the second."""
    real = tempfile.mkstemp
    made = []

    def full_disk(*a, **k):
        if made:
            raise OSError(28, "No space left on device")
        made.append(1)
        return real(*a, **k)

    monkeypatch.setattr(tempfile, "mkstemp", full_disk)


def test_a_failed_write_leaves_every_old_output_untouched_and_no_temporary(tmp_path, disk_full_after_one_file):
    old_json, old_html = tmp_path / "r.json", tmp_path / "r.html"
    old_json.write_text("old json")
    old_html.write_text("old html")
    with pytest.raises(OSError, match="No space left"):
        write_texts_atomic({old_json: "new json", old_html: "new html"})
    assert old_json.read_text() == "old json" and old_html.read_text() == "old html"  # neither replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]  # no temporary left behind


def test_the_command_line_run_is_all_or_nothing_on_a_full_disk(tmp_path, disk_full_after_one_file, capsys):
    old = tmp_path / "r.json"
    old.write_text("old json")
    code = main([*BASE, "--json", str(old), "--html", str(tmp_path / "r.html")])
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert old.read_text() == "old json" and not (tmp_path / "r.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_streams_are_written_never_replaced(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []

    def read():
        with open(fifo) as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read)
    reader.start()
    assert main([*BASE, "--json", str(fifo)]) == 0
    reader.join(timeout=60)
    assert json.loads(got[0])["report"] == "TransferReport"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not a regular file
    assert is_stream_target("/dev/stdout") and is_stream_target("-") and is_stream_target(fifo)
    capsys.readouterr()
    assert main([*BASE, "--json", "-"]) == 0  # "-": the JSON on stdout, the summary on stderr
    out, err = capsys.readouterr()
    assert json.loads(out)["report"] == "TransferReport" and "TransferabilityProbe" in err


def test_a_symlinked_output_keeps_its_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    os.symlink(target, link)
    write_texts_atomic({link: "new"})
    assert link.is_symlink() and target.read_text() == "new"
