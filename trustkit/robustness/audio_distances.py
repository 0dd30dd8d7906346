"""Audio-space distances of the robustness study: DTW, SiMPle and MC-KL on MFCC frames.

Kim, Urbano, Liem & Hanjalic (2019) measured between-space consistency against
three distances between clips in audio space, all computed on frames of 25
MFCCs (librosa's defaults otherwise: 2048-point FFT, hop 512, 128 mel bands,
c0 included), in the authors' ``eldrin/audio-distances`` code:

- ``"dtw"``: the total cost of the optimal dynamic-time-warping alignment of
  the two frame sequences, Euclidean frame distance, not normalised by the
  path length. The authors used ``fastdtw`` (an approximation with radius 1);
  trustkit computes the exact DTW with :func:`librosa.sequence.dtw`, which is
  never larger than fastdtw's cost.
- ``"simple"``: SiMPle (Silva et al., 2016): the matrix profile of the
  perturbed clip against the original, i.e. for every subsequence of 50
  frames the squared Euclidean distance to its nearest subsequence of the
  other clip, and the median of that profile. Asymmetric, as in the study;
  for clips shorter than 50 frames the subsequence is the whole shorter clip.
- ``"mckl"``: a 5-component Gaussian mixture fitted to each clip's frames;
  the symmetrised Kullback-Leibler divergence estimated with 256 Monte-Carlo
  samples from each mixture. Mixtures and samples are seeded, so the
  distance is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import check_choice

__all__ = ["AUDIO_DISTANCES", "AudioDistance", "dtw_distance", "mckl_distance", "simple_distance"]

AUDIO_DISTANCES = ("dtw", "simple", "mckl")
STUDY_N_MFCC = 25
SIMPLE_SUBSEQUENCE = 50
MCKL_COMPONENTS = 5
MCKL_SAMPLES = 256


def _frames(x: np.ndarray, sr: int, n_mfcc: int) -> np.ndarray:
    """MFCC frames ``(n_frames, n_mfcc)`` with librosa's defaults."""
    import librosa

    return librosa.feature.mfcc(y=np.asarray(x, dtype=np.float32), sr=sr, n_mfcc=n_mfcc).T.astype(np.float64)


def dtw_distance(F: np.ndarray, G: np.ndarray) -> float:
    """Exact DTW cost between frame sequences ``(n_a, d)`` and ``(n_b, d)`` (Euclidean frames).

    Examples
    --------
    >>> F = np.array([[0.0], [1.0], [2.0]])
    >>> dtw_distance(F, np.array([[0.0], [1.0], [1.0], [2.0]]))  # a repeated frame costs nothing
    0.0
    >>> dtw_distance(F, F + 1.0)
    2.0
    """
    import librosa

    D, _ = librosa.sequence.dtw(X=np.asarray(F).T, Y=np.asarray(G).T, metric="euclidean")
    return float(D[-1, -1])


