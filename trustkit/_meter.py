"""The contract every trustkit meter shares: parameters, clone rule, seeds, one parallel map.

:class:`SensitivityMeter`, :class:`TransferabilityProbe` and
:class:`FidelityComplexityScorer` (and :func:`compare_encoders` through the
probe) derive from :class:`Meter`:

- the same parameter surface: ``n_bootstrap``, ``confidence``, ``n_jobs``,
  ``random_state``, ``verbose`` and ``memory``, checked by
  :meth:`Meter._check_common` before the first model call;
- one clone rule: the wrapped models (an encoder, a fitted black box) are
  fixed objects, kept as they are by :func:`sklearn.base.clone`; everything
  else is cloned;
- one seed tree (:class:`trustkit._seeds.SeedTree`) per call;
- one parallel map (:meth:`Meter._map`): threads by default (no pickling of
  audio and models; numpy, onnxruntime and torch release the GIL), any joblib
  backend under ``joblib.parallel_config``, one BLAS thread per worker for the
  whole section (no oversubscription, numbers independent of ``n_jobs``), and
  a progress bar on stderr when ``verbose``;
- one process pool (:class:`ProcessPool`) for the work that holds the GIL,
  which threads cannot share (the robustness meter's MP3 and Signalsmith
  perturbations).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import numbers
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from threadpoolctl import ThreadpoolController

from ._buffers import empty_batch
from ._cache import check_memory_folder
from ._interrupt import check as check_interrupt
from ._seeds import SeedTree
from ._validation import check_number

__all__ = ["Common", "InContext", "Meter", "ProcessPool", "can_pickle", "parallel_map", "process_pool"]


@dataclasses.dataclass(frozen=True)
class Common:
    """The checked common parameters of one call."""

    n_bootstrap: int
    confidence: float
    seeds: SeedTree
    verbose: bool


class Meter(BaseEstimator):
    """Base of the meters: shared parameters, clone rule, seed tree and parallel map."""

    #: constructor parameters that hold fixed (possibly fitted) models: clone keeps them as they are
    _fixed_params: ClassVar[tuple[str, ...]] = ()

    def __sklearn_clone__(self) -> Meter:
        # an encoder or an explained model is a fixed black box (cloning would drop its fit): keep it
        params = {k: (v if k in self._fixed_params else clone(v, safe=False))
                  for k, v in self.get_params(deep=False).items()}
        return type(self)(**params)

    def check_params(self) -> Meter:
        """Check the shared parameters now, as scoring would before its first model call.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Naming the parameter, what was expected and what came.

        Examples
        --------
        >>> from trustkit import TransferabilityProbe
        >>> TransferabilityProbe("precomputed", confidence=95).check_params()
        Traceback (most recent call last):
        ...
        ValueError: confidence must be in (0, 1), got 95.
        """
        self._check_common()
        return self

    def _check_common(self) -> Common:
        """Check the shared parameters (before any model call) and root this call's seed tree."""
        n_boot = check_number(self.n_bootstrap, "n_bootstrap", low=10, integer=True)
        conf = check_number(self.confidence, "confidence", low=0, high=1, low_inclusive=False, high_inclusive=False)
        n_jobs = self.n_jobs
        if n_jobs is not None and (not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0):
            raise ValueError(f"n_jobs must be None, a positive int or a negative int (-1: all cores); got {n_jobs!r}.")
        if not isinstance(self.verbose, (bool, numbers.Integral)) or (not isinstance(self.verbose, bool) and self.verbose < 0):
            raise ValueError(f"verbose must be True/False (or a non-negative int); got {self.verbose!r}.")
        if self.memory is not None and not isinstance(self.memory, (str, os.PathLike)) and not hasattr(self.memory, "cache"):
            raise ValueError(f"memory must be None, a folder (str or path) or a joblib.Memory; got {self.memory!r}.")
        check_memory_folder(self.memory)
        if getattr(self, "chunk_size", None) is not None:  # the meters that read files
            check_number(self.chunk_size, "chunk_size", low=1, integer=True)
        return Common(n_bootstrap=n_boot, confidence=conf, seeds=SeedTree(self.random_state), verbose=bool(self.verbose))

    def _record(self, common: Common, **seconds: float | None) -> dict[str, Any]:
        """The part of every report's ``config`` that every meter writes the same way.

        Who measured, with which shared settings (the entropy that rooted the
        seed tree included, so a run with ``random_state=None`` can be
        repeated), and how long each stage took (``timing``, in seconds).
        """
        rs = self.random_state
        return {
            "meter": type(self).__name__,
            "random_state": rs if rs is None or isinstance(rs, numbers.Integral) else type(rs).__name__,
            "seed_entropy": common.seeds.entropy,
            "n_bootstrap": common.n_bootstrap, "confidence": common.confidence, "n_jobs": self.n_jobs,
            "timing": {k: (None if v is None else float(v)) for k, v in seconds.items()},
        }

    def _map(self, fn: Callable[..., Any], items: Iterable[Any], *, desc: str,
             consume: Callable[[int, Any], None] | None = None, prefer: str = "threads") -> list[Any]:
        """:func:`parallel_map` with this meter's ``n_jobs`` and ``verbose``."""
        return parallel_map(fn, items, n_jobs=self.n_jobs, verbose=bool(self.verbose), desc=desc, consume=consume,
                            prefer=prefer)


