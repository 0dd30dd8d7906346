"""Inputs refused before any work and named (hardening round 2): each case failed before this round."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from trustkit import SensitivityMeter, TransferabilityProbe
from trustkit.cli import main
from trustkit.datasets import load_audio_folder, make_music
from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder
from trustkit.perturbations import Mp3Compression, PerturbationGrid

SR = 16000


@pytest.mark.parametrize(("argv", "message"), [
    (["demo", "--fast", "--clips", "0"], "--clips must be an integer in [1, 1000000]; got 0"),
    (["explain", "--instances", "-1"], "--instances must be an integer in [1, 1000000]; got -1"),
    (["transfer", "--encoder", "mfcc", "--seed", "-1"], "--seed must be an integer in [0, 4294967295]; got -1"),
    (["transfer", "--encoder", "mfcc", "--seed", str(2**32)], "--seed must be an integer in [0, 4294967295]"),
    (["sensitivity", "--encoder", "mfcc", "--sr", "1" + "0" * 400], "--sr must be an integer in [1, 768000]"),
    (["transfer", "--encoder", "mfcc", "--clips", str(10**9)], "--clips must be an integer in [1, 1000000]"),
    (["sensitivity", "--encoder", "mfcc", "--duration", "100000", "--clips", "1000"], "of audio, more than half"),
    (["sensitivity", "--encoder", "mfcc", "--duration", "nan"], "--duration must be a finite number of seconds > 0"),
    (["transfer", "--encoder", "mfcc", "--n-jobs", "0"], "--n-jobs must be an integer in [-64, 1024] other than 0"),
    (["sensitivity", "--encoder", "mfcc", "--baseline", "bogus"], "--baseline must be one of mfcc"),
])
def test_flags_out_of_range_are_named_before_any_work(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_users_model_failing_inside_its_own_code_is_exit_2_naming_the_flag(tmp_path, monkeypatch, capsys):
    (tmp_path / "brittle_model.py").write_text(
        "import numpy as np\n\ndef encoder(X):\n    return np.linalg.inv(np.zeros((2, 2))) @ X[:, :2].T\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code = main(["sensitivity", "--encoder", "brittle_model:encoder", "--clips", "4", "--duration", "1", "--sr", str(SR)])
    err = capsys.readouterr().err
    assert code == 2 and "--encoder 'brittle_model:encoder' failed inside its own code: LinAlgError" in err
    assert "bug in trustkit" not in err


def test_memory_must_name_a_folder():
    X = make_music(4, duration=1.0, sr=SR, random_state=0)[0]
    with pytest.raises(ValueError, match="memory must name a folder; got an empty path"):
        SensitivityMeter(MFCCEncoder(), sr=SR, memory="").score(X)


@pytest.mark.parametrize(("encoder", "match"), [
    (MFCCEncoder(fmin=5000, fmax=1000), r"needs 0 <= fmin < fmax <= sr / 2 \(8000 Hz\); got fmin=5000, fmax=1000"),
    (MFCCEncoder(fmax=12000), r"got fmin=0, fmax=12000"),
    (MFCCEncoder(n_mels=300, n_fft=256, n_mfcc=10), r"n_mels=300 bands for 129 FFT bins"),
    (RandomProjectionEncoder(n_mels=300, n_fft=256), r"n_mels=300 bands for 129 FFT bins"),
])
def test_mel_parameters_that_leave_bands_empty_are_refused(encoder, match):
    X = make_music(2, duration=1.0, sr=SR, random_state=0)[0]
    with pytest.raises(ValueError, match=match):
        encoder.set_params(sr=SR).transform(X)


def test_a_labels_csv_of_binary_garbage_and_infinite_targets_are_named(tmp_path):
    X, _ = make_music(4, duration=1.0, sr=SR, random_state=0)
    for i, x in enumerate(X):
        sf.write(tmp_path / f"{i}.wav", x, SR)
    garbage = tmp_path / "labels.csv"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"labels .*labels.csv' is not a UTF-8 CSV"):
        load_audio_folder(tmp_path, labels=garbage)
    F = np.random.default_rng(0).standard_normal((20, 3))
    y = F[:, 0].copy()
    y[4] = np.inf
    with pytest.raises(ValueError, match=r"y has 1 infinite targets \(first at item 4\)"):
        TransferabilityProbe("precomputed", cv=2, random_state=0).score(F, y)


def test_mp3_on_one_frame_is_encoded_as_documented():
    x = (np.random.default_rng(0).standard_normal((2, 1152)) * 0.1).astype(np.float32)  # 52 ms at 22.05 kHz
    y = Mp3Compression(bitrate=128, sr=22050).fit_transform(x)
    assert y.shape == x.shape and np.corrcoef(x[0], y[0])[0, 1] > 0.9


def test_an_empty_grid_is_refused():
    X = make_music(4, duration=1.0, sr=SR, random_state=0)[0]
    from trustkit.perturbations import Gain

    empty = PerturbationGrid(Gain(), "gain_db", [], family="gain")
    with pytest.raises(ValueError, match="perturbations holds no setting"):
        SensitivityMeter(MFCCEncoder(), empty, sr=SR).score(X)


@pytest.mark.parametrize("which", ["live_recording", "someof"])
def test_composites_draw_the_same_for_float32_and_float64_audio(which):
    from trustkit.perturbations import AddNoise, Gain, PitchShift, SomeOf, degradation

    X = make_music(4, duration=1.0, sr=SR, random_state=0)[0]
    step = (degradation("live_recording", sr=SR, random_state=0) if which == "live_recording" else
            SomeOf([AddNoise(snr_db=20), Gain(gain_db=-3), PitchShift(n_steps=1, sr=SR)], n=(1, 2), random_state=0))
    a, pa = step.transform_with_params(X.astype(np.float32))
    b, pb = step.transform_with_params(X.astype(np.float64))
    # the inner steps draw by the clip the composite was given, not by the float32- or float64-rounded output of
    # the step before them: the same draws, so the outputs differ only by float32 rounding (was 0.02 for the noise)
    assert np.abs(a - b).max() < 1e-4 * np.abs(a).max()
    if "applied" in pa:
        assert pa["applied"].tolist() == pb["applied"].tolist()


def test_errors_about_a_clip_name_its_file_and_non_utf8_names_are_read(tmp_path, capsys):
    import os

    folder = tmp_path / "clips"
    X = make_music(4, duration=1.0, sr=SR, random_state=0)[0]
    for label in "ab":
        (folder / label).mkdir(parents=True)
    for i, x in enumerate(X):
        sf.write(folder / "ab"[i % 2] / f"{i}.wav", x, SR)
    sf.write(folder / "b" / "silent.wav", np.zeros(SR, dtype=np.float32), SR)
    from trustkit import TrustkitWarning

    # streamed from the files: the chunk holding the silent clip is warned about, then stops before any work on it
    with pytest.warns(TrustkitWarning, match=r"digital silence \(clip 4: 100%"):
        code = main(["sensitivity", "--encoder", "mfcc", "--audio", str(folder), "--progress", "off"])
    err = capsys.readouterr().err
    assert code == 2 and "clip 4 (file 'b/silent.wav') is too quiet for loudness matching" in err
    with pytest.warns(TrustkitWarning, match="digital silence"):  # without loudness matching, the noise refuses it
        code = main(["sensitivity", "--encoder", "mfcc", "--audio", str(folder), "--progress", "off",
                     "--no-loudness-match", "--chunk-size", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "clip 4 (file 'b/silent.wav')" in err  # its place in the corpus, not in its chunk
    os.remove(folder / "b" / "silent.wav")
    os.rename(folder / "a" / "0.wav", os.path.join(os.fsencode(folder / "a"), b"caf\xe9.wav"))  # not UTF-8
    Xr, y = load_audio_folder(folder)
    assert len(Xr) == 4 and any(name.startswith("a/caf") for name in y["file"])


def test_an_undefined_headline_says_why_in_the_summary_the_repr_and_the_gate():
    import warnings

    from trustkit import FidelityComplexityScorer, TrustkitWarning
    from trustkit.exceptions import GateError

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))

    def flat(A):
        return np.zeros(len(A))  # nothing to explain anywhere

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustkitWarning)
        report = FidelityComplexityScorer(flat, random_state=0, n_bootstrap=50).fit(X).score(X[:5], np.ones((5, 4)))
    assert "fidelity is undefined: of 5 instances, 5 have a near-zero effect" in report.summary()
    assert "nan [nan, nan]" not in report.summary()
    assert "undefined (of 5 instances" in repr(report)
    with pytest.raises(GateError, match="fidelity is undefined: of 5 instances, 5 have a near-zero effect"):
        report.check(0.5)
