"""Non-linear and sampling degradations: clipping, bit crushing, downsampling."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._buffers import empty_batch_like
from .._validation import check_choice, check_number
from ..audio import fix_length
from ._base import BasePerturbation

__all__ = ["Bitcrush", "Clipping", "Downsample"]


class Clipping(BasePerturbation):
    """Hard-clip the loudest ``percent`` % of each clip's samples.

    The threshold is the ``100 - percent`` percentile of ``|x|``; samples beyond
    it are set to +-threshold.

    Parameters
    ----------
    percent : float, default=1.0
        Share of samples to clip, in [0, 100); 0 is the exact identity.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 1000)[np.newaxis]
    >>> _, p = Clipping(percent=10).transform_with_params(X)
    >>> float(p["fraction_distorted"][0])
    0.1
    """

    def __init__(self, percent=1.0, *, clip_policy="none", n_jobs=None):
        self.percent = percent
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {"percent": check_number(self.percent, "percent", low=0, high=100, high_inclusive=False)}

    def _is_identity(self, params):
        return params["percent"] == 0

    def _perturb_into(self, x, sr, rng, params, out):
        from .._kernels import abs_percentile, clip_count

        # the percentile exactly as np.percentile(np.abs(x), ...) gives it, found by a radix pass (10x faster),
        # and the clipping and the count of clipped samples in one pass
        threshold = abs_percentile(x, 100 - params["percent"])
        n_clipped = clip_count(x, threshold, out)
        return {"percent": params["percent"], "threshold": float(threshold), "fraction_distorted": n_clipped / len(x)}


class Bitcrush(BasePerturbation):
    """Quantise samples to ``bits`` bits (``2**bits`` levels over [-1, 1]).

    Parameters
    ----------
    bits : int, default=8
        Bit depth in [1, 32].
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Notes
    -----
    The realised quantisation SNR is reported as ``snr_db_realised``; for a
    full-scale signal it approaches ``6.02 * bits + 1.76`` dB.

    Examples
    --------
    >>> import numpy as np
    >>> Bitcrush(bits=2).fit_transform(np.array([[0.3, -0.8, 0.1]]))
    array([[ 0.5, -1. ,  0. ]])
    """

    def __init__(self, bits=8, *, clip_policy="none", n_jobs=None):
        self.bits = bits
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {"bits": check_number(self.bits, "bits", low=1, high=32, integer=True)}

    def _perturb(self, x, sr, rng, params):  # the per-clip (threaded) path: the same kernel, one row
        Y, infos, _ = self._perturb_fused(x[np.newaxis], sr, params)
        return Y[0], infos[0]

    _fused = True

    def _perturb_fused(self, X, sr, params):
        from .._kernels import quantise

        X = np.ascontiguousarray(X)
        Y = empty_batch_like(X)
        e_sig, e_err = np.empty(len(X)), np.empty(len(X))
        quantise(X, X.dtype.type(2.0 ** (params["bits"] - 1)), Y, e_sig, e_err)
        infos = []
        for s, e in zip(e_sig, e_err):
            snr = np.inf if e == 0 else (10 * np.log10(s / e) if s > 0 else -np.inf)
            infos.append({"bits": params["bits"], "snr_db_realised": float(snr)})
        return Y, infos, e_sig


class Downsample(BasePerturbation):
    """Resample down to ``target_sr`` and back up (soxr).

    Removes the band above ``target_sr / 2``, as a low-sample-rate recording
    chain would.

    Parameters
    ----------
    target_sr : int, default=8000
        Intermediate rate in Hz, at most ``sr``; ``target_sr == sr`` is the exact
        identity.
    sr : int
        Sample rate in Hz (required).
    quality : {"VHQ", "HQ", "MQ", "LQ", "QQ"}, default="HQ"
        soxr quality of both conversions.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((1, 22050)) * 0.1
    >>> Downsample(target_sr=8000, sr=22050).fit_transform(X).shape
    (1, 22050)
    """

    _needs_sr: ClassVar[bool] = True
    _example: ClassVar[str] = "target_sr=8000"

    def __init__(self, target_sr=8000, *, sr=None, quality="HQ", clip_policy="none", n_jobs=None):
        self.target_sr = target_sr
        self.sr = sr
        self.quality = quality
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {
            "target_sr": check_number(self.target_sr, "target_sr", low=1000, high=sr, integer=True),
            "quality": check_choice(self.quality, "quality", ("VHQ", "HQ", "MQ", "LQ", "QQ")),
        }

    def _is_identity(self, params):
        return params["target_sr"] == self.sr

    def _perturb(self, x, sr, rng, params):
        import soxr

        low = soxr.resample(x, sr, params["target_sr"], quality=params["quality"])
        y = soxr.resample(low, params["target_sr"], sr, quality=params["quality"])
        return fix_length(y, len(x)), {"target_sr": params["target_sr"]}
