"""One place for ``memory=`` caching (joblib.Memory): embeddings and perturbed audio.

The cache is made of pickles, and loading a pickle runs code: point
``memory=`` only at a folder you trust. An object joblib cannot hash (a lambda)
is computed uncached, with a :class:`~trustkit.TrustkitWarning`.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

from .exceptions import TrustkitWarning

__all__ = ["cached_call"]


def cached_call(fn: Callable[..., Any], memory: Any, *args: Any, what: str) -> Any:
    """``fn(*args)``, through ``memory`` when it is given.

    Parameters
    ----------
    fn : callable
        A module-level function (joblib keys the cache by its code and arguments).
    memory : str, joblib.Memory or None
    what : str
        What is computed, for the warning when the arguments cannot be hashed.
    """
    if memory is None:
        return fn(*args)
    from sklearn.utils.validation import check_memory

    try:
        return check_memory(memory).cache(fn)(*args)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        if "pickle" not in str(exc).lower():
            raise
        warnings.warn(
            f"{what} is not cached: its inputs cannot be hashed ({exc.__class__.__name__}; e.g. a lambda). "
            "Use a module-level function or class to cache it.",
            TrustkitWarning,
            stacklevel=3,
        )
        return fn(*args)
