"""Additive noise: coloured noise and background recordings at a target SNR."""

from __future__ import annotations

import functools
import os
from typing import Any, ClassVar

import numpy as np
import scipy.fft

from .._validation import check_audio, check_choice, check_number, check_sr
from ..audio import energy, load_audio
from ..exceptions import InvalidAudioError
from ._base import BasePerturbation

__all__ = ["AddBackgroundNoise", "AddNoise", "active_mask", "colored_noise"]

#: exponent beta of the power spectrum 1/f**beta for each colour
NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}


@functools.lru_cache(maxsize=4)
def _spectral_slope(n_bins: int, beta: float) -> np.ndarray:
    """``f ** (-beta / 2)`` over the rfft bins, DC zeroed, float32, computed once per length (read-only)."""
    f = np.arange(n_bins, dtype=np.float64)
    f[0] = 1.0
    slope = (f ** (-beta / 2.0)).astype(np.float32)
    slope[0] = 0.0
    slope.flags.writeable = False
    return slope


def colored_noise(n_samples: int, color: str = "pink", *, rng: Any = None) -> np.ndarray:
    """Gaussian noise with power spectrum proportional to ``1/f**beta``, unit RMS.

    Parameters
    ----------
    n_samples : int
    color : {"white", "pink", "brown", "blue", "violet"}, default="pink"
        beta = 0, 1, 2, -1, -2. The DC bin is zeroed.
    rng : numpy Generator, int or None

    Returns
    -------
    ndarray of shape (n_samples,), float32

    Examples
    --------
    >>> n = colored_noise(4096, "brown", rng=0)
    >>> round(float(np.sqrt(np.mean(n ** 2))), 6)
    1.0
    """
    check_choice(color, "color", NOISE_COLORS)
    n_samples = check_number(n_samples, "n_samples", low=1, integer=True)
    rng = np.random.default_rng(rng)
    white = rng.standard_normal(n_samples, dtype=np.float32)
    beta = NOISE_COLORS[color]
    if beta == 0.0 or n_samples < 2:
        noise = white
    else:
        n_fft = scipy.fft.next_fast_len(n_samples, real=True)
        spec = scipy.fft.rfft(white, n_fft)
        spec *= _spectral_slope(spec.size, beta)  # complex64 times float32: no float64 round trip
        noise = scipy.fft.irfft(spec, n_fft)[:n_samples]
        noise = noise - noise.mean()
    level = np.sqrt(energy(noise) / n_samples)
    return noise / np.float32(level) if level > 0 else noise


def _load_cached(path: str | os.PathLike[str], sr: int) -> np.ndarray:
    """Load a noise file once per (path, modification time, size, sr)."""
    stat = os.stat(path)
    return _load_keyed(os.fspath(path), stat.st_mtime_ns, stat.st_size, sr)


@functools.lru_cache(maxsize=32)
def _load_keyed(path: str, mtime_ns: int, size: int, sr: int) -> np.ndarray:
    x = load_audio(path, sr=sr)
    x.flags.writeable = False
    return x


def _check_snr(snr_db: Any) -> float:
    if isinstance(snr_db, (int, float, np.floating)) and not isinstance(snr_db, bool) and snr_db == np.inf:
        return np.inf
    return check_number(snr_db, "snr_db", low=-60, high=200)


SNR_REFERENCES = ("clip", "active")
#: active part of a clip: frames (2048 samples, hop 512) within this many dB of the loudest frame
ACTIVE_TOP_DB = 60.0


def active_mask(x: np.ndarray) -> np.ndarray:
    """Samples in the active part of a clip: frames within 60 dB of its loudest frame.

    Frames of 2048 samples with hop 512 (:func:`librosa.effects.split` with
    ``top_db=60``); digital silence and padding fall outside.

    Examples
    --------
    >>> x = np.r_[np.zeros(8192), np.sin(np.arange(8192.0)), np.zeros(8192)]
    >>> m = active_mask(x)
    >>> bool(m[10000]), bool(m[:4000].any()), bool(m[-4000:].any())
    (True, False, False)
    """
    import librosa

    mask = np.zeros(len(x), dtype=bool)
    for start, stop in librosa.effects.split(np.asarray(x), top_db=ACTIVE_TOP_DB, frame_length=2048, hop_length=512):
        mask[start:stop] = True
    return mask


