"""SensitivityMeter: does a small change of the audio keep a clip next to its original.

Within-space consistency (Kim, Urbano, Liem & Hanjalic, 2019): embed the
originals ``z_i = f(x_i)`` and a perturbed copy ``z'_i = f(tau(x_i))``; clip i
is consistent when ``z'_i`` is strictly nearer its own original than any other
original. Sensitivity = 1 - consistency.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.spatial.distance
import scipy.stats
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from threadpoolctl import threadpool_limits

from ._cache import cached_call
from ._interrupt import check as check_interrupt
from ._validation import check_audio, check_choice, check_number, check_sr, check_threshold
from .audio_distances import AUDIO_DISTANCES, AudioDistance
from .encoders import as_encoder, embed, embed_layers, is_layer_profile
from .exceptions import GateError, TrustkitWarning
from .perturbations import GridPoint, Identity, LoudnessMatch, PerturbationGrid, study_grid
from .perturbations._base import child_seed, configure_step, resolve_entropy
from .perturbations.loudness import known_loudness
from .reports import Report
from .stats import Estimate, bootstrap_estimate, bootstrap_statistic, paired_difference, proportion_interval

__all__ = ["SensitivityGateError", "SensitivityMeter", "SensitivityReport", "dtw_audio_distance", "neighbour_outcomes"]

METRICS = ("cosine", "euclidean", "sqeuclidean", "cityblock", "correlation", "chebyshev")
GRID_NAMES = ("imperceptible", "graver", "all")
SILENCE_SHARE = 0.25  # warn when a clip has more exact zeros than this


class SensitivityGateError(GateError):
    """Raised by :meth:`SensitivityReport.check` when the gate fails (a :class:`~trustkit.GateError`)."""


def neighbour_outcomes(D: np.ndarray) -> dict[str, np.ndarray]:
    """Per-clip outcomes from a distance matrix ``D[i, j] = d(perturbed i, original j)``.

    Returns
    -------
    dict with arrays of shape (n,)
        ``consistent`` (own original strictly nearest; ties fail), ``rank`` of the
        own original (1 = nearest; ties count against), ``reciprocal_rank`` and
        ``distance_ratio`` = own distance / median distance to the other originals.

    Examples
    --------
    >>> D = np.array([[0.1, 0.5, 0.9], [0.4, 0.4, 0.2], [0.3, 0.8, 0.2]])
    >>> out = neighbour_outcomes(D)
    >>> out["consistent"].tolist(), out["rank"].tolist()
    ([True, False, True], [1, 3, 1])
    """
    D = np.asarray(D, dtype=np.float64)
    own = np.diag(D).copy()
    others = D.copy()
    np.fill_diagonal(others, np.inf)
    consistent = own < others.min(axis=1)
    rank = 1 + np.sum(others <= own[:, None], axis=1)
    n = len(D)
    off = others[~np.eye(n, dtype=bool)].reshape(n, n - 1)
    med = np.median(off, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(med > 0, own / np.where(med > 0, med, 1.0), np.where(own > 0, np.inf, 1.0))
    return {"consistent": consistent, "rank": rank, "reciprocal_rank": 1.0 / rank, "distance_ratio": ratio}


def _row_spearman(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Spearman correlation between matching rows of ``A`` and ``B``."""
    ra = scipy.stats.rankdata(A, axis=1)
    rb = scipy.stats.rankdata(B, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)


def dtw_audio_distance(A: np.ndarray, B: np.ndarray, *, sr: int) -> np.ndarray:
    """Audio-space distances of the robustness study: exact DTW on 25-MFCC frames.

    Parameters
    ----------
    A, B : ndarray of shape (n_a, n_samples_a) and (n_b, n_samples_b)
    sr : int

    Returns
    -------
    ndarray of shape (n_a, n_b)
        Total (unnormalised) Euclidean cost of the optimal alignment; see
        :mod:`trustkit.audio_distances`.
    """
    return AudioDistance("dtw", sr=sr, seed=0).prepare(np.asarray(B))(np.asarray(A))


