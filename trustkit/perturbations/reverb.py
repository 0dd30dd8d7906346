"""Synthetic room reverberation."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.signal

from .._validation import check_number, check_sr
from ._base import BasePerturbation

__all__ = ["Reverb", "measure_rt60", "synthetic_rir"]


def synthetic_rir(
    rt60: float, *, sr: int, drr_db: float = 0.0, predelay_ms: float = 10.0, rng: Any = None
) -> np.ndarray:
    """A room impulse response: a direct path plus an exponentially decaying tail.

    The tail is Gaussian noise whose energy falls by 60 dB in ``rt60`` seconds
    (Sabine/Schroeder model of a diffuse field), starting ``predelay_ms`` after
    the direct path and scaled so that the direct-to-reverberant energy ratio is
    ``drr_db``.

    Returns
    -------
    ndarray of shape (n_taps,)
        ``h[0] == 1`` (the direct path), so a convolved clip stays aligned.

    Examples
    --------
    >>> h = synthetic_rir(0.5, sr=16000, rng=0)
    >>> float(h[0]), abs(measure_rt60(h, sr=16000) - 0.5) < 0.05
    (1.0, True)
    """
    rt60 = check_number(rt60, "rt60", low=0, high=20, low_inclusive=False)
    sr = check_sr(sr, "synthetic_rir")
    rng = np.random.default_rng(rng)
    delay = round(predelay_ms * 1e-3 * sr)
    n_tail = int(np.ceil(rt60 * 1.2 * sr)) + 1  # down to -72 dB
    t = np.arange(n_tail) / sr
    tail = rng.standard_normal(n_tail) * 10 ** (-3.0 * t / rt60)
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    h = np.zeros(max(delay, 1) + n_tail)
    h[0] = 1.0
    h[max(delay, 1) :] = tail
    return h


def measure_rt60(h: Any, *, sr: int, db_range: tuple[float, float] = (-5.0, -25.0)) -> float:
    """Reverberation time of an impulse response by Schroeder backward integration.

    The energy decay curve is fitted by least squares between ``db_range``
    (T20 by default) and extrapolated to -60 dB (ISO 3382-1). The direct path
    (the first sample) is left out.
    """
    h = np.asarray(h, dtype=np.float64)[1:]
    start = np.flatnonzero(h)[0] if np.any(h) else 0
    energy = np.cumsum(h[start:][::-1] ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0])
    hi, lo = db_range
    idx = np.flatnonzero((edc <= hi) & (edc >= lo))
    slope = np.polyfit(idx / sr, edc[idx], 1)[0]
    return float(-60.0 / slope)


MIN_RT60 = 0.05  # shorter decays leave too few samples above -25 dB to synthesise and measure


def _check_rt60(rt60: Any) -> float:
    value = check_number(rt60, "rt60", low=0, high=20)
    if 0 < value < MIN_RT60:
        raise ValueError(f"rt60 must be 0 (no reverb) or at least {MIN_RT60} s; got {rt60!r}. Use rt60=0 for the identity.")
    return value


class Reverb(BasePerturbation):
    """Convolve each clip with a seeded synthetic room impulse response.

    Parameters
    ----------
    rt60 : float, default=0.5
        Reverberation time in seconds, in [0, 20]; 0 is the exact identity.
    sr : int
        Sample rate in Hz (required).
    drr_db : float, default=0.0
        Direct-to-reverberant energy ratio in dB (higher is drier).
    predelay_ms : float, default=10.0
        Gap between the direct sound and the reverberant tail.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    random_state : int, RandomState or None, default=None
        Seeds the tail of each clip's response.
    n_jobs : int or None, default=None

    Notes
    -----
    The output keeps the input's length (the tail past the end is cut) and its
    alignment (the direct path is at lag 0). The realised reverberation time of
    each drawn response, measured by Schroeder integration, is reported as
    ``rt60_realised``. No external impulse-response files are used.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((1, 16000)) * 0.1
    >>> _, p = Reverb(rt60=0.8, sr=16000, random_state=0).transform_with_params(X)
    >>> abs(float(p["rt60_realised"][0]) - 0.8) < 0.08
    True
    """

    _needs_sr: ClassVar[bool] = True
    _random: ClassVar[bool] = True
    _example: ClassVar[str] = "rt60=0.5"

    def __init__(self, rt60=0.5, *, sr=None, drr_db=0.0, predelay_ms=10.0, clip_policy="none", random_state=None, n_jobs=None):
        self.rt60 = rt60
        self.sr = sr
        self.drr_db = drr_db
        self.predelay_ms = predelay_ms
        self.clip_policy = clip_policy
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {
            "rt60": _check_rt60(self.rt60),
            "drr_db": check_number(self.drr_db, "drr_db", low=-60, high=60),
            "predelay_ms": check_number(self.predelay_ms, "predelay_ms", low=0, high=500),
        }

    def _is_identity(self, params):
        return params["rt60"] == 0

    def _perturb(self, x, sr, rng, params):
        h = synthetic_rir(params["rt60"], sr=sr, drr_db=params["drr_db"], predelay_ms=params["predelay_ms"], rng=rng)
        y = scipy.signal.oaconvolve(x, h.astype(x.dtype))[: len(x)]
        return y, {
            "rt60": params["rt60"],
            "rt60_realised": measure_rt60(h, sr=sr),
            "drr_db": params["drr_db"],
        }