#: (number of imported modules, the controller that scanned the process's thread pools then)
_CONTROLLER: tuple[int, ThreadpoolController] | None = None


def one_blas_thread() -> Any:
    """``threadpool_limits(limits=1)`` without scanning the process's libraries on every call.

    threadpoolctl finds the BLAS and OpenMP libraries by walking the loaded
    shared objects, 5 ms per call (a quarter of a small scorer run); the scan
    is kept until a module is imported (how a new native library arrives).
    """
    global _CONTROLLER
    n = len(sys.modules)
    cached = _CONTROLLER
    if cached is None or cached[0] != n:
        cached = _CONTROLLER = (n, ThreadpoolController())
    return cached[1].limit(limits=1)


class InContext:
    """``fn`` called in a copy of the context it was made in (after a check for the command line's Ctrl-C).

    For workers on threads: a block the caller opened (a
    :mod:`contextvars` variable) holds in each of them, and none leaks
    between them. A pickled copy (a process or cluster backend) arrives
    without the context -- contexts do not cross processes -- and calls
    ``fn`` as it is, recording its warnings: they travel back with the
    result (:class:`Relayed`) or attached to the error, and
    :func:`parallel_map` raises them again in the caller.
    """

    def __init__(self, fn: Callable[..., Any], inherit: bool = True) -> None:
        self.fn = fn
        self.context = contextvars.copy_context() if inherit else None

    def __call__(self, *args: Any) -> Any:
        check_interrupt()
        if self.context is not None:
            return self.context.copy().run(self.fn, *args)
        with warnings.catch_warnings(record=True) as caught:  # in another process: nobody would see them here
            warnings.simplefilter("always")
            try:
                result = self.fn(*args)
            except Exception as exc:
                exc.trustkit_warnings = _as_pairs(caught)  # pickled with the error
                raise
        return Relayed(result, _as_pairs(caught)) if caught else result

    def __reduce__(self) -> tuple[Any, ...]:
        return (InContext, (self.fn, False))


@dataclasses.dataclass
class Relayed:
    """A result computed in another process, with the warnings it raised there."""

    result: Any
    warnings: list[tuple[type[Warning], str]]


def _as_pairs(caught: list[warnings.WarningMessage]) -> list[tuple[type[Warning], str]]:
    return [(w.category, str(w.message)) for w in caught]


def _warn_again(pairs: Iterable[tuple[type[Warning], str]]) -> None:
    for category, message in pairs:
        warnings.warn(message, category, stacklevel=4)


