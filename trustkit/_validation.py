"""One place for input checks: audio arrays, sample rates and parameters.

Every error names the argument, what was expected, what came, and the fix.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .exceptions import InvalidAudioError

#: largest accepted |sample|: 80 dB over full scale; float32 squares of 1e19 overflow, and sums of
#: n squares overflow from sqrt(3.4e38 / n), e.g. 1.8e16 for a million samples
MAX_PEAK = 1e4

__all__ = ["check_audio", "check_choice", "check_embeddings", "check_number", "check_sr", "check_threshold"]


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
) -> float | int:
    """Check a scalar parameter and return it as a Python ``float`` or ``int``.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Name of the parameter, used in error messages.
    low, high : float or None
        Bounds of the allowed interval; ``None`` means unbounded.
    low_inclusive, high_inclusive : bool
        Whether the bounds belong to the interval.
    integer : bool
        Require an integer.

    Returns
    -------
    float or int

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``bool`` is rejected).
    ValueError
        If ``value`` is outside the interval or not finite.

    Examples
    --------
    >>> check_number(3, "bits", low=1, high=32, integer=True)
    3
    >>> check_number(True, "snr_db")
    Traceback (most recent call last):
    ...
    TypeError: snr_db must be a real number, got True (bool).
    """
    kind = "an integer" if integer else "a real number"
    given = value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {kind}, got {_describe(value)}.")
    if integer:
        if not float(value).is_integer():
            raise TypeError(f"{name} must be {kind}, got {_describe(value)}.")
        value = int(value)
    else:
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}.")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        lb = "[" if low_inclusive and low is not None else "("
        rb = "]" if high_inclusive and high is not None else ")"
        shown = given.item() if isinstance(given, np.generic) else given  # as the caller wrote it (95, not 95.0)
        raise ValueError(f"{name} must be in {lb}{left}, {right}{rb}, got {shown!r}.")
    return value


def check_choice(value: Any, name: str, options: Iterable[str]) -> str:
    """Check that ``value`` is one of the string ``options``.

    Examples
    --------
    >>> check_choice("pink", "color", ("white", "pink", "brown"))
    'pink'
    """
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        allowed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
    return value


def check_threshold(value: Any, name: str, *, low: float | None = None, high: float | None = None) -> float:
    """Check a gate's threshold before any work: a real, finite number within the measure's range.

    A NaN threshold would make every comparison false, so a gate written as
    ``value < limit`` would always pass; this refuses it up front.

    Examples
    --------
    >>> check_threshold(0.2, "max_sensitivity", low=0, high=1)
    0.2
    >>> check_threshold(float("nan"), "--fail-below")
    Traceback (most recent call last):
    ...
    ValueError: --fail-below must be finite, got nan.
    """
    return float(check_number(value, name, low=low, high=high))


def check_sr(sr: Any, owner: str, *, example: str = "", name: str = "sr") -> int:
    """Check a sample rate in Hz and return it as ``int``.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    owner : str
        Name of the object that needs it (for the message).
    example : str
        Constructor arguments to show in the message when ``sr`` is missing.

    Examples
    --------
    >>> check_sr(22050, "PitchShift")
    22050
    >>> check_sr(None, "PitchShift", example="n_steps=1")
    Traceback (most recent call last):
    ...
    ValueError: PitchShift needs the sample rate: pass sr=<Hz>, e.g. PitchShift(n_steps=1, sr=22050).
    """
    if sr is None:
        args = f"{example}, sr=22050" if example else "sr=22050"
        raise ValueError(
            f"{owner} needs the sample rate: pass {name}=<Hz>, e.g. {owner}({args})."
        )
    value = check_number(sr, name, low=0, low_inclusive=False)
    if not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number of Hz, got {sr!r}.")
    return int(value)


def check_audio(
    X: Any,
    *,
    name: str = "X",
    min_samples: int = 1,
    sr: int | None = None,
    owner: str | None = None,
    allow_silent: bool = True,
    values: bool = True,
) -> np.ndarray:
    """Validate a batch of mono audio clips.

    Parameters
    ----------
    X : array-like of shape (n_clips, n_samples)
        Floating-point audio, nominally in [-1, 1]. Never modified.
    name : str
        Name of the argument, used in error messages.
    min_samples : int
        Shortest clip length accepted.
    sr : int or None
        Sample rate, only used to state ``min_samples`` in seconds.
    owner : str or None
        Who needs ``min_samples`` (for the message).
    allow_silent : bool
        If False, clips whose samples are all zero are rejected.
    values : bool, default=True
        Check the samples (finite, peak at most ``MAX_PEAK``). A caller that
        passes False must call :func:`check_audio_values` itself (a fused
        kernel that reads the samples anyway does, with their energy).

    Returns
    -------
    X : ndarray of shape (n_clips, n_samples)
        ``X`` as a float32 or float64 array (no copy when it already is one).

    Raises
    ------
    InvalidAudioError
        For integer PCM, non-finite samples, too-short or silent clips.
    ValueError
        For a wrong number of dimensions or an empty batch.

    Examples
    --------
    >>> check_audio(np.zeros((2, 100))).shape
    (2, 100)
    >>> check_audio(np.zeros(16000))
    Traceback (most recent call last):
    ...
    ValueError: X must be 2-D (n_clips, n_samples); got shape (16000,). Reshape your data: use X[np.newaxis, :] for one clip.
    """
    arr = _float_audio(_clip_matrix(X, name), name)
    _check_clip_length(arr, name, min_samples, sr, owner)
    if values:
        check_audio_values(arr, name=name)
    return _check_silent(arr, name, owner, allow_silent)


def _clip_matrix(X: Any, name: str) -> np.ndarray:
    """``X`` as a 2-D array, or an error saying how to get one (sparse, ragged, 1-D, multichannel)."""
    if hasattr(X, "tocsr") or hasattr(X, "tocoo"):
        raise TypeError(
            f"{name} is a {type(X).__name__}, but sparse input is not supported: audio "
            f"must be a dense array (n_clips, n_samples). Use {name}.toarray()."
        )
    if hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        try:
            arr = np.asarray(X)
        except ValueError as exc:  # ragged lists
            raise ValueError(
                f"{name} must be a rectangular array (n_clips, n_samples); clips of "
                "unequal length must be cropped or padded first "
                "(trustkit.audio.fix_length)."
            ) from exc
    else:
        raise TypeError(
            f"{name} must be an array of shape (n_clips, n_samples), got "
            f"{type(X).__name__}."
        )
    if arr.ndim != 2:
        if arr.ndim == 1:
            fix = f"Reshape your data: use {name}[np.newaxis, :] for one clip."
        elif arr.ndim == 3:
            fix = (
                "For multichannel audio (n_clips, n_channels, n_samples), mix down "
                f"with {name}.mean(axis=1) or pass each channel as a clip."
            )
        else:
            fix = "Reshape your data to one row per clip."
        raise ValueError(
            f"{name} must be 2-D (n_clips, n_samples); got shape {arr.shape}. {fix}"
        )
    return arr


def _float_audio(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` as float32 or float64 audio, or an error naming the dtype and the conversion (PCM, complex, objects)."""
    if arr.dtype.kind in "iu":
        raise InvalidAudioError(
            f"{name} must be floating-point audio in [-1, 1]; got {arr.dtype} "
            "(integer PCM). Convert it with trustkit.audio.pcm_to_float(X)."
        )
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} holds objects that are not numbers ({exc}); pass float audio."
            ) from exc
    if arr.dtype.kind == "c":
        raise InvalidAudioError(
            f"Complex data not supported: {name} has dtype {arr.dtype}. Pass real audio, "
            f"e.g. np.real({name}) or np.abs({name})."
        )
    if arr.dtype.kind != "f":
        raise InvalidAudioError(
            f"{name} must be floating-point audio in [-1, 1]; got dtype {arr.dtype}. "
            f"Convert it with np.asarray({name}, dtype=np.float32)."
        )
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def _check_clip_length(arr: np.ndarray, name: str, min_samples: int, sr: int | None, owner: str | None) -> None:
    """At least one clip, each of at least ``min_samples`` samples."""
    n_clips, n_samples = arr.shape
    if n_clips == 0:
        raise ValueError(f"{name} holds no clip (shape {arr.shape}); pass at least one.")
    if n_samples < max(min_samples, 1):
        who = f"{owner} needs" if owner else "trustkit needs"
        secs = f" ({min_samples / sr:.3g} s at {sr} Hz)" if sr else ""
        raise InvalidAudioError(
            f"{name} has clips of {n_samples} samples; {who} at least "
            f"{min_samples} samples{secs} (found array with {n_samples} feature(s) "
            f"(shape={arr.shape}) while a minimum of {max(min_samples, 1)} is required). "
            "Use longer clips or pad them with trustkit.audio.fix_length."
        )


