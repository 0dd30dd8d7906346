"""One place for randomness: ``random_state`` to entropy, and the seed tree every meter draws from.

A meter's random choices (folds, fits, bootstrap resamples, instance
neighbourhoods, audio-distance projections, perturbation draws) are the
leaves of one tree rooted at the call's entropy: leaf ``(purpose, *index)`` is
``SeedSequence(entropy, spawn_key=(PURPOSES[purpose], *index))``, exactly the
child ``SeedSequence(entropy).spawn`` hands out at that path. Leaves are
independent streams, fixed by their path alone, so the same ``random_state``
gives the same numbers whatever ``n_jobs``, batch size or order of work.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["PURPOSES", "SeedTree", "child_seed", "resolve_entropy"]

#: the tree's first level: one branch per kind of random choice (append only: the numbers are the seeds)
PURPOSES: dict[str, int] = {
    "folds": 0,  # outer cross-validation folds
    "fit": 1,  # a fold's probe fit and inner search (index: fold)
    "bootstrap": 2,  # a table row's bootstrap (index: setting or metric, then role)
    "headline": 3,  # the headline's bootstrap
    "estimators": 4,  # jackknife groups of the training-free estimators
    "knn": 5,  # the k-NN estimator's bootstrap
    "perturbation": 6,  # a setting's perturbation draws (index: setting)
    "audio_distance": 7,  # random projections of an audio distance
    "instance": 8,  # an explained instance's neighbourhood and random orders (index: instance)
    "summary": 9,  # the explanation table's bootstrap
    "background": 10,  # the marginal baseline's background rows
    "task_robustness": 11,
    "quality": 12,  # a setting's quality interval (index: setting)  # a perturbed setting's interval and paired drop in a probe (index: setting, 0 or 1)
}


def resolve_entropy(random_state: Any) -> int:
    """Turn ``random_state`` into one integer of entropy for this call.

    An ``int`` is used as it is (so results are reproducible); a
    ``RandomState``/``Generator`` is drawn from (advancing it, as in
    scikit-learn); ``None`` takes fresh OS entropy.

    Examples
    --------
    >>> resolve_entropy(7)
    7
    >>> resolve_entropy(-1)
    Traceback (most recent call last):
    ...
    ValueError: random_state must be a non-negative int, got -1.
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


def child_seed(entropy: int, index: int) -> int:
    """A reproducible seed for the ``index``-th child of a composite perturbation."""
    return int(np.random.SeedSequence([entropy, index]).generate_state(1, np.uint32)[0])


class SeedTree:
    """The seeds of one call, by path: ``tree.seed("bootstrap", k, role)``.

    Parameters
    ----------
    random_state : None, int, RandomState or Generator
        Resolved once (a RandomState is drawn from once), so every leaf of
        the call hangs off the same root.

    Examples
    --------
    >>> tree = SeedTree(0)
    >>> tree.seed("bootstrap", 3) == SeedTree(0).seed("bootstrap", 3)
    True
    >>> tree.seed("bootstrap", 3) != tree.seed("bootstrap", 4)
    True
    >>> import numpy as np
    >>> child = np.random.SeedSequence(0).spawn(3)[2].spawn(4)[3]  # the path spawn() takes
    >>> tree.seed("bootstrap", 3) == int(child.generate_state(1, np.uint32)[0])
    True
    """

    def __init__(self, random_state: Any) -> None:
        self.entropy = resolve_entropy(random_state)

    def seed(self, purpose: str, *index: int) -> int:
        """The seed (a uint32) at ``(purpose, *index)``."""
        try:
            branch = PURPOSES[purpose]
        except KeyError:
            raise KeyError(f"unknown seed purpose {purpose!r}; add it to trustkit._seeds.PURPOSES") from None
        seq = np.random.SeedSequence(self.entropy, spawn_key=(branch, *map(int, index)))
        return int(seq.generate_state(1, np.uint32)[0])

    def rng(self, purpose: str, *index: int) -> np.random.Generator:
        """A generator seeded at ``(purpose, *index)``."""
        return np.random.default_rng(self.seed(purpose, *index))
