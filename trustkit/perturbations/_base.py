"""Base class of all perturbations: validation, per-clip seeding, clip policy."""

from __future__ import annotations

import contextlib
import contextvars
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xxhash
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin

from .._buffers import copy_batch, empty_batch, empty_batch_like
from .._meter import InContext
from .._seeds import child_seed, resolve_entropy
from .._validation import check_audio, check_audio_values, check_choice, check_sr
from ..exceptions import InvalidAudioError

__all__ = ["BasePerturbation", "clip_generators", "holds_gil", "resolve_entropy"]

CLIP_POLICIES = ("none", "clip", "rescale", "raise")


def _clip_key(x: np.ndarray) -> list[int]:
    """Fingerprint a clip's samples for seeding.

    The 64-bit XXH3 digest of the float32 bytes (a float64 copy of float32
    audio keys the same) and the length: any change of any sample changes the
    key (up to a 2**-64 chance). XXH3 reads memory at ~20 GB/s, 13x CRC-32's
    speed: for a cheap random step the key was a fifth of its time.
    """
    x32 = np.ascontiguousarray(x, dtype="<f4")
    return [xxhash.xxh3_64_intdigest(x32), len(x32)]


def clip_generators(entropy: int, X: np.ndarray, salt: str) -> list[np.random.Generator]:
    """One independent generator per clip, keyed by the clip's content.

    The seed of a clip depends on ``entropy``, ``salt`` (the perturbation's
    name) and the clip's samples (as float32), never on its position in the
    batch: results do not change with batch split, clip order, dtype or
    ``n_jobs``. Identical clips receive identical draws.
    """
    salt_word = zlib.crc32(salt.encode())
    return [np.random.default_rng(np.random.SeedSequence([entropy, salt_word, *key])) for key in origin_keys(X)]


#: inside a composite, the keys of the clips the composite was given: every inner step draws by the original clip,
#: not by the intermediate signal (whose low bits differ between float32 and float64 pipelines)
_ORIGIN_KEYS: contextvars.ContextVar[list[list[int]] | None] = contextvars.ContextVar("trustkit_origin_keys",
                                                                                       default=None)


def origin_keys(X: np.ndarray) -> list[list[int]]:
    """The seeding keys of ``X``'s clips: those of an enclosing composite's input when inside one, else their own."""
    keys = _ORIGIN_KEYS.get()
    return keys if keys is not None and len(keys) == len(X) else [_clip_key(x) for x in X]


@contextlib.contextmanager
def keyed_by(keys: list[list[int]]) -> Iterator[None]:
    """Inside the block, random steps seed clip ``i`` by ``keys[i]`` (a composite's input clips, not its steps')."""
    token = _ORIGIN_KEYS.set(keys)
    try:
        yield
    finally:
        _ORIGIN_KEYS.reset(token)


def _read_only(X: np.ndarray) -> np.ndarray:
    """A read-only view: a step that writes into the caller's audio fails loudly."""
    view = X.view()
    view.flags.writeable = False
    return view


def holds_gil(step: Any) -> bool:
    """Whether the perturbation ``step`` holds Python's GIL while it works (run it in processes, not threads).

    True for the steps whose libraries never release it: MP3 (LAME through
    fast-mp3-augment) and Signalsmith Stretch's pitch shift and time
    stretch (two threads take as long as one: benchmarks/README.md, "The
    demo"), and for any composite that holds one of them. Any other
    transformer: False.

    Examples
    --------
    >>> from trustkit.perturbations import Compose, Gain, Mp3Compression, PitchShift
    >>> holds_gil(Mp3Compression(128)), holds_gil(PitchShift(1, method="librosa")), holds_gil(Gain(-3))
    (True, False, False)
    >>> holds_gil(Compose([Gain(-3), PitchShift(1)]))
    True
    """
    method = getattr(step, "_holds_gil", None)
    return bool(method()) if callable(method) else False


def configure_step(step: Any, *, entropy: int | None, index: int, sr: int | None, length: str | None = None) -> Any:
    """A clone of ``step`` with derived seeds and the shared sample rate.

    Every nested ``random_state`` gets a seed derived from ``entropy`` and the
    step's ``index`` (when ``entropy`` is not None); every nested ``sr`` that is
    None gets ``sr``; with ``length``, every nested ``length`` policy is set to
    it (e.g. ``"allow"``: a time stretch returns the whole stretched signal). The
    caller's object is never modified.
    """
    from sklearn.base import clone

    step = clone(step)
    if not hasattr(step, "get_params"):
        return step
    params = step.get_params(deep=True)
    update = {}
    for j, key in enumerate(sorted(params)):
        leaf = key.rsplit("__", 1)[-1]
        if leaf == "random_state" and entropy is not None:
            update[key] = child_seed(entropy, 1000 * index + j)
        elif leaf == "sr" and params[key] is None and sr is not None:
            update[key] = sr
        elif leaf == "length" and length is not None and isinstance(params[key], str):
            update[key] = length
    for key in sorted(update, key=lambda k: -k.count("__")):  # deepest first
        step.set_params(**{key: update[key]})
    return step


