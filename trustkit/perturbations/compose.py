"""Composition: Compose, OneOf, SomeOf, RandomApply and Identity."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .._buffers import copy_batch
from .._validation import check_audio, check_number, check_sr
from ._base import (
    BasePerturbation,
    clip_generators,
    configure_step,
    holds_gil,
    keyed_by,
    origin_keys,
    resolve_entropy,
)

__all__ = ["Compose", "Identity", "OneOf", "RandomApply", "SomeOf"]


class Identity(BasePerturbation):
    """Return the clips unchanged (a copy): the zero-severity reference.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((1, 4))
    >>> Identity().fit_transform(X) is X
    False
    """

    clip_policy = "none"
    n_jobs = None

    def _is_identity(self, params):
        return True


def _name_steps(steps: Any, attr: str) -> list[tuple[str, Any]]:
    if not isinstance(steps, (list, tuple)) or len(steps) == 0:
        raise ValueError(f"{attr} must be a non-empty list of transformers; got {steps!r}.")
    named, auto = [], []
    for s in steps:
        if isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str):
            named.append(s)
        else:
            named.append((type(s).__name__.lower(), s))
            auto.append(len(named) - 1)
    counts = Counter(n for n, _ in named)
    seen: Counter[str] = Counter()
    out = []
    for k, (n, s) in enumerate(named):
        if k in auto and counts[n] > 1:
            seen[n] += 1
            n = f"{n}-{seen[n]}"
        out.append((n, s))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{attr} names must be unique; got {names}.")
    for n, s in out:
        if not hasattr(s, "transform"):
            raise TypeError(f"{attr} step {n!r} must be a transformer with transform(X); got {type(s).__name__}.")
    return out


def _prefixed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=["clip"], errors="ignore")
    return frame.add_prefix(f"{name}__")


def _run(step: Any, X: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    if hasattr(step, "transform_with_params"):
        return step.transform_with_params(X)
    Xt = np.asarray(step.transform(X))
    return Xt, pd.DataFrame({"length_in": [X.shape[1]] * len(X), "length_out": [Xt.shape[1]] * len(X)})


class _Composite(BasePerturbation):
    """Shared machinery: named steps, nested get/set_params, child seeds and ``sr``."""

    _steps_attr: ClassVar[str] = "steps"
    clip_policy = "none"
    n_jobs = None

    def transform(self, X: Any) -> np.ndarray:
        """Perturb every clip of ``X``; see ``transform_with_params``."""
        return self.transform_with_params(X)[0]

    # -- nested parameters ---------------------------------------------------------
    def _named(self) -> list[tuple[str, Any]]:
        return _name_steps(getattr(self, self._steps_attr), self._steps_attr)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        out = super().get_params(deep=False)
        if not deep:
            return out
        try:
            named = self._named()
        except (TypeError, ValueError):
            return out
        for name, step in named:
            out[name] = step
            if hasattr(step, "get_params"):
                out.update({f"{name}__{k}": v for k, v in step.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any) -> _Composite:
        if not params:
            return self
        valid = super().get_params(deep=False)
        own = {k: v for k, v in params.items() if "__" not in k and k in valid}
        super().set_params(**own)
        rest = {k: v for k, v in params.items() if k not in own}
        if not rest:
            return self
        raw = list(getattr(self, self._steps_attr))
        names = [n for n, _ in self._named()]
        nested: dict[str, dict[str, Any]] = {}
        for key, value in rest.items():
            head, _, tail = key.partition("__")
            if head not in names:
                raise ValueError(
                    f"Invalid parameter {head!r} for {type(self).__name__}; valid step names "
                    f"are {names} and parameters {sorted(valid)}."
                )
            k = names.index(head)
            if tail:
                nested.setdefault(head, {})[tail] = value
            else:
                raw[k] = (head, value) if isinstance(raw[k], tuple) else value
        for head, sub in nested.items():
            k = names.index(head)
            step = raw[k][1] if isinstance(raw[k], tuple) else raw[k]
            step.set_params(**sub)
        setattr(self, self._steps_attr, raw)
        return self

    def _holds_gil(self) -> bool:
        return any(holds_gil(step) for _, step in self._named())

    # -- preparation ------------------------------------------------------------------
    def _prepare(self, entropy: int | None, sr: int | None) -> list[tuple[str, Any]]:
        """Clones of the steps, each with its own derived seed and the shared ``sr``."""
        return [
            (name, configure_step(step, entropy=entropy, index=k, sr=sr))
            for k, (name, step) in enumerate(self._named())
        ]

    def _start(self, X: Any) -> tuple[np.ndarray, list[tuple[str, Any]], int | None]:
        sr = check_sr(self.sr, type(self).__name__) if self.sr is not None else None
        self._check_params(sr)
        X = check_audio(X, owner=type(self).__name__)
        entropy = resolve_entropy(self.random_state) if self.random_state is not None else None
        return X, self._prepare(entropy, sr), entropy

    def fit(self, X: Any, y: Any = None) -> _Composite:
        """Validate parameters and ``X``; learns nothing.

        Returns
        -------
        self
        """
        X, _, _ = self._start(X)
        self.n_features_in_ = X.shape[1]
        return self

    @staticmethod
    def _check_length(name: str, X: np.ndarray, Xt: np.ndarray, owner: str) -> None:
        if Xt.shape != X.shape:
            raise ValueError(
                f"{owner} needs length-preserving steps, but {name!r} turned clips of "
                f"{X.shape[1]} samples into {Xt.shape[1]}. Use length='preserve'."
            )

    def _choose_and_apply(
        self, X: np.ndarray, prepared: list[tuple[str, Any]], choices: list[tuple[int, ...]]
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """Apply to each clip the steps it drew (in list order), grouping equal draws."""
        Xt = copy_batch(X)
        frames = []
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, c in enumerate(choices):
            groups.setdefault(tuple(sorted(c)), []).append(i)
        keys = origin_keys(X)  # every step draws by the clip it was given, whatever the steps before it did
        for combo, idx in groups.items():
            block = X[idx]
            cols: list[pd.DataFrame] = []
            for k in combo:
                name, step = prepared[k]
                with keyed_by([keys[i] for i in idx]):
                    out, p = _run(step, block)
                self._check_length(name, block, out, type(self).__name__)
                block = np.asarray(out, dtype=X.dtype)
                cols.append(_prefixed(name, p).reset_index(drop=True))
            Xt[idx] = block
            frame = pd.concat(cols, axis=1) if cols else pd.DataFrame(index=range(len(idx)))
            frame.insert(0, "applied", [", ".join(prepared[k][0] for k in combo) or "none"] * len(idx))
            frame.insert(0, "clip", idx)
            frames.append(frame)
        table = pd.concat(frames, ignore_index=True).sort_values("clip").reset_index(drop=True)
        table.insert(1, "perturbation", type(self).__name__)
        return Xt, table

    def _generators(self, X: np.ndarray, entropy: int | None) -> list[np.random.Generator]:
        base = entropy if entropy is not None else resolve_entropy(None)
        return clip_generators(base, X, type(self).__name__)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class Compose(_Composite):
    """Apply steps one after the other; each step gets its own child seed.

    A random step inside a composite draws by the clip the composite was
    given, not by the previous step's output, so the same clip draws the same
    noise, reverb or choice whether it arrives as float32 or float64 (the
    previous steps' output differs between the two in its last bits).

    Parameters
    ----------
    steps : list of transformers or (name, transformer) pairs
        Unnamed steps are named after their class in lower case (``addnoise``,
        or ``addnoise-1``, ``addnoise-2`` when repeated), as in
        :func:`sklearn.pipeline.make_pipeline`; ``set_params(addnoise__snr_db=10)``
        reaches into a step.
    sr : int or None, default=None
        Sample rate given to every step whose own ``sr`` is None.
    random_state : int, RandomState or None, default=None
        When set, overrides the ``random_state`` of every step (nested ones too)
        with a seed derived from it and the step's position.

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit.perturbations import AddNoise, Compose, Gain
    >>> X = np.random.default_rng(0).standard_normal((2, 8000)) * 0.1
    >>> chain = Compose([Gain(gain_db=-3), AddNoise(snr_db=20)], random_state=0)
    >>> Xt, params = chain.transform_with_params(X)
    >>> [c for c in params.columns if c.endswith("snr_db_realised")]
    ['addnoise__snr_db_realised']
    """

    def __init__(self, steps=None, *, sr=None, random_state=None):
        self.steps = steps
        self.sr = sr
        self.random_state = random_state

    def transform_with_params(self, X: Any) -> tuple[np.ndarray, pd.DataFrame]:
        """Apply every step in order and report each step's per-clip values."""
        X, prepared, _ = self._start(X)
        frames = [pd.DataFrame({"clip": np.arange(len(X)), "perturbation": "Compose"})]
        Xt = X
        keys = origin_keys(X)  # every step draws by the clip Compose was given, not by the previous step's output
        for name, step in prepared:
            with keyed_by(keys):
                out, p = _run(step, Xt)
            Xt = np.asarray(out, dtype=X.dtype)
            frames.append(_prefixed(name, p).reset_index(drop=True))
        return Xt, pd.concat(frames, axis=1)


class OneOf(_Composite):
    """Apply to each clip one transform drawn at random.

    Parameters
    ----------
    transforms : list of transformers or (name, transformer) pairs
        Length-preserving transforms.
    weights : list of float or None, default=None
        Probabilities of the transforms (normalised); uniform by default.
    sr : int or None, default=None
    random_state : int, RandomState or None, default=None
        Seeds the draws (per clip, from its content) and the transforms.

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit.perturbations import Gain, OneOf
    >>> X = np.random.default_rng(0).standard_normal((8, 100))  # one draw per clip: both appear
    >>> t = OneOf([Gain(gain_db=-6), Gain(gain_db=6)], random_state=0)
    >>> Xt, params = t.transform_with_params(X)
    >>> sorted(set(params["applied"]))
    ['gain-1', 'gain-2']
    """

    _steps_attr: ClassVar[str] = "transforms"

    def __init__(self, transforms=None, *, weights=None, sr=None, random_state=None):
        self.transforms = transforms
        self.weights = weights
        self.sr = sr
        self.random_state = random_state

    def _probabilities(self, n: int) -> np.ndarray:
        if self.weights is None:
            return np.full(n, 1.0 / n)
        w = np.asarray(self.weights, dtype=float)
        if w.shape != (n,) or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"weights must be {n} non-negative numbers with a positive sum (one per "
                f"transform); got {self.weights!r}."
            )
        return w / w.sum()

    def transform_with_params(self, X: Any) -> tuple[np.ndarray, pd.DataFrame]:
        """Apply one drawn transform per clip; ``applied`` names it."""
        X, prepared, entropy = self._start(X)
        p = self._probabilities(len(prepared))
        choices = [(int(g.choice(len(prepared), p=p)),) for g in self._generators(X, entropy)]
        return self._choose_and_apply(X, prepared, choices)