def _mix_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float, reference: str = "clip") -> tuple[np.ndarray, dict[str, Any]]:
    noise = np.asarray(noise, dtype=x.dtype)
    # powers as energies over the clip's length (noise and clip have the same length)
    if reference == "active":
        active = active_mask(x)
        p_sig = energy(x[active]) * len(x) / max(int(active.sum()), 1)  # the power where there is signal
    else:
        active = None
        p_sig = energy(x)
    p_noise = energy(noise)  # the noise covers the whole clip
    scaled = noise * x.dtype.type(np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10.0))))
    realised = 10 * np.log10(p_sig / energy(scaled))
    scaled += x
    info = {"snr_db": snr_db, "snr_db_realised": float(realised), "snr_reference": reference}
    if active is not None:
        info["active_share"] = float(active.mean())
    return scaled, info


class AddNoise(BasePerturbation):
    """Add coloured Gaussian noise at a target signal-to-noise ratio.

    The noise is scaled so that ``10 log10(P_signal / P_noise) == snr_db`` (to
    floating-point precision), with ``P_noise`` the noise's mean power over the
    whole clip and ``P_signal`` the clip's mean power over the whole clip
    (``snr_reference="clip"``, the robustness study's definition) or over its
    active part only (``"active"``: frames within 60 dB of the loudest frame,
    see :func:`active_mask`). On a clip that is half pauses or padding, the
    clip-level power averages the pauses in, so the noise ends up
    ``10 log10(1 / active share)`` dB further below the sound than the
    requested SNR says; the active SNR sets it against the sound that is
    there. Either way, noise added to digital silence is audible in it: crop
    padding before measuring robustness.

    Parameters
    ----------
    snr_db : float, default=30.0
        Target SNR in dB, in [-60, 200]; ``np.inf`` is the exact identity.
    color : {"white", "pink", "brown", "blue", "violet"}, default="pink"
        Spectral slope of the noise power: 0, -1, -2, +1, +2 (x 10 dB/decade).
    snr_reference : {"clip", "active"}, default="clip"
        Where the signal's power is measured.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
        What to do with samples above full scale (1.0) after the mix: leave
        them, hard-clip them (and count them), scale the clip down to peak 1, or
        raise an error.
    random_state : int, RandomState or None, default=None
        Seeds the noise; each clip's noise depends only on this and its samples.
    n_jobs : int or None, default=None
        Clips processed in parallel through joblib.

    Notes
    -----
    Silent clips are rejected: the SNR of silence is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit.perturbations import AddNoise
    >>> X = np.sin(np.linspace(0, 2000, 22050))[np.newaxis]
    >>> Xt, params = AddNoise(snr_db=20, random_state=0).transform_with_params(X)
    >>> round(float(params["snr_db_realised"][0]), 6)
    20.0
    """

    _random: ClassVar[bool] = True
    _reject_silent: ClassVar[bool] = True

    def __init__(self, snr_db=30.0, color="pink", *, snr_reference="clip", clip_policy="none", random_state=None, n_jobs=None):
        self.snr_db = snr_db
        self.color = color
        self.snr_reference = snr_reference
        self.clip_policy = clip_policy
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        return {"snr_db": _check_snr(self.snr_db), "color": check_choice(self.color, "color", NOISE_COLORS),
                "reference": check_choice(self.snr_reference, "snr_reference", SNR_REFERENCES)}

    def _is_identity(self, params):
        return params["snr_db"] == np.inf

    def _perturb(self, x, sr, rng, params):
        noise = colored_noise(len(x), params["color"], rng=rng)
        y, info = _mix_at_snr(x, noise, params["snr_db"], params["reference"])
        info["color"] = params["color"]
        return y, info


