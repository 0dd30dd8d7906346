"""Built-in data: generated, labelled, music-like clips."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.utils import check_random_state

from ._validation import check_choice, check_number, check_sr
from .corpus import AUDIO_EXTENSIONS, Corpus

__all__ = [
    "AUDIO_EXTENSIONS",
    "Corpus",
    "EXAMPLE_RECORDINGS",
    "FOLK_INSTRUMENTS",
    "TIMBRES",
    "load_audio_folder",
    "load_example_recordings",
    "load_folk_tunes",
    "make_music",
    "render_score",
]

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


def _note_draws(f0: float, n: int, sr: int, spec: dict[str, float], rng: np.random.RandomState) -> dict[str, Any]:
    """The random draws of one note, in the order :func:`_render_note` uses them (drawn first, rendered anywhere)."""
    vibrato_phase = rng.uniform(0, 2 * np.pi)
    phases = {}
    for h in range(1, 40):
        if f0 * h >= 0.45 * sr:
            break
        if spec["odd_only"] and h % 2 == 0:
            continue
        phases[h] = rng.uniform(0, 2 * np.pi)
    breath = rng.standard_normal(n) if spec["breath"] else None
    return {"vibrato_phase": vibrato_phase, "phases": phases, "breath": breath}


def _render_note(f0: float, n: int, sr: int, spec: dict[str, float], draws: dict[str, Any]) -> np.ndarray:
    t = np.arange(n) / sr
    vib = spec["vibrato"] * np.sin(2 * np.pi * 5.5 * t + draws["vibrato_phase"])
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (vib / 12)) / sr
    y = np.zeros(n)
    for h, offset in draws["phases"].items():
        y += np.sin(h * phase + offset) / h ** spec["rolloff"]
    env = np.minimum(1.0, t / max(spec["attack"], 1e-4))
    if spec["decay"]:
        env *= np.exp(-t / spec["decay"])
    release = np.minimum(1.0, (n - np.arange(n)) / (0.01 * sr))
    y = y * env * release
    if draws["breath"] is not None:
        y += spec["breath"] * draws["breath"] * env
    return y


def _draw_clip(i: int, n: int, sr: int, rng: np.random.RandomState) -> tuple[dict[str, Any], list[tuple]]:
    """Clip ``i``'s labels and its notes ``(start, length, f0, gain, draws)``: every random draw, in a fixed order."""
    names = list(TIMBRES)
    timbre = names[i % len(names)]
    spec = TIMBRES[timbre]
    mode = "major" if rng.rand() < 0.5 else "minor"
    scale = _MAJOR if mode == "major" else _MINOR
    tempo = float(rng.uniform(60, 160))
    tonic = 48 + rng.randint(0, 12)  # MIDI C3..B3
    beat = int(60 / tempo * sr)
    notes = []
    pos = 0
    while pos < n:  # melody: one or two beats per note
        length = min(beat * rng.choice([1, 2]), n - pos)
        degree = rng.randint(0, 7) + 7 * rng.randint(0, 2)
        f0 = 440 * 2 ** ((tonic + 12 + scale[degree % 7] + 12 * (degree // 7) - 69) / 12)
        notes.append((pos, length, f0, None, _note_draws(f0, length, sr, spec, rng)))
        pos += length
    bar = 4 * beat
    for start in range(0, n, bar):  # accompaniment: a triad per bar
        root = rng.choice([0, 3, 4, 5])
        length = min(bar, n - start)
        for k in (0, 2, 4):
            f0 = 440 * 2 ** ((tonic + scale[(root + k) % 7] + 12 * ((root + k) // 7) - 69) / 12)
            notes.append((start, length, f0, 0.3, _note_draws(f0, length, sr, spec, rng)))
    labels = {"timbre": timbre, "mode": mode, "tempo_bpm": round(tempo, 1),
              "tempo_class": "slow" if tempo < 100 else "fast"}
    return labels, notes


def _render_clip(i: int, n: int, sr: int, timbre: str, notes: list[tuple], out: np.ndarray) -> None:
    """Add clip ``i``'s notes and write it, peak-normalised to 0.5, into ``out``."""
    y = np.zeros(n)
    for start, length, f0, gain, draws in notes:
        note = _render_note(f0, length, sr, TIMBRES[timbre], draws)
        y[start : start + length] += note if gain is None else gain * note
    peak = np.max(np.abs(y))
    if not np.isfinite(peak) or peak == 0:  # pragma: no cover - guarded by the sr check above
        raise RuntimeError(f"make_music produced an empty or non-finite clip {i}; please report this with the call.")
    out[:] = 0.5 * y / peak


def make_music(
    n_clips: int = 8,
    *,
    duration: float = 3.0,
    sr: int = 22050,
    random_state: Any = None,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Generate labelled, music-like clips: melodies over chords in one timbre.

    Each clip plays a melody in a random key and mode over sustained triads, at
    a random tempo, with one of five additive-synthesis timbres. Deterministic
    for a given ``random_state``; about 25 ms per second of audio at 22.05 kHz
    (60 clips of 3 s in 5.7 s on one core of the CI machine, 2.9 s with
    ``n_jobs=2``: up to 39 sine harmonics per note).

    Parameters
    ----------
    n_clips : int, default=8
    duration : float, default=3.0
        Seconds per clip, in [0.5, 60].
    sr : int, default=22050
        Sample rate in Hz.
    random_state : int, RandomState or None, default=None
    n_jobs : int or None, default=None
        Threads that render the clips (-1: every core); the clips do not
        depend on it.

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
    if sr < 4000:
        raise ValueError(f"make_music needs sr >= 4000 Hz (its notes and harmonics reach 2 kHz); got sr={sr}.")
    rng = check_random_state(random_state)
    n = round(duration * sr)
    X = np.zeros((n_clips, n), dtype=np.float32)
    rows = []

    def plans():  # drawn in order as the workers ask for them: a few clips' draws alive at a time, not all
        for i in range(n_clips):
            labels, notes = _draw_clip(i, n, sr, rng)
            rows.append(labels)
            yield delayed(_render_clip)(i, n, sr, labels["timbre"], notes, X[i])

    # numpy's sines release the GIL: clips render on threads; the draws stay in one order, so the clips are the
    # same whatever n_jobs
    Parallel(n_jobs=n_jobs, prefer="threads", pre_dispatch="2 * n_jobs")(plans())
    return X, pd.DataFrame(rows)




def load_audio_folder(
    path: str | os.PathLike[str],
    *,
    sr: int | None = None,
    duration: float | None = None,
    offset: float = 0.0,
    labels: str | os.PathLike[str] | None = "folders",
    groups: str | None = None,
    on_error: str = "raise",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Load every audio file under ``path`` as clips of one length (:meth:`Corpus.from_folder`, then read).

    For corpora that do not fit in memory, pass the folder (or a
    :class:`Corpus`) to a meter instead: it reads the files chunk by chunk.

    Parameters
    ----------
    path : str or path-like
        Folder, searched recursively for .wav, .flac, .ogg, .mp3, .aiff files.
    sr : int or None, default=None
        Sample rate wanted; files at other rates are resampled (soxr HQ).
        None: the files' own rate, which must then be the same for every file
        (an error names the files at each rate otherwise).
    duration : float or None, default=None
        Seconds per clip, cut from ``offset``; shorter files are zero-padded
        (with a :class:`TrustkitWarning` naming them). None: the files' own
        length, which must then be the same for every file (an error names
        the shortest and the longest otherwise: choose a duration).
    offset : float, default=0.0
        Start of the excerpt in seconds.
    labels : "folders", path to a CSV or None, default="folders"
        ``"folders"``: the sub-folder of each file is its label; a CSV with
        columns ``file`` (path relative to ``path``) and ``label``, and
        optionally ``group``; None: no labels.
    groups : str or None, default=None
        Which items belong together (a speaker, a recording, an artist), so
        that cross-validation keeps them on one side: a regular expression
        whose first capture group, searched in each file's relative path, is
        the group (e.g. ``r"_([a-z]+)_"`` for ``7_jackson_32.wav``); ``"csv"``
        for the labels CSV's ``group`` column (also used when ``groups`` is
        None and the CSV has one); None: no groups.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable or empty files: refuse naming each with its reason, or
        leave them out (then ``y.attrs["skipped"]`` lists them with the reason).

    Returns
    -------
    X : ndarray of shape (n_files, n_samples), float32
    y : pandas.DataFrame
        Columns ``file`` (relative path), ``label``, ``sr`` (the file's own
        rate) and, with groups, ``group``. ``y.attrs["sr"]`` and
        ``y.attrs["duration"]`` hold the rate and clip length of ``X``.

    Raises
    ------
    InvalidAudioError
        Naming every file that could not be read (none is silently dropped).
    """
    from .corpus import Corpus

    corpus = Corpus.from_folder(path, sr=sr, duration=duration, offset=offset, labels=labels, groups=groups,
                                short="pad", on_error=on_error)
    X, y = corpus.load()
    if corpus.skipped:
        y.attrs["skipped"] = [{"file": f, "reason": why} for f, why in corpus.skipped]
    return X, y


#: General MIDI programs used to render folk tunes (one drawn per clip)
FOLK_INSTRUMENTS = {0: "piano", 21: "accordion", 22: "harmonica", 24: "nylon guitar", 40: "violin", 71: "clarinet", 73: "flute", 105: "banjo"}
FOLK_LABELS = ("tune_type", "mode", "meter")


def _abc_field(text: str, key: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return line[len(key) + 1 :].strip()
    return None


def _mode_from_key(field: str) -> str:
    """``"minor"`` for ABC keys such as Am, Emin, Ador, Baeo; ``"major"`` otherwise."""
    token = field.split()[0] if field.split() else ""
    suffix = token[1:].lstrip("#b").lower()
    minor = suffix.startswith(("m", "dor", "aeo", "phr", "loc")) and not suffix.startswith(("maj", "mix"))
    return "minor" if minor else "major"


def _render_notes(notes: list[tuple[float, float, list[int]]], *, seconds_per_quarter: float, program: int, sr: int, n: int) -> np.ndarray:
    import pretty_midi
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sr)
    sfid = synth.sfload(str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"))
    synth.program_select(0, sfid, 0, program)
    events = []
    for offset, length, pitches in notes:
        for m in pitches:
            events.append((offset * seconds_per_quarter, 0, m))  # note-off sorts before note-on at equal times
            events.append(((offset + length) * seconds_per_quarter - 1e-3, -1, m))
    events.sort()
    out = np.zeros(n, dtype=np.float32)
    pos = 0
    for t, kind, m in events:
        k = min(int(t * sr), n)
        if k > pos:
            out[pos:k] = np.frombuffer(synth.generate(k - pos), dtype=np.float32).reshape(-1, 2).mean(axis=1)
            pos = k
        if pos >= n:
            break
        if kind == 0:
            synth.noteoff(0, m)  # restart a note that is still sounding
            synth.noteon(0, m, 90)
        else:
            synth.noteoff(0, m)
    if pos < n:
        out[pos:] = np.frombuffer(synth.generate(n - pos), dtype=np.float32).reshape(-1, 2).mean(axis=1)
    return out


def render_score(
    score: Any,
    *,
    sr: int = 22050,
    qpm: float = 120.0,
    program: int = 0,
    duration: float | None = None,
    expand_repeats: bool = True,
) -> np.ndarray:
    r"""Render a score to audio through the soundfont path of :func:`load_folk_tunes`.

    The score is read by music21 (a ``music21`` stream, ABC text, or a path to an
    ABC, MIDI or MusicXML file), its repeats expanded, and every note played by
    the General MIDI soundfont that ships inside pretty_midi (TimGM6mb) through
    tinysoundfont, in-process: no fluidsynth, no download.

    Parameters
    ----------
    score : music21 stream, str or path
        ABC text (it contains ``"K:"``), or a file music21 can parse.
    sr : int, default=22050
    qpm : float, default=120.0
        Tempo in quarter notes per minute.
    program : int, default=0
        General MIDI program (0 piano, 40 violin, 73 flute, ...; see
        ``FOLK_INSTRUMENTS``).
    duration : float or None, default=None
        Seconds of audio; None renders the whole score plus one second.
    expand_repeats : bool, default=True

    Returns
    -------
    ndarray of shape (n_samples,), float32
        Mono, as the synthesiser produces it (not normalised).

    Examples
    --------
    >>> x = render_score("X:1\nM:4/4\nL:1/4\nK:C\nCDEF|", sr=16000, qpm=120)  # doctest: +SKIP
    >>> x.shape  # four quarter notes at 120 qpm, plus a second of release  # doctest: +SKIP
    (48000,)

    The doctest is skipped because the ``folk`` extra is optional; the test
    suite renders a scale and checks every note's pitch class.
    """
    sr = check_sr(sr, "render_score")
    qpm = check_number(qpm, "qpm", low=1, high=1000)
    program = check_number(program, "program", low=0, high=127, integer=True)
    try:
        import music21
        import pretty_midi  # noqa: F401
        import tinysoundfont  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "render_score needs music21, pretty_midi and tinysoundfont: pip install music21 pretty_midi "
            "&& pip install --no-deps tinysoundfont"
        ) from exc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21's parser warnings about ABC dialects
        if isinstance(score, music21.stream.Stream):
            stream = score
        elif isinstance(score, str) and "K:" in score:
            stream = music21.converter.parse(score, format="abc")
        else:
            path = Path(score)
            if not path.exists():
                raise FileNotFoundError(f"score must be a music21 stream, ABC text or an existing file; no file {str(score)!r}.")
            stream = music21.converter.parse(path)
        if expand_repeats:
            with contextlib.suppress(music21.exceptions21.StreamException):  # no measures: no repeats to expand
                stream = stream.expandRepeats()
        notes = [
            (float(el.offset), float(el.quarterLength), [p.midi for p in el.pitches])
            for el in stream.flatten().notes
            if not isinstance(el, music21.harmony.ChordSymbol) and el.quarterLength > 0
        ]
    if not notes:
        raise ValueError("score has no notes to render.")
    spq = 60.0 / qpm
    if duration is None:
        duration = max(o + q for o, q, _ in notes) * spq + 1.0
    duration = check_number(duration, "duration", low=0, low_inclusive=False)
    return _render_notes(notes, seconds_per_quarter=spq, program=program, sr=sr, n=round(duration * sr))


def load_folk_tunes(
    n_clips: int = 120,
    *,
    duration: float = 10.0,
    sr: int = 22050,
    label: str = "tune_type",
    classes: tuple[str, ...] = ("reel", "hornpipe", "jig", "strathspey"),
    random_state: Any = 0,
    cache: str | os.PathLike[str] | bool = True,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Real folk tunes (Ryan's Mammoth Collection, 1883) rendered to audio, with labels.

    The tunes come from music21's bundled corpus (ABC files with the tune type
    in the ``R:`` field); each drawn tune is parsed with music21, its repeats
    expanded, and rendered in-process with a fixed length by the General MIDI
    soundfont that ships inside pretty_midi (TimGM6mb) through tinysoundfont,
    on a randomly drawn instrument and tempo (90-140 quarter notes per minute, so
    that tempo alone does not give the label away). Tunes whose repeats music21
    cannot expand are skipped by name (listed in a :class:`TrustkitWarning`).
    Rendered clips are cached on disk.

    Parameters
    ----------
    n_clips : int, default=120
        Clips to draw, balanced over ``classes`` as far as the collection allows.
    duration : float, default=10.0
        Seconds per clip (from the start of the tune).
    sr : int, default=22050
    label : {"tune_type", "mode", "meter"}, default="tune_type"
        Column returned first in ``y`` (all three are returned).
    classes : tuple of str, default=("reel", "hornpipe", "jig", "strathspey")
        Tune types to draw from (Ryan's collection: reel 439, hornpipe 249, jig
        234, strathspey 49, clog 37, ...).
    random_state : int, RandomState or None, default=0
    cache : bool or path, default=True
        ``True``: ``$TRUSTKIT_CACHE`` or ``~/.cache/trustkit``; a path; or False.

    Returns
    -------
    X : ndarray of shape (n_clips, round(duration * sr)), float32
    y : pandas.DataFrame
        Columns ``tune_type``, ``mode`` (major/minor from the key), ``meter``,
        ``title``, ``file``, ``instrument``, ``tempo_qpm``; ``label`` first.

    Notes
    -----
    Needs music21, pretty_midi and tinysoundfont (``pip install music21
    pretty_midi`` and ``pip install --no-deps tinysoundfont``; the ``folk`` extra).
    """
    import hashlib
    import warnings

    from .exceptions import TrustkitWarning

    check_choice(label, "label", FOLK_LABELS)
    n_clips = check_number(n_clips, "n_clips", low=2, integer=True)
    duration = check_number(duration, "duration", low=1, high=120)
    sr = check_sr(sr, "load_folk_tunes")
    try:
        import music21
        import pretty_midi  # noqa: F401
        import tinysoundfont  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "load_folk_tunes needs music21, pretty_midi and tinysoundfont: pip install music21 pretty_midi "
            "&& pip install --no-deps tinysoundfont"
        ) from exc
    rng = check_random_state(random_state)
    seed = int(rng.randint(0, 2**31 - 1))
    key = hashlib.sha1(repr((n_clips, duration, sr, tuple(classes), seed, music21.__version__, 1)).encode()).hexdigest()[:16]
    path = None
    if cache:
        cache_dir = Path(os.environ.get("TRUSTKIT_CACHE", Path.home() / ".cache" / "trustkit")) if cache is True else Path(cache)
        path = cache_dir / f"folk_{key}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                y = pd.DataFrame({str(c): data[f"y_{c}"] for c in data["columns"]})
                return data["X"], y[[label, *[c for c in y.columns if c != label]]]
    by_class = _tunes_by_type(Path(music21.__file__).parent / "corpus" / "ryansMammoth", classes)
    draw = np.random.RandomState(seed)
    order = {c: list(draw.permutation(fs)) for c, fs in by_class.items()}
    n = round(duration * sr)
    X, rows, skipped = [], [], []
    turn = 0
    while len(X) < n_clips and any(order.values()):
        c = list(classes)[turn % len(classes)]
        turn += 1
        if not order[c]:
            continue
        f = Path(order[c].pop())
        rendered = _render_tune(f, c, draw, sr=sr, n=n)
        if isinstance(rendered, str):
            skipped.append(f"{f.name} ({rendered})")
            continue
        X.append(rendered[0])
        rows.append(rendered[1])
    if skipped:
        warnings.warn(
            f"load_folk_tunes skipped {len(skipped)} tunes music21 could not expand or render: " + ", ".join(skipped),
            TrustkitWarning, stacklevel=2,
        )
    if len(X) < n_clips:
        warnings.warn(f"only {len(X)} of the {n_clips} requested clips could be rendered.", TrustkitWarning, stacklevel=2)
    X = np.vstack(X).astype(np.float32)
    y = pd.DataFrame(rows)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, X=X, columns=np.array(list(y.columns), dtype=str),
                            **{f"y_{col}": y[col].to_numpy() if pd.api.types.is_numeric_dtype(y[col]) else y[col].to_numpy(dtype=str) for col in y.columns})
    return X, y[[label, *[col for col in y.columns if col != label]]]


def _tunes_by_type(corpus_dir: Path, classes: Any) -> dict[str, list[Path]]:
    """The collection's ABC files of each wanted tune type (its ``R:`` field); every type must have some."""
    by_class: dict[str, list[Path]] = {c: [] for c in classes}
    for f in sorted(corpus_dir.glob("*.abc")):
        r = (_abc_field(f.read_text(errors="replace"), "R") or "").lower().replace("slipjig", "slip jig")
        if r in by_class:
            by_class[r].append(f)
    empty = [c for c, fs in by_class.items() if not fs]
    if empty:
        raise ValueError(f"no tunes of type {empty} in Ryan's Mammoth Collection; e.g. reel, hornpipe, jig, strathspey, clog.")
    return by_class


def _render_tune(f: Path, tune_type: str, draw: np.random.RandomState, *, sr: int, n: int) -> tuple[np.ndarray, dict[str, Any]] | str:
    """One tune rendered to ``n`` samples (peak 0.5) with its labels, or why it could not be.

    Draws the instrument and the tempo from ``draw`` only for a tune with notes.
    """
    import warnings

    import music21

    text = f.read_text(errors="replace")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21's parser warnings about ABC dialects
        try:
            score = music21.converter.parse(f).expandRepeats()
        except Exception as exc:  # music21 raises several types here
            return type(exc).__name__
        notes = [
            (float(el.offset), float(el.quarterLength), [p.midi for p in el.pitches])
            for el in score.flatten().notes
            if not isinstance(el, music21.harmony.ChordSymbol) and el.quarterLength > 0
        ]
    if not notes:
        return "no notes"
    program = int(draw.choice(list(FOLK_INSTRUMENTS)))
    qpm = float(draw.uniform(90, 140))
    x = _render_notes(notes, seconds_per_quarter=60.0 / qpm, program=program, sr=sr, n=n)
    peak = np.abs(x).max()
    if peak == 0:
        return "silent rendering"
    labels = {
        "tune_type": tune_type, "mode": _mode_from_key(_abc_field(text, "K") or ""),
        "meter": _abc_field(text, "M") or "", "title": _abc_field(text, "T") or f.stem, "file": f.name,
        "instrument": FOLK_INSTRUMENTS[program], "tempo_qpm": round(qpm, 1),
    }
    return 0.5 * x / peak, labels


#: librosa's example recordings by kind (keys of ``librosa.ex``)
EXAMPLE_RECORDINGS = {
    "music": ("brahms", "nutcracker", "vibeace", "choice", "trumpet", "fishin", "sweetwaltz", "pistachio"),
    "speech": ("libri1", "libri2", "libri3"),
    "animal": ("humpback", "robin", "pibble"),
}


def load_example_recordings(
    *,
    duration: float = 3.0,
    sr: int = 22050,
    max_clips_per_recording: int = 8,
    kinds: tuple[str, ...] = ("music", "speech", "animal"),
) -> tuple[np.ndarray, pd.DataFrame]:
    """Librosa's example recordings cut into labelled clips (real music, speech, animals).

    Recordings are fetched through ``librosa.ex``: offline when they are in
    ``LIBROSA_DATA_DIR`` (or librosa's cache), downloaded where a network
    exists. Each recording gives consecutive, non-overlapping clips (at most
    ``max_clips_per_recording``; near-silent clips are left out). Use the
    ``recording`` column as ``groups`` so that no recording is on both sides of
    a split.

    Returns
    -------
    X : ndarray of shape (n_clips, round(duration * sr)), float32
    y : pandas.DataFrame
        Columns ``kind`` (music, speech, animal), ``recording`` and ``offset_s``.
    """
    import librosa

    duration = check_number(duration, "duration", low=0.5, high=60)
    sr = check_sr(sr, "load_example_recordings")
    per = check_number(max_clips_per_recording, "max_clips_per_recording", low=1, integer=True)
    n = round(duration * sr)
    X, rows = [], []
    for kind in kinds:
        if kind not in EXAMPLE_RECORDINGS:
            raise ValueError(f"kinds must be among {sorted(EXAMPLE_RECORDINGS)}; got {kind!r}.")
        for key in EXAMPLE_RECORDINGS[kind]:
            try:
                path = librosa.ex(key)
            except Exception as exc:  # pooch raises network errors of several types
                raise OSError(
                    f"librosa example {key!r} is not available offline and could not be downloaded ({exc}); "
                    "set LIBROSA_DATA_DIR to a folder holding librosa's example recordings."
                ) from exc
            from .audio import load_audio

            x = load_audio(path, sr=sr)
            count = 0
            for start in range(0, len(x) - n + 1, n):
                seg = x[start : start + n]
                if np.sqrt(np.mean(seg.astype(np.float64) ** 2)) < 1e-3:
                    continue
                X.append(seg)
                rows.append({"kind": kind, "recording": key, "offset_s": start / sr})
                count += 1
                if count >= per:
                    break
    return np.vstack(X).astype(np.float32), pd.DataFrame(rows)
