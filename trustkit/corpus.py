"""A corpus of audio files read where it is processed: paths, labels, groups and an excerpt rule, never the audio.

:class:`Corpus` holds what the files are (paths, the rate to work at, the
excerpt of each: ``duration`` from ``offset``, or centred), and reads any
chunk of them on demand (:meth:`Corpus.read`), resampled with soxr. Every
meter accepts one (or a folder, or a list of paths) instead of an array, and
reads it chunk by chunk: no process holds the whole corpus.

Every file is checked from its header when the corpus is built: an unreadable
(corrupt or unsupported), empty or too-short file is named with the reason;
``on_error="raise"`` (default) refuses the corpus listing every bad file,
``"skip"`` leaves them out and lists them in :attr:`Corpus.skipped` (and in
every report's config and summary). Nothing is ever dropped silently.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_choice, check_number, check_sr
from .exceptions import InvalidAudioError, TrustkitWarning

__all__ = ["AUDIO_EXTENSIONS", "Corpus", "RowStore", "as_corpus", "is_corpus_input"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
#: what a corpus may do with a file shorter than its excerpt
SHORT = ("refuse", "pad")


@dataclass(frozen=True, eq=False)
class Corpus:
    """Audio files as clips of one length at one rate, read on demand.

    Build one with :meth:`from_folder`, :meth:`from_csv` or
    :meth:`from_files`; pass it (or a folder, or a list of paths) to any
    meter's ``score``.

    Attributes
    ----------
    files : tuple of str
        The files kept, in order (paths as given or found).
    names : tuple of str
        Each file's name in reports (its path relative to the folder or CSV).
    sr : int
        The rate clips are read at (files at another rate are resampled).
    n_samples : int
        Samples per clip.
    offsets : tuple of float
        Each file's excerpt start in seconds.
    labels, groups : tuple or None
        One label (group) per file, or None.
    file_sr : tuple of int
        Each file's own rate.
    padded : tuple of str
        Files shorter than the excerpt, zero-padded (only with ``short="pad"``).
    skipped : tuple of (str, str)
        Files left out with ``on_error="skip"``, with the reason.

    Examples
    --------
    >>> import tempfile
    >>> from trustkit.audio import save_audio
    >>> folder = tempfile.mkdtemp()
    >>> for label in ("a", "b"):
    ...     os.makedirs(f"{folder}/{label}")
    ...     for i in range(2):
    ...         save_audio(f"{folder}/{label}/{i}.wav", 0.1 * np.sin(np.arange(8000) * (i + 1) / 10), sr=8000)
    >>> corpus = Corpus.from_folder(folder)
    >>> len(corpus), corpus.sr, corpus.n_samples, corpus.labels
    (4, 8000, 8000, ('a', 'a', 'b', 'b'))
    >>> corpus.read([1, 3]).shape
    (2, 8000)
    """

    files: tuple[str, ...]
    names: tuple[str, ...]
    sr: int
    n_samples: int
    offsets: tuple[float, ...]
    labels: tuple[Any, ...] | None = None
    groups: tuple[Any, ...] | None = None
    file_sr: tuple[int, ...] = ()
    padded: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_folder(cls, path: str | os.PathLike[str], *, labels: Any = "folders", groups: str | None = None,
                    sr: int | None = None, duration: float | None = None, offset: float = 0.0,
                    excerpt: str = "start", short: str = "refuse", on_error: str = "raise") -> Corpus:
        """Every audio file under ``path`` (recursively), labelled by its sub-folder, a CSV, or not at all.

        Parameters
        ----------
        path : str or path-like
            A folder, searched recursively for .wav, .flac, .ogg, .mp3, .aiff files.
        labels : "folders", path to a CSV or None, default="folders"
            ``"folders"``: each file's sub-folder is its label; a CSV with
            columns ``file`` (path relative to ``path``) and ``label``, and
            optionally ``group``; None: no labels.
        groups : str or None, default=None
            Items that belong together (a speaker, a recording): a regular
            expression whose first capture group in each file's relative path
            is its group, ``"csv"`` for the labels CSV's ``group`` column (also
            used when None and the CSV has one), or None.
        sr : int or None, default=None
            The rate to work at; files at other rates are resampled (soxr).
            None: the files' own rate, which must then be one rate.
        duration : float or None, default=None
            Seconds per clip. None: the files' own length after ``offset``,
            which must then be one length.
        offset : float, default=0.0
            Start of each excerpt in seconds (with ``excerpt="start"``).
        excerpt : {"start", "centre"}, default="start"
            ``"centre"`` cuts each file's excerpt from its middle (the
            robustness study's excerpts); needs ``duration``.
        short : {"refuse", "pad"}, default="refuse"
            A file shorter than the excerpt: a bad file (``"refuse"``), or
            zero-padded with a warning naming it (``"pad"``).
        on_error : {"raise", "skip"}, default="raise"
            Bad files (unreadable, empty, too short): refuse the corpus naming
            each with its reason, or leave them out and list them in
            :attr:`skipped`.

        Returns
        -------
        Corpus
        """
        root = Path(path)
        files = _audio_files(root, folder_labels=isinstance(labels, str) and labels == "folders")
        rel = [str(f.relative_to(root)) for f in files]
        return cls._build([str(f) for f in files], rel, root=root, labels=labels, groups=groups, sr=sr,
                          duration=duration, offset=offset, excerpt=excerpt, short=short, on_error=on_error)

    @classmethod
    def from_csv(cls, csv: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                 groups: str | None = None, sr: int | None = None, duration: float | None = None,
                 offset: float = 0.0, excerpt: str = "start", short: str = "refuse", on_error: str = "raise") -> Corpus:
        """The files a CSV lists (column ``file``, relative to ``root``), with its ``label`` and ``group`` columns.

        ``root`` defaults to the CSV's folder; the other parameters are
        :meth:`from_folder`'s.
        """
        table = _read_labels_csv(csv)
        if "file" not in table.columns:
            raise ValueError(f"csv {os.fspath(csv)!r} needs a column 'file'; has {list(table.columns)}.")
        base = Path(root) if root is not None else Path(csv).parent
        rel = table["file"].astype(str).tolist()
        labels = csv if "label" in table.columns else None
        return cls._build([str(base / r) for r in rel], rel, root=base, labels=labels, groups=groups, sr=sr,
                          duration=duration, offset=offset, excerpt=excerpt, short=short, on_error=on_error,
                          table=table)

    @classmethod
    def from_files(cls, paths: Any, *, labels: Any = None, groups: Any = None, sr: int | None = None,
                   duration: float | None = None, offset: float = 0.0, excerpt: str = "start",
                   short: str = "refuse", on_error: str = "raise") -> Corpus:
        """The files ``paths`` (in order), with one label and one group per file when given.

        The other parameters are :meth:`from_folder`'s.
        """
        if isinstance(paths, (str, os.PathLike)) or not len(paths):
            raise ValueError("paths must be a non-empty list of audio files; for a folder use Corpus.from_folder.")
        files = [os.fspath(p) for p in paths]
        for name, values in (("labels", labels), ("groups", groups)):
            if values is not None and len(values) != len(files):
                raise ValueError(f"{name} must hold one value per file ({len(files)}); got {len(values)}.")
        return cls._build(files, files, root=None, labels=None, groups=None, sr=sr, duration=duration, offset=offset,
                          excerpt=excerpt, short=short, on_error=on_error,
                          given=(None if labels is None else list(labels), None if groups is None else list(groups)))

    @classmethod
    def _build(cls, files: list[str], rel: list[str], *, root: Path | None, labels: Any, groups: Any, sr: int | None,
               duration: float | None, offset: float, excerpt: str, short: str, on_error: str,
               table: pd.DataFrame | None = None, given: tuple[Any, Any] = (None, None)) -> Corpus:
        """One path for every constructor: check every file's header, the rate, the excerpts, labels and groups."""
        check_choice(excerpt, "excerpt", ("start", "centre"))
        check_choice(short, "short", SHORT)
        check_choice(on_error, "on_error", ("raise", "skip"))
        offset = check_number(offset, "offset", low=0)
        if sr is not None:
            sr = check_sr(sr, "Corpus")
        if duration is not None:
            duration = check_number(duration, "duration", low=0, low_inclusive=False)
        if excerpt == "centre" and duration is None:
            raise ValueError("excerpt='centre' cuts a clip of `duration` seconds from each file's middle: pass duration.")
        # labels and groups first: a wrong CSV is refused before any file is opened
        if table is None and labels is not None and not (isinstance(labels, str) and labels == "folders"):
            table = _read_labels_csv(labels)
        lab = given[0] if given[0] is not None else _file_labels(rel, labels, table)
        grp = given[1] if given[1] is not None else _file_groups(rel, groups, table, labels)
        seconds, rates, bad = _file_info(files)
        sr = _common_rate([r for r, b in zip(rates, bad) if not b] or rates, rel, root) if sr is None else sr
        starts, n, bad = _excerpts(seconds, rel, bad, sr=sr, offset=offset, duration=duration, excerpt=excerpt,
                                   short=short)
        if any(bad):
            listed = [f"{r} ({why})" for r, why in zip(rel, bad) if why]
            if on_error == "raise":
                raise InvalidAudioError(
                    f"{len(listed)} of {len(files)} files cannot be used: " + "; ".join(listed[:20])
                    + (" ..." if len(listed) > 20 else "") + ". Fix or remove them, or pass on_error='skip' to leave "
                    "them out (they are then listed in the report).")
        keep = [i for i, why in enumerate(bad) if not why]
        if not keep:
            raise InvalidAudioError(f"none of the {len(files)} files can be used: " + "; ".join(
                f"{r} ({why})" for r, why in zip(rel, bad)))
        padded = tuple(rel[i] for i in keep if seconds[i] - starts[i] < n / sr - 0.5 / sr)
        if padded:
            warnings.warn(
                f"{len(padded)} files are shorter than {n / sr:.3g} s after offset and were zero-padded: "
                + ", ".join(padded[:5]) + (" ..." if len(padded) > 5 else ""), TrustkitWarning, stacklevel=4)

        def pick(values: Any) -> tuple[Any, ...] | None:
            return None if values is None else tuple(values[i] for i in keep)

        return cls(files=tuple(files[i] for i in keep), names=tuple(rel[i] for i in keep), sr=int(sr), n_samples=n,
                   offsets=tuple(starts[i] for i in keep), labels=pick(lab) if labels is not None or given[0] is not None
                   else None, groups=pick(grp), file_sr=tuple(rates[i] for i in keep), padded=padded,
                   skipped=tuple((rel[i], why) for i, why in enumerate(bad) if why))

    # -- use -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.files)

    @property
    def duration(self) -> float:
        """Seconds per clip."""
        return self.n_samples / self.sr

    @property
    def y(self) -> pd.DataFrame:
        """One row per file: ``file`` (its name), ``label``, ``sr`` (the file's own rate) and, with groups, ``group``.

        ``y.attrs["sr"]`` and ``y.attrs["duration"]`` hold the rate and clip length.
        """
        y = pd.DataFrame({"file": list(self.names), "label": list(self.labels or [None] * len(self)),
                          "sr": list(self.file_sr)})
        if self.groups is not None:
            y["group"] = list(self.groups)
        y.attrs.update(sr=int(self.sr), duration=self.duration)
        return y

    def read(self, index: Any = None) -> np.ndarray:
        """The clips ``index`` (all when None) as float32 ``(k, n_samples)``: read, resampled and cut here.

        Only each excerpt's frames are read from disk. A file the header
        check passed but whose data cannot be decoded raises an
        :class:`~trustkit.InvalidAudioError` naming it.
        """
        from .audio import load_audio

        idx = range(len(self)) if index is None else [int(i) for i in np.atleast_1d(index)]
        X = np.zeros((len(idx), self.n_samples), dtype=np.float32)
        margin = (self.n_samples + 16) / self.sr  # a little more, for the resampler's edge
        for row, i in enumerate(idx):
            clip = load_audio(self.files[i], sr=self.sr, offset=self.offsets[i], duration=margin)[: self.n_samples]
            X[row, : len(clip)] = clip
        return X

    def load(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Every clip in memory with its labels: ``(X, y)`` as :func:`trustkit.datasets.load_audio_folder` returns."""
        return self.read(), self.y

    def chunks(self, size: int | None = None) -> list[np.ndarray]:
        """The clips' indices in consecutive chunks of at most ``size``.

        ``None`` (the meters' default): chunks of at most :data:`AUTO_CHUNK`
        clips and at least :data:`MIN_CHUNKS` of them (fewer only when the
        corpus has fewer clips), sizes within one of each other, so that
        every worker gets several equal tasks and none waits on a last,
        lone chunk. The cut depends on the corpus and ``size`` alone, never
        on the workers: a run resumed with another ``n_jobs`` finds its
        finished chunks in the cache.

        Examples
        --------
        >>> names = tuple(f"{i}.wav" for i in range(40))
        >>> corpus = Corpus(names, names, sr=16000, n_samples=16000, offsets=(0.0,) * 40)
        >>> [len(c) for c in corpus.chunks(16)]
        [16, 16, 8]
        >>> sizes = [len(c) for c in corpus.chunks()]
        >>> len(sizes), min(sizes), max(sizes)
        (16, 2, 3)
        """
        n = len(self)
        if size is None:
            return np.array_split(np.arange(n), min(n, max(MIN_CHUNKS, -(-n // AUTO_CHUNK))))
        size = check_number(size, "chunk_size", low=1, integer=True)
        return [np.arange(s, min(s + size, n)) for s in range(0, n, size)]

    def describe(self, chunk_size: int | None = None) -> dict[str, Any]:
        """What a report's config records about the corpus (files, rate, excerpt, what was left out, the chunks)."""
        return {"n_files": len(self), "sr": self.sr, "duration": self.duration,
                "skipped": [{"file": f, "reason": why} for f, why in self.skipped], "padded": list(self.padded),
                "chunk_size": "auto" if chunk_size is None else chunk_size, "n_chunks": len(self.chunks(chunk_size))}


#: the most clips of a chunk when the meter is given no ``chunk_size`` (30-s clips at 22.05 kHz: 170 MB of audio)
AUTO_CHUNK = 64
#: the fewest chunks a corpus is cut into when the meter is given no ``chunk_size`` (2 workers: 8 tasks each)
MIN_CHUNKS = 16


def _ram_budget() -> int:
    """The bytes of rows a :class:`RowStore` keeps in memory: a quarter of physical memory, at most 4 GiB."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not a POSIX system
        physical = 16 * 2**30
    return int(min(4 * 2**30, physical // 4))


class RowStore:
    """Arrays of ``n_rows`` rows filled chunk by chunk: in memory, or memory-mapped when they would not fit.

    An array is allocated on its first :meth:`put` with that chunk's dtype and
    row shape (a later chunk must agree). When the ``n_arrays`` arrays
    expected would take more than ``ram_bytes``, each is a memory-mapped file
    in a temporary folder (removed by :meth:`close`, or at the end of a
    ``with`` block); the values are the same either way.

    Examples
    --------
    >>> with RowStore(5, n_arrays=1) as store:
    ...     store.put("a", np.arange(3), np.ones((3, 2)))
    ...     store.put("a", np.arange(3, 5), np.zeros((2, 2)))
    ...     store.get("a").sum()
    np.float64(6.0)
    """

    def __init__(self, n_rows: int, *, n_arrays: int, ram_bytes: int | None = None) -> None:
        self.n_rows = int(n_rows)
        self.n_arrays = int(n_arrays)
        self.ram_bytes = _ram_budget() if ram_bytes is None else int(ram_bytes)
        self._arrays: dict[Any, np.ndarray] = {}
        self._folder: Any = None

    @property
    def mapped(self) -> bool:
        """Whether the arrays are memory-mapped files."""
        return self._folder is not None

    def put(self, key: Any, index: Any, rows: np.ndarray) -> None:
        """Rows ``index`` of array ``key``."""
        rows = np.asarray(rows)
        if key not in self._arrays:
            shape = (self.n_rows, *rows.shape[1:])
            size = int(np.prod(shape)) * rows.dtype.itemsize
            if self._folder is None and not self._arrays and size * self.n_arrays > self.ram_bytes:
                import tempfile

                self._folder = tempfile.TemporaryDirectory(prefix="trustkit-rows-", ignore_cleanup_errors=True)
            if self._folder is not None:
                path = os.path.join(self._folder.name, f"{len(self._arrays)}.dat")
                self._arrays[key] = np.lib.format.open_memmap(path, mode="w+", dtype=rows.dtype, shape=shape)
            else:
                self._arrays[key] = np.empty(shape, dtype=rows.dtype)
        target = self._arrays[key]
        if rows.shape[1:] != target.shape[1:]:
            raise ValueError(f"{key}: rows of shape {rows.shape[1:]} in one chunk but {target.shape[1:]} in an earlier "
                             "one; every clip must give the same shape (an encoder must not depend on the batch).")
        target[np.asarray(index)] = rows

    def get(self, key: Any) -> np.ndarray:
        """The whole array ``key``."""
        return self._arrays[key]

    def close(self) -> None:
        """Drop the arrays (and remove the memory-mapped files)."""
        self._arrays.clear()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> RowStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def is_corpus_input(X: Any) -> bool:
    """Whether ``X`` names audio files (a :class:`Corpus`, a folder, or a list of paths) rather than holding audio."""
    if isinstance(X, Corpus):
        return True
    if isinstance(X, (str, os.PathLike)):
        return True
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(p, (str, os.PathLike)) for p in X)


def as_corpus(X: Any, *, sr: int | None = None, labels: Any = "auto") -> Corpus:
    """``X`` as a :class:`Corpus`: itself, a folder (:meth:`Corpus.from_folder`) or a list of paths.

    ``sr``: the rate to work at (a meter's ``sr``, else its encoder's declared
    rate); files at another rate are resampled to it. None: the files' own
    rate, which must then be one. ``labels="auto"`` labels a folder's files by
    sub-folder when every file sits in one.
    """
    if isinstance(X, Corpus):
        if sr is not None and int(sr) != X.sr:
            raise ValueError(f"the corpus reads its clips at {X.sr} Hz but they are needed at {sr} Hz (the meter's sr, "
                             f"or its encoder's); build the corpus with sr={sr} (Corpus.from_folder(..., sr={sr})).")
        return X
    if isinstance(X, (list, tuple)):
        return Corpus.from_files(X, sr=sr)
    root = Path(X)
    if labels == "auto":
        files = _audio_files(root, folder_labels=False)
        labels = "folders" if all(f.parent != root for f in files) else None
    return Corpus.from_folder(root, sr=sr, labels=labels)


# -- the steps ---------------------------------------------------------------------------
def _file_info(files: list[str]) -> tuple[list[float], list[int], list[str]]:
    """Each file's length in seconds and rate, from its header, and what is wrong with it ("" when nothing)."""
    from .audio import sound_file

    seconds, rates, bad = [], [], []
    for f in files:
        try:
            if Path(f).suffix.lower() not in AUDIO_EXTENSIONS:
                raise ValueError(f"unsupported format {Path(f).suffix or 'without extension'!r}; "
                                 f"use {', '.join(AUDIO_EXTENSIONS)}")
            with sound_file(f) as info:
                seconds.append(info.frames / info.samplerate)
                rates.append(int(info.samplerate))
            bad.append("empty" if seconds[-1] == 0 else "")
        except Exception as exc:  # a decoder's own error, named with its file; never its traceback
            seconds.append(0.0)
            rates.append(0)
            reason = str(exc).split(": ", 1)[-1] if "Could not read" in str(exc) else str(exc)
            bad.append("not found" if not os.path.exists(f) else f"unreadable: {reason[:160]}")
    return seconds, rates, bad


def _excerpts(seconds: list[float], rel: list[str], bad: list[str], *, sr: int, offset: float,
              duration: float | None, excerpt: str, short: str) -> tuple[list[float], int, list[str]]:
    """Each file's excerpt start, the samples per clip, and the files that cannot give one (with the reason)."""
    bad = list(bad)
    ok = [i for i, why in enumerate(bad) if not why]
    past = [i for i in ok if seconds[i] <= offset] if excerpt == "start" else []
    if ok and len(past) == len(ok):  # not a bad file: a bad offset
        lengths = [seconds[i] for i in ok]
        raise InvalidAudioError(
            f"offset={offset:g} s is at or past the end of {len(past)} of {len(seconds)} files (e.g. "
            f"{Path(rel[past[0]]).name!r}; the longest lasts {max(lengths):.3g} s, the shortest {min(lengths):.3g} s). "
            "Choose a smaller offset.")
    ok = [i for i in ok if i not in past]
    if duration is None:  # the files' own length: never cut or pad silently
        frames = {i: round((seconds[i] - offset) * sr) for i in ok}
        if len(set(frames.values())) > 1:
            short_i, long_i = min(frames, key=frames.get), max(frames, key=frames.get)
            raise InvalidAudioError(
                f"the files differ in length after offset={offset:g} s: from {frames[short_i] / sr:.4g} s "
                f"({rel[short_i]}) to {frames[long_i] / sr:.4g} s ({rel[long_i]}); pass duration=<seconds> "
                "(--duration) to cut them all to one length.")
        n = max(frames.values(), default=0)
    else:
        n = round(duration * sr)
    starts = []
    for i, sec in enumerate(seconds):
        start = max(0.0, (sec - n / sr) / 2) if excerpt == "centre" else offset
        starts.append(start)
        if bad[i]:
            continue
        if sec <= start:
            bad[i] = f"too short: {sec:.3g} s, the excerpt starts at {start:g} s"
        elif sec - start < n / sr - 0.5 / sr and short == "refuse":
            bad[i] = f"too short: {sec - start:.3g} s from {start:g} s, the clips last {n / sr:.3g} s"
    if n < 1:
        raise InvalidAudioError("the clips would hold no sample: choose a positive duration or a smaller offset.")
    return starts, n, bad


def _audio_files(root: Path, *, folder_labels: bool) -> list[Path]:
    """Every audio file under ``root``, sorted; with labels from folders, none may sit in ``root`` itself."""
    if not root.is_dir():
        raise ValueError(f"path must be a folder of audio files; {os.fspath(root)!r} is not a folder.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {os.fspath(root)!r}.")
    if folder_labels:
        loose = [f.name for f in files if f.parent == root]
        if loose:
            raise ValueError(
                f"{len(loose)} audio files sit directly in {os.fspath(root)!r} (e.g. {loose[0]!r}); with labels from "
                "folders every file must be inside a label sub-folder. Move them, or pass labels=None or a CSV."
            )
    return files

def _common_rate(rates: list[int], rel: list[str], root: Path | None) -> int:
    """The one rate every file has, or an error naming the files at each rate."""
    from .exceptions import InvalidAudioError

    found = sorted(set(rates))
    if len(found) > 1:
        where = "; ".join(f"{r} Hz: {', '.join(x for x, q in zip(rel, rates) if q == r)[:120]}" for r in found)
        raise InvalidAudioError(
            f"the files{'' if root is None else f' under {os.fspath(root)!r}'} have {len(found)} sample rates ({where}); pass sr=<Hz> "
            "(--sr on the command line) to resample them all to one rate."
        )
    return found[0]

def _file_labels(rel: list[str], labels: Any, table: pd.DataFrame | None) -> list[Any]:
    """Each file's label: none, its sub-folder, or the labels CSV's (every file must have one)."""
    if labels is None:
        return [None] * len(rel)
    if table is None:
        return [str(Path(r).parent) if str(Path(r).parent) != "." else "" for r in rel]
    if not {"file", "label"} <= set(table.columns):
        raise ValueError(f"labels CSV {os.fspath(labels)!r} needs columns 'file' and 'label'; has {list(table.columns)}.")
    mapping = dict(zip(table["file"].astype(str), table["label"]))
    missing = [r for r in rel if r not in mapping]
    if missing:
        raise ValueError(f"labels CSV has no label for {len(missing)} files, e.g. {missing[:3]}.")
    return [mapping[r] for r in rel]

def _read_labels_csv(labels: Any) -> pd.DataFrame:
    """The labels CSV, or an error naming it (binary garbage, another encoding, not a CSV)."""
    try:
        return pd.read_csv(labels, dtype={"file": str})
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"labels {os.fspath(labels)!r} is not a UTF-8 CSV with columns file, label (and optionally "
                         f"group) ({type(exc).__name__}: {str(exc)[:120]}).") from exc

def _file_groups(rel: list[str], groups: str | None, table: pd.DataFrame | None, labels: Any) -> list[str] | None:
    """Each file's group: a regular expression's first capture group over its path, or the labels CSV's column."""
    import re

    if groups is None or groups == "csv":
        if table is None:
            if groups == "csv":
                raise ValueError("groups='csv' reads the labels CSV's 'group' column; pass labels=<CSV> too.")
            return None
        if "group" not in table.columns:
            if groups == "csv":
                raise ValueError(f"labels CSV {os.fspath(labels)!r} has no 'group' column; has {list(table.columns)}.")
            return None
        mapping = dict(zip(table["file"].astype(str), table["group"].astype(str)))
        return [mapping[r] for r in rel]
    try:
        pattern = re.compile(groups)
    except re.error as exc:
        raise ValueError(f"groups must be a regular expression with one capture group, or 'csv'; {groups!r}: {exc}.") from exc
    if pattern.groups < 1:
        raise ValueError(f"groups {groups!r} has no capture group: put the part naming the group in parentheses, "
                         r"e.g. '_([a-z]+)_' for 7_jackson_32.wav.")
    out, missing = [], []
    for r in rel:
        m = pattern.search(r)
        if m is None or m.group(1) is None:
            missing.append(r)
        else:
            out.append(m.group(1))
    if missing:
        raise ValueError(f"groups {groups!r} matches no group in {len(missing)} of {len(rel)} files, e.g. {missing[:3]}; "
                         "every file needs one.")
    return out
