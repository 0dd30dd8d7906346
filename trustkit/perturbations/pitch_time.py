"""Pitch and time: pitch shift, time stretch (tempo only) and varispeed."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._validation import check_choice, check_number
from ..audio import fix_length
from ._base import BasePerturbation

__all__ = ["PitchShift", "SpeedChange", "TimeStretch"]

METHODS = ("signalsmith", "librosa")
LENGTH_POLICIES = ("preserve", "allow")


def _signalsmith(x: np.ndarray, sr: int, *, semitones: float = 0.0, rate: float = 1.0) -> np.ndarray:
    from python_stretch.Signalsmith import Stretch

    stretch = Stretch(0)  # fixed seed: deterministic output
    stretch.preset(1, float(sr))
    if semitones:
        stretch.setTransposeSemitones(float(semitones))
    if rate != 1.0:
        stretch.setTimeFactor(float(rate))
    # python-stretch takes only writeable float32 and copies the clip into its own padded buffer: a row of a
    # writeable float32 batch goes in as it is (PitchShift and TimeStretch pass rows unprotected for this)
    return stretch.process(np.require(x, np.float32, ["C", "W"])[np.newaxis])[0]


class PitchShift(BasePerturbation):
    """Shift the pitch by ``n_steps`` semitones, keeping the duration.

    Parameters
    ----------
    n_steps : float, default=1.0
        Semitones, fractional allowed, in [-24, 24]; 0 is the exact identity.
    sr : int
        Sample rate in Hz (required).
    method : {"signalsmith", "librosa"}, default="signalsmith"
        ``"signalsmith"``: the Signalsmith Stretch library (python-stretch),
        fast and latency-compensated. ``"librosa"``: phase vocoder plus soxr
        resampling (``librosa.effects.pitch_shift``).
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> sr = 22050
    >>> x = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)[np.newaxis]
    >>> y = PitchShift(n_steps=12, sr=sr).fit_transform(x)
    >>> spectrum = np.abs(np.fft.rfft(y[0]))
    >>> round(float(np.argmax(spectrum) * sr / y.shape[1]))
    880
    """

    _needs_sr: ClassVar[bool] = True
    _example: ClassVar[str] = "n_steps=1"
    _library_copies_input: ClassVar[bool] = True

    def __init__(self, n_steps=1.0, *, sr=None, method="signalsmith", clip_policy="none", n_jobs=None):
        self.n_steps = n_steps
        self.sr = sr
        self.method = method
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {
            "n_steps": check_number(self.n_steps, "n_steps", low=-24, high=24),
            "method": check_choice(self.method, "method", METHODS),
        }

    def _min_samples(self, sr):
        return 2048 if self.method == "librosa" else 256

    def _holds_gil(self):
        return self.method == "signalsmith"

    def _is_identity(self, params):
        return params["n_steps"] == 0

    def _perturb(self, x, sr, rng, params):
        n_steps = params["n_steps"]
        if params["method"] == "signalsmith":
            y = _signalsmith(x, sr, semitones=n_steps)
        else:
            import librosa

            y = librosa.effects.pitch_shift(np.array(x), sr=sr, n_steps=n_steps, res_type="soxr_hq")
        return fix_length(y, len(x)), {"n_steps": n_steps, "ratio": 2 ** (n_steps / 12)}


class TimeStretch(BasePerturbation):
    """Change the tempo by ``rate`` without changing the pitch.

    Parameters
    ----------
    rate : float, default=1.0
        Speed factor in [0.1, 10]: ``rate > 1`` is faster (shorter). 1 is the
        exact identity.
    sr : int
        Sample rate in Hz (required).
    length : {"preserve", "allow"}, default="preserve"
        ``"preserve"``: crop or zero-pad the stretched clip at the end to the
        input length. ``"allow"``: return ``round(n_samples / rate)`` samples.
    method : {"signalsmith", "librosa"}, default="signalsmith"
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((1, 22050)) * 0.1
    >>> TimeStretch(rate=2.0, sr=22050, length="allow").fit_transform(X).shape
    (1, 11025)
    """

    _needs_sr: ClassVar[bool] = True
    _example: ClassVar[str] = "rate=1.1"
    _library_copies_input: ClassVar[bool] = True

    def __init__(self, rate=1.0, *, sr=None, length="preserve", method="signalsmith", clip_policy="none", n_jobs=None):
        self.rate = rate
        self.sr = sr
        self.length = length
        self.method = method
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {
            "rate": check_number(self.rate, "rate", low=0.1, high=10),
            "length": check_choice(self.length, "length", LENGTH_POLICIES),
            "method": check_choice(self.method, "method", METHODS),
        }

    def _min_samples(self, sr):
        return 2048 if self.method == "librosa" else 256

    def _holds_gil(self):
        return self.method == "signalsmith"

    def _is_identity(self, params):
        return params["rate"] == 1

    def _perturb(self, x, sr, rng, params):
        rate = params["rate"]
        n_out = max(1, round(len(x) / rate))
        if params["method"] == "signalsmith":
            y = _signalsmith(x, sr, rate=rate)
        else:
            import librosa

            y = librosa.effects.time_stretch(np.array(x), rate=rate)
        y = fix_length(y, n_out)  # exactly n / rate whatever the backend rounding
        info = {"rate": rate, "stretched_length": n_out}
        if params["length"] == "preserve":
            y = fix_length(y, len(x))
        return y, info


class SpeedChange(BasePerturbation):
    """Varispeed: play the clip ``factor`` times faster (tempo and pitch together).

    Implemented as high-quality resampling (soxr) from ``sr * factor`` to ``sr``.

    Parameters
    ----------
    factor : float, default=1.0
        Speed factor in [0.1, 10]; 1 is the exact identity. ``factor=2`` raises
        the pitch an octave and halves the duration.
    sr : int
        Sample rate in Hz (required).
    length : {"preserve", "allow"}, default="preserve"
        As in :class:`TimeStretch`.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((1, 8000)) * 0.1
    >>> SpeedChange(factor=0.5, sr=8000, length="allow").fit_transform(X).shape
    (1, 16000)
    """

    _needs_sr: ClassVar[bool] = True
    _example: ClassVar[str] = "factor=1.05"

    def __init__(self, factor=1.0, *, sr=None, length="preserve", clip_policy="none", n_jobs=None):
        self.factor = factor
        self.sr = sr
        self.length = length
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {
            "factor": check_number(self.factor, "factor", low=0.1, high=10),
            "length": check_choice(self.length, "length", LENGTH_POLICIES),
        }

    def _is_identity(self, params):
        return params["factor"] == 1

    def _perturb(self, x, sr, rng, params):
        import soxr

        factor = params["factor"]
        n_out = max(1, round(len(x) / factor))
        y = fix_length(soxr.resample(x, sr * factor, sr, quality="HQ"), n_out)
        info = {"factor": factor, "semitones": float(12 * np.log2(factor)), "stretched_length": n_out}
        if params["length"] == "preserve":
            y = fix_length(y, len(x))
        return y, info
