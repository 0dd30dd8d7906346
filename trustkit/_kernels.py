"""Compiled kernels: fused single-pass loops where numpy would read the samples several times.

The cheapest perturbations (:func:`scale`, :func:`quantise`) transform and
check the input's values in one pass; :func:`kweighted_segment_energy` runs the
BS.1770 K-weighting filter and sums the squared output per segment without the
temporaries of ``lfilter``, ``square`` and ``reduceat``.

For a step that costs one multiply per sample, a separate finite/peak pass
over the input costs as much as the step itself. These kernels read each
sample once, write the output, and accumulate the input's energy (a sum of
squares: NaN or inf if any sample is, and at least the squared peak), which
:func:`trustkit._validation.check_audio_values` turns into the same checks
and messages as :func:`~trustkit._validation.check_audio`. ``fastmath`` is
limited to reassociation and contraction: NaN and inf still propagate.

numba (a dependency of librosa) compiles them on first use and caches the
machine code next to this file.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

_FLAGS = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS)
def scale(X: np.ndarray, g: float, Y: np.ndarray, e: np.ndarray) -> None:  # pragma: no cover - compiled
    """``Y = X * g`` (2-D, same shape); ``e[r]`` = energy of row ``r`` of ``X``, summed in ``X``'s dtype.

    Summing in float32 keeps the loop as fast as the multiply alone (a float64
    accumulator halves the vector width); the rounding is bounded, and
    :func:`trustkit._validation.check_audio_values` allows for it.
    """
    for r in range(X.shape[0]):
        s = X.dtype.type(0)
        for i in range(X.shape[1]):
            v = X[r, i]
            Y[r, i] = v * g
            s += v * v
        e[r] = s


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS)
def quantise(X: np.ndarray, q: float, Y: np.ndarray, e_sig: np.ndarray, e_err: np.ndarray) -> None:  # pragma: no cover
    """``Y = rint(X * q) / q`` (round half to even, as ``np.round``); per-row energies of ``X`` and of ``Y - X``."""
    for r in range(X.shape[0]):
        s = 0.0
        e = 0.0
        for i in range(X.shape[1]):
            v = X[r, i]
            y = np.rint(v * q) / q
            Y[r, i] = y
            d = y - v
            s += v * v
            e += d * d
        e_sig[r] = s
        e_err[r] = e


@numba.njit(cache=True, nogil=True)
def kweighted_segment_energy(x: np.ndarray, b: np.ndarray, a: np.ndarray, edges: np.ndarray,
                             out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Sum of squares of ``lfilter(b, a, x)`` over each segment ``edges[k]:edges[k + 1]``.

    ``b`` and ``a`` are a 4th-order filter normalised to ``a[0] == 1`` (the
    K-weighting); transposed direct form II with zero initial state, as
    ``scipy.signal.lfilter``, in float64 whatever the dtype of ``x``.
    ``edges`` starts at 0 and ends at ``len(x)``; ``out`` has ``len(edges) - 1``
    entries.
    """
    b0, b1, b2, b3, b4 = b[0], b[1], b[2], b[3], b[4]
    a1, a2, a3, a4 = a[1], a[2], a[3], a[4]
    z1 = z2 = z3 = z4 = 0.0
    seg = 0
    acc = 0.0
    nxt = edges[1]
    for i in range(x.shape[0]):
        if i == nxt:
            out[seg] = acc
            acc = 0.0
            seg += 1
            nxt = edges[seg + 1]
        v = np.float64(x[i])
        y = b0 * v + z1
        z1 = b1 * v - a1 * y + z2
        z2 = b2 * v - a2 * y + z3
        z3 = b3 * v - a3 * y + z4
        z4 = b4 * v - a4 * y
        acc += y * y
    out[seg] = acc


