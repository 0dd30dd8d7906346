"""Listenable units for explaining audio models, and LIME / SHAP over them.

Segmenters follow audioLIME's protocol: ``n_units(n_samples)`` and
``compose(x, masks)``, which builds model inputs from a clip and binary unit
masks (1 = unit present, 0 = unit replaced by the baseline).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import xxhash
from sklearn.base import BaseEstimator

from .._meter import parallel_map
from .._seeds import SeedTree
from .._validation import check_choice, check_number
from ..exceptions import TrustkitWarning

__all__ = ["TimeFrequencySegments", "TimeSegments", "explain_with_lime", "explain_with_shap", "mfcc_classifier",
           "shared_responses"]

#: the open block's responses (None outside any block). A context variable: a block holds for the code it
#: encloses, in trustkit's parallel map too (its workers run in a copy of the caller's context), and for no other
#: thread or task; it ends with its block, so no cache outlives a model that is refitted afterwards
_SHARED: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar("trustkit_shared_responses",
                                                                                  default=None)
_LOCK = threading.Lock()  # the workers of one block write into its cache concurrently


def mfcc_classifier(sr: int) -> Any:
    """The black box trustkit explains when it is given none: logistic regression on MFCC statistics (unfitted).

    ``trustkit explain`` without ``--model`` and the trust report's
    explanations section fit it on their labels. A pipeline of
    :class:`~trustkit.encoders.MFCCEncoder` (as a ``FunctionTransformer`` of
    audio), standardisation and ``LogisticRegression(max_iter=2000)``.

    Examples
    --------
    >>> from trustkit.datasets import make_music
    >>> X, y = make_music(10, duration=1.0, sr=16000, random_state=0)
    >>> mfcc_classifier(16000).fit(X, y["timbre"]).predict_proba(X[:2]).shape
    (2, 5)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from ..encoders import MFCCEncoder

    return make_pipeline(FunctionTransformer(MFCCEncoder(sr=sr).transform), StandardScaler(),
                         LogisticRegression(max_iter=2000))


@contextlib.contextmanager
def shared_responses() -> Iterator[None]:
    """Share a model's responses to masked clips between explainers and the scorer, inside the block.

    LIME, Kernel SHAP and :class:`FidelityComplexityScorer` all evaluate the
    model on a clip with some of its units replaced by the baseline; with few
    units they meet the same masks again and again (8 units have 256). Inside
    this block, the response to one (model response, segmenter, clip, mask) is
    computed once and reused by :func:`explain_with_lime`,
    :func:`explain_with_shap` and the scorer, which is exact for a fixed
    model: **do not refit or change the model inside the block**. Outside it,
    nothing is cached.

    Examples
    --------
    >>> with shared_responses():  # doctest: +SKIP
    ...     W = explain_with_lime(model, clips, seg)
    ...     report = scorer.score(clips, W)   # reuses LIME's responses
    """
    open_cache = _SHARED.get()
    token = _SHARED.set({} if open_cache is None else open_cache)  # a nested block shares the open one's responses
    try:
        yield
    finally:
        _SHARED.reset(token)