def check_audio_values(arr: np.ndarray, *, name: str = "X", energy: Any = None) -> None:
    """Check that every sample of ``arr`` is finite and its peak at most ``MAX_PEAK``.

    ``energy`` (the sum of squares of each row, if the caller has it, summed in
    ``arr``'s dtype or wider) proves both at once when every row's sum is
    finite and at most ``MAX_PEAK**2`` less the worst-case rounding of the sum
    (the squared peak cannot exceed the exact sum); otherwise the samples are
    examined exactly, for the message.

    Examples
    --------
    >>> check_audio_values(np.array([[0.5, -0.25]]), energy=np.array([0.3125]))
    >>> check_audio_values(np.array([[0.5, np.nan]]))
    Traceback (most recent call last):
    ...
    trustkit.exceptions.InvalidAudioError: X has 1 non-finite samples (NaN or infinity; first at clip 0, sample 1). Remove or repair them, e.g. np.nan_to_num(X).
    """
    if energy is None and arr.flags.c_contiguous and arr.ndim == 2 and arr.size:
        # one BLAS pass over blocks of whole rows: the sum of squares is NaN/inf if any sample is, and
        # peak**2 <= the exact sum; blocks of at most 2**20 samples keep the rounding bound below small
        rows = max(1, 2**20 // arr.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below, exactly
            energy = np.array([np.dot(blk.reshape(-1), blk.reshape(-1))
                               for blk in (arr[i:i + rows] for i in range(0, len(arr), rows))])
        terms = rows * arr.shape[1]
    else:  # the caller's sums: one per row, or one over everything
        terms = arr.size if np.ndim(energy) == 0 else arr.shape[-1]
    if energy is not None and _energy_bounds_peak(np.asarray(energy), terms, arr.dtype):
        return
    # two reductions without temporaries: NaN propagates through max/min, and |peak| is max(|hi|, |lo|)
    hi, lo = float(arr.max()), float(arr.min())
    if not (np.isfinite(hi) and np.isfinite(lo)):
        bad = np.argwhere(~np.isfinite(arr))
        clip, sample = bad[0]
        raise InvalidAudioError(
            f"{name} has {len(bad)} non-finite samples (NaN or infinity; first at clip "
            f"{clip}, sample {sample}). Remove or repair them, e.g. np.nan_to_num({name})."
        )
    peak = max(abs(hi), abs(lo))
    if peak > MAX_PEAK:
        clip = int(np.argmax(np.max(np.abs(arr), axis=1)))
        pcm = " It looks like integer PCM stored as float: divide by 32768 (16-bit) or 2**31 (32-bit)." \
            if peak <= 2**31 else ""
        raise InvalidAudioError(
            f"{name} peaks at {peak:.3g} (clip {clip}); float audio is expected near [-1, 1], and levels above "
            f"{MAX_PEAK:g} ({20 * np.log10(MAX_PEAK):.0f} dB over full scale) overflow the squares and sums of "
            f"level, SNR and spectral computations in float32. Scale it, e.g. {name} / np.abs({name}).max().{pcm}"
        )


def _energy_bounds_peak(energy: np.ndarray, terms: int, dtype: np.dtype) -> bool:
    """Whether sums of ``terms`` squares, computed in ``dtype``, prove every sample finite and within ``MAX_PEAK``.

    A recursive sum of ``n`` non-negative terms in precision ``u`` is at least
    ``(1 - n u)`` times the exact sum (Higham, *Accuracy and Stability of
    Numerical Algorithms*, eq. 4.4), so a computed sum at most
    ``(1 - n u) MAX_PEAK**2`` bounds the exact one, and with it the squared peak.
    """
    eps = _EPS.get(np.dtype(dtype).char, _EPS["d"])  # float16/32/64/longdouble; anything else as float64
    slack = terms * eps
    sums = np.ravel(energy).tolist()
    bound = (1 - slack) * MAX_PEAK**2
    # plain floats: this runs after every cheap transform, whose whole cost is a few passes over memory
    return bool(sums) and slack < 0.5 and all(math.isfinite(v) and v <= bound for v in sums)


_EPS = {c: float(np.finfo(c).eps) for c in "efdg"}


def _check_silent(arr: np.ndarray, name: str, owner: str | None, allow_silent: bool) -> np.ndarray:
    if not allow_silent:
        silent = np.flatnonzero(~arr.any(axis=1))
        if silent.size:
            raise InvalidAudioError(
                f"{name} has {silent.size} silent clips (all samples zero; first is "
                f"clip {silent[0]}); {owner or 'this step'} is undefined on silence "
                "(e.g. an SNR). Drop silent clips before calling."
            )
    return arr


def check_embeddings(Z: Any, *, n_clips: int, owner: str) -> np.ndarray:
    """Check what an encoder returned: a finite float array ``(n_clips, dim)``.

    Examples
    --------
    >>> check_embeddings(np.ones((2, 3)), n_clips=2, owner="enc").shape
    (2, 3)
    >>> check_embeddings(np.ones((3, 3)), n_clips=2, owner="enc")
    Traceback (most recent call last):
    ...
    ValueError: enc returned 3 embeddings for 2 clips; an encoder must return one row per clip, shape (n_clips, dim).
    """
    try:
        raw = np.asarray(Z)
    except (TypeError, ValueError) as exc:  # e.g. ragged lists
        raise TypeError(f"{owner} returned {type(Z).__name__}, not a numeric array (n_clips, dim): {exc}") from exc
    if raw.dtype.kind == "O":  # numbers held as Python objects: convert, or say what they are
        try:
            raw = raw.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{owner} returned {type(Z).__name__} holding non-numbers, not a numeric array "
                            f"(n_clips, dim): {exc}") from exc
    if np.iscomplexobj(raw) or raw.dtype.kind not in "biuf":
        raise TypeError(f"{owner} returned {raw.dtype} values ({type(Z).__name__}), not a numeric array (n_clips, dim) "
                        "of real numbers; a complex or non-numeric output would be cast silently, so it is refused.")
    Z = raw.astype(np.float64, copy=False)
    if Z.ndim != 2:
        raise ValueError(
            f"{owner} returned an array of shape {Z.shape}; an encoder must return 2-D "
            "embeddings (n_clips, dim). Pool frame-wise outputs over time (e.g. "
            "trustkit.encoders.pool_frames)."
        )
    if Z.shape[0] != n_clips:
        raise ValueError(
            f"{owner} returned {Z.shape[0]} embeddings for {n_clips} clips; an encoder "
            "must return one row per clip, shape (n_clips, dim)."
        )
    if Z.shape[1] == 0:
        raise ValueError(f"{owner} returned embeddings of dimension 0 (shape {Z.shape}).")
    finite = np.isfinite(Z)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise InvalidAudioError(
            f"{owner} returned non-finite embeddings (NaN or inf) for {rows.size} clips "
            f"(first: clip {rows[0]}). Check the encoder on those clips, e.g. silent input."
        )
    return Z
