"""Output batches that reuse released memory: no fresh pages for every large output.

glibc serves an allocation above its mmap threshold (at most 32 MiB on 64-bit
Linux) with fresh pages from the kernel and returns them when the array is
freed, so every call that returns a batch of that size pays for the kernel
zeroing its pages on first touch. For a step that reads and writes each sample
once (gain, bit crush, clipping, filters) that is a second pass over the
output: at 8 clips x 30 s at 44.1 kHz (40 MiB) the same multiply took 0.68 ms
per clip into fresh pages against 0.42 ms into memory already mapped, and a
peer that returns one clip at a time (5 MiB, under the threshold) stays on
the reused side.

:func:`empty_batch` keeps the memory of the large batches it handed out and gives a
buffer out again only when nothing refers to it any more: the returned array
is a view of a buffer the pool holds, every view of a view keeps that buffer
referenced (numpy collapses view chains onto the array that owns the data),
so a buffer whose only references are the pool's is one no caller can still
read. Process-wide tuning of the allocator (``mallopt``) is not a library's to
change; this reuses only trustkit's own outputs.

The pool tracks at most :data:`MAX_BYTES` of buffers (in use or released;
larger demands get plain ``np.empty``) and keeps at most :data:`MAX_IDLE`
released ones past each call (the least recently used beyond that are freed);
:func:`release` (public as ``trustkit.perturbations.release_buffers``)
frees every released one now.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

#: outputs smaller than this come from ``np.empty`` (the allocator already reuses them)
MIN_BYTES = 1 << 20
#: released buffers kept for reuse past a call; beyond this the least recently used are freed
MAX_IDLE = 2
#: the most memory the pool tracks (buffers in use and released); past it outputs come from ``np.empty``
MAX_BYTES = 1 << 30

_lock = threading.Lock()
_pool: list[np.ndarray] = []  # 1-D uint8 buffers, most recently used last


def _references_when_idle() -> int:
    """``sys.getrefcount`` of a buffer held by a list and nothing else, read as :func:`_idle_positions` reads it."""
    canary = [np.empty(0, dtype=np.uint8)]
    return next(sys.getrefcount(canary[i]) for i in range(1))


_IDLE_REFS = _references_when_idle()


def empty_batch(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised C-contiguous array, as ``np.empty``, on released memory when there is some.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype

    Returns
    -------
    ndarray
        Writable, C-contiguous; its contents are arbitrary (as ``np.empty``).

    Examples
    --------
    >>> a = empty_batch((4, 1 << 18), np.float32)
    >>> a.shape, a.dtype, a.flags.c_contiguous
    ((4, 262144), dtype('float32'), True)
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    with _lock:
        idle = _idle_positions()
        match = next((i for i in reversed(idle) if _pool[i].nbytes == nbytes), None)
        others = [i for i in idle if i != match]
        drop = set(others[: max(len(others) - (MAX_IDLE - 1), 0)])
        buf = _pool[match] if match is not None else None
        _pool[:] = [b for i, b in enumerate(_pool) if i not in drop and i != match]
        if buf is None:
            buf = np.empty(nbytes, dtype=np.uint8)
            if sum(b.nbytes for b in _pool) + nbytes > MAX_BYTES:
                return buf.view(dtype).reshape(shape)  # not tracked: freed with its last view
        _pool.append(buf)
        return buf.view(dtype).reshape(shape)


def _idle_positions() -> list[int]:
    """Positions in the pool of buffers nothing outside the pool refers to (call with the lock held)."""
    return [i for i in range(len(_pool)) if sys.getrefcount(_pool[i]) == _IDLE_REFS]


def empty_batch_like(X: np.ndarray) -> np.ndarray:
    """:func:`empty_batch` with the shape and dtype of ``X`` (always C-contiguous)."""
    return empty_batch(X.shape, X.dtype)


def copy_batch(X: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``X`` in a buffer from :func:`empty_batch`."""
    out = empty_batch(X.shape, X.dtype)
    np.copyto(out, X)
    return out


def release() -> int:
    """Free every released buffer the pool keeps; returns the bytes freed.

    Buffers still referenced (an output someone holds) stay alive with their
    holders and leave the pool.

    Examples
    --------
    >>> release() >= 0
    True
    """
    with _lock:
        idle = _idle_positions()
        freed = sum(_pool[i].nbytes for i in idle)
        _pool.clear()
    return freed
