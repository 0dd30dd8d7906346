"""Is a perturbation heard? Perceptual quality (ViSQOL v3 MOS-LQO) and cheap signal measures, per clip.

The study calls its grid "imperceptible"; this module measures it. For each
clip, the original against its perturbed copy:

- ``mos_lqo``: ViSQOL v3 in audio mode (Chinen et al. 2020, "ViSQOL v3: an
  open source production ready objective speech and audio metric", QoMEX),
  through visqol-python (Apache-2.0, the ``quality`` extra) at 48 kHz. Its
  agreement with Google's C++ ViSQOL v3.3.3 is checked on the C++
  repository's own conformance files by ``tools/visqol_conformance.py``
  (measured: 9 of 10 cases equal to 1e-13, one 1.2e-4 MOS apart). Identical
  audio scores 4.73 (its ceiling), not 5;
- ``snr_db``: signal-to-noise ratio of the difference, over the whole clip;
- ``segmental_snr_db``: the mean over 20-ms frames of each frame's SNR,
  clamped to [-10, 35] dB, frames of silence in the original left out
  (Hansen and Pellom 1998);
- ``lsd_db``: log-spectral distance, the mean over frames of the RMS
  difference of the two log power spectra (dB).

The verdict: a setting is *imperceptible* when the interval of its mean
MOS-LQO lies at or above 4.5, the boundary between grade 5 "imperceptible"
and grade 4 "perceptible, but not annoying" of the ITU-R BS.1116-3 five-grade
impairment scale (ITU-R 2015) that MOS scales follow; *perceptible* when the
interval lies below it; *undecided* otherwise.

SNR and segmental SNR need the two signals sample-aligned: for a perturbation
that changes the length (a time stretch) or shifts the signal (a pitch shift's
filters), they are reported as they come and say little; ViSQOL aligns the
signals itself.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_audio, check_number
from ..stats import Estimate, bootstrap_estimate

__all__ = ["IMPERCEPTIBLE_MOS", "MIN_MOS_SECONDS", "QUALITY_MEASURES", "check_mos_length", "evenly_spaced", "lsd_db", "measure_quality", "mos_lqo",
           "quality_estimates", "quality_table", "quality_verdict", "segmental_snr_db", "snr_db"]

#: ITU-R BS.1116-3's boundary between "imperceptible" (5) and "perceptible, but not annoying" (4)
IMPERCEPTIBLE_MOS = 4.5
#: the per-clip measures, in the order reports list them
QUALITY_MEASURES = ("mos_lqo", "snr_db", "segmental_snr_db", "lsd_db")
VISQOL_SR = 48000
#: the shortest reference ViSQOL scores: one patch of its spectrogram (measured: 0.95 s fails, 1.0 s scores)
MIN_MOS_SECONDS = 1.0
_EPS = 1e-12


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """At most ``k`` of ``n`` clips' indices, evenly spaced from first to last (no draw: any chunking agrees).

    Examples
    --------
    >>> evenly_spaced(6, 3).tolist(), evenly_spaced(2, 8).tolist()
    ([0, 2, 5], [0, 1])
    """
    return np.unique(np.linspace(0, n - 1, min(int(k), n)).round().astype(int))


def _pair(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two signals on a common length (the shorter's), as float64."""
    n = min(len(ref), len(deg))
    return np.asarray(ref[:n], dtype=np.float64), np.asarray(deg[:n], dtype=np.float64)


def snr_db(ref: Any, deg: Any) -> float:
    """SNR of ``deg`` against ``ref`` in dB: the reference's energy over the difference's (inf when equal).

    Examples
    --------
    >>> x = np.sin(np.arange(1000) / 5.0)
    >>> round(snr_db(x, x + 0.01 * x), 3)
    40.0
    """
    r, d = _pair(np.asarray(ref), np.asarray(deg))
    noise = float(np.sum((d - r) ** 2))
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(r**2) / noise))


def segmental_snr_db(ref: Any, deg: Any, sr: int, *, frame_s: float = 0.02) -> float:
    """Mean over frames of each frame's SNR, clamped to [-10, 35] dB; frames silent in ``ref`` (60 dB down) left out.

    Examples
    --------
    >>> x = np.sin(np.arange(16000) / 5.0)
    >>> segmental_snr_db(x, x, sr=16000)  # identical: every frame at the clamp
    35.0
    """
    r, d = _pair(np.asarray(ref), np.asarray(deg))
    n = max(round(frame_s * sr), 1)
    k = len(r) // n
    if k == 0:
        return float("nan")
    R, D = r[: k * n].reshape(k, n), d[: k * n].reshape(k, n)
    power = np.sum(R**2, axis=1)
    keep = power > 1e-6 * power.max() if power.max() > 0 else np.zeros(k, dtype=bool)
    if not keep.any():
        return float("nan")
    noise = np.sum((D - R) ** 2, axis=1)
    seg = 10 * np.log10((power[keep] + _EPS) / (noise[keep] + _EPS))
    return float(np.mean(np.clip(seg, -10.0, 35.0)))


