"""Is this encoder fit to be measured? ``check_encoder``, as scikit-learn has ``check_estimator``.

Every robustness number is meaningless for an encoder that gives one clip two
embeddings (dropout left on), depends on the batch around a clip, or maps
distinct music onto one point: the number then measures that defect (an
identity row still reads 1.0, the originals being embedded once; measured: a
random encoder reads 0.33 consistency at 40 dB SNR, a constant one 0.00),
not robustness. :func:`check_encoder` runs the checks on generated clips and
says, per check, what it measured:

- ``output``: one finite float row per clip; ``fixed_size`` (only when it
  fails): the dimension does not depend on the clip's length;
- ``deterministic``: the same clips twice give the same embeddings;
- ``batch``: a clip alone, inside a batch and in another order gives the same row;
- ``distinct``: clips of different music at the same loudness are not
  collapsed onto (nearly) one point -- a constant encoder, or one that hears
  only loudness, fails here;
- ``rate``: an encoder that states its rate refuses audio at another one;
- ``edges``: silence, a full-scale tone, DC and a 1-s clip give finite rows
  or a clear error, never NaN;
- ``silence_tail``, ``shift``: how far appended silence (0.5 s) and a 10-ms
  shift move a clip, relative to the distance between distinct clips
  (reported, not judged: some encoders are meant to hear them).

A failure raises :class:`EncoderCheckError` naming every failing check with
its figure; when all pass, the report is returned. The meters run the cheap
part (``deterministic``, ``distinct`` on the clips they were given) before
any perturbation (:func:`preflight`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..exceptions import InvalidAudioError
from ..reports import Report, long_table
from ._base import as_encoder, declared_sr, embed

__all__ = ["DETERMINISM_TOLERANCE", "DISTINCT_MIN", "EncoderCheckError", "EncoderCheckReport", "check_encoder",
           "preflight"]

#: largest relative difference between two embeddings of the same clip still called "the same"
DETERMINISM_TOLERANCE = 1e-5
#: smallest median distance between distinct clips, relative to the embeddings' size, not called "collapsed"
DISTINCT_MIN = 1e-3


class EncoderCheckError(ValueError):
    """An encoder failed :func:`check_encoder` (or a meter's preflight); ``report`` holds every check."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class _Check:
    name: str
    passed: bool | None  # None: reported, not judged
    figure: float
    detail: str


@dataclass(frozen=True, eq=False, repr=False)
class EncoderCheckReport(Report):
    """What :func:`check_encoder` measured: one row per check (``passed``, ``detail``), its figure as ``statistic``."""

    table: pd.DataFrame
    config: dict
    higher_is_better: ClassVar[bool] = True
    headline: ClassVar[str] = "share of the judged checks the encoder passes (1 = fit to be measured)"
    limit_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)
    limit_name: ClassVar[str] = "min_share"

    def _judged(self) -> pd.DataFrame:
        return self.table[self.table["passed"].isin(["yes", "no"])]

    def __float__(self) -> float:
        judged = self._judged()
        return float((judged["passed"] == "yes").mean()) if len(judged) else float("nan")

    def _measure_name(self) -> str:
        return "checks passed"

    def _headline_n(self) -> float:
        return float(len(self._judged()))

    @property
    def failed(self) -> list[str]:
        """The names of the failing checks."""
        return self.table.loc[self.table["passed"] == "no", "measure"].tolist()

    def summary(self) -> str:
        """One line per check: passed, failed or reported, its figure and what it means."""
        lines = [f"check_encoder: {self.config['encoder']} at {self.config['sr']} Hz, {self.config['n_clips']} clips"]
        for r in self.table.itertuples():
            verdict = {"yes": "pass", "no": "FAIL", "reported": "note"}[r.passed]
            lines.append(f"  {verdict:<4s} {r.measure:<13s} {r.statistic:.3g}  {r.detail}")
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """The figure of every check (log scale), failing ones in red."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.4 + 0.35 * len(self.table)), layout="constrained")
        t = self.table
        colours = ["#c44e52" if p == "no" else "#4c72b0" for p in t["passed"]]
        ax.barh(np.arange(len(t)), np.maximum(np.abs(t["statistic"].astype(float).fillna(0)), 1e-12), color=colours)
        ax.set_xscale("log")
        ax.set_yticks(np.arange(len(t)), t["measure"])
        ax.set_xlabel("figure")
        return ax.figure


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference between ``a`` and ``b`` relative to their size."""
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-12)
    return float(np.max(np.abs(a - b))) / scale


