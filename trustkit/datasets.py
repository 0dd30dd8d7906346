"""Built-in data: generated, labelled, music-like clips."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._validation import check_number, check_sr

__all__ = ["AUDIO_EXTENSIONS", "TIMBRES", "load_audio_folder", "make_music"]

#: Additive-synthesis recipes: harmonic amplitude law, attack and decay (s),
#: vibrato depth (semitones) and breath noise.
TIMBRES: dict[str, dict[str, float]] = {
    "strings": {"rolloff": 1.0, "odd_only": 0, "attack": 0.08, "decay": 0.0, "vibrato": 0.12, "breath": 0.0},
    "keys": {"rolloff": 1.6, "odd_only": 0, "attack": 0.005, "decay": 1.2, "vibrato": 0.0, "breath": 0.0},
    "plucked": {"rolloff": 1.2, "odd_only": 0, "attack": 0.002, "decay": 0.35, "vibrato": 0.0, "breath": 0.0},
    "reed": {"rolloff": 0.9, "odd_only": 1, "attack": 0.03, "decay": 0.0, "vibrato": 0.05, "breath": 0.01},
    "flute": {"rolloff": 2.5, "odd_only": 0, "attack": 0.06, "decay": 0.0, "vibrato": 0.08, "breath": 0.03},
}
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


def _note(f0: float, n: int, sr: int, spec: dict[str, float], rng: np.random.RandomState) -> np.ndarray:
    t = np.arange(n) / sr
    vib = spec["vibrato"] * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (vib / 12)) / sr
    y = np.zeros(n)
    for h in range(1, 40):
        if f0 * h >= 0.45 * sr:
            break
        if spec["odd_only"] and h % 2 == 0:
            continue
        y += np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h ** spec["rolloff"]
    env = np.minimum(1.0, t / max(spec["attack"], 1e-4))
    if spec["decay"]:
        env *= np.exp(-t / spec["decay"])
    release = np.minimum(1.0, (n - np.arange(n)) / (0.01 * sr))
    y = y * env * release
    if spec["breath"]:
        y += spec["breath"] * rng.standard_normal(n) * env
    return y


def make_music(
    n_clips: int = 8,
    *,
    duration: float = 3.0,
    sr: int = 22050,
    random_state: Any = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Generate labelled, music-like clips: melodies over chords in one timbre.

    Each clip plays a melody in a random key and mode over sustained triads, at
    a random tempo, with one of five additive-synthesis timbres. Deterministic
    for a given ``random_state`` and quick (about 10 ms per second of audio).

    Parameters
    ----------
    n_clips : int, default=8
    duration : float, default=3.0
        Seconds per clip, in [0.5, 60].
    sr : int, default=22050
        Sample rate in Hz.
    random_state : int, RandomState or None, default=None

    Returns
    -------
    X : ndarray of shape (n_clips, round(duration * sr)), float32
        Peak-normalised to 0.5.
    y : pandas.DataFrame of shape (n_clips, 4)
        Labels: ``timbre`` (one of :data:`TIMBRES`), ``mode``
        (``"major"``/``"minor"``), ``tempo_bpm`` and ``tempo_class``
        (``"slow"`` below 100 bpm, else ``"fast"``). Timbres cycle through the
        clips so every class is represented.

    Examples
    --------
    >>> X, y = make_music(5, duration=1.0, sr=16000, random_state=0)
    >>> X.shape, sorted(y["timbre"])
    ((5, 16000), ['flute', 'keys', 'plucked', 'reed', 'strings'])
    """
    n_clips = check_number(n_clips, "n_clips", low=1, integer=True)
    duration = check_number(duration, "duration", low=0.5, high=60)
    sr = check_sr(sr, "make_music")
    rng = check_random_state(random_state)
    n = round(duration * sr)
    names = list(TIMBRES)
    X = np.zeros((n_clips, n), dtype=np.float32)
    rows = []
    for i in range(n_clips):
        timbre = names[i % len(names)]
        mode = "major" if rng.rand() < 0.5 else "minor"
        scale = _MAJOR if mode == "major" else _MINOR
        tempo = float(rng.uniform(60, 160))
        tonic = 48 + rng.randint(0, 12)  # MIDI C3..B3
        beat = int(60 / tempo * sr)
        y = np.zeros(n)
        pos = 0
        while pos < n:  # melody: one or two beats per note
            length = min(beat * rng.choice([1, 2]), n - pos)
            degree = rng.randint(0, 7) + 7 * rng.randint(0, 2)
            midi = tonic + 12 + scale[degree % 7] + 12 * (degree // 7)
            y[pos : pos + length] += _note(440 * 2 ** ((midi - 69) / 12), length, sr, TIMBRES[timbre], rng)
            pos += length
        bar = 4 * beat
        for start in range(0, n, bar):  # accompaniment: a triad per bar
            root = rng.choice([0, 3, 4, 5])
            length = min(bar, n - start)
            for k in (0, 2, 4):
                midi = tonic + scale[(root + k) % 7] + 12 * ((root + k) // 7)
                y[start : start + length] += 0.3 * _note(440 * 2 ** ((midi - 69) / 12), length, sr, TIMBRES[timbre], rng)
        X[i] = 0.5 * y / np.max(np.abs(y))
        rows.append({"timbre": timbre, "mode": mode, "tempo_bpm": round(tempo, 1), "tempo_class": "slow" if tempo < 100 else "fast"})
    return X, pd.DataFrame(rows)


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def load_audio_folder(
    path: str | os.PathLike[str],
    *,
    sr: int,
    duration: float | None = None,
    offset: float = 0.0,
    labels: str | os.PathLike[str] | None = "folders",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Load every audio file under ``path`` as clips of one length.

    Parameters
    ----------
    path : str or path-like
        Folder, searched recursively for .wav, .flac, .ogg, .mp3, .aiff files.
    sr : int
        Sample rate wanted; files at other rates are resampled (soxr HQ).
    duration : float or None, default=None
        Seconds per clip, cut from ``offset``; shorter files are zero-padded
        (with a :class:`TrustkitWarning` naming them). None: the shortest file's
        length.
    offset : float, default=0.0
        Start of the excerpt in seconds.
    labels : "folders", path to a CSV or None, default="folders"
        ``"folders"``: the sub-folder of each file is its label; a CSV with
        columns ``file`` (path relative to ``path``) and ``label``; None: no labels.

    Returns
    -------
    X : ndarray of shape (n_files, n_samples), float32
    y : pandas.DataFrame
        Columns ``file`` (relative path) and ``label``.

    Raises
    ------
    InvalidAudioError
        Naming every file that could not be read (none is silently dropped).
    """
    import warnings

    from .audio import load_audio
    from .exceptions import InvalidAudioError, TrustkitWarning

    sr = check_sr(sr, "load_audio_folder")
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"path must be a folder of audio files; {os.fspath(path)!r} is not a folder.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {os.fspath(path)!r}.")
    clips, failed = [], []
    for f in files:
        try:
            clips.append(load_audio(f, sr=sr))
        except InvalidAudioError as exc:
            failed.append(str(exc))
    if failed:
        raise InvalidAudioError(f"{len(failed)} of {len(files)} files could not be read: " + "; ".join(failed))
    start = round(check_number(offset, "offset", low=0) * sr)
    if duration is None:
        n = min(len(c) for c in clips) - start
        if n <= 0:
            raise InvalidAudioError(f"offset={offset} s is past the end of the shortest file.")
    else:
        n = round(check_number(duration, "duration", low=0, low_inclusive=False) * sr)
    X = np.zeros((len(clips), n), dtype=np.float32)
    padded = []
    for i, c in enumerate(clips):
        seg = c[start : start + n]
        X[i, : len(seg)] = seg
        if len(seg) < n:
            padded.append(str(files[i].relative_to(root)))
    if padded:
        warnings.warn(
            f"{len(padded)} files are shorter than {n / sr:.3g} s after offset and were zero-padded: "
            + ", ".join(padded[:5]) + (" ..." if len(padded) > 5 else ""),
            TrustkitWarning,
            stacklevel=2,
        )
    rel = [str(f.relative_to(root)) for f in files]
    if labels is None:
        lab = [None] * len(files)
    elif isinstance(labels, str) and labels == "folders":
        lab = [str(Path(r).parent) if str(Path(r).parent) != "." else "" for r in rel]
    else:
        table = pd.read_csv(labels)
        if not {"file", "label"} <= set(table.columns):
            raise ValueError(f"labels CSV {os.fspath(labels)!r} needs columns 'file' and 'label'; has {list(table.columns)}.")
        mapping = dict(zip(table["file"].astype(str), table["label"]))
        missing = [r for r in rel if r not in mapping]
        if missing:
            raise ValueError(f"labels CSV has no label for {len(missing)} files, e.g. {missing[:3]}.")
        lab = [mapping[r] for r in rel]
    return X, pd.DataFrame({"file": rel, "label": lab})
