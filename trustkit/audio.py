"""Audio helpers: loading, cropping and padding, PCM conversion, loudness."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._validation import check_audio, check_number, check_sr
from .exceptions import InvalidAudioError

__all__ = [
    "fix_length",
    "integrated_loudness",
    "load_audio",
    "check_loudness",
    "energy",
    "loudness_gain_db",
    "pcm_to_float",
    "rms",
    "save_audio",
]

#: Shortest clip for which ITU-R BS.1770 integrated loudness is defined (one
#: 400 ms gating block).
LOUDNESS_MIN_SECONDS = 0.4


def fix_length(X: Any, n_samples: int, *, axis: int = -1) -> np.ndarray:
    """Crop or zero-pad audio at the end to exactly ``n_samples``.

    Parameters
    ----------
    X : ndarray
        Audio; the time axis is ``axis``.
    n_samples : int
        Target length.
    axis : int, default=-1

    Returns
    -------
    ndarray
        ``X`` itself when it has the length already, else a new array (``X`` is
        never modified).

    Examples
    --------
    >>> fix_length(np.ones((1, 3)), 5)
    array([[1., 1., 1., 0., 0.]])
    """
    n_samples = check_number(n_samples, "n_samples", low=0, integer=True)
    X = np.asarray(X)
    n = X.shape[axis]
    if n == n_samples:
        return X
    if n > n_samples:
        return np.take(X, np.arange(n_samples), axis=axis).copy()
    widths = [(0, 0)] * X.ndim
    widths[axis] = (0, n_samples - n)
    return np.pad(X, widths)


def pcm_to_float(X: Any) -> np.ndarray:
    """Convert integer PCM to float32 in [-1, 1).

    Examples
    --------
    >>> pcm_to_float(np.array([[-32768, 0, 16384]], dtype=np.int16))
    array([[-1. ,  0. ,  0.5]], dtype=float32)
    """
    X = np.asarray(X)
    if X.dtype.kind == "f":
        return X.astype(np.float32)
    if X.dtype.kind == "u":
        info = np.iinfo(X.dtype)
        mid = (int(info.max) + 1) // 2
        return ((X.astype(np.float64) - mid) / mid).astype(np.float32)
    if X.dtype.kind == "i":
        scale = float(-np.iinfo(X.dtype).min)
        return (X.astype(np.float64) / scale).astype(np.float32)
    raise TypeError(f"X must hold integer PCM samples, got dtype {X.dtype}.")


def energy(x: np.ndarray) -> float:
    """Sum of squares of a 1-D signal, through BLAS (float32 stays float32).

    Examples
    --------
    >>> energy(np.array([3.0, 4.0]))
    25.0
    """
    x = np.ascontiguousarray(x)
    return float(np.dot(x, x))


def rms(X: Any, *, axis: int = -1) -> np.ndarray:
    """Root mean square along ``axis`` (computed in float64).

    Examples
    --------
    >>> float(rms(np.array([[3.0, -3.0]]))[0])
    3.0
    """
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(np.mean(np.square(X), axis=axis))


def integrated_loudness(X: Any, *, sr: int) -> np.ndarray:
    """Integrated loudness of each clip in LUFS (ITU-R BS.1770-4, via pyloudnorm).

    Parameters
    ----------
    X : array-like of shape (n_clips, n_samples)
    sr : int
        Sample rate in Hz.

    Returns
    -------
    ndarray of shape (n_clips,)
        Loudness in LUFS; ``-inf`` for a clip that is silent after gating.

    Examples
    --------
    >>> sr = 48000
    >>> t = np.arange(sr) / sr
    >>> tone = 10 ** (-20 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 997 * t)
    >>> round(float(integrated_loudness(tone[np.newaxis], sr=sr)[0]), 1)
    -20.0
    """
    import pyloudnorm

    sr = check_sr(sr, "integrated_loudness")
    X = check_audio(
        X,
        min_samples=int(np.ceil(LOUDNESS_MIN_SECONDS * sr)),
        sr=sr,
        owner="integrated_loudness",
    )
    meter = pyloudnorm.Meter(sr)
    out = np.empty(X.shape[0])
    with np.errstate(divide="ignore"):
        for i, x in enumerate(X):
            out[i] = meter.integrated_loudness(np.asarray(x, dtype=np.float64))
    return out


def loudness_gain_db(loudness: float, target: float, *, what: str = "clip") -> float:
    """Gain in dB that moves ``loudness`` (LUFS) to ``target`` (LUFS).

    Raises
    ------
    InvalidAudioError
        If ``loudness`` is ``-inf`` (the clip is silent after BS.1770 gating).

    Examples
    --------
    >>> loudness_gain_db(-30.0, -23.0)
    7.0
    """
    check_loudness(loudness, what=what)
    return float(target - loudness)


def check_loudness(loudness: float, *, what: str = "clip") -> None:
    """Raise :class:`InvalidAudioError` if ``loudness`` is not finite (gated silence)."""
    if not np.isfinite(loudness):
        raise InvalidAudioError(
            f"{what} is too quiet for BS.1770 loudness (all 400 ms blocks fall below "
            "the -70 LUFS gate); loudness matching is undefined. Drop silent clips "
            "or disable loudness matching."
        )


def load_audio(
    path: str | os.PathLike[str],
    *,
    sr: int,
    mono: bool = True,
    resample: bool = True,
) -> np.ndarray:
    """Read an audio file as float32 mono at ``sr`` Hz.

    Resampling (soxr, high quality) happens only because ``sr`` asked for it and
    only when ``resample=True``; otherwise a file at another rate is an error.

    Parameters
    ----------
    path : str or path-like
    sr : int
        Sample rate wanted, in Hz.
    mono : bool, default=True
        Average the channels.
    resample : bool, default=True
        Resample a file whose rate differs from ``sr``.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    import soundfile as sf

    sr = check_sr(sr, "load_audio")
    try:
        data, file_sr = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise InvalidAudioError(f"Could not read audio file {os.fspath(path)!r}: {exc}") from exc
    data = data.mean(axis=1) if mono else data.T
    if file_sr != sr:
        if not resample:
            raise InvalidAudioError(
                f"{os.fspath(path)!r} is at {file_sr} Hz, not sr={sr}; pass "
                "resample=True or resample the file."
            )
        import soxr

        data = soxr.resample(data.T if not mono else data, file_sr, sr, quality="HQ")
        data = data.T if not mono else data
    return np.ascontiguousarray(data, dtype=np.float32)


def save_audio(path: str | os.PathLike[str], x: Any, *, sr: int) -> None:
    """Write one clip (or ``(n_channels, n_samples)``) as a 32-bit float WAV.

    Float samples are written as they are: nothing is clipped.
    """
    import soundfile as sf

    sr = check_sr(sr, "save_audio")
    x = np.asarray(x, dtype=np.float32)
    sf.write(os.fspath(path), x.T if x.ndim == 2 else x, sr, subtype="FLOAT")