def lsd_db(ref: Any, deg: Any, sr: int, *, n_fft: int = 2048) -> float:
    """Log-spectral distance in dB: the mean over frames of the RMS difference of the two log power spectra.

    Frames of a 2048-point STFT (librosa), powers floored at 100 dB below the
    reference's strongest bin (so that bins empty in the original do not
    count as infinitely far); 0 for identical signals.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(16000)
    >>> lsd_db(x, x, sr=16000)
    0.0
    >>> round(lsd_db(x, 2 * x, sr=16000), 2)  # twice the amplitude: 6.02 dB in every bin
    6.02
    """
    import librosa

    r, d = _pair(np.asarray(ref), np.asarray(deg))
    P = np.abs(librosa.stft(r, n_fft=n_fft)) ** 2
    Q = np.abs(librosa.stft(d, n_fft=n_fft)) ** 2
    floor = max(float(P.max()), _EPS) * 1e-10  # -100 dB below the reference's strongest bin: empty bins stay comparable
    diff = 10 * np.log10(np.maximum(P, floor)) - 10 * np.log10(np.maximum(Q, floor))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


_VISQOL: dict[str, Any] = {}
#: ViSQOL's kernels run on numba's parallel layer, whose default (workqueue) aborts the process when two threads enter
#: it at once (a meter with n_jobs > 1 measures settings in threads): one measurement at a time per process
_VISQOL_LOCK = threading.Lock()


def _visqol() -> Any:
    """One ViSQOL v3 audio-mode instance per process (its model is read once)."""
    if "api" not in _VISQOL:
        try:
            from visqol.api import VisqolApi
        except ImportError as exc:
            raise ImportError("MOS-LQO needs ViSQOL: pip install 'trustkit[quality]' (visqol-python, Apache-2.0), or "
                              "pass mos=False for the signal measures alone.") from exc
        api = VisqolApi()
        api.create(mode="audio")
        _VISQOL["api"] = api
    return _VISQOL["api"]


def check_mos_length(n_samples: int, sr: int, *, owner: str = "mos_lqo") -> None:
    """Refuse clips too short for ViSQOL, naming the length and the fix (its own error is an index deep inside)."""
    if n_samples / sr < MIN_MOS_SECONDS:
        raise ValueError(f"{owner}: ViSQOL scores clips of at least {MIN_MOS_SECONDS:g} s (one patch of its "
                         f"spectrogram); the clips are {n_samples / sr:.3g} s. Use longer clips, or the signal measures "
                         "alone (quality='signal', mos=False).")


def mos_lqo(ref: Any, deg: Any, sr: int) -> float:
    """ViSQOL v3 audio-mode MOS-LQO of ``deg`` against ``ref`` (1 to about 4.73), both resampled to 48 kHz (soxr).

    Needs the ``quality`` extra (visqol-python). About 0.1-0.14 s per second
    of audio after its first call (which compiles its kernels); one call at a
    time per process, on one numba thread. Reproducible to about 1e-13 MOS,
    not bit for bit: ViSQOL's numba kernels may differ in the last bits.
    """
    import logging

    import soxr

    r, d = (np.asarray(a, dtype=np.float64) for a in (ref, deg))
    check_mos_length(len(r), sr)
    if sr != VISQOL_SR:
        r, d = (soxr.resample(a, sr, VISQOL_SR, quality="HQ") for a in (r, d))
    import numba

    with _VISQOL_LOCK:
        api = _visqol()
        level, threads = logging.getLogger("visqol").level, numba.get_num_threads()
        logging.getLogger("visqol").setLevel(logging.ERROR)  # its notes on short or misaligned clips are not errors here
        # one numba thread: its parallel kernels give results 1e-14 apart from call to call with two threads
        # (measured); with one they repeat in most runs (a fresh numba cache gave 3e-14 once: not bit for bit)
        numba.set_num_threads(1)
        try:
            return float(api.measure_from_arrays(r, d, VISQOL_SR).moslqo)
        finally:
            numba.set_num_threads(threads)
            logging.getLogger("visqol").setLevel(level)