def can_pickle(obj: Any) -> bool:
    """Whether ``obj`` can be sent to a worker process (as loky sends it: cloudpickle).

    Examples
    --------
    >>> can_pickle(len), can_pickle(threading.Lock())
    (True, False)
    """
    try:
        import cloudpickle  # joblib >= 1.6 depends on it
    except ImportError:  # pragma: no cover - joblib < 1.6 carries its own copy
        from joblib.externals import cloudpickle
    try:
        cloudpickle.dumps(obj)
    except Exception:  # any reason it cannot be sent
        return False
    return True


def _can_send(n_jobs: int | None, call: InContext, item: Any) -> bool:
    """Whether a map on loky's processes could send ``call`` and its items (the first stands for all).

    Pickled only when the map would run on loky: not on one worker, nor under
    a configured backend (the configuration decides there).
    """
    from joblib import effective_n_jobs
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend(prefer="processes")
    if type(backend).__name__ != "LokyBackend" or effective_n_jobs(n_jobs) < 2:
        return True
    return can_pickle((call, item))


def parallel_map(fn: Callable[..., Any], items: Iterable[Any], *, n_jobs: int | None = None, verbose: bool = False,
                 desc: str = "", consume: Callable[[int, Any], None] | None = None,
                 prefer: str = "threads") -> list[Any]:
    """``[fn(*item) for item in items]`` in parallel, in order: trustkit's one parallel map.

    Threads by default (``joblib.parallel_config`` chooses another backend);
    one BLAS thread per worker for the whole section, so that workers do not
    oversubscribe the cores and the numbers do not depend on ``n_jobs``; a
    progress bar on stderr when ``verbose``; the command line's Ctrl-C stops
    the remaining items. Each item is a tuple of arguments, and each result
    must depend on its own item only (callers seed items by their index).
    Each item runs in a copy of the caller's :mod:`contextvars` context, so
    a block the caller opened (:func:`~trustkit.fidelity.shared_responses`,
    :func:`~trustkit.perturbations.known_loudness`) holds in the workers.
    With ``consume``, each result is handed to ``consume(i, result)`` as it
    arrives, in order, and not kept (the list returned is empty): memory then
    holds the results in flight, not all of them. ``prefer="processes"``:
    joblib's loky worker processes unless ``joblib.parallel_config`` chose
    a backend (for work that holds the GIL); when ``fn`` or an item cannot
    be pickled (an encoder holding a lock or a session), threads instead.
    Warnings raised in a worker process are raised again here, with its
    result or before its error.
    """
    items = list(items)
    call = InContext(fn)
    if prefer == "processes" and items and not _can_send(n_jobs, call, items[0]):
        prefer = "threads"

    results = []
    from tqdm import tqdm

    with one_blas_thread(), tqdm(total=len(items), desc=desc, file=sys.stderr, dynamic_ncols=True,
                                           disable=not verbose) as bar:
        try:
            for i, res in enumerate(Parallel(n_jobs=n_jobs, prefer=prefer, return_as="generator")(
                    delayed(call)(*item) for item in items)):
                if isinstance(res, Relayed):
                    _warn_again(res.warnings)
                    res = res.result
                if consume is None:
                    results.append(res)
                else:
                    consume(i, res)
                bar.update(1)
        except Exception as exc:
            _warn_again(getattr(exc, "trustkit_warnings", ()))
            raise
    return results


#: the most audio one task of a :class:`ProcessPool` carries each way
BLOCK_BYTES = 64 * 2**20


