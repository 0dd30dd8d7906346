from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from trustkit import InvalidAudioError, TrustkitWarning
from trustkit.cli import main
from trustkit.datasets import load_audio_folder, make_music

SR = 16000


@pytest.fixture
def folder(tmp_path):
    X, y = make_music(6, duration=1.2, sr=SR, random_state=0)
    for i, (x, timbre) in enumerate(zip(X, y["timbre"])):
        (tmp_path / timbre).mkdir(exist_ok=True)
        sf.write(tmp_path / timbre / f"clip{i}.wav", x, SR)
    return tmp_path


def test_load_audio_folder_labels_and_lengths(folder):
    X, y = load_audio_folder(folder, sr=SR, duration=1.0)
    assert X.shape == (6, SR) and X.dtype == np.float32
    assert set(y["label"]) == {"strings", "keys", "plucked", "reed", "flute"}
    assert y["file"].str.endswith(".wav").all()
    with pytest.warns(TrustkitWarning, match="6 files are shorter than 2 s"):
        X2, _ = load_audio_folder(folder, sr=SR, duration=2.0)
    assert (X2[:, int(1.2 * SR) :] == 0).all()
    X3, _ = load_audio_folder(folder, sr=8000)  # shortest length, resampled
    assert X3.shape == (6, int(1.2 * 8000))


def test_load_audio_folder_reports_unreadable_files_by_name(folder):
    (folder / "keys" / "broken.wav").write_bytes(b"not audio at all")
    with pytest.raises(InvalidAudioError, match=r"1 of 7 files cannot be used: .*broken\.wav \(unreadable: .*Format not"):
        load_audio_folder(folder, sr=SR)
    X, y = load_audio_folder(folder, sr=SR, on_error="skip")  # left out, and said
    assert len(X) == 6 and y.attrs["skipped"][0]["file"].endswith("broken.wav")
    (folder / "keys" / "broken.wav").unlink()


def test_load_audio_folder_csv_labels(folder, tmp_path_factory):
    _X, y = load_audio_folder(folder, sr=SR, labels=None)
    csv = tmp_path_factory.mktemp("csv") / "labels.csv"
    csv.write_text("file,label\n" + "\n".join(f"{f},{i % 2}" for i, f in enumerate(y["file"])))
    _, y2 = load_audio_folder(folder, sr=SR, labels=csv)
    assert y2["label"].tolist() == [i % 2 for i in range(6)]
    with pytest.raises(ValueError, match="not a folder"):
        load_audio_folder(folder / "nope", sr=SR)


