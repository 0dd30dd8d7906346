"""The robustness study's traditional baseline: MFCC statistics."""

from __future__ import annotations

import numpy as np

from .._validation import check_number
from ._base import BaseEncoder

__all__ = ["MFCCEncoder", "RandomProjectionEncoder"]


class MFCCEncoder(BaseEncoder):
    """MFCC statistics: the baseline of Kim et al. (2019).

    ``n_mfcc`` coefficients c1..c{n_mfcc} (c0, the level, dropped) of a
    ``n_mels``-band log-mel spectrogram, with first and second differences; the
    mean and standard deviation of each over time: ``n_mfcc * 3 * 2`` values
    (144 with the defaults).

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the audio in Hz.
    n_mfcc : int, default=24
    n_mels : int, default=128
    n_fft : int, default=2048
    hop_length : int, default=512
    fmin : float, default=0.0
    fmax : float or None, default=None
        ``sr / 2`` when None.
    deltas : bool, default=True
        Append first and second differences (librosa, width 9).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((2, 22050)).astype(np.float32) * 0.1
    >>> MFCCEncoder(sr=22050).fit_transform(X).shape
    (2, 144)
    """

    def __init__(self, sr=22050, *, n_mfcc=24, n_mels=128, n_fft=2048, hop_length=512, fmin=0.0, fmax=None, deltas=True):
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.deltas = deltas

    def _min_samples(self, sr):
        hop = check_number(self.hop_length, "hop_length", low=1, integer=True)
        return hop * 8 + 1 if self.deltas else 1  # deltas need 9 frames

    def _embed(self, x, sr):
        import librosa

        n_mfcc = check_number(self.n_mfcc, "n_mfcc", low=1, high=self.n_mels - 1, integer=True)
        mel = librosa.feature.melspectrogram(
            y=np.asarray(x, dtype=np.float32), sr=sr, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
        )
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc + 1)[1:]
        feats = [mfcc]
        if self.deltas:
            feats += [librosa.feature.delta(mfcc, order=1), librosa.feature.delta(mfcc, order=2)]
        F = np.vstack(feats)
        return np.concatenate([F.mean(axis=1), F.std(axis=1)])


class RandomProjectionEncoder(BaseEncoder):
    """A learning-free baseline: log-mel frames through a fixed random projection.

    Each frame of a ``n_mels``-band log-mel spectrogram is multiplied by a
    Gaussian random matrix ``(n_mels, n_components)`` drawn from
    ``random_state`` (scaled by ``1 / sqrt(n_mels)``); the projected frames are
    pooled (mean and standard deviation). What a representation learns has to
    beat this.

    Parameters
    ----------
    sr : int, default=22050
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

    def __init__(self, sr=22050, *, n_components=128, n_mels=128, n_fft=2048, hop_length=512, random_state=0):
        self.sr = sr
        self.n_components = n_components
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.random_state = random_state

    def _embed(self, x, sr):
        import librosa

        k = check_number(self.n_components, "n_components", low=1, integer=True)
        seed = check_number(self.random_state, "random_state", low=0, integer=True)
        W = np.random.default_rng(seed).standard_normal((self.n_mels, k)) / np.sqrt(self.n_mels)
        mel = librosa.feature.melspectrogram(
            y=np.asarray(x, dtype=np.float32), sr=sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels
        )
        P = librosa.power_to_db(mel).T @ W
        return np.concatenate([P.mean(axis=0), P.std(axis=0)])