def pooled_spearman(D_audio: np.ndarray, D_embed: np.ndarray) -> float:
    """The study's between-space consistency: one Spearman correlation over every (perturbed, original) pair.

    Examples
    --------
    >>> D = np.array([[0.0, 2.0], [1.0, 0.5]])
    >>> pooled_spearman(D, 3 * D + 1)
    1.0
    """
    a, b = np.ravel(D_audio), np.ravel(D_embed)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(scipy.stats.spearmanr(a, b).statistic)


@dataclass(frozen=True, eq=False, repr=False)
class SensitivityReport(Report):
    """Result of :meth:`SensitivityMeter.score`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per perturbation setting and encoder: n, the perturbed length
        ``length_out``, consistency and sensitivity (Wilson intervals), mean
        reciprocal rank and median distance ratio (bootstrap intervals) and,
        with an audio distance, ``audio_consistency``, ``agreement`` (share of
        clips whose outcome is the same in audio and embedding space; Wilson),
        ``spearman`` (the study's between-space consistency: one Spearman
        correlation over all perturbed-vs-original pairs of the setting) and
        ``spearman_per_clip`` (the mean of one correlation per clip).
    per_clip : pandas.DataFrame
        One row per clip, setting and encoder.
    comparison : pandas.DataFrame
        With a baseline: consistency of encoder minus baseline per setting,
        with a paired bootstrap interval.
    headline_estimate : Estimate
        ``float(report)`` with its interval over clips.
    config : dict
    baseline_estimate : Estimate or None
        The baseline's headline, computed the same way.
    profile : pandas.DataFrame
        With an encoder set to ``layer="all"``: one row per layer, shallow to
        deep (``layer``, ``depth``, ``measure``, ``value``, ``low``, ``high``,
        ``n``): the headline sensitivity of every layer on the same clips and
        perturbations. The table's rows carry the layer too, and the headline
        is the deepest layer's. Empty otherwise.
    """

    table: pd.DataFrame
    per_clip: pd.DataFrame = field(repr=False)
    comparison: pd.DataFrame = field(repr=False)
    headline_estimate: Any
    config: dict
    baseline_estimate: Any = None
    profile: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    higher_is_better: ClassVar[bool] = False
    gate_error: ClassVar[type[AssertionError]] = SensitivityGateError
    headline: ClassVar[str] = "mean sensitivity (1 - within-space consistency) over the imperceptible settings, identity excluded"

    def __float__(self) -> float:
        return float(self.headline_estimate.value)

    def _headline_interval(self) -> tuple[float, float]:
        return float(self.headline_estimate.low), float(self.headline_estimate.high)

    def summary_by_family(self) -> pd.DataFrame:
        """Mean sensitivity per encoder, family and severity (identity excluded)."""
        t = self.table[self.table["severity"] != "identity"]
        return t.groupby(["role", "encoder", "severity", "family"], sort=False)["sensitivity"].agg(["mean", "min", "max", "count"]).reset_index()

    def summary(self) -> str:
        """A short readable account of the results."""
        c = self.config
        main = self.table[self.table["role"] == "encoder"]
        ident = main[main["severity"] == "identity"].iloc[0]
        lines = [
            f"SensitivityMeter: {c['encoder']} on {c['n_clips']} clips, {c['n_settings']} settings, "
            f"metric={c['metric']}, loudness_match={c['loudness_match']}",
            f"Sensitivity ({c['headline_scope']}): {self.headline_estimate:.3f} (lower is better; "
            f"{int(100 * self.headline_estimate.confidence)} % interval over clips)",
        ]
        if self.baseline_estimate is not None:
            lines.append(f"Baseline {c['baseline']}: sensitivity {self.baseline_estimate:.3f} (same settings and clips)")
        if len(self.profile):
            lines.append("Layer profile (sensitivity of every layer, shallow to deep; the headline is the deepest):")
            lines += [f"  {r.depth:2d} {r.layer:<14s} {r.value:.3f} [{r.low:.3f}, {r.high:.3f}]" for r in self.profile.itertuples()]
        lines += [
            f"Identity sanity row: consistency {ident['consistency']:.3f} (must be 1.000)",
            "",
            "Mean sensitivity by family:",
        ]
        fam = self.summary_by_family()
        for _, r in fam.iterrows():
            lines.append(f"  {r['role']:<8s} {r['severity']:<13s} {r['family']:<20s} {r['mean']:.3f}  (range {r['min']:.3f}-{r['max']:.3f}, {int(r['count'])} settings)")
        if "spearman" in self.table:
            t = self.table[self.table["severity"] != "identity"]
            lines += ["", f"Between-space consistency with audio distance {c['audio_distance']!r} (mean over settings):"]
            for (role, enc), g in t.groupby(["role", "encoder"], sort=False):
                lines.append(f"  {role:<8s} {enc}: Spearman (pooled, as in the study) {g['spearman'].mean():.3f}, "
                             f"per-clip mean {g['spearman_per_clip'].mean():.3f}, outcome agreement {g['agreement'].mean():.3f}")
        comp = self.comparison[self.comparison["severity"] != "identity"] if len(self.comparison) else self.comparison
        if len(comp):
            worse = comp[comp["high"] < 0]
            better = comp[comp["low"] > 0]
            lines += ["", f"Encoder vs baseline ({c['baseline']}), paired bootstrap over clips: consistency "
                      f"lower on {len(worse)}, higher on {len(better)}, not distinguishable on "
                      f"{len(comp) - len(worse) - len(better)} of {len(comp)} settings."]
        return "\n".join(lines)

    def check(self, max_sensitivity: float, *, per_setting: bool = False, use_interval: bool = False) -> str:
        """Gate: raise :class:`SensitivityGateError` if the sensitivity is too high.

        The headline goes through the one gate of every report
        (:meth:`trustkit.reports.Report.check`); ``per_setting`` gates every
        setting of the headline's scope instead.

        Parameters
        ----------
        max_sensitivity : float
            Highest acceptable ``float(report)`` (or, with ``per_setting``, of
            every setting in the headline's scope).
        per_setting : bool, default=False
        use_interval : bool, default=False
            Gate on the upper end of the headline's interval.

        Returns
        -------
        str
            What passed.

        Raises
        ------
        SensitivityGateError
            Listing the settings above ``max_sensitivity``.
        """
        limit = check_threshold(max_sensitivity, "max_sensitivity", low=0, high=1)
        scope = self.table[(self.table["role"] == "encoder") & self.table["in_headline"]]
        failing = scope[scope["sensitivity"] > limit]
        listed = ", ".join(f"{n} ({v:.3f})" for n, v in zip(failing["name"], failing["sensitivity"]))
        if per_setting:
            if len(failing):
                raise SensitivityGateError(f"{len(failing)} of {len(scope)} settings exceed max_sensitivity={limit:g}; "
                                           f"settings above it: {listed}.")
            return f"all {len(scope)} settings <= {limit:g}"
        try:
            return super().check(limit, use_interval=use_interval)
        except GateError as exc:
            raise SensitivityGateError(f"{exc} (max_sensitivity) for {self.config['encoder']}; settings above it: "
                                       f"{listed or 'none individually'}.") from None

    def plot(self, ax: Any = None) -> Any:
        """Consistency against severity, one panel per family, with interval bands."""
        import matplotlib.pyplot as plt

        t = self.table[self.table["severity"] != "identity"]
        families = list(dict.fromkeys(t["family"]))
        if ax is None:
            fig, axes = plt.subplots(1, max(len(families), 1), figsize=(4 * max(len(families), 1), 3.2), squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(ax)
            fig = axes[0].figure
        for a, fam in zip(axes, families):
            sub = t[t["family"] == fam]
            for (role, enc), g in sub.groupby(["role", "encoder"], sort=False):
                g = g.sort_values("value")
                x = g["value"].to_numpy(dtype=float) if g["value"].notna().all() else np.arange(len(g))
                a.plot(x, g["consistency"], marker="o", label=f"{enc} ({role})")
                a.fill_between(x, g["consistency_low"], g["consistency_high"], alpha=0.2)
            a.set_title(fam)
            a.set_ylim(-0.02, 1.02)
            a.set_xlabel(str(sub["param"].iloc[0]) if "param" in sub else "setting")
        if len(axes):
            axes[0].set_ylabel("within-space consistency")
            axes[0].legend(fontsize=8)
        fig.tight_layout()
        return fig


class SensitivityMeter(BaseEstimator):
    """Measure how far perturbations move clips away from their own originals.

    Parameters
    ----------
    encoder : encoder, fitted transformer, torch module or callable
        Maps audio ``(n_clips, n_samples)`` to embeddings ``(n_clips, dim)``
        (adapted with :func:`trustkit.encoders.as_encoder`). Kept as it is by
        ``clone``: the meter never refits it.
    perturbations : {"imperceptible", "graver", "all"}, PerturbationGrid or list, default="imperceptible"
        A grid of the robustness study by name, a grid, or a list of
        transformers (or ``(name, transformer)`` pairs).
    sr : int
        Sample rate in Hz (required).
    metric : str or callable, default="cosine"
        Distance in embedding space, any :func:`scipy.spatial.distance.cdist`
        metric name among "cosine", "euclidean", "sqeuclidean", "cityblock",
        "correlation", "chebyshev", or a callable ``(A, B) -> (n_a, n_b)``.
    baseline : encoder or None, default=None
        E.g. ``MFCCEncoder()``: measured the same way, and compared with the
        encoder clip by clip (paired bootstrap).
    audio_distance : {"dtw"}, callable or None, default=None
        Audio-space distance for between-space consistency: ``"dtw"`` (DTW on
        MFCC frames) or ``f(A, B) -> (n_a, n_b)``.
    loudness_match : bool, default=True
        Scale every perturbed clip to its original's integrated loudness, as
        in the study, so that loudness alone does not move the embedding.
    n_bootstrap : int, default=1000
    confidence : float, default=0.95
    n_jobs : int or None, default=None
        Settings evaluated in parallel through joblib (threads by default;
        choose another backend, e.g. processes or Dask, with
        ``joblib.parallel_backend``).
    random_state : int, RandomState or None, default=None
        Seeds every perturbation (one derived seed per setting) and the
        bootstrap; results do not depend on ``n_jobs``.
    verbose : bool, default=False
        Print progress to stderr.
    memory : str, joblib.Memory or None, default=None
        Cache the embeddings of the originals, the perturbed audio of every
        setting and its embeddings: meters that share clips, grid and
        ``random_state`` (e.g. one per encoder, each with the same baseline)
        then perturb each setting once and embed each (encoder, setting) once.
        The cache is made of pickles: use only a folder you trust.

    Examples
    --------
    >>> from trustkit.datasets import make_music
    >>> from trustkit.encoders import MFCCEncoder
    >>> X, _ = make_music(6, duration=1.0, sr=16000, random_state=0)
    >>> meter = SensitivityMeter(MFCCEncoder(sr=16000), [("copy", Identity())], sr=16000, random_state=0)
    >>> float(meter.score(X))
    0.0
    """

    def __init__(
        self, encoder=None, perturbations="imperceptible", *, sr=None, metric="cosine", baseline=None,
        audio_distance=None, loudness_match=True, n_bootstrap=1000, confidence=0.95, n_jobs=None,
        random_state=None, verbose=False, memory=None,
    ):
        self.encoder = encoder
        self.perturbations = perturbations
        self.sr = sr
        self.metric = metric
        self.baseline = baseline
        self.audio_distance = audio_distance
        self.loudness_match = loudness_match
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory

    def __sklearn_clone__(self):
        # encoders are fixed, possibly fitted models: keep them, clone the rest
        params = {k: (v if k in ("encoder", "baseline") else clone(v, safe=False)) for k, v in self.get_params(deep=False).items()}
        return type(self)(**params)

    # -- resolution -----------------------------------------------------------------
    def _points(self, sr: int) -> list[GridPoint]:
        spec = self.perturbations
        if isinstance(spec, str):
            if spec not in GRID_NAMES:
                raise ValueError(
                    f"perturbations must be one of {', '.join(map(repr, GRID_NAMES))}, a PerturbationGrid "
                    f"or a list of transformers; got {spec!r}."
                )
            points = list(study_grid(spec, sr=sr))
        elif isinstance(spec, PerturbationGrid):
            points = list(spec)
        elif isinstance(spec, (list, tuple)) and spec:
            points = []
            for k, item in enumerate(spec):
                name, step = item if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) else (f"{k}:{type(item).__name__}", item)
                if not hasattr(step, "transform"):
                    raise TypeError(f"perturbations[{k}] must be a transformer, got {type(step).__name__}.")
                points.append(GridPoint(name, type(step).__name__.lower(), "", np.nan, "custom", step))
        else:
            raise ValueError(
                "perturbations must be a grid name, a PerturbationGrid or a non-empty list of transformers; "
                f"got {spec!r}."
            )
        names = [p.name for p in points]
        if len(set(names)) != len(names) or "identity" in names:
            raise ValueError(f"perturbation names must be unique and not 'identity'; got {names}.")
        return [GridPoint("identity", "identity", "", np.nan, "identity", Identity()), *points]

    def _distance(self, A: np.ndarray, B: np.ndarray, owner: str) -> np.ndarray:
        if callable(self.metric):
            D = np.asarray(self.metric(A, B), dtype=np.float64)
            if D.shape != (len(A), len(B)):
                raise ValueError(f"metric returned shape {D.shape}; expected ({len(A)}, {len(B)}).")
        else:
            D = scipy.spatial.distance.cdist(A, B, metric=self.metric)
        if not np.isfinite(D).all():
            bad = np.argwhere(~np.isfinite(D))[0]
            raise ValueError(
                f"{owner}: the {self.metric if isinstance(self.metric, str) else 'metric'} distance is undefined "
                f"between perturbed clip {bad[0]} and original {bad[1]} (e.g. cosine of an all-zero "
                "embedding). Use metric='euclidean' or fix the encoder."
            )
        return D

    # -- the work ---------------------------------------------------------------------
    def score(self, X: Any, y: Any = None) -> SensitivityReport:
        """Perturb, embed and measure within-space (and between-space) consistency.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            At least 2 distinct clips; originals are never modified.
        y : ignored

        Returns
        -------
        SensitivityReport
        """
        t_start = time.perf_counter()
        sr = check_sr(self.sr, "SensitivityMeter", example="MFCCEncoder(), 'imperceptible'")
        if self.encoder is None:
            raise ValueError("SensitivityMeter needs an encoder, e.g. SensitivityMeter(MFCCEncoder(), sr=22050).")
        if isinstance(self.metric, str):
            check_choice(self.metric, "metric", METRICS)
        elif not callable(self.metric):
            raise TypeError(f"metric must be a metric name or a callable, got {type(self.metric).__name__}.")
        if self.audio_distance is not None and not callable(self.audio_distance) and self.audio_distance not in AUDIO_DISTANCES:
            raise ValueError(
                f"audio_distance must be one of {', '.join(map(repr, AUDIO_DISTANCES))}, a callable or None; "
                f"got {self.audio_distance!r}."
            )
        n_boot = check_number(self.n_bootstrap, "n_bootstrap", low=10, integer=True)
        X = check_audio(X, sr=sr, owner="SensitivityMeter")
        if len(X) < 2:
            raise ValueError(
                f"SensitivityMeter needs at least 2 clips (a clip is consistent when it stays nearer its own "
                f"original than any other); got {len(X)}."
            )
        silent = (X == 0).mean(axis=1)
        if (silent > SILENCE_SHARE).any():
            worst = int(np.argmax(silent))
            warnings.warn(
                f"{int((silent > SILENCE_SHARE).sum())} clips are more than {SILENCE_SHARE:.0%} digital silence (clip "
                f"{worst}: {silent[worst]:.0%}, e.g. padding): added noise is audible in digital silence even at an "
                "'imperceptible' SNR, and a clip-level SNR averages the pauses in. Crop the clips, or measure the "
                "SNR over the active part "
                "(AddNoise(snr_reference='active'), study_grid(..., snr_reference='active')).",
                TrustkitWarning, stacklevel=2,
            )
        encoder = as_encoder(self.encoder, sr=sr)
        # a layer profile: one role per layer (the deepest is "encoder", the headline), one forward pass for all
        layer_of: dict[str, str] = {}
        if is_layer_profile(encoder):
            names = encoder.layer_names()
            layer_of = {("encoder" if i == len(names) - 1 else f"layer:{name}"): name for i, name in enumerate(names)}
        encoders = dict.fromkeys(layer_of, encoder) if layer_of else {"encoder": encoder}
        if self.baseline is not None:
            encoders["baseline"] = as_encoder(self.baseline, sr=sr)
        points = self._points(sr)
        entropy = resolve_entropy(self.random_state)

        def embed_roles(Xa: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float]]:
            """Every role's embedding of ``Xa`` (all layers from one forward pass), and the seconds each took."""
            found, seconds, layers = {}, {}, None
            for role, enc in encoders.items():
                t1 = time.perf_counter()
                if role in layer_of:
                    layers = embed_layers(enc, Xa, memory=self.memory) if layers is None else layers
                    found[role] = layers[layer_of[role]]
                else:
                    found[role] = embed(enc, Xa, memory=self.memory)
                seconds[role] = time.perf_counter() - t1
            return found, seconds

        originals, _ = embed_roles(X)
        for role, Z in originals.items():
            dup = _duplicate_rows(Z)
            if dup is not None:
                warnings.warn(
                    f"the {role} gives clips {dup[0]} and {dup[1]} the same embedding: they can never be "
                    "consistent (ties fail). Drop duplicate clips or check the encoder.",
                    TrustkitWarning,
                    stacklevel=2,
                )
        audio = None
        if self.audio_distance is not None:
            audio = AudioDistance(self.audio_distance, sr=sr, seed=child_seed(entropy, 400_000)).prepare(X)
        t_setup = time.perf_counter() - t_start

        def run(k: int, point: GridPoint) -> dict[str, Any]:
            check_interrupt()  # the command line's Ctrl-C stops the remaining settings
            t0 = time.perf_counter()
            # length="allow": a time stretch yields the whole stretched signal, never zero padding that
            # the encoder would then measure instead of the stretch (the study embeds the whole clip)
            identity = point.severity == "identity"
            step = configure_step(point.perturbation, entropy=entropy, index=k, sr=sr, length="allow")
            if self.loudness_match and not identity:
                step = LoudnessMatch(step, sr=sr)
            # with memory=, each setting's audio is perturbed once across meters that share clips and seeds
            Xp = X if identity else np.asarray(cached_call(_perturb, self.memory, step, X, what=f"perturbation {point.name!r}"),
                                               dtype=X.dtype)
            if Xp.ndim != 2 or len(Xp) != len(X):
                raise ValueError(f"perturbation {point.name!r} returned shape {Xp.shape} for {len(X)} clips; "
                                 "it must return one clip per input clip.")
            out: dict[str, Any] = {"seconds_perturb": time.perf_counter() - t0, "length": Xp.shape[1]}
            D_audio = audio(Xp) if audio is not None else None
            in_audio = neighbour_outcomes(D_audio) if D_audio is not None else None  # once per setting, for every role
            # the originals are never embedded twice; with memory=, neither is a perturbed setting
            embedded, seconds = (originals, dict.fromkeys(encoders, 0.0)) if identity else embed_roles(Xp)
            for role in encoders:
                out[f"seconds_{role}"] = seconds[role]
                D = self._distance(embedded[role], originals[role], f"{role} on {point.name}")
                res = neighbour_outcomes(D)
                if in_audio is not None:
                    res["audio_consistent"] = in_audio["consistent"]
                    res["agreement"] = in_audio["consistent"] == res["consistent"]
                    res["spearman_per_clip"] = _row_spearman(D_audio, D)
                    out[f"distances_{role}"] = (D_audio, D)
                out[role] = res
            if self.verbose:
                print(f"[SensitivityMeter] {k:3d}/{len(points) - 1} {point.name:<40s} {time.perf_counter() - t0:6.2f} s", file=sys.stderr)
            return out

        # threads by default: no pickling of audio and models, and no loky worker recycling (its
        # memory-leak guard restarts workers that load a network, which once deadlocked a run);
        # BLAS stays at one thread for every encoder call, so numbers do not depend on n_jobs
        # every setting matches loudness to the same originals: measure them once
        originals_loudness = known_loudness(X, sr) if self.loudness_match else contextlib.nullcontext()
        with originals_loudness, threadpool_limits(limits=1):
            results = Parallel(n_jobs=self.n_jobs, prefer="threads")(delayed(run)(k, p) for k, p in enumerate(points))
        report = self._report(X, points, encoders, results, entropy, n_boot, layer_of)
        timing = {
            "setup_s": t_setup,
            "total_s": time.perf_counter() - t_start,
            "perturb_s": sum(r["seconds_perturb"] for r in results),
            **{f"encode_{role}_s": sum(r[f"seconds_{role}"] for r in results) for role in encoders},
        }
        report.config["timing"] = timing
        return report

    def _report(self, X, points, encoders, results, entropy, n_boot, layer_of) -> SensitivityReport:
        rows, clips, comp = [], [], []
        has_scope = any(p.severity == "imperceptible" for p in points)
        names = {role: getattr(enc, "display_name", type(enc).__name__) + (f"/{layer_of[role]}" if role in layer_of else "")
                 for role, enc in encoders.items()}
        conf = self.confidence
        n = len(X)
        for k, (point, res) in enumerate(zip(points, results)):
            param = point.param if point.param else ""
            for role in encoders:
                o = res[role]
                # one seed per setting, shared by the roles: an encoder gets the same intervals whether it is
                # the encoder of one meter or the baseline of another
                seed = child_seed(entropy, 100_000 + 10 * k)

                def est(values, statistic=None, seed=seed):
                    kw = {"statistic": statistic} if statistic is not None else {}
                    return bootstrap_estimate(values, n_bootstrap=n_boot, confidence=conf, random_state=seed, **kw)

                def prop(flags):  # a proportion of clips: Wilson, which does not collapse at 0 or 1
                    return proportion_interval(int(np.sum(flags)), len(flags), confidence=conf)

                cons = prop(o["consistent"])
                mrr = est(o["reciprocal_rank"])
                ratio = est(np.where(np.isfinite(o["distance_ratio"]), o["distance_ratio"], np.nan), statistic=_nanmedian)
                in_headline = point.severity != "identity" and (point.severity == "imperceptible" or not has_scope)
                row = {
                    "name": point.name, "family": point.family, "param": param, "value": point.value,
                    "severity": point.severity, "role": role, "encoder": names[role], **({"layer": layer_of.get(role)} if layer_of else {}), "n": n,
                    "length_out": res["length"],
                    "consistency": cons.value, "consistency_low": cons.low, "consistency_high": cons.high,
                    "sensitivity": 1 - cons.value, "sensitivity_low": 1 - cons.high, "sensitivity_high": 1 - cons.low,
                    "mrr": mrr.value, "mrr_low": mrr.low, "mrr_high": mrr.high,
                    "distance_ratio": ratio.value, "distance_ratio_low": ratio.low, "distance_ratio_high": ratio.high,
                    "in_headline": in_headline,
                }
                if "agreement" in o:
                    agree = prop(o["agreement"])
                    aud = prop(o["audio_consistent"])
                    D_audio, D = res[f"distances_{role}"]
                    rho = bootstrap_statistic(lambda i, A=D_audio, B=D: pooled_spearman(A[i], B[i]), n,
                                              n_bootstrap=n_boot, confidence=conf, random_state=seed)
                    rho_clip = est(o["spearman_per_clip"])
                    row.update(
                        audio_consistency=aud.value, audio_consistency_low=aud.low, audio_consistency_high=aud.high,
                        agreement=agree.value, agreement_low=agree.low, agreement_high=agree.high,
                        spearman=rho.value, spearman_low=rho.low, spearman_high=rho.high,
                        spearman_per_clip=rho_clip.value, spearman_per_clip_low=rho_clip.low,
                        spearman_per_clip_high=rho_clip.high,
                    )
                rows.append(row)
                clips.append(pd.DataFrame({
                    "name": point.name, "role": role, "clip": np.arange(n),
                    **dict(o.items()),
                }))
            if "baseline" in encoders:
                d = paired_difference(
                    res["encoder"]["consistent"].astype(float), res["baseline"]["consistent"].astype(float),
                    n_bootstrap=n_boot, confidence=conf, random_state=child_seed(entropy, 200_000 + k),
                )
                comp.append({"name": point.name, "family": point.family, "severity": point.severity,
                             "difference": d.value, "low": d.low, "high": d.high})
        table = pd.DataFrame(rows)
        per_clip = pd.concat(clips, ignore_index=True)
        headlines = {role: self._headline(table, per_clip, role, n_boot, child_seed(entropy, 300_000))
                     for role in encoders}
        config = {
            "encoder": names["encoder"], "baseline": names.get("baseline"), "n_clips": n,
            "n_samples": X.shape[1], "sr": self.sr, "n_settings": len(points) - 1,
            "metric": self.metric if isinstance(self.metric, str) else getattr(self.metric, "__name__", "callable"),
            "loudness_match": self.loudness_match,
            "audio_distance": self.audio_distance if isinstance(self.audio_distance, (str, type(None))) else "callable",
            "headline_scope": "imperceptible settings" if has_scope else "all settings",
            "random_state": self.random_state if isinstance(self.random_state, (int, type(None))) else "RandomState",
            "n_bootstrap": n_boot, "confidence": conf,
            "intervals": {"consistency, sensitivity, agreement, audio_consistency": "Wilson score interval over clips",
                          "mrr, spearman_per_clip": "percentile bootstrap over clips",
                          "distance_ratio": "percentile bootstrap of the median over clips",
                          "spearman": "percentile bootstrap over perturbed clips (rows of the distance matrices)",
                          "headline": "percentile bootstrap over clips of each clip's failure rate "
                                      "(Wilson over clips when every clip has the same rate)",
                          "comparison": "paired percentile bootstrap over clips"},
        }
        profile = pd.DataFrame([
            {"layer": layer, "depth": depth, "measure": "sensitivity", "value": headlines[role].value,
             "low": headlines[role].low, "high": headlines[role].high, "n": n}
            for depth, (role, layer) in enumerate(layer_of.items())
        ])
        if layer_of:
            config["layers"] = list(layer_of.values())
        return SensitivityReport(table=table, per_clip=per_clip, comparison=pd.DataFrame(comp),
                                 headline_estimate=headlines["encoder"], config=config,
                                 baseline_estimate=headlines.get("baseline"), profile=profile)

    def _headline(self, table: pd.DataFrame, per_clip: pd.DataFrame, role: str, n_boot: int, seed: int) -> Estimate:
        """Mean over clips of each clip's failure rate across the headline's settings, with its interval."""
        scope = table[(table["role"] == role) & table["in_headline"]]["name"].tolist()
        fails = per_clip[(per_clip["role"] == role) & per_clip["name"].isin(scope)]
        rate = 1.0 - fails.groupby("clip")["consistent"].mean().to_numpy(dtype=float)
        if len(rate) and np.ptp(rate) == 0:
            # every clip fails the same share of settings (typically none or all): a bootstrap would
            # collapse to a point; use the Wilson interval of that share as a proportion of the clips
            w = proportion_interval(round(float(rate[0]) * len(rate)), len(rate), confidence=self.confidence)
            return Estimate(float(rate[0]), w.low, w.high, len(rate), self.confidence)
        return bootstrap_estimate(rate, n_bootstrap=n_boot, confidence=self.confidence, random_state=seed)


def _perturb(step: Any, X: np.ndarray) -> np.ndarray:
    return step.fit_transform(X)


def _nanmedian(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.nanmedian(x, axis=axis)


def _duplicate_rows(Z: np.ndarray) -> tuple[int, int] | None:
    _, first, inverse = np.unique(Z, axis=0, return_index=True, return_inverse=True)
    if len(first) == len(Z):
        return None
    inverse = np.ravel(inverse)
    for i in range(len(Z)):
        j = first[inverse[i]]
        if j != i:
            return int(j), int(i)
    return None  # pragma: no cover