def quality_table(X: np.ndarray, Xp: np.ndarray, sr: int, *, mos: bool = True, clips: Any = None) -> pd.DataFrame:
    """One row per clip (``clip``, then :data:`QUALITY_MEASURES`): each original against its perturbed copy.

    ``clips`` names the rows (default ``0..n-1``); without ``mos`` the MOS-LQO column is NaN.
    """
    rows = []
    for i, (x, xp) in enumerate(zip(X, Xp)):
        rows.append({"clip": i if clips is None else int(clips[i]),
                     "mos_lqo": mos_lqo(x, xp, sr) if mos else np.nan, "snr_db": snr_db(x, xp),
                     "segmental_snr_db": segmental_snr_db(x, xp, sr), "lsd_db": lsd_db(x, xp, sr)})
    return pd.DataFrame(rows, columns=["clip", *QUALITY_MEASURES])


def quality_verdict(low: float, high: float, threshold: float = IMPERCEPTIBLE_MOS) -> str:
    """``"imperceptible"`` when the MOS-LQO interval is at or above ``threshold``, ``"perceptible"`` below, else undecided.

    Examples
    --------
    >>> quality_verdict(4.55, 4.7), quality_verdict(3.1, 3.9), quality_verdict(4.3, 4.6)
    ('imperceptible', 'perceptible', 'undecided (interval spans 4.5)')
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return "undefined"
    if low >= threshold:
        return "imperceptible"
    if high < threshold:
        return "perceptible"
    return f"undecided (interval spans {threshold:g})"


def quality_estimates(table: pd.DataFrame, *, n_bootstrap: int = 1000, confidence: float = 0.95,
                      random_state: Any = None) -> dict[str, Estimate]:
    """The mean of each measure over clips with its percentile bootstrap interval (non-finite values left out)."""
    out = {}
    for m in QUALITY_MEASURES:
        v = table[m].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        out[m] = (bootstrap_estimate(v, n_bootstrap=n_bootstrap, confidence=confidence, random_state=random_state)
                  if len(v) else Estimate(np.nan, np.nan, np.nan, 0, confidence))
    return out


def measure_quality(step: Any, X: Any, *, sr: int, clips: int = 8, mos: bool = True,
                    threshold: float = IMPERCEPTIBLE_MOS, n_bootstrap: int = 1000, confidence: float = 0.95,
                    random_state: Any = None) -> pd.DataFrame:
    """How audible ``step`` is on the clips ``X``: every quality measure's mean with its interval, and the verdict.

    Parameters
    ----------
    step : transformer
        A perturbation (seeded with ``random_state`` when it draws).
    X : array-like of shape (n_clips, n_samples)
    sr : int
    clips : int, default=8
        At most this many clips, evenly spaced through ``X`` (MOS-LQO costs
        about 0.1 s per second of audio).
    mos : bool, default=True
        Compute ViSQOL's MOS-LQO (the ``quality`` extra); False: the signal
        measures alone.
    threshold : float, default=4.5
        The MOS-LQO the interval must reach for "imperceptible" (ITU-R
        BS.1116-3; see the module).

    Returns
    -------
    pandas.DataFrame
        One row per measure: ``measure``, ``statistic`` (the mean over
        clips), ``low``, ``high``, ``n``, ``confidence``; its ``attrs``
        hold the per-clip table (``"per_clip"``) and the ``"verdict"``.

    Examples
    --------
    >>> from trustkit.perturbations import Gain
    >>> X = np.random.default_rng(0).standard_normal((3, 8000)) * 0.1
    >>> q = measure_quality(Gain(gain_db=-6.0), X, sr=16000, mos=False)
    >>> float(q.set_index("measure").loc["lsd_db", "statistic"].round(2))  # 6 dB quieter in every bin
    6.0
    """
    from .._seeds import resolve_entropy
    from ._base import configure_step

    X = check_audio(X, sr=sr, owner="measure_quality")
    clips = check_number(clips, "clips", low=1, integer=True)
    if mos:
        check_mos_length(X.shape[1], sr, owner="measure_quality")
    idx = evenly_spaced(len(X), clips)
    # seeded and given the rate as every meter configures its steps
    step = configure_step(step, entropy=None if random_state is None else resolve_entropy(random_state), index=0, sr=sr)
    Xp = np.asarray(step.fit_transform(X[idx]))
    per_clip = quality_table(X[idx], Xp, sr, mos=mos, clips=idx)
    est = quality_estimates(per_clip, n_bootstrap=n_bootstrap, confidence=confidence, random_state=random_state)
    out = pd.DataFrame([{"measure": m, "statistic": e.statistic, "low": e.low, "high": e.high, "n": e.n,
                         "confidence": e.confidence} for m, e in est.items()])
    out.attrs["per_clip"] = per_clip
    m = est["mos_lqo"]
    out.attrs["verdict"] = quality_verdict(m.low, m.high, threshold) if mos else "not measured (mos=False)"
    return out