def unit_responses(fn: Any, x: np.ndarray, segmenter: Any, masks: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """The model's response to ``x`` with each unit mask applied, ``batch`` masks per model call.

    Inside :func:`shared_responses`, each distinct mask is evaluated once per
    (response, segmenter, clip) and kept; outside, every mask is evaluated.
    """
    masks = np.asarray(masks, dtype=bool)
    cache = _SHARED.get()
    if cache is None:
        return np.concatenate([np.asarray(fn(segmenter.compose(x, masks[s : s + batch])), dtype=np.float64)
                               for s in range(0, len(masks), batch)])
    owner = getattr(fn, "__self__", fn)
    clip = hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest()
    head = (id(owner), getattr(fn, "__name__", ""), repr(segmenter), clip, x.shape)
    keys = [(*head, row.tobytes()) for row in masks]
    with _LOCK:
        cache.setdefault("models", {})[id(owner)] = owner  # keeps the object alive: its id cannot be reused
        found = [cache.get(k) for k in keys]
    todo, rows = distinct_missing(keys, [k for k, v in zip(keys, found) if v is not None])
    for s in range(0, len(todo), batch):
        chunk = todo[s : s + batch]
        out = np.asarray(fn(segmenter.compose(x, masks[rows[s : s + batch]])), dtype=np.float64)
        with _LOCK:
            cache.update(zip(chunk, out))
    with _LOCK:
        return np.stack([cache[k] for k in keys])


def distinct_missing(keys: list[Any], known: Any) -> tuple[list[Any], list[int]]:
    """The distinct keys not in ``known``, in order of first appearance, and the row where each first appears.

    Examples
    --------
    >>> distinct_missing(["a", "b", "a", "c"], {"b"})
    (['a', 'c'], [0, 3])
    """
    known = set(known)
    first: dict[Any, int] = {}
    for i, k in enumerate(keys):
        if k not in known and k not in first:
            first[k] = i
    return list(first), list(first.values())


class TimeSegments(BaseEstimator):
    """Equal-length time segments; an absent segment is replaced by a reference signal.

    Parameters
    ----------
    n_segments : int, default=10
    baseline : {"noise", "silence", "mean"} or array of shape (n_background, n_samples), default="noise"
        What an absent segment becomes:

        - ``"noise"``: pink noise at the clip's own RMS level (the same noise
          for every mask of a clip, seeded by the clip's samples): something
          is heard, nothing of the clip's content is;
        - an array of background clips: the same segment of another clip
          (the background clip ``hash(clip) mod n_background``, never the clip
          itself), as a corpus-drawn reference;
        - ``"silence"``: zeros; ``"mean"``: the clip's mean value (DC).

        Silence is a poor reference for audio classifiers: many call digital
        silence one of their classes with full confidence (on librosa's
        recordings a music-vs-speech classifier gives it P(music) = 1.000), so
        removing segments *adds* that class's evidence and every explanation of
        that class looks unfaithful. See the explanations guide for measured
        fidelities under each reference.

    Examples
    --------
    >>> seg = TimeSegments(4, baseline="silence")
    >>> seg.compose(np.ones(8), np.array([[1, 0, 1, 0]], dtype=bool))
    array([[1., 1., 0., 0., 1., 1., 0., 0.]])
    """

    def __init__(self, n_segments=10, *, baseline="noise"):
        self.n_segments = n_segments
        self.baseline = baseline

    def n_units(self, n_samples: int) -> int:
        """Number of units of a clip of ``n_samples``."""
        k = check_number(self.n_segments, "n_segments", low=1, high=n_samples, integer=True)
        return k

    def bounds(self, n_samples: int) -> np.ndarray:
        """Sample index where each segment starts (and the end)."""
        return np.round(np.linspace(0, n_samples, self.n_units(n_samples) + 1)).astype(int)

    def reference(self, x: np.ndarray) -> np.ndarray | float:
        """The signal that replaces the absent segments of clip ``x`` (a scalar for silence and mean)."""
        x = np.asarray(x, dtype=np.float64)
        if not isinstance(self.baseline, str):
            bg = np.asarray(self.baseline, dtype=np.float64)
            if bg.ndim != 2 or bg.shape[1] < len(x) or len(bg) == 0 or not np.isfinite(bg).all():
                raise ValueError(
                    f"baseline must be 'noise', 'silence', 'mean' or finite background clips of shape (n_background, "
                    f">= {len(x)}) samples; got an array of shape {bg.shape}. Pass clips at least as long as X's."
                )
            bg = bg[:, : len(x)]
            start = int.from_bytes(_clip_digest(x)[:8], "little") % len(bg)
            for k in range(len(bg)):  # the first background clip, from the clip's own draw, that is not the clip
                candidate = bg[(start + k) % len(bg)]
                if not np.array_equal(candidate, x):
                    return candidate
            raise ValueError("baseline holds only copies of the explained clip; pass other clips as background.")
        check_choice(self.baseline, "baseline", ("noise", "silence", "mean"))
        if self.baseline == "silence":
            return 0.0
        if self.baseline == "mean":
            return float(x.mean())
        from ..perturbations.noise import colored_noise

        level = float(np.sqrt(np.mean(x**2)))
        seed = int.from_bytes(_clip_digest(x)[:8], "little")
        return level * colored_noise(len(x), "pink", rng=seed).astype(np.float64)

    def compose(self, x: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Clips with absent segments replaced by the reference, shape (n_masks, n_samples)."""
        x = np.asarray(x, dtype=np.float64)
        fill = self.reference(x)
        b = self.bounds(len(x))
        unit_of_sample = np.repeat(np.arange(len(b) - 1), np.diff(b))
        present = np.asarray(masks, dtype=bool)[:, unit_of_sample]
        return np.where(present, x[None, :], np.asarray(fill)[None] if np.ndim(fill) else fill)

    def __repr__(self) -> str:  # background clips by shape and content key, so the shared-response key stays short
        if isinstance(self.baseline, str):
            return super().__repr__()
        bg = np.ascontiguousarray(self.baseline)
        # XXH3 of the raw samples (with dtype and shape): the key of the shared responses, read on every batch of
        # masks; blake2b of a float64 copy took 30 ms for 50 clips of 3 s, 2.5 s of the demo
        key = xxhash.xxh3_128(f"{bg.dtype.str}{bg.shape}".encode())
        key.update(bg.reshape(-1).view(np.uint8) if bg.size else b"")
        return (f"TimeSegments(n_segments={self.n_segments!r}, baseline=<{bg.shape[0]} background clips "
                f"{key.hexdigest()[:16]}>)")


def _clip_digest(x: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(x, dtype=np.float64).tobytes(), digest_size=16).digest()


class TimeFrequencySegments(BaseEstimator):
    """A grid of time x frequency cells of the STFT (SoundLIME-style units).

    An absent cell's magnitude becomes zero (``"silence"``) or the clip's mean
    magnitude spectrum in that band (``"mean"``); the original phase is kept
    and the clip is resynthesised by inverse STFT (same length).

    Parameters
    ----------
    n_time : int, default=5
    n_freq : int, default=4
        Bands are equal on a mel-like (log) frequency axis.
    n_fft : int, default=1024
    hop_length : int, default=256
    baseline : {"silence", "mean"}, default="silence"
    """

    def __init__(self, n_time=5, n_freq=4, *, n_fft=1024, hop_length=256, baseline="silence"):
        self.n_time = n_time
        self.n_freq = n_freq
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.baseline = baseline

    def n_units(self, n_samples: int) -> int:
        """Number of units (n_time * n_freq)."""
        return check_number(self.n_time, "n_time", low=1, integer=True) * check_number(self.n_freq, "n_freq", low=1, integer=True)

    def _cells(self, n_bins: int, n_frames: int) -> np.ndarray:
        t_edges = np.round(np.linspace(0, n_frames, self.n_time + 1)).astype(int)
        f_edges = np.unique(np.round(np.geomspace(1, n_bins, self.n_freq + 1)).astype(int) - 1)
        f_edges[0], f_edges[-1] = 0, n_bins
        if len(f_edges) != self.n_freq + 1:
            f_edges = np.round(np.linspace(0, n_bins, self.n_freq + 1)).astype(int)
        cell = np.zeros((n_bins, n_frames), dtype=int)
        for i in range(self.n_freq):
            for j in range(self.n_time):
                cell[f_edges[i] : f_edges[i + 1], t_edges[j] : t_edges[j + 1]] = i * self.n_time + j
        return cell

    def compose(self, x: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Resynthesised clips with absent cells at the baseline, shape (n_masks, n_samples)."""
        import librosa

        check_choice(self.baseline, "baseline", ("silence", "mean"))
        x = np.asarray(x, dtype=np.float32)
        S = librosa.stft(x, n_fft=self.n_fft, hop_length=self.hop_length)
        mag, phase = np.abs(S), np.angle(S)
        cell = self._cells(*S.shape)
        fill = np.zeros_like(mag) if self.baseline == "silence" else np.repeat(mag.mean(axis=1, keepdims=True), mag.shape[1], axis=1)
        masks = np.asarray(masks, dtype=bool)
        present = masks[:, cell]  # (m, bins, frames)
        M = np.where(present, mag[None], fill[None]) * np.exp(1j * phase)[None]
        return librosa.istft(M, hop_length=self.hop_length, n_fft=self.n_fft, length=len(x)).astype(np.float64)


def _unit_model(model_fn: Any, x: np.ndarray, segmenter: Any, target: int):
    def f(Z: np.ndarray) -> np.ndarray:
        out = unit_responses(model_fn, x, segmenter, np.asarray(Z) > 0.5)
        return out[:, target] if out.ndim == 2 else out

    return f


def _response_and_targets(model: Any, X: np.ndarray) -> tuple[Any, np.ndarray]:
    fn = next((getattr(model, m) for m in ("predict_proba", "decision_function", "predict") if hasattr(model, m)), model)
    out = np.asarray(fn(X), dtype=np.float64)
    return fn, (out.argmax(axis=1) if out.ndim == 2 else np.zeros(len(X), dtype=int))


def explain_with_lime(
    model: Any, X: Any, segmenter: Any, *, num_samples: int = 1000, num_features: int | None = None,
    kernel_width: float = 0.25, random_state: int = 0, n_jobs: int | None = None, verbose: bool = False,
) -> np.ndarray:
    """LIME attributions over a segmenter's units (audioLIME-style), one row per clip.

    Each clip's neighbourhood is ``num_samples`` random unit masks (the first is
    all ones), weighted by an exponential kernel on the cosine distance to the
    full clip, and fitted by LIME's own ``LimeBase`` (ridge). When the units
    allow no more distinct masks than ``num_samples`` (``2 ** n_units <=
    num_samples``, e.g. 8 units: 256 masks), every mask is used once instead:
    cheaper, and no longer random. Explains the predicted class. Clip ``i``'s
    masks come from leaf ``("instance", i)`` of ``random_state``'s seed tree
    (:mod:`trustkit._seeds`), so they do not depend on ``n_jobs``; ``verbose``
    shows a progress bar over the clips.

    Returns
    -------
    ndarray of shape (n_clips, n_units)
        Zero for units beyond ``num_features``.
    """
    X = np.asarray(X, dtype=np.float64)
    fn, targets = _response_and_targets(model, X)
    d = segmenter.n_units(X.shape[1])
    k = d if num_features is None else int(num_features)
    seeds = SeedTree(random_state)
    rows = parallel_map(_lime_one, [(fn, x, segmenter, int(targets[i]), d, k, num_samples, kernel_width,
                                     seeds.seed("instance", i)) for i, x in enumerate(X)],
                        n_jobs=n_jobs, verbose=verbose, desc="LIME clips")
    return np.vstack(rows) if rows else np.zeros((0, d))


def _lime_one(fn, x, segmenter, target, d, k, num_samples, kernel_width, seed) -> np.ndarray:
    from lime.lime_base import LimeBase

    w = np.zeros(d)
    if 2**d <= num_samples:  # enumerate every coalition, the full one first
        Z = ((np.arange(2**d)[::-1, None] >> np.arange(d)[None, :]) & 1).astype(float)
    else:
        rng = np.random.default_rng(seed)
        Z = (rng.random((num_samples, d)) < 0.5).astype(float)
        Z[0] = 1.0
    y = _unit_model(fn, x, segmenter, target)(Z)
    dist = 1 - (Z @ np.ones(d)) / (np.sqrt((Z**2).sum(axis=1)) * np.sqrt(d) + 1e-12)
    base = LimeBase(lambda dd: np.sqrt(np.exp(-(dd**2) / kernel_width**2)), random_state=seed)
    _, pairs, _, _ = base.explain_instance_with_data(Z, y[:, None], dist, 0, k)
    for j, value in pairs:
        w[j] = value
    return w


def explain_with_shap(
    model: Any, X: Any, segmenter: Any, *, nsamples: int = 512, random_state: int = 0, n_jobs: int | None = None,
    verbose: bool = False,
) -> np.ndarray:
    """Kernel SHAP values over a segmenter's units (absent unit = the segmenter's baseline).

    ``shap.KernelExplainer`` with ``l1_reg=False`` (every unit gets its value; no
    feature selection) and ``nsamples`` capped at the ``2 ** n_units - 2``
    coalitions that exist: when the units allow it, every coalition is
    evaluated once and the values are the exact Shapley values (clips then run
    in parallel with ``n_jobs``). Otherwise shap samples coalitions from
    numpy's global generator: the values are approximate and not
    reproducible, and a :class:`~trustkit.TrustkitWarning` says so.

    Returns
    -------
    ndarray of shape (n_clips, n_units)
        Shapley values of the predicted class's response; they add up to
        ``f(clip) - f(all units absent)``.
    """
    import shap

    X = np.asarray(X, dtype=np.float64)
    fn, targets = _response_and_targets(model, X)
    d = segmenter.n_units(X.shape[1])
    seeds = SeedTree(random_state)
    n = int(min(nsamples, 2**d - 2)) if d < 31 else int(nsamples)

    def one(i: int, x: np.ndarray) -> np.ndarray:
        f = _unit_model(fn, x, segmenter, int(targets[i]))
        explainer = shap.KernelExplainer(f, np.zeros((1, d)), seed=seeds.seed("instance", i))
        values = explainer.shap_values(np.ones((1, d)), nsamples=n, l1_reg=False, silent=True)
        return np.asarray(values).reshape(-1)[:d]

    exact = d < 31 and n == 2**d - 2
    if not exact:
        warnings.warn(
            f"Kernel SHAP samples {n} of the {2**d - 2 if d < 31 else 'many'} coalitions of {d} units; shap draws them "
            "from numpy's global random generator, so these values are approximate and not reproducible. Pass "
            f"nsamples >= {2**d - 2 if d < 31 else '2**n_units - 2'} (or fewer units) for exact Shapley values.",
            TrustkitWarning, stacklevel=2,
        )
    # clips in parallel only when nothing is drawn at random (every coalition enumerated)
    rows = parallel_map(one, list(enumerate(X)), n_jobs=n_jobs if exact else 1, verbose=verbose, desc="SHAP clips")
    return np.vstack(rows) if rows else np.zeros((0, d))