class SomeOf(_Composite):
    """Apply to each clip a random subset of the transforms, in list order.

    Parameters
    ----------
    transforms : list of transformers or (name, transformer) pairs
        Length-preserving transforms.
    n : int or (int, int or None), default=(1, None)
        How many to apply: exactly ``n``, or a number drawn uniformly from
        ``[low, high]`` (``None``: all of them).
    sr : int or None, default=None
    random_state : int, RandomState or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit.perturbations import Gain, SomeOf
    >>> X = np.random.default_rng(0).standard_normal((3, 100))
    >>> t = SomeOf([Gain(gain_db=-6), Gain(gain_db=6), Gain(gain_db=1)], n=2, random_state=0)
    >>> t.transform_with_params(X)[1]["applied"].str.count(",").tolist()
    [1, 1, 1]
    """

    _steps_attr: ClassVar[str] = "transforms"

    def __init__(self, transforms=None, n=(1, None), *, sr=None, random_state=None):
        self.transforms = transforms
        self.n = n
        self.sr = sr
        self.random_state = random_state

    def _bounds(self, m: int) -> tuple[int, int]:
        if isinstance(self.n, tuple) and len(self.n) == 2:
            low = check_number(self.n[0], "n[0]", low=0, high=m, integer=True)
            high = m if self.n[1] is None else check_number(self.n[1], "n[1]", low=low, high=m, integer=True)
            return low, high
        k = check_number(self.n, "n", low=0, high=m, integer=True)
        return k, k

    def transform_with_params(self, X: Any) -> tuple[np.ndarray, pd.DataFrame]:
        """Apply a drawn subset per clip; ``applied`` names the steps."""
        X, prepared, entropy = self._start(X)
        low, high = self._bounds(len(prepared))
        choices = []
        for g in self._generators(X, entropy):
            k = int(g.integers(low, high + 1))
            choices.append(tuple(int(c) for c in g.choice(len(prepared), size=k, replace=False)))
        return self._choose_and_apply(X, prepared, choices)


