"""Learning-free baselines: MFCC statistics (trustkit's and the robustness study's) and a random projection."""

from __future__ import annotations

import functools

import numpy as np

from .._validation import check_choice, check_number
from ._base import BaseEncoder

__all__ = ["MFCCEncoder", "RandomProjectionEncoder", "savgol_delta"]


@functools.lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    basis.flags.writeable = False
    return basis


def check_mel_params(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, owner: str) -> None:
    """The filterbank's parameters agree with each other and the rate: ``0 <= fmin < fmax <= sr / 2``, bands <= bins.

    Otherwise every mel band is empty (e.g. ``fmin=5000, fmax=1000``) and every
    clip gets the same all-zero embedding: an encoder that cannot tell clips
    apart would read as perfectly robust.

    Examples
    --------
    >>> try:
    ...     check_mel_params(22050, 2048, 128, 5000.0, 1000.0, "MFCCEncoder")
    ... except ValueError as exc:
    ...     print(str(exc)[:65])
    MFCCEncoder needs 0 <= fmin < fmax <= sr / 2 (11025 Hz); got fmin
    """
    top = sr / 2
    high = top if fmax is None else float(fmax)
    if not (0 <= float(fmin) < high <= top):
        raise ValueError(f"{owner} needs 0 <= fmin < fmax <= sr / 2 ({top:g} Hz); got fmin={fmin:g}, "
                         f"fmax={'None' if fmax is None else f'{float(fmax):g}'}. With no band between them every clip "
                         "gets the same embedding; widen the band or leave fmax=None.")
    if n_mels > n_fft // 2 + 1:
        raise ValueError(f"{owner} has n_mels={n_mels} bands for {n_fft // 2 + 1} FFT bins (n_fft={n_fft}): some bands "
                         f"would be empty. Use n_mels <= {n_fft // 2 + 1} or a larger n_fft.")


def mel_power(x: np.ndarray, *, sr: int, n_fft: int, hop_length: int, n_mels: int, fmin: float = 0.0,
              fmax: float | None = None, pad_mode: str = "constant") -> np.ndarray:
    """Mel power spectrogram, bit-identical to :func:`librosa.feature.melspectrogram`.

    The same STFT and product as librosa, with the filterbank built once per
    (sr, n_fft, n_mels, fmin, fmax) instead of once per clip. ``pad_mode`` is
    the STFT's edge padding (librosa's default, ``"constant"``; librosa before
    0.10 padded with ``"reflect"``).

    Examples
    --------
    >>> import librosa
    >>> x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    >>> ref = librosa.feature.melspectrogram(y=x, sr=8000, n_fft=512, hop_length=128, n_mels=40)
    >>> bool(np.array_equal(mel_power(x, sr=8000, n_fft=512, hop_length=128, n_mels=40), ref))
    True
    """
    import librosa

    S = np.abs(librosa.stft(np.asarray(x, dtype=np.float32), n_fft=n_fft, hop_length=hop_length, pad_mode=pad_mode)) ** 2.0
    basis = _mel_basis(int(sr), int(n_fft), int(n_mels), float(fmin), None if fmax is None else float(fmax))
    return np.einsum("...ft,mf->...mt", S, basis, optimize=True)


