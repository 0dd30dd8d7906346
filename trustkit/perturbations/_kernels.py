"""Fused kernels for the cheapest perturbations: the transform and the input's value check in one pass.

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

import numba
import numpy as np

_FLAGS = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS)
def scale(X: np.ndarray, g: float, Y: np.ndarray) -> float:  # pragma: no cover - compiled
    """``Y = X * g`` (2-D, same shape); returns the energy of ``X``."""
    s = 0.0
    for r in range(X.shape[0]):
        for i in range(X.shape[1]):
            v = X[r, i]
            Y[r, i] = v * g
            s += v * v
    return s


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