@numba.njit(cache=True, nogil=True)
def _sos_pass(sos: np.ndarray, zi: np.ndarray, ext: np.ndarray, forward: bool) -> None:  # pragma: no cover
    """Filter ``ext`` in place through the cascade ``sos``, from a steady state at its first (or last) sample.

    As ``scipy.signal.sosfilt(sos, ext, zi=zi * ext[0])`` (transposed direct
    form II, float64). Sections run two at a time with their states in
    registers: the second section's recurrence overlaps the first's, which
    halves the time of the usual one-section-at-a-time loop.
    """
    n = ext.shape[0]
    start = ext[0] if forward else ext[n - 1]
    s = 0
    while s < sos.shape[0]:
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        z0, z1 = zi[s, 0] * start, zi[s, 1] * start
        if s + 1 < sos.shape[0]:
            c0, c1, c2, d1, d2 = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], sos[s + 1, 5]
            w0, w1 = zi[s + 1, 0] * start, zi[s + 1, 1] * start
            for k in range(n):
                i = k if forward else n - 1 - k
                x = ext[i]
                u = b0 * x + z0
                z0 = b1 * x - a1 * u + z1
                z1 = b2 * x - a2 * u
                y = c0 * u + w0
                w0 = c1 * u - d1 * y + w1
                w1 = c2 * u - d2 * y
                ext[i] = y
            s += 2
        else:
            for k in range(n):
                i = k if forward else n - 1 - k
                x = ext[i]
                u = b0 * x + z0
                z0 = b1 * x - a1 * u + z1
                z1 = b2 * x - a2 * u
                ext[i] = u
            s += 1


@numba.njit(cache=True, nogil=True)
def sos_filtfilt(sos: np.ndarray, zi: np.ndarray, X: np.ndarray, padlen: int, Y: np.ndarray) -> None:  # pragma: no cover
    """Zero-phase filtering of each row of ``X`` into ``Y``, as ``scipy.signal.sosfiltfilt(sos, X, padlen=padlen)``.

    ``zi`` is ``scipy.signal.sosfilt_zi(sos)`` (the design stays scipy's).
    Each row is extended by odd reflection, filtered forwards and backwards in
    one float64 buffer, and written to ``Y`` in ``Y``'s dtype: no float64 copy
    of the batch, no reversed temporaries.
    """
    n = X.shape[1]
    ext = np.empty(n + 2 * padlen)
    for r in range(X.shape[0]):
        first, last = np.float64(X[r, 0]), np.float64(X[r, n - 1])
        for k in range(padlen):
            ext[k] = 2 * first - X[r, padlen - k]
            ext[padlen + n + k] = 2 * last - X[r, n - 2 - k]
        for k in range(n):
            ext[padlen + k] = X[r, k]
        _sos_pass(sos, zi, ext, True)
        _sos_pass(sos, zi, ext, False)
        for k in range(n):
            Y[r, k] = ext[padlen + k]


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS)
def looped_energy(rec: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """Sum of squares (float64) of ``n`` samples of ``rec`` read from ``start`` on, wrapping around its end."""
    s = 0.0
    j = start
    done = 0
    while done < n:  # contiguous runs (slices, so that the loop vectorises)
        run = rec[j : j + min(rec.shape[0] - j, n - done)]
        for t in range(run.shape[0]):
            v = np.float64(run[t])
            s += v * v
        done += run.shape[0]
        j = 0
    return s


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS)
def mix_looped(x: np.ndarray, rec: np.ndarray, start: int, g: float, out: np.ndarray) -> float:  # pragma: no cover
    """``out = x + g * rec[start:]`` (looped as in :func:`looped_energy`), ``g * rec`` in ``out``'s dtype.

    Returns the float64 sum of squares of the noise actually added (``g * rec``
    rounded to ``out``'s dtype), from which the realised SNR is measured.
    """
    gain = out.dtype.type(g)
    s = 0.0
    j = start
    done = 0
    while done < x.shape[0]:
        cnt = min(rec.shape[0] - j, x.shape[0] - done)
        run, xs, ys = rec[j : j + cnt], x[done : done + cnt], out[done : done + cnt]
        for t in range(cnt):
            v = gain * run[t]
            ys[t] = xs[t] + v
            s += np.float64(v) * np.float64(v)
        done += cnt
        j = 0
    return s