class BasePerturbation(TransformerMixin, BaseEstimator):
    """Base of trustkit's audio perturbations.

    Subclasses implement ``_perturb(x, sr, rng, params) -> (y, info)`` (or, when
    the length is kept, ``_perturb_into(x, sr, rng, params, out) -> info``) for one
    clip (``x`` a read-only float32 or float64 view, ``info`` a dict of what was
    realised) and ``_check_params(sr) -> dict`` that validates the constructor
    arguments; deterministic steps may add a vectorised ``_perturb_batch``.
    Everything else lives here: audio validation, per-clip seeding, the clip
    policy, joblib parallelism and the per-clip parameter table.

    Every perturbation is stateless: ``fit`` only validates, and ``transform``
    works without it.
    """

    #: whether the perturbation needs ``sr``
    _needs_sr: ClassVar[bool] = False
    #: whether it draws random numbers
    _random: ClassVar[bool] = False
    #: whether silent clips are an error (e.g. an SNR is undefined)
    _reject_silent: ClassVar[bool] = False
    #: example arguments shown when ``sr`` is missing
    _example: ClassVar[str] = ""
    #: ``_perturb`` hands each clip to a library that only copies it out (its source checked; tested on a
    #: writeable input): rows are passed as they are, not as read-only views the library would copy first
    _library_copies_input: ClassVar[bool] = False

    # -- hooks ---------------------------------------------------------------
    def _holds_gil(self) -> bool:
        """Whether the step spends its time in code that holds Python's GIL (threads cannot share the work)."""
        return False

    def _check_params(self, sr: int | None) -> dict[str, Any]:
        return {}

    def _min_samples(self, sr: int | None) -> int:
        return 1

    def _is_identity(self, params: dict[str, Any]) -> bool:
        return False

    def _perturb(
        self, x: np.ndarray, sr: int | None, rng: np.random.Generator | None, params: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public API ------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> BasePerturbation:
        """Validate parameters and ``X``; learns nothing.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
        y : ignored

        Returns
        -------
        self
        """
        context, X = self._validate(X)
        if not context["values_checked"]:  # fit does no transform to check them in passing
            check_audio_values(X)
        self.n_features_in_ = X.shape[1]
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Validate once, record ``n_features_in_``, and perturb (as ``fit(X).transform(X)``).

        Returns
        -------
        Xt : ndarray of shape (n_clips, n_samples_out)
        """
        cls = type(self)
        if cls.transform is not BasePerturbation.transform or cls._run is not BasePerturbation._run:  # composites
            return self.fit(X).transform(X)
        context, X = self._validate(X)
        self.n_features_in_ = X.shape[1]
        return self._run_validated(context, X)[1]

    def transform(self, X: Any) -> np.ndarray:
        """Perturb every clip of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Float audio; never modified.

        Returns
        -------
        Xt : ndarray of shape (n_clips, n_samples_out)
            Same dtype as ``X``; ``n_samples_out == n_samples`` unless a length
            policy allows otherwise.
        """
        return self._run(X)[1]

    def transform_with_params(self, X: Any) -> tuple[np.ndarray, pd.DataFrame]:
        """Perturb ``X`` and report what was done to each clip.

        Returns
        -------
        Xt : ndarray of shape (n_clips, n_samples_out)
        params : pandas.DataFrame
            One row per clip: the requested and realised values, lengths in and
            out, output peak and the fraction of samples clipped.
        """
        X, Y, infos = self._run(X)
        return self._assemble(X, Y, infos)

    def _run(self, X: Any) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        context, X = self._validate(X)
        return self._run_validated(context, X)

    def _run_validated(self, context: dict[str, Any], X: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if not context.get("values_checked", True):  # a fused step: transform and value check in one pass
            if self._is_identity(context["params"]):
                check_audio_values(X)
            else:
                Y, infos, energy = self._perturb_fused(_read_only(X), context["sr"], context["params"])
                check_audio_values(X, energy=energy)
                Y, infos = self._apply_clip_policy(Y, infos)
                return X, Y, infos
        gens = (
            clip_generators(resolve_entropy(self.random_state), X, type(self).__name__)
            if self._random
            else [None] * len(X)
        )
        Y, infos = self._transform_batch(X, context["sr"], gens, context["params"])
        return X, Y, infos

    # -- machinery -------------------------------------------------------------
    def _validate(self, X: Any) -> tuple[dict[str, Any], np.ndarray]:
        name = type(self).__name__
        sr = check_sr(self.sr, name, example=self._example) if self._needs_sr else getattr(self, "sr", None)
        if sr is not None and not self._needs_sr:
            sr = check_sr(sr, name)
        check_choice(self.clip_policy, "clip_policy", CLIP_POLICIES)
        params = self._check_params(sr)
        # a fused step checks the values in its own pass over the samples (sequential runs only)
        fused = self._fused and self.n_jobs in (None, 1)
        X = check_audio(
            X,
            min_samples=self._min_samples(sr),
            sr=sr,
            owner=name,
            allow_silent=not self._reject_silent,
            values=not fused,
        )
        return {"sr": sr, "params": params, "values_checked": not fused}, X

    def _transform_batch(
        self, X: np.ndarray, sr: int | None, gens: list, params: dict[str, Any]
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Perturb every clip; returns the output batch and one info dict per clip."""
        n = len(X)
        if self._is_identity(params):
            return copy_batch(X), [{} for _ in range(n)]
        if not self._library_copies_input:
            X = _read_only(X)
        sequential = self.n_jobs in (None, 1)
        if sequential and type(self)._perturb_batch is not BasePerturbation._perturb_batch:
            Y, infos = self._perturb_batch(X, sr, params)
            Y = np.asarray(Y, dtype=X.dtype)
        elif type(self)._perturb_into is not BasePerturbation._perturb_into:  # same length: write the rows in place
            Y = empty_batch_like(X)
            infos = list(self._each_clip(self._perturb_into, [(x, sr, g, params, y) for x, g, y in zip(X, gens, Y)]))
        else:  # each clip copied into the batch as it comes: one clip's output alive at a time, not n
            Y, infos = None, []
            for i, (y, info) in enumerate(self._each_clip(self._perturb, [(x, sr, g, params) for x, g in zip(X, gens)])):
                if Y is None:
                    Y = empty_batch((n, len(y)), X.dtype)
                elif len(y) != Y.shape[1]:  # pragma: no cover - the length policies prevent it
                    raise RuntimeError(f"{type(self).__name__} produced clips of unequal lengths {Y.shape[1]} and {len(y)}.")
                Y[i] = y
                infos.append(info)
        return self._apply_clip_policy(Y, infos)

    def _each_clip(self, fn: Any, calls: list[tuple[Any, ...]]) -> Iterator[Any]:
        """``fn(*args)`` for each of ``calls``, in order and as they complete; on ``n_jobs`` threads when asked.

        Clips are seeded by content, so the threads change no number.
        """
        if self.n_jobs in (None, 1):
            return (fn(*args) for args in calls)
        in_context = InContext(fn)  # the caller's blocks (known_loudness) hold in the threads too
        return Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")(
            delayed(in_context)(*args) for args in calls)

    def _perturb_into(
        self, x: np.ndarray, sr: int | None, rng: np.random.Generator | None, params: dict[str, Any], out: np.ndarray
    ) -> dict[str, Any]:
        """Optional, for steps that keep the length: write the perturbed clip into ``out``; returns its info.

        Saves the per-clip output array and its copy into the batch.
        """
        raise NotImplementedError  # pragma: no cover - only called when overridden

    def _perturb_batch(self, X: np.ndarray, sr: int | None, params: dict[str, Any]):
        """Optional vectorised path for deterministic steps: ``(Y, infos)``."""
        raise NotImplementedError  # pragma: no cover - only called when overridden

    #: the step implements ``_perturb_fused``: the transform and the input's value check in one pass
    _fused: ClassVar[bool] = False

    def _perturb_fused(self, X: np.ndarray, sr: int | None, params: dict[str, Any]):
        """``(Y, infos, energy of X)`` in one pass over the samples (``trustkit._kernels``)."""
        raise NotImplementedError  # pragma: no cover - only called when _fused

    def _apply_clip_policy(self, Y: np.ndarray, infos: list[dict[str, Any]]):
        """Apply ``clip_policy`` to each row of ``Y`` (in place) and record it."""
        policy = self.clip_policy
        for info in infos:
            info["fraction_clipped"] = 0.0
        if policy == "none":
            return Y, infos
        for i, (y, info) in enumerate(zip(Y, infos)):
            peak = float(max(y.max(), -y.min())) if y.size else 0.0
            if peak > 1.0:
                if policy == "clip":
                    info["fraction_clipped"] = np.count_nonzero(np.abs(y) > 1.0) / y.size
                    np.clip(y, -1.0, 1.0, out=y)
                elif policy == "rescale":
                    y /= peak
                    info["rescale_db"] = float(-20 * np.log10(peak))
                else:
                    raise InvalidAudioError(
                        f"{type(self).__name__} output of clip {i} peaks at {peak:.3g} "
                        "(above full scale 1.0) and clip_policy='raise'. Lower the level, "
                        "or choose clip_policy='clip', 'rescale' or 'none'."
                    )
            info["peak_out"] = min(peak, 1.0)
        return Y, infos

    def _assemble(
        self, X: np.ndarray, Y: np.ndarray, infos: list[dict[str, Any]]
    ) -> tuple[np.ndarray, pd.DataFrame]:
        return Y, pd.DataFrame(self._info_rows(X, Y, infos))

    def _info_rows(self, X: np.ndarray, Y: np.ndarray, infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of ``transform_with_params``'s table, as dicts (a caller that wants one row skips pandas)."""
        rows = []
        name = type(self).__name__
        for i, info in enumerate(infos):
            row = {"clip": i, "perturbation": name}
            row.update(info)
            row.setdefault("fraction_clipped", 0.0)
            row.setdefault("length_in", X.shape[1])
            row.setdefault("length_out", Y.shape[1])
            rows.append(row)
        return rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = self._random and self.random_state is None
        return tags
