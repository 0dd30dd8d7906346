"""One place for ``memory=`` caching (joblib.Memory): embeddings and perturbed audio.

The cache is made of pickles, and loading a pickle runs code: point
``memory=`` only at a folder you trust. An object joblib cannot hash (a lambda)
is computed uncached, with a :class:`~trustkit.TrustkitWarning`.

The first call of a function in a cache folder writes the function's code
there, and every call compares against it. Two threads making that first
call at once race on the file: a thread that reads it created but not yet
written warns of a name collision between the function and itself (at "line
-1", joblib/joblib#1060) and clears the function's cache. So the first call
per (folder, function) in a process runs alone; the calls after it run
concurrently.
"""

from __future__ import annotations

import os
import pickle
import threading
import warnings
from collections.abc import Callable
from typing import Any

from .exceptions import TrustkitWarning

__all__ = ["cached_call", "in_cache"]


def check_memory_folder(memory: Any) -> None:
    """Refuse an empty folder name: joblib would cache into the working folder."""
    if isinstance(memory, (str, os.PathLike)) and not os.fspath(memory).strip():
        raise ValueError("memory must name a folder; got an empty path, which would cache into the working folder. "
                         "Pass memory='cache-dir' (or None for no cache).")


def cached_call(fn: Callable[..., Any], memory: Any, *args: Any, what: str, ignore: tuple[str, ...] = ()) -> Any:
    """``fn(*args)``, through ``memory`` when it is given.

    Parameters
    ----------
    fn : callable
        A module-level function (joblib keys the cache by its code and arguments).
    memory : str, joblib.Memory or None
    what : str
        What is computed, for the warning when the arguments cannot be hashed.
    ignore : tuple of str
        Arguments of ``fn`` that say how, not what, it computes (e.g. a
        process pool): left out of the cache key.
    """
    check_memory_folder(memory)
    if memory is None:
        return fn(*args)
    memory = _as_memory(memory)
    key = (str(getattr(memory, "location", None)), fn.__module__, fn.__qualname__)
    if key in _STARTED:
        return _call(memory, fn, args, what, ignore)
    with _LOCKS_LOCK:
        lock = _FIRST_CALL.setdefault(key, threading.Lock())
    with lock:  # one lock per (folder, function): other functions and folders are not held up
        if key in _STARTED:
            return _call(memory, fn, args, what, ignore)
        result = _call(memory, fn, args, what, ignore)
        _STARTED.add(key)
        return result


def _as_memory(memory: Any) -> Any:
    """A joblib.Memory from a folder (str or path) or a Memory."""
    from sklearn.utils.validation import check_memory

    return check_memory(os.fspath(memory) if isinstance(memory, os.PathLike) else memory)


def in_cache(fn: Callable[..., Any], memory: Any, *args: Any, ignore: tuple[str, ...] = ()) -> bool:
    """Whether ``memory`` holds ``fn(*args)`` (False without ``memory`` or when the arguments cannot be hashed)."""
    if memory is None:
        return False
    try:
        return bool(_as_memory(memory).cache(fn, ignore=list(ignore)).check_call_in_cache(*args))
    except (pickle.PicklingError, AttributeError, TypeError):
        return False


#: (cache folder, module, function) whose code joblib has written in this process
_STARTED: set[tuple[str, str, str]] = set()
_FIRST_CALL: dict[tuple[str, str, str], threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _call(memory: Any, fn: Callable[..., Any], args: tuple[Any, ...], what: str, ignore: tuple[str, ...]) -> Any:
    try:
        return memory.cache(fn, ignore=list(ignore))(*args)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        if "pickle" not in str(exc).lower():
            raise
        warnings.warn(
            f"{what} is not cached: its inputs cannot be hashed ({exc.__class__.__name__}; e.g. a lambda). "
            "Use a module-level function or class to cache it.",
            TrustkitWarning,
            stacklevel=4,
        )
        return fn(*args)
