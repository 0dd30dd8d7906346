"""Base class of all perturbations: validation, per-clip seeding, clip policy."""

from __future__ import annotations

import hashlib
import numbers
import zlib
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin

from .._validation import check_audio, check_choice, check_sr
from ..exceptions import InvalidAudioError

__all__ = ["BasePerturbation", "clip_generators", "resolve_entropy"]

CLIP_POLICIES = ("none", "clip", "rescale", "raise")


def resolve_entropy(random_state: Any) -> int:
    """Turn ``random_state`` into one integer of entropy for this call.

    An ``int`` is used as it is (so results are reproducible); a
    ``RandomState``/``Generator`` is drawn from (advancing it, as in
    scikit-learn); ``None`` takes fresh OS entropy.
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state must be None, an int or a RandomState, got {random_state!r}.")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}.")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise TypeError(
        "random_state must be None, an int, a numpy RandomState or Generator; got "
        f"{type(random_state).__name__}."
    )


def _clip_key(x: np.ndarray) -> list[int]:
    digest = hashlib.blake2b(
        np.ascontiguousarray(x, dtype="<f8").tobytes(), digest_size=16
    ).digest()
    return np.frombuffer(digest, dtype="<u4").tolist()


def clip_generators(entropy: int, X: np.ndarray, salt: str) -> list[np.random.Generator]:
    """One independent generator per clip, keyed by the clip's content.

    The seed of a clip depends on ``entropy``, ``salt`` (the perturbation's
    name) and the clip's samples (as float64), never on its position in the
    batch: results do not change with batch split, clip order, dtype or
    ``n_jobs``. Identical clips receive identical draws.
    """
    salt_word = zlib.crc32(salt.encode())
    return [
        np.random.default_rng(np.random.SeedSequence([entropy, salt_word, *_clip_key(x)]))
        for x in X
    ]


def child_seed(entropy: int, index: int) -> int:
    """A reproducible seed for the ``index``-th child of a composite."""
    return int(np.random.SeedSequence([entropy, index]).generate_state(1, np.uint32)[0])


class BasePerturbation(TransformerMixin, BaseEstimator):
    """Base of trustkit's audio perturbations.

    Subclasses implement ``_perturb(x, sr, rng) -> (y, info)`` for one clip
    (``x`` a read-only float64 view, ``info`` a dict of what was realised) and
    ``_check_params() -> dict`` that validates the constructor arguments.
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

    # -- hooks ---------------------------------------------------------------
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
        _, X = self._validate(X)
        self.n_features_in_ = X.shape[1]
        return self

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
        return self.transform_with_params(X)[0]

    def transform_with_params(self, X: Any) -> tuple[np.ndarray, pd.DataFrame]:
        """Perturb ``X`` and report what was done to each clip.

        Returns
        -------
        Xt : ndarray of shape (n_clips, n_samples_out)
        params : pandas.DataFrame
            One row per clip: the requested and realised values, lengths in and
            out, output peak and the fraction of samples clipped.
        """
        context, X = self._validate(X)
        sr = context["sr"]
        gens = (
            clip_generators(resolve_entropy(self.random_state), X, type(self).__name__)
            if self._random
            else [None] * len(X)
        )
        results = self._transform_batch(X, sr, gens, context["params"])
        return self._assemble(X, results)

    # -- machinery -------------------------------------------------------------
    def _validate(self, X: Any) -> tuple[dict[str, Any], np.ndarray]:
        name = type(self).__name__
        sr = check_sr(self.sr, name, example=self._example) if self._needs_sr else getattr(self, "sr", None)
        if sr is not None and not self._needs_sr:
            sr = check_sr(sr, name)
        check_choice(self.clip_policy, "clip_policy", CLIP_POLICIES)
        params = self._check_params(sr)
        X = check_audio(
            X,
            min_samples=self._min_samples(sr),
            sr=sr,
            owner=name,
            allow_silent=not self._reject_silent,
        )
        return {"sr": sr, "params": params}, X

    def _transform_batch(
        self, X: np.ndarray, sr: int | None, gens: list, params: dict[str, Any]
    ) -> list[tuple[np.ndarray, dict[str, Any]]]:
        if self._is_identity(params):
            return [(x.astype(np.float64), {}) for x in X]
        return Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._one)(i, x, sr, gen, params) for i, (x, gen) in enumerate(zip(X, gens))
        )

    def _one(self, i: int, x: np.ndarray, sr: int | None, gen: Any, params: dict[str, Any]):
        xv = np.asarray(x, dtype=np.float64)
        if xv is x:  # never hand a writable view of the caller's array to _perturb
            xv = xv.view()
            xv.flags.writeable = False
        y, info = self._perturb(xv, sr, gen, params)
        return self._apply_clip_policy(i, np.asarray(y, dtype=np.float64), info)

    def _apply_clip_policy(self, i: int, y: np.ndarray, info: dict[str, Any]):
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        info = dict(info)
        info["fraction_clipped"] = 0.0
        if peak > 1.0:
            if self.clip_policy == "clip":
                info["fraction_clipped"] = float(np.mean(np.abs(y) > 1.0))
                y = np.clip(y, -1.0, 1.0)
            elif self.clip_policy == "rescale":
                y = y / peak
                info["rescale_db"] = float(-20 * np.log10(peak))
            elif self.clip_policy == "raise":
                raise InvalidAudioError(
                    f"{type(self).__name__} output of clip {i} peaks at {peak:.3g} "
                    "(above full scale 1.0) and clip_policy='raise'. Lower the level, "
                    "or choose clip_policy='clip', 'rescale' or 'none'."
                )
        info["peak_out"] = float(np.max(np.abs(y))) if y.size else 0.0
        return y, info

    def _assemble(
        self, X: np.ndarray, results: list[tuple[np.ndarray, dict[str, Any]]]
    ) -> tuple[np.ndarray, pd.DataFrame]:
        lengths = {len(y) for y, _ in results}
        if len(lengths) > 1:  # pragma: no cover - guarded by the length policies
            raise RuntimeError(f"{type(self).__name__} produced clips of unequal lengths {sorted(lengths)}.")
        Xt = np.stack([y for y, _ in results]).astype(X.dtype, copy=False)
        rows = []
        for i, (y, info) in enumerate(results):
            row = {"clip": i, "perturbation": type(self).__name__}
            row.update(info)
            row.setdefault("length_in", X.shape[1])
            row.setdefault("length_out", len(y))
            row.setdefault("fraction_clipped", 0.0)
            row.setdefault("peak_out", float(np.max(np.abs(y))))
            rows.append(row)
        return Xt, pd.DataFrame(rows)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = self._random and self.random_state is None
        return tags