@numba.njit(cache=True, nogil=True)
def _abs_order_stats(x: np.ndarray, bits: np.ndarray, mask: int, shift: int, n_bins: int, k: int,
                     k2: int) -> tuple[float, float]:  # pragma: no cover - compiled
    """The ``k``-th and ``k2``-th smallest of ``|x|`` (0-based, ``k <= k2``), exactly (see :func:`abs_percentile`)."""
    hist = np.zeros(n_bins, np.int64)
    for i in range(x.shape[0]):
        hist[(bits[i] & mask) >> shift] += 1
    lo, hi, below, c = -1, n_bins - 1, 0, 0
    for j in range(n_bins):
        c_next = c + hist[j]
        if lo < 0 and c_next > k:
            lo, below = j, c
        if c_next > k2:
            hi = j
            break
        c = c_next
    buf = np.empty(hist[lo : hi + 1].sum(), x.dtype)
    m = 0
    for i in range(x.shape[0]):
        h = (bits[i] & mask) >> shift
        if lo <= h <= hi:
            buf[m] = abs(x[i])
            m += 1
    buf.sort()
    return buf[k - below], buf[k2 - below]


def _magnitude_bits(x: np.ndarray) -> tuple[np.ndarray, Any, Any, int]:
    """The arguments of :func:`_abs_order_stats` after ``x``, for a float32 or float64 row.

    ``x``'s bits as same-width integers, the mask that drops the sign, the
    shift to the top 16 (float32) or 18 (float64) bits, and the number of bins
    those bits make.
    """
    if x.dtype == np.float32:
        return x.view(np.int32), np.int32(0x7FFFFFFF), np.int32(15), 1 << 16
    return x.view(np.int64), np.int64(0x7FFFFFFFFFFFFFFF), np.int64(45), 1 << 18


def abs_percentile(x: np.ndarray, q: float):
    """``np.percentile(np.abs(x), q)`` (linear method) in about a tenth of its time.

    ``x`` is a finite float32 or float64 row. With the sign bit masked off, the
    integers that hold the samples' bits are ordered as ``|x|``; one pass
    counts them by their top 16 (float32) or 18 (float64) bits -- a relative
    width of 1/128 per bin -- which locates the bins of the two order
    statistics the interpolation needs, and only those bins' samples are
    sorted (numpy partitions the whole array at four ranks); the two order
    statistics are exact. Between them the value is interpolated as numpy
    2.4.6 does it (float64 index and weight, ``_lerp`` in ``x``'s dtype), so
    the result equals its ``np.percentile`` bit for bit; older numpy computes
    the index in float32 for float32 data, up to ~1e-5 (relative) apart.

    Examples
    --------
    >>> x = np.array([0.5, -2.0, 1.0, -0.25], dtype=np.float32)
    >>> float(abs_percentile(x, 50.0))
    0.75
    """
    n = x.shape[0]
    index = (n - 1) * np.true_divide(q, 100)  # numpy's virtual index, previous rank and weight
    below = np.floor(index)
    gamma = float(index - below)
    k = int(below)
    a, b = _abs_order_stats(x, *_magnitude_bits(x), k, min(k + 1, n - 1))
    a, b = x.dtype.type(a), x.dtype.type(b)
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


@numba.njit(cache=True, nogil=True)
def clip_count(x: np.ndarray, t: float, y: np.ndarray) -> int:  # pragma: no cover - compiled
    """``y = clip(x, -t, t)`` in one pass; returns how many samples had ``|x| > t``."""
    c = 0
    for i in range(x.shape[0]):
        v = x[i]
        if v > t:
            y[i] = t
            c += 1
        elif v < -t:
            y[i] = -t
            c += 1
        else:
            y[i] = v
    return c
