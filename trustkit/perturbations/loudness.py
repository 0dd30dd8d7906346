"""Loudness matching (ITU-R BS.1770 integrated loudness, via pyloudnorm)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from sklearn.base import clone

from .._validation import check_number
from ..audio import LOUDNESS_MIN_SECONDS, check_loudness, gated_loudness, loudness_blocks, loudness_gain_db
from ..exceptions import InvalidAudioError
from ._base import BasePerturbation, holds_gil

__all__ = ["LoudnessMatch", "known_loudness"]

#: the open blocks' tables, newest last. A context variable: a block holds for the code it encloses (trustkit's
#: parallel map runs its workers in a copy of the caller's context) and ends with it, so no table outlives the
#: clips it describes (their memory could otherwise be reused by other clips at the same address)
_KNOWN: contextvars.ContextVar[tuple[dict[tuple[Any, ...], float], ...]] = contextvars.ContextVar(
    "trustkit_known_loudness", default=())


def _row_key(x: np.ndarray, sr: int) -> tuple[Any, ...]:
    return (x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.str, int(sr))


@contextlib.contextmanager
def known_loudness(X: np.ndarray, sr: int) -> Iterator[np.ndarray]:
    """Measure the loudness of the clips of ``X`` once; inside the block, :class:`LoudnessMatch` reuses it.

    A robustness meter matches every perturbed clip to its original's loudness
    in every setting: without this, each original is measured again for every
    setting. Inside the block, ``X`` is read-only (its clips are looked up by
    their memory, which must therefore not change) and a ``LoudnessMatch``
    handed a clip of ``X`` takes that clip's loudness from here; any other
    clip is measured as usual.

    Yields
    ------
    ndarray
        A read-only view of ``X``: pass this to the perturbations.
    """
    view = np.asarray(X).view()
    view.flags.writeable = False
    table = {_row_key(x, sr): gated_loudness(loudness_blocks(x, sr=sr))
             for x in view if len(x) >= int(np.ceil(LOUDNESS_MIN_SECONDS * sr))}
    token = _KNOWN.set((*_KNOWN.get(), table))
    try:
        yield view
    finally:
        _KNOWN.reset(token)


def _known(x: np.ndarray, sr: int) -> float | None:
    """The loudness of ``x`` if an open :func:`known_loudness` block measured it."""
    tables = _KNOWN.get()
    if not tables:
        return None
    key = _row_key(x, sr)
    return next((table[key] for table in reversed(tables) if key in table), None)


class LoudnessMatch(BasePerturbation):
    """Scale clips to a reference integrated loudness (LUFS, ITU-R BS.1770-4).

    Two uses:

    - ``LoudnessMatch(perturbation, sr=sr)`` applies ``perturbation`` and then
      scales each result back to the integrated loudness of its original, so
      that loudness alone does not move an embedding (as in the robustness
      study, which normalised loudness after every transform);
    - ``LoudnessMatch(target_lufs=-23, sr=sr)`` normalises each clip to a fixed
      loudness.

    Parameters
    ----------
    perturbation : transformer or None, default=None
        The step whose output is matched to its input's loudness.
    sr : int
        Sample rate in Hz (required).
    target_lufs : float or None, default=None
        Fixed target in LUFS instead of the original's loudness. With neither
        ``perturbation`` nor ``target_lufs``, the step is the exact identity.
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
    n_jobs : int or None, default=None

    Notes
    -----
    Clips must last at least 0.4 s (one BS.1770 gating block) and must not be
    silent after gating; both are reported as :class:`InvalidAudioError`.

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit.perturbations import Gain
    >>> sr = 16000
    >>> X = np.random.default_rng(0).standard_normal((1, sr)) * 0.05
    >>> _, p = LoudnessMatch(Gain(gain_db=-12), sr=sr).transform_with_params(X)
    >>> abs(float(p["loudness_realised"][0] - p["loudness_reference"][0])) < 0.1
    True
    """

    _needs_sr: ClassVar[bool] = True
    _example: ClassVar[str] = "target_lufs=-23"

    def __init__(self, perturbation=None, *, sr=None, target_lufs=None, clip_policy="none", n_jobs=None):
        self.perturbation = perturbation
        self.sr = sr
        self.target_lufs = target_lufs
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _holds_gil(self):
        return holds_gil(self.perturbation)

    def _check_params(self, sr):
        target = None
        if self.target_lufs is not None:
            target = check_number(self.target_lufs, "target_lufs", low=-70, high=0)
        inner = None
        if self.perturbation is not None:
            if not hasattr(self.perturbation, "transform"):
                raise TypeError(
                    "perturbation must be a transformer with a transform method, got "
                    f"{type(self.perturbation).__name__}."
                )
            inner = clone(self.perturbation)
            if "sr" in inner.get_params() and inner.get_params()["sr"] is None:
                inner.set_params(sr=sr)
        return {"target": target, "inner": inner}

    def _min_samples(self, sr):
        return int(np.ceil(LOUDNESS_MIN_SECONDS * sr))

    def _is_identity(self, params):
        return params["inner"] is None and params["target"] is None

    def _perturb(self, x, sr, rng, params):
        info = {}
        y = x
        inner = params["inner"]
        if inner is not None:
            if type(inner).transform_with_params is BasePerturbation.transform_with_params:
                # a single step: its one row without building a table per clip (composites build their own)
                xs, yt, infos = inner._run(x[np.newaxis])
                info.update({f"perturbation__{k}": v for k, v in inner._info_rows(xs, yt, infos)[0].items() if k != "clip"})
            elif hasattr(inner, "transform_with_params"):
                yt, p = inner.transform_with_params(x[np.newaxis])
                info.update({f"perturbation__{k}": v for k, v in p.iloc[0].items() if k != "clip"})
            else:
                yt = inner.transform(x[np.newaxis])
            y = np.asarray(yt, dtype=x.dtype)[0]
            if len(y) < self._min_samples(sr):
                raise InvalidAudioError(
                    f"LoudnessMatch: the perturbation shortened a clip to {len(y)} samples, "
                    f"below the 0.4 s that loudness needs. Use length='preserve'."
                )
        if params["target"] is None:
            known = _known(x, sr)
            reference = gated_loudness(loudness_blocks(x, sr=sr)) if known is None else known
            check_loudness(reference, what="the original clip")
        else:
            reference = params["target"]
        blocks = loudness_blocks(y, sr=sr)
        before = gated_loudness(blocks)
        gain_db = loudness_gain_db(before, reference, what="the perturbed clip")
        gain = 10 ** (gain_db / 20)
        info.update(
            loudness_reference=reference,
            loudness_before=before,
            gain_db=gain_db,
            # the K-filter is linear: blocks of gain * y are gain**2 * blocks of y
            loudness_realised=gated_loudness(blocks * gain**2),
        )
        return y * y.dtype.type(gain), info