def _spread(Z: np.ndarray) -> float:
    """Median distance between distinct rows, relative to the rows' mean norm (0 for a constant encoder)."""
    from scipy.spatial.distance import pdist

    norm = float(np.mean(np.linalg.norm(Z, axis=1)))
    if len(Z) < 2:
        return float("nan")
    return float(np.median(pdist(Z))) / max(norm, 1e-12)


def _probe_clips(n: int, sr: int, duration: float, random_state: Any) -> np.ndarray:
    """``n`` clips of different generated music, each scaled to the same RMS (a loudness-only encoder collapses them)."""
    from ..datasets import make_music

    X, _ = make_music(n, duration=duration, sr=sr, random_state=random_state)
    rms = np.sqrt(np.mean(X.astype(np.float64) ** 2, axis=1, keepdims=True))
    return (0.1 * X / np.maximum(rms, 1e-12)).astype(np.float32)


def check_encoder(encoder: Any, sr: int | None = None, *, n_clips: int = 8, duration: float = 2.0,
                  random_state: Any = 0) -> EncoderCheckReport:
    """Check that an encoder can be measured at all; raise naming every failing check, else return the report.

    Parameters
    ----------
    encoder : encoder, fitted transformer, torch module or callable
        Anything :func:`~trustkit.encoders.as_encoder` adapts.
    sr : int or None
        The rate to check at; None: the encoder's declared rate (an error when it states none).
    n_clips : int, default=8
        Distinct generated clips.
    duration : float, default=2.0
        Seconds per clip.
    random_state : int, default=0
        Seeds the generated clips.

    Returns
    -------
    EncoderCheckReport
        When every judged check passes.

    Raises
    ------
    EncoderCheckError
        Naming every failing check with its figure (``exc.report`` has them all).

    Examples
    --------
    >>> from trustkit.encoders import MFCCEncoder
    >>> report = check_encoder(MFCCEncoder(), sr=16000, n_clips=4, duration=1.0)
    >>> float(report), report.failed
    (1.0, [])
    >>> check_encoder(lambda X: np.ones((len(X), 4)), sr=16000, n_clips=4, duration=1.0)
    Traceback (most recent call last):
    ...
    trustkit.encoders.check.EncoderCheckError: the encoder failed 1 check: distinct (distinct clips collapsed: median distance 0 of the embeddings' size, at least 0.001 needed (a constant encoder, or one that hears only loudness): it cannot tell music apart, so every number measured with it is about that)
    """
    from scipy.spatial.distance import pdist

    from .._validation import check_number, check_sr

    sr = check_sr(sr if sr is not None else declared_sr(encoder), "check_encoder",
                  example="MFCCEncoder(), sr=22050")
    n_clips = check_number(n_clips, "n_clips", low=3, integer=True)
    duration = check_number(duration, "duration", low=0.5, high=60)
    enc = as_encoder(encoder, sr=sr)
    X = _probe_clips(n_clips, sr, duration, random_state)
    checks: list[_Check] = []
    try:
        Z = np.asarray(embed(enc, X), dtype=np.float64)
    except Exception as exc:  # the first call: whatever it raises is the finding
        raise EncoderCheckError(f"the encoder failed on {n_clips} clips of {duration:g} s at {sr} Hz: "
                                f"{type(exc).__name__}: {exc}") from exc
    checks.append(_Check("output", True, float(Z.shape[1]), f"{Z.shape[1]}-d finite float rows, one per clip"))
    again = np.asarray(embed(enc, X), dtype=np.float64)
    diff = _relative(Z, again)
    checks.append(_Check("deterministic", diff <= DETERMINISM_TOLERANCE, diff,
                         "the same clips twice: largest difference relative to the embeddings' size"
                         + ("" if diff <= DETERMINISM_TOLERANCE else
                            f" (above {DETERMINISM_TOLERANCE:g}: e.g. dropout left on -- put a torch module in eval())")))
    alone = np.vstack([np.asarray(embed(enc, X[i : i + 1]), dtype=np.float64) for i in range(3)])
    reordered = np.asarray(embed(enc, X[::-1]), dtype=np.float64)[::-1]
    batch = max(_relative(Z[:3], alone), _relative(Z, reordered))
    tolerance = max(1e-4, 10 * diff)
    checks.append(_Check("batch", batch <= tolerance, batch,
                         "a clip alone, in a batch and in another order: largest relative difference"
                         + ("" if batch <= tolerance else " (the embedding depends on the other clips of the batch)")))
    spread = _spread(Z)
    checks.append(_Check("distinct", spread >= DISTINCT_MIN, spread,
                         "median distance between distinct clips at equal loudness, relative to the embeddings' size"
                         if spread >= DISTINCT_MIN else
                         f"distinct clips collapsed: median distance {spread:.3g} of the embeddings' size, at least "
                         f"{DISTINCT_MIN:g} needed (a constant encoder, or one that hears only loudness): it cannot "
                         "tell music apart, so every number measured with it is about that"))
    checks.append(_rate_check(encoder, sr, X))
    checks.append(_edge_check(enc, sr))
    scale = float(np.median(pdist(Z))) or 1.0
    tail = np.hstack([X, np.zeros((len(X), sr // 2), dtype=X.dtype)])
    shift = np.hstack([np.zeros((len(X), sr // 100), dtype=X.dtype), X[:, : -(sr // 100)]])
    for name, Y, what in (("silence_tail", tail, "0.5 s of silence appended"), ("shift", shift, "a 10-ms shift")):
        W = np.asarray(embed(enc, Y), dtype=np.float64)
        if W.shape[1] != Z.shape[1]:
            checks.append(_Check("fixed_size", False, float(W.shape[1]),
                                 f"{W.shape[1]} dimensions with {what} but {Z.shape[1]} without: the dimension must not "
                                 "depend on the clip's length (pool over time instead of flattening frames)"))
            continue
        moved = float(np.median(np.linalg.norm(W - Z, axis=1))) / scale
        checks.append(_Check(name, None, moved, f"{what} moves a clip by this share of the distance between "
                                                "distinct clips (reported, not judged)"))
    rows = [{"scope": "check", "passed": {True: "yes", False: "no", None: "reported"}[c.passed], "detail": c.detail,
             "measure": c.name, "statistic": c.figure, "low": np.nan, "high": np.nan, "n": n_clips} for c in checks]
    report = EncoderCheckReport(table=long_table(rows, 0.95),
                                config={"encoder": getattr(enc, "display_name", type(enc).__name__), "sr": sr,
                                        "n_clips": n_clips, "duration": duration,
                                        "determinism_tolerance": DETERMINISM_TOLERANCE, "distinct_min": DISTINCT_MIN})
    failed = [c for c in checks if c.passed is False]
    if failed:
        listed = "; ".join(f"{c.name} ({c.detail})" if c.name == "distinct" else f"{c.name} ({c.figure:.3g}: {c.detail})"
                           for c in failed)
        raise EncoderCheckError(f"the encoder failed {len(failed)} check{'s' if len(failed) > 1 else ''}: {listed}",
                                report)
    return report


def _rate_check(encoder: Any, sr: int, X: np.ndarray) -> _Check:
    """An encoder that states its rate refuses audio at another one; one that states none takes any (reported)."""
    own = declared_sr(encoder)
    other = 22050 if sr != 22050 else 16000
    if own is None:
        return _Check("rate", None, float("nan"), "the encoder states no rate: it takes the audio's (the meters pass it)")
    try:
        as_encoder(encoder, sr=other)
    except ValueError:
        return _Check("rate", True, float(own), f"states {own} Hz and refuses audio at {other} Hz")
    return _Check("rate", False, float(own), f"states {own} Hz but took audio at {other} Hz without a word")


def _edge_check(enc: Any, sr: int) -> _Check:
    """Silence, a full-scale tone, DC and a 1-s clip: finite rows or a clear error, never NaN or a crash inside."""
    t = np.arange(sr, dtype=np.float64) / sr
    edges = {"silence": np.zeros(2 * sr), "full-scale tone": np.sin(2 * np.pi * 440 * np.arange(2 * sr) / sr),
             "DC": np.full(2 * sr, 0.5), "1-s clip": 0.1 * np.sin(2 * np.pi * 220 * t)}
    bad = []
    for name, x in edges.items():
        try:
            z = np.asarray(embed(enc, x[np.newaxis, :].astype(np.float32)), dtype=np.float64)
        except (ValueError, InvalidAudioError, TypeError) as exc:
            if "non-finite" in str(exc):  # trustkit's own check of what the encoder returned
                bad.append(f"{name}: non-finite values")
            continue  # otherwise a clear, documented refusal
        except Exception as exc:
            bad.append(f"{name}: {type(exc).__name__} from inside the encoder")
            continue
        if not np.isfinite(z).all():
            bad.append(f"{name}: non-finite values")
    detail = "silence, a full-scale tone, DC and a 1-s clip give finite rows or a clear error"
    return _Check("edges", not bad, float(len(bad)), detail if not bad else "; ".join(bad))


def preflight(encoder: Any, X_few: np.ndarray, Z_few: np.ndarray, Z: np.ndarray | None, *, owner: str,
              role: str = "encoder") -> None:
    """The cheap part of :func:`check_encoder` on the clips a meter was given, before any perturbation or fit.

    ``Z_few`` is ``encoder``'s embedding of the clips ``X_few`` (two are
    enough): they are embedded again, uncached (deterministic?). ``Z`` holds
    the embeddings of every clip, when known (collapsed onto one point?).

    Raises
    ------
    EncoderCheckError
        Naming the check and its figure.
    """
    name = getattr(encoder, "display_name", type(encoder).__name__)
    again = np.asarray(embed(encoder, X_few), dtype=np.float64)
    if again.shape != np.shape(Z_few):
        raise EncoderCheckError(
            f"{owner}: the {role} ({name}) returned embeddings of shape {again.shape} for {len(X_few)} clips it had "
            f"embedded as {np.shape(Z_few)}: an encoder must give every clip the same dimension, every time.")
    diff = _relative(np.asarray(Z_few, dtype=np.float64), again)
    if diff > max(1e-4, DETERMINISM_TOLERANCE):
        raise EncoderCheckError(
            f"{owner}: the {role} ({name}) gave {len(X_few)} clips different embeddings when they were embedded again "
            f"(largest difference {diff:.3g} of the embeddings' size): a robustness or transfer number would measure "
            "its randomness. Fix it (torch: model.eval(); no sampling at inference) and check it with "
            "trustkit.check_encoder.")
    if Z is None or len(Z) < 3:
        return
    spread = _spread(np.asarray(Z, dtype=np.float64))
    if not spread >= DISTINCT_MIN:
        raise EncoderCheckError(
            f"{owner}: the {role} ({name}) maps the {len(Z)} clips onto (nearly) one point (median distance between "
            f"clips {spread:.3g} of the embeddings' size, at least {DISTINCT_MIN:g} needed): nothing it measures could "
            "tell clips apart. Check the encoder (trustkit.check_encoder) and that the clips differ.")
