"""Level and linear filters: gain, low-pass, high-pass, band-pass."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.signal

from .._buffers import empty_batch_like
from .._validation import check_number
from ._base import BasePerturbation

__all__ = ["BandPass", "Gain", "HighPass", "LowPass"]


class Gain(BasePerturbation):
    """Multiply each clip by ``10 ** (gain_db / 20)``.

    Parameters
    ----------
    gain_db : float, default=0.0
        Gain in dB, in [-120, 60]; 0 is the exact identity.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> Gain(gain_db=-6.0206).fit_transform(np.array([[1.0, -0.5]])).round(3)
    array([[ 0.5 , -0.25]])
    """

    def __init__(self, gain_db=0.0, *, clip_policy="none", n_jobs=None):
        self.gain_db = gain_db
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {"gain_db": check_number(self.gain_db, "gain_db", low=-120, high=60)}

    def _is_identity(self, params):
        return params["gain_db"] == 0

    def _perturb(self, x, sr, rng, params):
        return x * 10 ** (params["gain_db"] / 20), {"gain_db": params["gain_db"]}

    _fused = True

    def _perturb_fused(self, X, sr, params):
        from .._kernels import scale

        X = np.ascontiguousarray(X)
        Y = empty_batch_like(X)
        energy = np.empty(len(X), dtype=X.dtype)
        scale(X, X.dtype.type(10 ** (params["gain_db"] / 20)), Y, energy)
        return Y, [{"gain_db": params["gain_db"]} for _ in X], energy


class _Butterworth(BasePerturbation):
    """Butterworth filter applied as second-order sections."""

    _needs_sr: ClassVar[bool] = True
    _btype: ClassVar[str] = ""

    def _edges(self, sr: int) -> list[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_edge(self, value, name: str, sr: int) -> float:
        nyquist = sr / 2
        return check_number(value, name, low=0, high=nyquist, low_inclusive=False, high_inclusive=False)

    def _check_params(self, sr):
        edges = self._edges(sr)
        order = check_number(self.order, "order", low=1, high=16, integer=True)
        sos = scipy.signal.butter(order, edges if len(edges) > 1 else edges[0], btype=self._btype, fs=sr, output="sos")
        return {"sos": sos, "edges": edges, "order": order}

    def _min_samples(self, sr):
        return 1

    def _filter(self, X: np.ndarray, params) -> np.ndarray:
        sos = params["sos"]
        if self.zero_phase:
            # zero phase: no delay, magnitude response squared (order doubles). scipy's sosfiltfilt (its
            # padding, its steady-state start) in one compiled pass per row; equal to it within 1e-10
            from .._kernels import sos_filtfilt

            X2 = np.atleast_2d(X)
            Y = empty_batch_like(X2)
            sos_filtfilt(sos, scipy.signal.sosfilt_zi(sos), X2, min(X2.shape[-1] - 1, 3 * (2 * len(sos) + 1)), Y)
            return Y.reshape(X.shape)
        return scipy.signal.sosfilt(sos, X, axis=-1)

    def _info(self, params):
        info = {f"edge_{k}_hz": e for k, e in enumerate(params["edges"])}
        info["order"] = params["order"]
        return info

    def _perturb(self, x, sr, rng, params):
        return self._filter(x, params), self._info(params)

    def _perturb_batch(self, X, sr, params):
        return self._filter(X, params), [self._info(params) for _ in X]


class LowPass(_Butterworth):
    """Butterworth low-pass filter.

    Parameters
    ----------
    cutoff_hz : float, default=4000.0
        -3 dB cutoff in Hz (-6 dB with ``zero_phase``), below Nyquist.
    sr : int
        Sample rate in Hz (required).
    order : int, default=4
        Filter order (slope 6 x order dB/octave; doubled by ``zero_phase``).
    zero_phase : bool, default=True
        Filter forwards and backwards (``sosfiltfilt``): no delay, so the output
        stays aligned with the input.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> sr = 8000
    >>> t = np.arange(sr) / sr
    >>> X = (np.sin(2 * np.pi * 100 * t) + np.sin(2 * np.pi * 3000 * t))[np.newaxis]
    >>> y = LowPass(cutoff_hz=500, sr=sr).fit_transform(X)[0]
    >>> spectrum = np.abs(np.fft.rfft(y)) / (sr / 2)
    >>> round(float(spectrum[100]), 2), float(20 * np.log10(spectrum[3000])) < -60
    (1.0, True)
    """

    _btype: ClassVar[str] = "lowpass"
    _example: ClassVar[str] = "cutoff_hz=4000"

    def __init__(self, cutoff_hz=4000.0, *, sr=None, order=4, zero_phase=True, clip_policy="none", n_jobs=None):
        self.cutoff_hz = cutoff_hz
        self.sr = sr
        self.order = order
        self.zero_phase = zero_phase
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _edges(self, sr):
        return [self._check_edge(self.cutoff_hz, "cutoff_hz", sr)]


class HighPass(_Butterworth):
    """Butterworth high-pass filter.

    Parameters
    ----------
    cutoff_hz : float, default=200.0
        -3 dB cutoff in Hz (-6 dB with ``zero_phase``), below Nyquist.
    sr : int
        Sample rate in Hz (required).
    order : int, default=4
    zero_phase : bool, default=True
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((1, 4000))  # DC
    >>> float(np.abs(HighPass(cutoff_hz=100, sr=8000).fit_transform(X)[0, 1000:3000]).max()) < 1e-3
    True
    """

    _btype: ClassVar[str] = "highpass"
    _example: ClassVar[str] = "cutoff_hz=200"

    def __init__(self, cutoff_hz=200.0, *, sr=None, order=4, zero_phase=True, clip_policy="none", n_jobs=None):
        self.cutoff_hz = cutoff_hz
        self.sr = sr
        self.order = order
        self.zero_phase = zero_phase
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _edges(self, sr):
        return [self._check_edge(self.cutoff_hz, "cutoff_hz", sr)]


class BandPass(_Butterworth):
    """Butterworth band-pass filter between ``low_hz`` and ``high_hz``.

    Parameters
    ----------
    low_hz, high_hz : float, default=(300.0, 3400.0)
        Band edges in Hz, ``0 < low_hz < high_hz < sr / 2`` (defaults: the
        telephone band).
    sr : int
        Sample rate in Hz (required).
    order : int, default=4
        Order of each edge.
    zero_phase : bool, default=True
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((1, 8000))
    >>> BandPass(low_hz=300, high_hz=3400, sr=8000).fit_transform(X).shape
    (1, 8000)
    """

    _btype: ClassVar[str] = "bandpass"
    _example: ClassVar[str] = "low_hz=300, high_hz=3400"

    def __init__(self, low_hz=300.0, high_hz=3400.0, *, sr=None, order=4, zero_phase=True, clip_policy="none", n_jobs=None):
        self.low_hz = low_hz
        self.high_hz = high_hz
        self.sr = sr
        self.order = order
        self.zero_phase = zero_phase
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _edges(self, sr):
        low = self._check_edge(self.low_hz, "low_hz", sr)
        high = self._check_edge(self.high_hz, "high_hz", sr)
        if low >= high:
            raise ValueError(f"low_hz must be below high_hz; got low_hz={low:g}, high_hz={high:g}.")
        return [low, high]