class ProcessPool:
    """Worker processes for work that holds Python's GIL, started on first use and shared by a call's threads.

    Threads cannot run such work side by side (an MP3 encoder, Signalsmith
    Stretch); processes can. The threads of a meter's parallel map hand it
    blocks of clips and wait (releasing the GIL) while the processes work.
    A pickled pool (a process backend sending a meter's items away) arrives
    with no workers: the work then runs where it is, already in a process of
    its own. Workers are loky's (:mod:`joblib.externals.loky`): they never
    import the caller's ``__main__``, so scripts and notebooks need no
    ``if __name__ == "__main__"`` guard. Warnings raised in a worker are
    raised again in the caller.

    Parameters
    ----------
    n_workers : int
        Processes; 0 or 1: none (the work runs in the calling thread).
    """

    def __init__(self, n_workers: int) -> None:
        self.n_workers = int(n_workers)
        self._executor: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, int]:
        return {"n_workers": 0}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["n_workers"])

    @property
    def active(self) -> bool:
        """Whether work goes to worker processes."""
        return self.n_workers > 1

    def _start(self) -> Any:
        with self._lock:
            if self._executor is None:
                from joblib.externals.loky import ProcessPoolExecutor

                # one BLAS thread per worker: the workers are the parallelism
                one = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
                self._executor = ProcessPoolExecutor(max_workers=self.n_workers, env=one)
            return self._executor

    def warm(self, modules: Iterable[str]) -> None:
        """Start the workers now and have each import ``modules`` (while the caller does other work)."""
        if not self.active:
            return
        import importlib

        executor = self._start()
        for name in sorted(set(modules)):
            for _ in range(self.n_workers):
                executor.submit(importlib.import_module, name)

    def map_rows(self, fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
        """``fn(X)`` computed as ``fn`` of blocks of rows in the workers, for a ``fn`` that treats rows independently.

        At least one block per worker, each under :data:`BLOCK_BYTES`; the
        blocks' outputs are stacked in order into one batch.
        """
        if not self.active or len(X) < 2:
            return fn(X)
        n_blocks = min(len(X), max(self.n_workers, math.ceil(X.nbytes / BLOCK_BYTES)))
        size = math.ceil(len(X) / n_blocks)
        executor = self._start()
        check_interrupt()
        relaying = InContext(fn, inherit=False)  # as a process backend runs it: its warnings come back with it
        futures = [executor.submit(relaying, X[i : i + size]) for i in range(0, len(X), size)]
        Y = None
        try:
            for i, future in enumerate(futures):
                block = _unrelayed(future)
                block = np.asarray(block)
                if Y is None:
                    Y = empty_batch((len(X), *block.shape[1:]), block.dtype)
                elif block.shape[1:] != Y.shape[1:]:
                    raise RuntimeError(f"{getattr(fn, '__name__', fn)!r} gave blocks of shapes {Y.shape[1:]} and "
                                       f"{block.shape[1:]}: it must treat rows alike to run in blocks.")
                Y[i * size : i * size + len(block)] = block
        finally:
            for future in futures:
                future.cancel()
        return Y

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers (at once with ``kill``: after an error or an interrupt)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, kill_workers=kill)


def _unrelayed(future: Any) -> Any:
    """The result of a future running :class:`InContext` in a worker process, its warnings raised again here."""
    try:
        res = future.result()
    except Exception as exc:
        _warn_again(getattr(exc, "trustkit_warnings", ()))
        raise
    if isinstance(res, Relayed):
        _warn_again(res.warnings)
        return res.result
    return res


@contextlib.contextmanager
def process_pool(n_jobs: int | None, *, prefer: str = "threads") -> Iterator[ProcessPool]:
    """A :class:`ProcessPool` of ``joblib.effective_n_jobs(n_jobs)`` workers for the block, started on first use.

    No workers when the backend the meter's map will use (the active joblib
    backend, else ``prefer``'s) does not run on threads (loky, Dask, Ray):
    the meter's items then run in processes of their own already, and more
    processes would only compete with them.
    """
    from joblib import effective_n_jobs
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend(prefer=prefer)
    threads = getattr(backend, "uses_threads", False) or type(backend).__name__ == "SequentialBackend"
    pool = ProcessPool(effective_n_jobs(n_jobs) if threads else 0)
    try:
        yield pool
    except BaseException:
        pool.close(kill=True)
        raise
    pool.close()
