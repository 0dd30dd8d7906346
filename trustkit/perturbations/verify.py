"""Did the perturbation do what it claims? Directional checks on the clips used (CheckList's directional tests).

A robustness number is only meaningful for a perturbation that happened. For
each setting whose family makes a claim about the content, the original and
the perturbed clip are compared:

- a **pitch shift** of ``k`` semitones moves the spectrum by ``k`` semitones:
  the lag that best aligns the time-averaged constant-Q spectra (librosa's
  CQT, 48 bins per octave: a quarter of a semitone) of the two clips; it
  moved as claimed when that lag is within an eighth of a semitone of ``k``.
  The key (Krumhansl-Schmuckler profiles on the chroma) is reported too: a
  shift of 2 semitones moves a tonal clip's key by 2;
- a **time stretch** of rate ``r`` scales the tempo by ``r``: librosa's tempo
  estimate of the perturbed clip over the original's, within 3 %;
- **additive noise** at ``s`` dB SNR: the measured SNR of the difference,
  within 0.5 dB (without loudness matching: matching rescales the sum).

Other families (MP3, filters, reverb, ...) make no directional claim here and
are reported as ``"no claim"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_audio, check_number
from ..stats import proportion_interval

__all__ = ["estimated_key", "estimated_shift", "estimated_tempo", "verify_perturbations"]

_BINS = 48  # CQT bins per octave: a quarter of a semitone
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _log_spectrum(x: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    # C3 to C8 (130 Hz - 4.2 kHz): where music's pitched energy is, and short enough filters for a 1-s clip
    C = np.abs(librosa.cqt(np.asarray(x, dtype=np.float64), sr=sr, fmin=librosa.note_to_hz("C3"), n_bins=5 * _BINS,
                           bins_per_octave=_BINS))
    return np.log1p(C.mean(axis=1) / (C.mean() + 1e-12))


def estimated_shift(ref: Any, deg: Any, sr: int, *, max_semitones: float = 3.0) -> float:
    """How many semitones ``deg``'s spectrum sits above ``ref``'s: the best-aligning lag of their CQT spectra.

    Examples
    --------
    >>> sr = 22050
    >>> t = np.arange(sr) / sr
    >>> tone = lambda f: sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
    >>> estimated_shift(tone(220.0), tone(220.0 * 2 ** (1 / 12)), sr)
    1.0
    """
    a, b = _log_spectrum(ref, sr), _log_spectrum(deg, sr)
    a, b = a - a.mean(), b - b.mean()
    lags = np.arange(-int(max_semitones * _BINS / 12), int(max_semitones * _BINS / 12) + 1)
    n = len(a)
    scores = [np.dot(a[max(0, -lag):n - max(0, lag)], b[max(0, lag):n - max(0, -lag)]) for lag in lags]
    return float(lags[int(np.argmax(scores))] * 12 / _BINS)


def estimated_key(x: Any, sr: int) -> tuple[int, str]:
    """The key of a clip: the Krumhansl-Schmuckler profile (24 keys) best correlated with its mean chroma.

    Returns ``(tonic, mode)``: the tonic's pitch class (0 = C) and ``"major"`` or ``"minor"``.
    """
    import librosa

    chroma = librosa.feature.chroma_cqt(y=np.asarray(x, dtype=np.float64), sr=sr, fmin=librosa.note_to_hz("C3"),
                                        n_octaves=5).mean(axis=1)
    best = max(((float(np.corrcoef(chroma, np.roll(p, k))[0, 1]), k, mode) for mode, p in (("major", _MAJOR), ("minor", _MINOR))
                for k in range(12)), key=lambda t: t[0])
    return best[1], best[2]


def estimated_tempo(x: Any, sr: int, *, start_bpm: float = 120.0, hop_length: int = 128) -> float:
    """The tempo of a clip as librosa estimates it of a clip (beats per minute), on a fine onset grid.

    ``hop_length=128`` (not librosa's 512): the estimate is a lag of the onset
    autocorrelation, so the hop sets its resolution (about 1.3 % at 130 bpm and
    22.05 kHz, against 5 % with 512, too coarse to see a 2 % stretch).
    """
    import librosa

    return float(librosa.feature.tempo(y=np.asarray(x, dtype=np.float64), sr=sr, start_bpm=start_bpm,
                                       hop_length=hop_length)[0])


def _claim(point: Any) -> tuple[str, float] | None:
    """What a setting claims about the content: (kind, amount), or None."""
    step = point.perturbation
    params = step.get_params() if hasattr(step, "get_params") else {}
    from .noise import AddNoise
    from .pitch_time import PitchShift, TimeStretch

    if isinstance(step, PitchShift) and "n_steps" in params:
        return "pitch", float(params["n_steps"])
    if isinstance(step, TimeStretch) and "rate" in params:
        return "tempo", float(params["rate"])
    if isinstance(step, AddNoise) and params.get("snr_db") is not None:
        return "snr", float(params["snr_db"])
    return None


def verify_perturbations(perturbations: Any, X: Any, *, sr: int, clips: int = 8, random_state: Any = 0,
                         confidence: float = 0.95) -> pd.DataFrame:
    """Per setting: what it claims, what was measured on the clips, and the share of clips where it happened.

    Parameters
    ----------
    perturbations : grid name, PerturbationGrid or list
        As :class:`~trustkit.SensitivityMeter` takes them.
    X : array-like of shape (n_clips, n_samples)
    sr : int
    clips : int, default=8
        At most this many clips, evenly spaced through ``X``.
    random_state : int, default=0
        Seeds the perturbations as the robustness meter seeds them (the same
        draws for the same ``random_state``).

    Returns
    -------
    pandas.DataFrame
        ``setting``, ``family``, ``claim`` (e.g. ``"pitch +2 semitones"``),
        ``measured`` (the median over clips), ``share`` of clips where it
        happened as claimed with its Wilson interval (``low``, ``high``),
        ``n``, and ``verdict``: ``"happened"`` (the interval's lower end at
        least 0.5), ``"did not happen"`` (its upper end below 0.5),
        ``"undecided"`` or ``"no claim"``. Pitch shifts add the share of
        clips whose estimated key moved by the claimed (whole) number of
        semitones, ``key_moved``.

    Examples
    --------
    >>> from trustkit.datasets import make_music
    >>> from trustkit.perturbations import PitchShift
    >>> X, _ = make_music(4, duration=2.0, sr=22050, random_state=0)
    >>> v = verify_perturbations([("up 2", PitchShift(n_steps=2.0))], X, sr=22050, clips=4)
    >>> str(v.loc[0, "claim"]), float(v.loc[0, "measured"]), str(v.loc[0, "verdict"])
    ('pitch +2 semitones', 2.0, 'happened')
    """
    from .._seeds import SeedTree
    from .grid import grid_points, seeded_step
    from .quality import evenly_spaced

    X = check_audio(X, sr=sr, owner="verify_perturbations")
    clips = check_number(clips, "clips", low=1, integer=True)
    idx = evenly_spaced(len(X), clips)
    Xs = X[idx]
    seeds = SeedTree(random_state)
    rows = []
    for k, point in enumerate(grid_points(perturbations, sr), start=1):  # numbered as the meter numbers them
        claim = _claim(point)
        base = {"setting": point.name, "family": point.family}
        if claim is None:
            rows.append({**base, "claim": "", "measured": np.nan, "share": np.nan, "low": np.nan, "high": np.nan,
                         "n": len(Xs), "verdict": "no claim"})
            continue
        kind, amount = claim
        # the noise's SNR is measured before loudness matching rescales the sum; pitch and tempo survive matching
        step = seeded_step(point, seed=seeds.seed("perturbation", k), sr=sr, loudness_match=kind != "snr")
        Xp = np.asarray(step.fit_transform(Xs))
        extra: dict[str, Any] = {}
        if kind == "pitch":
            measured = np.array([estimated_shift(x, xp, sr) for x, xp in zip(Xs, Xp)])
            ok = np.abs(measured - amount) <= 12 / _BINS / 2 + 1e-9
            text = f"pitch {amount:+g} semitones"
            if float(amount).is_integer():
                keys = [(estimated_key(x, sr)[0], estimated_key(xp, sr)[0]) for x, xp in zip(Xs, Xp)]
                extra["key_moved"] = float(np.mean([(b - a) % 12 == int(amount) % 12 for a, b in keys]))
        elif kind == "tempo":
            before = np.array([estimated_tempo(x, sr) for x in Xs])
            measured = np.array([estimated_tempo(xp, sr, start_bpm=b) for xp, b in zip(Xp, before)]) / before
            ok = np.abs(measured / amount - 1) <= 0.03
            text = f"tempo x{amount:g}"
        else:
            from .quality import snr_db

            measured = np.array([snr_db(x, xp) for x, xp in zip(Xs, Xp)])
            ok = np.abs(measured - amount) <= 0.5
            text = f"SNR {amount:g} dB"
        share = proportion_interval(int(ok.sum()), len(ok), confidence=confidence)
        verdict = "happened" if share.low >= 0.5 else ("did not happen" if share.high < 0.5 else "undecided")
        rows.append({**base, "claim": text, "measured": float(np.median(measured)), "share": share.statistic,
                     "low": share.low, "high": share.high, "n": len(ok), "verdict": verdict, **extra})
    return pd.DataFrame(rows)