@functools.lru_cache(maxsize=8)
def _delta_weights(order: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`librosa.feature.delta` as the linear map it is, read off librosa itself.

    The responses to unit impulses on ``2 * width - 1`` frames give the
    weights of the first ``width // 2`` outputs (a polynomial fitted to the
    first ``width`` frames), of every interior output (the Savitzky-Golay
    kernel) and of the last ``width // 2``: ``(left, kernel, right)``.
    """
    import librosa

    n, h = 2 * width - 1, width // 2
    M = librosa.feature.delta(np.eye(n), width=width, order=order, axis=-1)  # row i: the response to an impulse at i
    parts = (M[:width, :h].copy(), M[width - 1 - h : width + h, width - 1].copy(), M[n - width :, n - h :].copy())
    for part in parts:
        part.flags.writeable = False
    return parts


def savgol_delta(data: np.ndarray, *, order: int = 1, width: int = 9) -> np.ndarray:
    """:func:`librosa.feature.delta` along the last axis (``mode="interp"``), without its per-call polynomial fits.

    librosa fits the edge polynomials again for every call (two thirds of an
    MFCC encoder's time on a 3-s clip); the filter is linear, so its weights
    are read off librosa once per ``(order, width)`` and applied here, in
    float64. The values agree with librosa's to 1e-15 relative for float64
    input; for float32 input, to 2e-6 at the edges, where scipy fits in the
    input's precision, and 1 float32 step inside (measured on 9 to 1,300 frames).

    Parameters
    ----------
    data : ndarray of shape (n_features, n_frames)
        At least ``width`` frames.
    order : int, default=1
    width : int, default=9
        Odd, at least 3.

    Returns
    -------
    ndarray of the shape and dtype of ``data``

    Examples
    --------
    >>> import librosa
    >>> m = np.random.default_rng(0).standard_normal((3, 40))
    >>> bool(np.allclose(savgol_delta(m, order=2), librosa.feature.delta(m, order=2), rtol=1e-12, atol=1e-12))
    True
    """
    left, kernel, right = _delta_weights(int(order), int(width))
    n_frames, h = data.shape[-1], width // 2
    if n_frames < width:
        raise ValueError(f"savgol_delta needs at least width={width} frames; got {n_frames}.")
    out = np.empty_like(data)
    inner = n_frames - 2 * h
    acc = kernel[0] * data[..., :inner]
    for k in range(1, width):
        acc += kernel[k] * data[..., k : k + inner]
    out[..., h : n_frames - h] = acc
    out[..., :h] = data[..., :width] @ left
    out[..., n_frames - h :] = data[..., n_frames - width :] @ right
    return out


#: the two MFCC definitions the robustness study's code records (see MFCCEncoder.study)
STUDY_VARIANTS = ("ext_latent", "autotagger")


class MFCCEncoder(BaseEncoder):
    """MFCC statistics: a traditional baseline for deep embeddings.

    MFCCs of a ``n_mels``-band log-mel spectrogram, with first and second
    differences; the mean and standard deviation of each over time, in the
    order ``[mean c, mean dc, mean ddc, std c, std dc, std ddc]``.

    Two definitions are at hand:

    - the default, trustkit's: c1..c24 (c0, the level, dropped), deltas by
      librosa's Savitzky-Golay filter (width 9): 144 values;
    - :meth:`MFCCEncoder.study`, the baseline of the robustness study (Kim et
      al., 2019) as the authors' code computes it, in its two recorded forms
      (see :meth:`study`): ``"ext_latent"`` (240 values) and ``"autotagger"``
      (144 values).

    Parameters
    ----------
    sr : int or None, default=None
        Sample rate of the audio in Hz. Leave it None inside a meter: the
        meter tells the encoder the audio's rate (an encoder whose own ``sr``
        disagrees with the audio's is an error, never a silent mismatch).
        Set it to use the encoder on its own.
    n_mfcc : int, default=24
        Number of coefficients kept.
    n_mels : int, default=128
    n_fft : int, default=2048
    hop_length : int, default=512
    fmin : float, default=0.0
    fmax : float or None, default=None
        ``sr / 2`` when None.
    deltas : bool, default=True
        Append first and second differences.
    include_c0 : bool, default=False
        Keep c0 (the frame's level) among the ``n_mfcc`` coefficients.
    delta_method : {"savgol", "difference"}, default="savgol"
        ``"savgol"``: :func:`librosa.feature.delta` (width 9);
        ``"difference"``: successive frame differences, as in the study.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((2, 22050)).astype(np.float32) * 0.1
    >>> MFCCEncoder(sr=22050).fit_transform(X).shape
    (2, 144)
    >>> MFCCEncoder.study(sr=22050).fit_transform(X).shape
    (2, 240)
    """

    def __init__(self, sr=None, *, n_mfcc=24, n_mels=128, n_fft=2048, hop_length=512, fmin=0.0, fmax=None, deltas=True,
                 include_c0=False, delta_method="savgol"):
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.deltas = deltas
        self.include_c0 = include_c0
        self.delta_method = delta_method

    @classmethod
    def study(cls, sr: int | None = None, variant: str = "ext_latent") -> MFCCEncoder:
        """The robustness study's MFCC baseline, in either of the two forms its code records.

        The study's repository (``eldrin/are-nearby-neighbors-relatives``)
        holds two definitions, and its paper does not say which produced its
        figures:

        - ``"ext_latent"`` (default): ``scripts/ext_latent.py`` (at every
          commit from 9986e36, 2019-02-24, "update n_mfccs to 40", to the
          last, d528b69) and ``scripts/ext_latent_batch.py`` from 9986e36 up
          to, not including, 8438fab (2019-03-03): ``librosa.feature.mfcc(y,
          n_mfcc=40, sr=sr)`` (c0 kept, librosa's defaults: n_fft 2048, hop
          512, 128 mels), deltas as plain frame differences (``m[1:] -
          m[:-1]``, then again), mean and std of each: **240 values**;
        - ``"autotagger"``: ``scripts/ext_latent_batch.py`` from 8438fab on,
          which calls ``MFCCAutoTagger`` of ``eldrin/music-nn-models``
          (``musicnn/models/autotagging.py`` and ``layers.py`` at be18946,
          2019-03-03): ``n_mfccs=25`` with ``include_coeff0=False``, i.e.
          c1..c24, n_fft 1024, hop 256, 128 mels, dB with an 80 dB floor,
          frame-difference deltas: **144 values** (its dB floor is taken
          over the whole batch there; here over each clip, so that a clip's
          embedding never depends on the others).

        Parameters
        ----------
        sr : int or None, default=None
        variant : {"ext_latent", "autotagger"}, default="ext_latent"

        Returns
        -------
        MFCCEncoder

        Examples
        --------
        >>> MFCCEncoder.study(sr=16000).get_params()["n_mfcc"]
        40
        >>> MFCCEncoder.study(sr=16000, variant="autotagger").get_params()["hop_length"]
        256
        """
        check_choice(variant, "variant", STUDY_VARIANTS)
        if variant == "autotagger":
            return cls(sr, n_mfcc=24, n_fft=1024, hop_length=256, include_c0=False, delta_method="difference")
        return cls(sr, n_mfcc=40, include_c0=True, delta_method="difference")

    @property
    def display_name(self) -> str:
        """``"MFCCEncoder.study()"`` (or its variant) for a study definition, ``"MFCCEncoder"`` otherwise."""
        for variant in STUDY_VARIANTS:
            if self.get_params() == type(self).study(self.sr, variant).get_params():
                return "MFCCEncoder.study()" if variant == "ext_latent" else f"MFCCEncoder.study(variant={variant!r})"
        return type(self).__name__

    def _min_samples(self, sr):
        hop = check_number(self.hop_length, "hop_length", low=1, integer=True)
        n_fft = check_number(self.n_fft, "n_fft", low=1, integer=True)  # one full analysis window
        if not self.deltas:
            return n_fft
        return max(n_fft, hop * 8 + 1 if self.delta_method == "savgol" else hop * 2 + 1)  # 9 frames, or 3 for differences

    def _embed(self, x, sr):
        import librosa

        check_choice(self.delta_method, "delta_method", ("savgol", "difference"))
        c0 = 0 if self.include_c0 else 1
        n_mfcc = check_number(self.n_mfcc, "n_mfcc", low=1, high=self.n_mels - c0, integer=True)
        check_mel_params(sr, self.n_fft, self.n_mels, self.fmin, self.fmax, type(self).__name__)
        mel = mel_power(x, sr=sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
                        fmin=self.fmin, fmax=self.fmax)
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc + c0)[c0:]
        feats = [mfcc]
        if self.deltas:
            if self.delta_method == "savgol":
                feats += [savgol_delta(mfcc, order=1), savgol_delta(mfcc, order=2)]
            else:
                d1 = np.diff(mfcc, axis=1)
                feats += [d1, np.diff(d1, axis=1)]
        return np.concatenate([f.mean(axis=1) for f in feats] + [f.std(axis=1) for f in feats])


class RandomProjectionEncoder(BaseEncoder):
    """A learning-free baseline: log-mel frames through a fixed random projection.

    Each frame of a ``n_mels``-band log-mel spectrogram is multiplied by a
    Gaussian random matrix ``(n_mels, n_components)`` drawn from
    ``random_state`` (scaled by ``1 / sqrt(n_mels)``); the projected frames are
    pooled (mean and standard deviation). What a representation learns has to
    beat this.

    Parameters
    ----------
    sr : int or None, default=None
        Sample rate of the audio in Hz (None: given by the meter).
    n_components : int, default=128
    n_mels : int, default=128
    n_fft : int, default=2048
    hop_length : int, default=512
    random_state : int, default=0
        Seed of the projection (an int, so that the encoder is a fixed function).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)
    >>> RandomProjectionEncoder(sr=8000, n_components=16).fit_transform(X).shape
    (2, 32)
    """

    def __init__(self, sr=None, *, n_components=128, n_mels=128, n_fft=2048, hop_length=512, random_state=0):
        self.sr = sr
        self.n_components = n_components
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.random_state = random_state

    def _min_samples(self, sr):
        return check_number(self.n_fft, "n_fft", low=1, integer=True)  # one full analysis window

    def _embed(self, x, sr):
        import librosa

        k = check_number(self.n_components, "n_components", low=1, integer=True)
        seed = check_number(self.random_state, "random_state", low=0, integer=True)
        W = np.random.default_rng(seed).standard_normal((self.n_mels, k)) / np.sqrt(self.n_mels)
        check_mel_params(sr, self.n_fft, self.n_mels, 0.0, None, type(self).__name__)
        mel = mel_power(x, sr=sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels)
        P = librosa.power_to_db(mel).T @ W
        return np.concatenate([P.mean(axis=0), P.std(axis=0)])