class RandomApply(_Composite):
    """Apply ``perturbation`` to each clip with probability ``p``.

    Parameters
    ----------
    perturbation : transformer
        A length-preserving transform.
    p : float, default=0.5
        Probability in [0, 1].
    sr : int or None, default=None
    random_state : int, RandomState or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit.perturbations import Gain, RandomApply
    >>> X = np.random.default_rng(0).standard_normal((200, 10))
    >>> _, params = RandomApply(Gain(gain_db=6), p=0.25, random_state=0).transform_with_params(X)
    >>> 0.15 < float((params["applied"] == "gain").mean()) < 0.35
    True
    """

    def __init__(self, perturbation=None, p=0.5, *, sr=None, random_state=None):
        self.perturbation = perturbation
        self.p = p
        self.sr = sr
        self.random_state = random_state

    def _named(self):
        if self.perturbation is None:
            raise ValueError(
                "RandomApply needs a perturbation, e.g. RandomApply(AddNoise(snr_db=20), p=0.5)."
            )
        return _name_steps([self.perturbation], "perturbation")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, with ``perturbation__*`` for the wrapped step."""
        return BaseEstimator.get_params(self, deep=deep)

    def set_params(self, **params: Any) -> RandomApply:
        """Set parameters, ``perturbation__*`` reaching into the wrapped step."""
        return BaseEstimator.set_params(self, **params)

    def transform_with_params(self, X: Any) -> tuple[np.ndarray, pd.DataFrame]:
        """Apply the step to the clips that drew it; ``applied`` says which."""
        X, prepared, entropy = self._start(X)
        p = check_number(self.p, "p", low=0, high=1)
        choices = [(0,) if g.random() < p else () for g in self._generators(X, entropy)]
        return self._choose_and_apply(X, prepared, choices)