def test_cli_sensitivity_gate_and_json(folder, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["sensitivity", "--encoder", "mfcc", "--audio", str(folder), "--sr", str(SR), "--duration", "1",
            "--perturbations", "graver", "--json", str(out)]
    assert main([*args, "--fail-above", "1.0"]) == 0
    assert "GATE PASSED" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["report"] == "SensitivityReport" and data["config"]["n_clips"] == 6
    assert main([*args, "--fail-above", "0.0"]) == 1
    assert "GATE FAILED: mean sensitivity" in capsys.readouterr().out


def test_cli_sensitivity_encoder_spec(capsys, tmp_path):
    base = ["sensitivity", "--clips", "4", "--duration", "1", "--sr", str(SR)]
    assert main([*base, "--encoder", "nope"]) == 2
    assert "--encoder must be one of mfcc, mfcc-study, mfcc-study-autotagger, musicnn, msd-musicnn, mtt-musicnn, msd-vgg, mtt-vgg, crepe, basicpitch, hear:MODULE, hf:FOLDER_OR_NAME or MODULE:OBJECT" in capsys.readouterr().err
    assert main([*base, "--encoder", "numpy:does_not_exist"]) == 2
    assert "has no attribute" in capsys.readouterr().err
    assert main([*base, "--encoder", "trustkit.encoders:MFCCEncoder", "--audio", str(tmp_path)]) == 2
    assert "no audio files" in capsys.readouterr().err


def test_cli_builtin_encoder_names():
    from trustkit.cli import load_encoder
    from trustkit.encoders import MFCCEncoder, MusicnnEncoder

    assert load_encoder("mfcc-study", sr=SR).get_params() == MFCCEncoder.study(SR).get_params()
    auto = load_encoder("mfcc-study-autotagger", sr=SR)
    assert auto.get_params() == MFCCEncoder.study(SR, variant="autotagger").get_params()
    X = make_music(2, duration=1.0, sr=SR, random_state=0)[0]
    assert auto.fit_transform(X).shape == (2, 144) and MFCCEncoder.study(SR).fit_transform(X).shape == (2, 240)
    assert auto.display_name == "MFCCEncoder.study(variant='autotagger')"
    with pytest.raises(ValueError, match="variant"):
        MFCCEncoder.study(SR, variant="paper")
    for name, model in (("musicnn", "MSD_musicnn"), ("msd-musicnn", "MSD_musicnn"), ("mtt-musicnn", "MTT_musicnn"),
                        ("msd-vgg", "MSD_vgg"), ("mtt-vgg", "MTT_vgg")):
        enc = load_encoder(name, sr=SR)
        assert isinstance(enc, MusicnnEncoder) and enc.get_params() == MusicnnEncoder(SR, model=model).get_params()
    from trustkit.encoders import HearEncoder, HFAudioEncoder

    assert load_encoder("hear:my.module", sr=SR).get_params()["module"] == "my.module"
    assert isinstance(load_encoder("hf:some/folder", sr=SR), HFAudioEncoder)
    assert isinstance(load_encoder("hear:x", sr=SR), HearEncoder)
    from trustkit.cli import UsageError

    with pytest.raises(UsageError, match="name the HEAR module after 'hear:'"):
        load_encoder("hear:", sr=SR)


def test_cli_transfer_and_explain(tmp_path, capsys):
    X, _ = make_music(8, duration=1.0, sr=SR, random_state=2)
    folder = tmp_path / "clips"
    for i, x in enumerate(X):
        (folder / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        sf.write(folder / "ab"[i % 2] / f"{i}.wav", x, SR)
    out = tmp_path / "t.json"
    args = ["transfer", "--encoder", "mfcc", "--audio", str(folder), "--sr", str(SR), "--duration", "1", "--cv", "2"]
    assert main([*args, "--json", str(out), "--fail-below", "0.0"]) == 0
    assert "GATE PASSED" in capsys.readouterr().out and json.loads(out.read_text())["report"] == "TransferReport"
    assert main([*args, "--fail-below", "0.99"]) == 1  # labels a/b alternate regardless of the sound
    assert "GATE FAILED" in capsys.readouterr().out
    assert main([*args, "--fail-below", "1.01"]) == 2  # a gate no accuracy can pass is a usage error
    assert "--fail-below must be in" in capsys.readouterr().err
    args = ["explain", "--clips", "20", "--duration", "1", "--sr", str(SR), "--instances", "2", "--segments", "4",
            "--explainer", "lime", "--json", str(tmp_path / "e.json")]
    assert main(args) == 0
    assert json.loads((tmp_path / "e.json").read_text())["report"] == "FidelityComplexityReport"
    assert main(["explain", "--model", "nope", "--clips", "20"]) == 2
    assert "--model must be MODULE:OBJECT" in capsys.readouterr().err


def test_every_flag_has_help_and_version_prints(capsys):
    import argparse

    from trustkit import __version__
    from trustkit.cli import _parser

    parser = _parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in [("trustkit", parser), *subs.choices.items()]:
        for action in sub._actions:
            if action.option_strings:
                assert action.help, f"{name} {action.option_strings} has no help"
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"trustkit {__version__}"


def test_progress_bars_only_when_asked_or_on_a_terminal(capsys, monkeypatch):
    base = ["transfer", "--encoder", "mfcc", "--clips", "24", "--duration", "1", "--cv", "3"]
    assert main(base) == 0  # auto: stderr is not a terminal under pytest
    assert "outer folds" not in capsys.readouterr().err
    assert main([*base, "--progress", "on"]) == 0
    err = capsys.readouterr().err
    assert "MFCCEncoder -> multiclass: outer folds" in err and "3/3" in err
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert main([*base, "--progress", "off"]) == 0
    assert "outer folds" not in capsys.readouterr().err
    assert main(base) == 0  # auto on a terminal
    assert "outer folds" in capsys.readouterr().err


@pytest.fixture
def speakers(tmp_path):
    """Spoken-digit-like files: 4 speakers x 2 digits x 3 takes, 0.6 s at 8 kHz; each speaker has a voice (pitch)."""
    rng = np.random.default_rng(0)
    sr, folder = 8000, tmp_path / "digits"
    t = np.arange(int(0.6 * sr)) / sr
    for name, f0 in {"ann": 110, "bob": 180, "cat": 250, "dan": 330}.items():
        for digit in (0, 1):
            (folder / str(digit)).mkdir(parents=True, exist_ok=True)
            for take in range(3):
                x = 0.3 * np.sin(2 * np.pi * f0 * (1 + 0.5 * digit) * t) + 0.01 * rng.standard_normal(len(t))
                sf.write(folder / str(digit) / f"{digit}_{name}_{take}.wav", x.astype(np.float32), sr)
    return folder


def test_load_audio_folder_takes_the_files_rate_and_length_and_refuses_disagreement(speakers, tmp_path):
    X, y = load_audio_folder(speakers)  # no sr, no duration: the files' own
    assert X.shape == (24, 4800) and y.attrs == {"sr": 8000, "duration": 0.6} and (y["sr"] == 8000).all()
    sf.write(speakers / "0" / "0_eve_0.wav", np.zeros(4000, dtype=np.float32), 16000)  # another rate and length
    with pytest.raises(InvalidAudioError, match=r"2 sample rates \(8000 Hz: .*; 16000 Hz: 0/0_eve_0\.wav\); pass sr="):
        load_audio_folder(speakers)
    with pytest.raises(InvalidAudioError, match=r"differ in length .* from 0\.25 s \(0/0_eve_0\.wav\) to 0\.6 s"):
        load_audio_folder(speakers, sr=8000)
    with pytest.warns(TrustkitWarning, match="zero-padded"):
        X2, y2 = load_audio_folder(speakers, sr=8000, duration=0.6)
    assert X2.shape == (25, 4800) and y2.attrs["sr"] == 8000


def test_load_audio_folder_groups_from_a_pattern_or_a_csv(speakers, tmp_path):
    _, y = load_audio_folder(speakers, groups=r"_([a-z]+)_")
    assert sorted(y["group"].unique()) == ["ann", "bob", "cat", "dan"]
    with pytest.raises(ValueError, match="has no capture group"):
        load_audio_folder(speakers, groups=r"_[a-z]+_")
    with pytest.raises(ValueError, match=r"matches no group in 24 of 24 files"):
        load_audio_folder(speakers, groups=r"(\d{3})")
    csv = tmp_path / "meta.csv"
    csv.write_text("file,label,group\n" + "\n".join(f"{f},{f[0]},{f.split('_')[1]}" for f in y["file"]))
    _, y2 = load_audio_folder(speakers, labels=csv)  # the CSV's group column is used when it has one
    assert y2["group"].tolist() == y["group"].tolist()


def test_cli_transfer_groups_files_rate_and_the_json_records_the_input(speakers, tmp_path, capsys):
    out = tmp_path / "t.json"
    args = ["transfer", "--encoder", "mfcc", "--audio", str(speakers), "--cv", "2", "--progress", "off"]
    assert main([*args, "--groups", r"_([a-z]+)_", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "input: 24 clips from" in text and "at 8000 Hz, 0.6 s each, 4 groups (sr from the files) (duration from the files)" in text
    data = json.loads(out.read_text())
    assert data["input"]["sr"] == 8000 and data["input"]["duration"] == 0.6 and data["input"]["groups"] == 4
    assert data["config"]["groups"] is True and data["config"]["n_groups"] == 4
    # without groups every take of a speaker has its copies in the training fold: said, not silent
    (speakers / "0" / "copy_ann_9.wav").write_bytes((speakers / "0" / "0_ann_0.wav").read_bytes())
    (speakers / "1" / "copy_ann_9.wav").write_bytes((speakers / "1" / "1_ann_0.wav").read_bytes())
    with pytest.warns(TrustkitWarning, match="held-out items have a near-duplicate in their training fold"):
        assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--groups", r"(\d{3})"]) == 2
    assert "matches no group in 26 of 26 files" in capsys.readouterr().err
    assert main(["transfer", "--encoder", "mfcc", "--groups", "x"]) == 2  # --groups reads files: needs --audio
    assert "--groups and --labels read files: pass --audio DIR too" in capsys.readouterr().err


def test_cli_sensitivity_at_the_files_rate_with_active_snr(speakers, tmp_path, capsys):
    out = tmp_path / "s.json"
    args = ["sensitivity", "--encoder", "mfcc", "--audio", str(speakers / "0"), "--progress", "off", "--json", str(out)]
    assert main([*args, "--snr-reference", "active"]) == 0
    data = json.loads(out.read_text())
    assert data["input"]["sr"] == 8000 and data["input"]["duration"] == 0.6 and data["config"]["sr"] == 8000
    assert "input: 12 clips" in capsys.readouterr().out
    assert data["input"]["snr_reference"] == "active"


def test_trustkit_report_rebuilds_the_page_the_run_wrote(folder, tmp_path, capsys):
    j, h = tmp_path / "t.json", tmp_path / "t.html"
    assert main(["transfer", "--encoder", "mfcc", "--clips", "12", "--sr", str(SR), "--duration", "1", "--cv", "2",
                 "--progress", "off", "--json", str(j), "--html", str(h)]) == 0
    assert main(["report", str(j), "--out", str(tmp_path / "again.html")]) == 0
    page, again = h.read_text(), (tmp_path / "again.html").read_text()
    assert again == page  # the same page: "accuracy: 0.9 [..]" with its interval and the figure, not "headline: 0.9"
    assert "headline:" not in page and "<img" in page