def simple_distance(F: np.ndarray, G: np.ndarray, *, subsequence: int = SIMPLE_SUBSEQUENCE) -> float:
    """SiMPle join distance: median over subsequences of ``F`` of the squared distance to the nearest of ``G``.

    Parameters
    ----------
    F, G : ndarray of shape (n_a, d) and (n_b, d)
        Frame sequences (time first).
    subsequence : int, default=50
        Subsequence length in frames (capped at the shorter sequence).

    Examples
    --------
    >>> F = np.arange(6.0)[:, None]
    >>> simple_distance(F, F, subsequence=2)  # every subsequence finds itself
    0.0
    >>> simple_distance(F, F[::-1], subsequence=1)  # single frames: all are present in the reversal
    0.0
    """
    F = np.asarray(F, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    m = int(min(subsequence, len(F), len(G)))
    # C[i, j] = sum_t <F[i + t], G[j + t]>: sums of the cross Gram matrix along diagonals
    P = np.zeros((len(F) + 1, len(G) + 1))
    P[1:, 1:] = F @ G.T
    for r in range(1, len(F) + 1):
        P[r, 1:] += P[r - 1, :-1]
    C = P[m:, m:] - P[: len(F) - m + 1, : len(G) - m + 1]
    cf = np.r_[0.0, np.cumsum((F**2).sum(axis=1))]
    cg = np.r_[0.0, np.cumsum((G**2).sum(axis=1))]
    sf, sg = cf[m:] - cf[:-m], cg[m:] - cg[:-m]
    dist = np.maximum(sf[:, None] + sg[None, :] - 2.0 * C, 0.0)
    return float(np.median(dist.min(axis=1)))


def _gmm(frames: np.ndarray, seed: int) -> Any:
    from sklearn.mixture import GaussianMixture

    k = min(MCKL_COMPONENTS, len(frames))
    return GaussianMixture(k, random_state=seed).fit(frames)


def mckl_distance(model_a: Any, model_b: Any) -> float:
    """Symmetrised Monte-Carlo KL divergence between two fitted Gaussian mixtures.

    ``E_a[log p_a - log p_b] + E_b[log p_b - log p_a]`` with 256 samples from
    each mixture (drawn with the mixture's own ``random_state``).

    Examples
    --------
    >>> from sklearn.mixture import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> a = GaussianMixture(1, random_state=0).fit(rng.standard_normal((200, 2)))
    >>> b = GaussianMixture(1, random_state=0).fit(rng.standard_normal((200, 2)) + 3.0)
    >>> mckl_distance(a, a), mckl_distance(a, b) > 5
    (0.0, True)
    """
    xa = model_a.sample(MCKL_SAMPLES)[0]
    xb = model_b.sample(MCKL_SAMPLES)[0]
    return float(model_a.score(xa) - model_b.score(xa) + model_b.score(xb) - model_a.score(xb))


class AudioDistance:
    """Distances between perturbed clips and their originals in audio space.

    The originals' features (and mixtures) are computed once by
    :meth:`prepare`; :meth:`__call__` gives the ``(n_perturbed, n_originals)``
    matrix for one setting.

    Parameters
    ----------
    kind : {"dtw", "simple", "mckl"} or callable
        A callable ``f(A, B) -> (n_a, n_b)`` receives the audio itself.
    sr : int
    seed : int
        Seeds the mixtures of ``"mckl"`` (one seed per clip position).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2, 8000)).astype(np.float32) * 0.1
    >>> dist = AudioDistance("dtw", sr=8000, seed=0).prepare(X)
    >>> D = dist(X)
    >>> D.shape, float(D[0, 0]), bool(D[0, 1] > 0)
    ((2, 2), 0.0, True)
    """

    def __init__(self, kind: str | Callable[..., Any], *, sr: int, seed: int) -> None:
        if not callable(kind):
            check_choice(kind, "audio_distance", AUDIO_DISTANCES)
        self.kind = kind
        self.sr = sr
        self.seed = seed

    def _features(self, X: np.ndarray, seeds: list[int]) -> list[Any]:
        frames = [_frames(x, self.sr, STUDY_N_MFCC) for x in X]
        if self.kind == "mckl":
            return [_gmm(f, s) for f, s in zip(frames, seeds)]
        return frames

    def _seeds(self, n: int) -> list[int]:
        # one seed per clip position, shared by the original and its perturbed copies: a copy that
        # equals its original gets the same mixture, hence distance 0
        return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(self.seed).spawn(n)]

    def prepare(self, X: np.ndarray) -> AudioDistance:
        """Compute the originals' features once; returns ``self``."""
        self.originals_ = X if callable(self.kind) else self._features(X, self._seeds(len(X)))
        return self

    def __call__(self, Xp: np.ndarray) -> np.ndarray:
        """Distances ``D[i, j] = d(perturbed i, original j)``."""
        if callable(self.kind):
            D = np.asarray(self.kind(Xp, self.originals_), dtype=np.float64)
            if D.shape != (len(Xp), len(self.originals_)):
                raise ValueError(f"audio_distance returned shape {D.shape}; expected ({len(Xp)}, {len(self.originals_)}).")
            return D
        feats = self._features(Xp, self._seeds(len(Xp)))
        fn = {"mckl": mckl_distance, "simple": simple_distance, "dtw": dtw_distance}[self.kind]
        return np.array([[fn(f, g) for g in self.originals_] for f in feats])