class AddBackgroundNoise(BasePerturbation):
    """Mix a background recording into each clip at a target SNR.

    A random excerpt of the noise (looped when shorter than the clip) is scaled
    so that the RMS signal-to-noise ratio equals ``snr_db``: the
    "environmental noise" of the robustness study.

    Parameters
    ----------
    noise : array-like or path or list of paths
        One recording ``(n_samples,)``, several ``(n_recordings, n_samples)``,
        or audio file(s); with several, each clip draws one at random. Arrays
        are taken to be at the clips' rate; files are resampled to ``sr``.
    snr_db : float, default=10.0
        Target SNR in dB, in [-60, 200]; ``np.inf`` is the exact identity.
    snr_reference : {"clip", "active"}, default="clip"
        Signal power over the whole clip or over its active part (as in
        :class:`AddNoise`).
    sr : int or None, default=None
        Sample rate in Hz; needed when ``noise`` names files.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    random_state : int, RandomState or None, default=None
        Seeds the choice of recording and excerpt.
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2, 8000)) * 0.1
    >>> hum = np.sin(2 * np.pi * 50 * np.arange(3000) / 8000)
    >>> _, p = AddBackgroundNoise(hum, snr_db=6, random_state=0).transform_with_params(X)
    >>> np.round(p["snr_db_realised"].to_numpy(), 6).tolist()
    [6.0, 6.0]
    """

    _random: ClassVar[bool] = True
    _reject_silent: ClassVar[bool] = True

    def __init__(self, noise=None, snr_db=10.0, *, snr_reference="clip", sr=None, clip_policy="none", random_state=None,
                 n_jobs=None):
        self.noise = noise
        self.snr_db = snr_db
        self.snr_reference = snr_reference
        self.sr = sr
        self.clip_policy = clip_policy
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _noise_bank(self, sr: int | None) -> list[np.ndarray]:
        noise = self.noise
        if noise is None:
            raise ValueError(
                "AddBackgroundNoise needs a noise recording: pass noise=<array or "
                "path>, e.g. AddBackgroundNoise(noise='rain.wav', snr_db=10, sr=22050)."
            )
        paths = [noise] if isinstance(noise, (str, os.PathLike)) else None
        if paths is None and isinstance(noise, (list, tuple)) and noise and all(
            isinstance(p, (str, os.PathLike)) for p in noise
        ):
            paths = list(noise)
        if paths is not None:
            sr = check_sr(sr, "AddBackgroundNoise", example="noise='rain.wav', snr_db=10")
            bank = [_load_cached(p, sr) for p in paths]
        else:
            arr = np.asarray(noise)
            arr = arr[np.newaxis] if arr.ndim == 1 else arr
            bank = list(check_audio(arr, name="noise"))
        for k, rec in enumerate(bank):
            if not np.any(rec):
                raise InvalidAudioError(
                    f"noise recording {k} is silent; a silent background cannot be mixed "
                    "at an SNR. Pass a recording with sound in it."
                )
        return bank

    def _check_params(self, sr):
        return {"snr_db": _check_snr(self.snr_db), "bank": self._noise_bank(sr),
                "reference": check_choice(self.snr_reference, "snr_reference", SNR_REFERENCES)}

    def _is_identity(self, params):
        return params["snr_db"] == np.inf

    def _perturb_into(self, x, sr, rng, params, out):
        from .._kernels import looped_energy, mix_looped

        bank = params["bank"]
        k = int(rng.integers(len(bank)))
        rec = bank[k]
        n = len(x)
        start = int(rng.integers(len(rec) - n + 1)) if len(rec) >= n else int(rng.integers(len(rec)))
        info = {"recording": k, "offset": start, "looped": len(rec) < n}
        if params["reference"] == "active":  # rare: mix a materialised excerpt through the general path
            seg = np.resize(np.roll(rec, -start), n) if len(rec) < n else rec[start : start + n]
            self._check_excerpt(energy(seg), k)
            out[:], mixed = _mix_at_snr(x, seg, params["snr_db"], "active")
            return {**mixed, **info}
        # the excerpt is never copied: its energy, then the mix and the added noise's energy, in two compiled passes
        p_noise = looped_energy(rec, start, n)
        self._check_excerpt(p_noise, k)
        p_sig = energy(x)
        g = np.sqrt(p_sig / (p_noise * 10 ** (params["snr_db"] / 10.0)))
        added = mix_looped(x, rec, start, g, out)
        return {"snr_db": params["snr_db"], "snr_db_realised": float(10 * np.log10(p_sig / added)),
                   "snr_reference": "clip", **info}

    @staticmethod
    def _check_excerpt(noise_energy: float, k: int) -> None:
        if not noise_energy > 0:
            raise InvalidAudioError(
                f"the excerpt of noise recording {k} drawn for a clip is silent, so no "
                "SNR can be set. Trim the silence from the noise recording."
            )
