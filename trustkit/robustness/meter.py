"""SensitivityMeter: does a small change of the audio keep a clip next to its original.

Perturb every clip with each setting of a grid (loudness matched to the
original), embed originals and perturbed copies with the encoder (and a
baseline), and measure within-space consistency
(:func:`~trustkit.robustness.neighbour_outcomes`) per setting, and optionally
between-space consistency against an audio distance. ``score`` runs in three
steps: validate every parameter and input (``_setup``), measure every setting
(``_measure``, one parallel map), assemble the report (``_report``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.spatial.distance

from .._cache import cached_call, in_cache
from .._meter import Common, Meter, process_pool
from .._validation import check_audio, check_choice, check_number, check_sr
from ..audio import content_keys, integrated_loudness
from ..corpus import RowStore, as_corpus, is_corpus_input
from ..encoders import as_encoder, declared_sr, embed, embed_layers, is_layer_profile
from ..encoders.check import preflight
from ..exceptions import InvalidAudioError, TrustkitWarning
from ..perturbations import (
    GridPoint,
    Identity,
    grid_points,
    holds_gil,
    known_loudness,
    perturb,
    seeded_step,
)
from ..perturbations.quality import (
    IMPERCEPTIBLE_MOS,
    check_mos_length,
    evenly_spaced,
    quality_estimates,
    quality_table,
)
from ..reports import estimate_row, layer_profile, long_table
from ..stats import Estimate, bootstrap_estimate, bootstrap_statistic, paired_difference, proportion_interval
from .audio_distances import AUDIO_DISTANCES, AudioDistance
from .consistency import join_outcomes, neighbour_outcomes, pooled_spearman, row_blocks, row_spearman
from .report import SensitivityReport

__all__ = ["SensitivityMeter"]

METRICS = ("cosine", "euclidean", "sqeuclidean", "cityblock", "correlation", "chebyshev")
SILENCE_SHARE = 0.25  # warn when a clip has more exact zeros than this
#: seconds of audio, summed over the settings that hold the GIL, from which they go to worker processes: a worker
#: costs about 2.5 CPU-seconds to start (importing scikit-learn, loading the compiled kernels), which less audio
#: does not repay (`bench_sensitivity.py --workers`, 2 cores: 0.72x at 760 s, 0.95x at 1,520 s, 1.25x at 3,040 s,
#: 1.37x at 11,400 s of such audio; benchmarks/results/sensitivity_workers.json)
MIN_WORKER_AUDIO_S = 2000.0


@dataclasses.dataclass(frozen=True)
class _Run:
    """One call's checked inputs, shared by every setting: what ``_setup`` resolves and the settings read."""

    #: the clips in memory, or None when they stream from ``corpus``
    X: np.ndarray | None
    sr: int
    common: Common
    points: list[GridPoint]
    #: role ("encoder", "baseline", "layer:NAME") -> encoder
    encoders: dict[str, Any]
    #: role -> layer name, for a layer profile (empty otherwise)
    layer_of: dict[str, str]
    #: role -> embeddings of the originals
    originals: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    #: worker processes for the settings that hold the GIL, when they are used
    pool: Any = None
    #: the audio distance prepared on the originals, or None
    audio: Any = None
    setup_s: float = 0.0
    #: the files the clips stream from (chunk by chunk), or None
    corpus: Any = None
    #: where the chunks run: "processes" (loky's, unless a joblib backend is configured) or "threads"
    prefer: str = "threads"

    @property
    def n_clips(self) -> int:
        return len(self.X) if self.X is not None else len(self.corpus)

    @property
    def n_samples(self) -> int:
        return self.X.shape[1] if self.X is not None else self.corpus.n_samples


class SensitivityMeter(Meter):
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
    sr : int or None, default=None
        Sample rate of ``X`` in Hz. None: the rate the encoder states (e.g.
        ``MFCCEncoder(sr=22050)``); an error when neither says it.
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
        ``joblib.parallel_config``). On threads, the perturbations that hold
        Python's GIL (MP3, Signalsmith pitch shift and time stretch: see
        :func:`~trustkit.perturbations.holds_gil`) run in ``n_jobs`` worker
        processes, block by block, so that they use every core too.
    random_state : int, RandomState or None, default=None
        Roots the call's seed tree (:mod:`trustkit._seeds`): every setting's
        perturbation draws and every bootstrap; results do not depend on
        ``n_jobs``.
    verbose : bool, default=False
        A progress bar over the settings on stderr.
    memory : str, joblib.Memory or None, default=None
        Cache the embeddings of the originals, the perturbed audio of every
        setting and its embeddings: meters that share clips, grid and
        ``random_state`` (e.g. one per encoder, each with the same baseline)
        then perturb each setting once and embed each (encoder, setting) once.
        The cache is made of pickles: use only a folder you trust. With files,
        a finished chunk is kept there: a run stopped half-way resumes
        without redoing it.
    chunk_size : int or None, default=None
        With files (a :class:`~trustkit.datasets.Corpus`, a folder or a list
        of paths passed to :meth:`score`): clips read, perturbed and embedded
        per task. Only a chunk's audio is ever in memory; the numbers do not
        depend on it. None: at most 64 clips, and at least 16 chunks of
        equal size (so that two or more workers share the work evenly).
    quality : bool or {"mos", "signal"}, default=False
        Measure how audible every setting is (:mod:`trustkit.perturbations.quality`):
        on ``quality_clips`` clips, each original against its perturbed copy
        (as embedded: loudness matched), ViSQOL v3's MOS-LQO (the ``quality``
        extra; ``True`` or ``"mos"``) and SNR, segmental SNR and log-spectral
        distance (always; ``"signal"``: those alone). The report's table gets
        them per setting (scope ``"quality"``, a bootstrap interval over the
        clips) and :attr:`SensitivityReport.quality` says, per setting,
        whether the data support "imperceptible" (ITU-R BS.1116-3: the
        MOS-LQO interval at or above 4.5).
    quality_clips : int, default=8
        At most this many clips, evenly spaced through ``X`` (MOS-LQO costs
        about 0.1 s per second of audio per setting); also the clips ``verify``
        checks.
    verify : bool, default=False
        Check on those clips that every setting did what it claims
        (:func:`~trustkit.perturbations.verify_perturbations`: a pitch shift
        moves the spectrum by its semitones, a time stretch the tempo by its
        rate, noise sits at its SNR), with the same draws. The table gets the
        share of clips where it happened (scope ``"verification"``), and a
        setting that did not happen is warned about: its sensitivity measures
        a change that was not made.

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
        random_state=None, verbose=False, memory=None, chunk_size=None, quality=False, quality_clips=8, verify=False,
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
        self.chunk_size = chunk_size
        self.quality = quality
        self.quality_clips = quality_clips
        self.verify = verify

    _fixed_params = ("encoder", "baseline")  # fixed, possibly fitted models: clone keeps them

    # -- resolution -----------------------------------------------------------------
    def _points(self, sr: int) -> list[GridPoint]:
        return [GridPoint("identity", "identity", "", np.nan, "identity", Identity()), *grid_points(self.perturbations, sr)]

    def _outcomes(self, perturbed: np.ndarray, originals: np.ndarray, owner: str) -> dict[str, np.ndarray]:
        """Each perturbed clip's outcome against every original, from blocks of rows of the distance matrix."""
        if not callable(self.metric):  # cdist computes in float64: the originals converted once, not once per block
            originals = np.asarray(originals, dtype=np.float64)
        return join_outcomes([neighbour_outcomes(self._distance(perturbed[sl], originals, owner, first=sl.start),
                                                 first=sl.start, overwrite=True)
                              for sl in row_blocks(len(perturbed), len(originals))])

    def _distance(self, A: np.ndarray, B: np.ndarray, owner: str, first: int = 0) -> np.ndarray:
        """``metric(A, B)``, checked: the right shape and finite (rows of ``A`` are perturbed clips from ``first``)."""
        if callable(self.metric):
            D = np.array(self.metric(A, B), dtype=np.float64)  # ours: the outcomes work in it in place
            if D.shape != (len(A), len(B)):
                raise ValueError(f"metric returned shape {D.shape}; expected ({len(A)}, {len(B)}).")
        else:
            D = scipy.spatial.distance.cdist(A, B, metric=self.metric)
        if not np.isfinite(D).all():
            bad = np.argwhere(~np.isfinite(D))[0]
            raise ValueError(
                f"{owner}: the {self.metric if isinstance(self.metric, str) else 'metric'} distance is undefined "
                f"between perturbed clip {first + bad[0]} and original {bad[1]} (e.g. cosine of an all-zero "
                "embedding). Use metric='euclidean' or fix the encoder."
            )
        return D

    # -- the work ---------------------------------------------------------------------
    def score(self, X: Any, y: Any = None) -> SensitivityReport:
        """Perturb, embed and measure within-space (and between-space) consistency.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), Corpus, folder or list of paths
            At least 2 distinct clips; originals are never modified. Files
            (:class:`~trustkit.datasets.Corpus`, a folder, a list of paths)
            are read where they are processed, ``chunk_size`` clips at a
            time, at ``sr`` (else the encoder's declared rate, else the
            files' own rate; files at another rate are resampled): the same numbers
            as the clips in one array, with memory bounded by the chunk and
            O(block x n) distances.
        y : ignored

        Returns
        -------
        SensitivityReport

        Examples
        --------
        >>> import tempfile
        >>> from trustkit.audio import save_audio
        >>> from trustkit.datasets import make_music
        >>> from trustkit.encoders import MFCCEncoder
        >>> from trustkit.perturbations import AddNoise
        >>> X, _ = make_music(6, duration=1.0, sr=16000, random_state=0)
        >>> folder = tempfile.mkdtemp()
        >>> for i, x in enumerate(X):
        ...     save_audio(f"{folder}/{i}.wav", x, sr=16000)
        >>> meter = SensitivityMeter(MFCCEncoder(), [("noise", AddNoise(snr_db=0))], random_state=0, chunk_size=4)
        >>> from_files = meter.score(folder)  # 16 kHz from the files, two chunks
        >>> from_files.config["sr"], from_files.config["corpus"]["n_files"]
        (16000, 6)
        """
        t_start = time.perf_counter()
        # in memory: settings whose perturbation holds the GIL (MP3, Signalsmith pitch shift and time stretch) are
        # perturbed in worker processes, block by block, while the map's threads embed other settings; files: each
        # chunk is a task of its own in a worker process (nothing holds the GIL for the others), unless the encoders
        # cannot be sent to one (parallel_map then keeps them on threads)
        files = is_corpus_input(X)
        prefer = "processes" if files else "threads"
        with process_pool(self.n_jobs, prefer=prefer) as pool:
            if files:  # read, perturbed and embedded chunk by chunk
                run = self._setup_corpus(X, pool, prefer)
                results, keys = self._measure_corpus(run)
            else:
                run = self._setup(X, pool)
                results, keys = self._measure(run), content_keys(run.X)
        report = dataclasses.replace(self._report(run, results, self._verified(run)), clip_keys=keys)
        record = self._record(
            run.common, setup_s=run.setup_s, total_s=time.perf_counter() - t_start,
            perturb_s=sum(r["seconds_perturb"] for r in results),
            **{f"encode_{role}_s": sum(r[f"seconds_{role}"] for r in results) for role in run.encoders},
        )
        if run.corpus is not None:
            record["corpus"] = run.corpus.describe(self.chunk_size)
        return dataclasses.replace(report, config={**report.config, **record})  # a new report: none is changed

    def _check_params(self) -> None:
        """The meter's own parameters (the shared ones are ``_check_common``'s)."""
        if self.encoder is None:
            raise ValueError("SensitivityMeter needs an encoder, e.g. SensitivityMeter(MFCCEncoder(), sr=22050).")
        if not (isinstance(self.quality, bool) or self.quality in ("mos", "signal")):
            raise ValueError(f"quality must be False, True (or 'mos': ViSQOL MOS-LQO and the signal measures) or "
                             f"'signal' (SNR, segmental SNR, LSD only); got {self.quality!r}.")
        if not isinstance(self.verify, bool):
            raise TypeError(f"verify must be True or False; got {self.verify!r}.")
        if self.quality or self.verify:
            check_number(self.quality_clips, "quality_clips", low=1, integer=True)
        if self.quality and self.quality != "signal":
            try:  # before any work: the extra is missing, not half a run
                import visqol.api  # noqa: F401
            except ImportError as exc:
                raise ImportError("quality=True measures ViSQOL's MOS-LQO: pip install 'trustkit[quality]' "
                                  "(visqol-python), or pass quality='signal' for SNR, segmental SNR and LSD alone.") from exc
        if isinstance(self.metric, str):
            check_choice(self.metric, "metric", METRICS)
        elif not callable(self.metric):
            raise TypeError(f"metric must be a metric name or a callable, got {type(self.metric).__name__}.")
        if self.audio_distance is not None and not callable(self.audio_distance) and self.audio_distance not in AUDIO_DISTANCES:
            raise ValueError(
                f"audio_distance must be one of {', '.join(map(repr, AUDIO_DISTANCES))}, a callable or None; "
                f"got {self.audio_distance!r}."
            )
        if not isinstance(self.loudness_match, (bool, np.bool_)):
            raise TypeError(f"loudness_match must be True or False; got {self.loudness_match!r}.")

    def _roles(self, sr: int) -> tuple[dict[str, Any], dict[str, str]]:
        """Role -> encoder ("encoder", "baseline", one "layer:NAME" per layer of a profile) and role -> layer."""
        encoder = as_encoder(self.encoder, sr=sr)
        # a layer profile: one role per layer (the deepest is "encoder", the headline), one forward pass for all
        layer_of: dict[str, str] = {}
        if is_layer_profile(encoder):
            names = encoder.layer_names()
            layer_of = {("encoder" if i == len(names) - 1 else f"layer:{name}"): name for i, name in enumerate(names)}
        encoders = dict.fromkeys(layer_of, encoder) if layer_of else {"encoder": encoder}
        if self.baseline is not None:
            encoders["baseline"] = as_encoder(self.baseline, sr=sr)
        return encoders, layer_of

    def _setup(self, X: Any, pool: Any = None) -> _Run:
        """Every parameter and the clips checked, the encoders resolved and the originals embedded."""
        t_start = time.perf_counter()
        sr = self.sr if self.sr is not None else declared_sr(self.encoder)
        sr = check_sr(sr, "SensitivityMeter", example="MFCCEncoder(), 'imperceptible'")
        self._check_params()
        common = self._check_common()
        X = check_audio(X, sr=sr, owner="SensitivityMeter")
        _check_n_clips(len(X))
        _warn_silence((X == 0).mean(axis=1))
        encoders, layer_of = self._roles(sr)
        run = _Run(X=X, sr=sr, common=common, points=self._points(sr), encoders=encoders, layer_of=layer_of)
        self._check_quality_length(run)
        if pool is not None and self._start_workers(run, pool):
            run = dataclasses.replace(run, pool=pool)
        originals, _ = self._embed_roles(run, X)
        self._preflight(run, X[:2], originals)
        _warn_duplicates(originals)
        audio = None
        if self.audio_distance is not None:
            audio = AudioDistance(self.audio_distance, sr=sr, seed=common.seeds.seed("audio_distance")).prepare(X)
        return dataclasses.replace(run, originals=originals, audio=audio, setup_s=time.perf_counter() - t_start)

    def _embed_roles(self, run: _Run, Xa: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Every role's embedding of ``Xa`` (all layers from one forward pass), and the seconds each took."""
        found, seconds, layers = {}, {}, None
        for role, enc in run.encoders.items():
            t1 = time.perf_counter()
            if role in run.layer_of:
                layers = embed_layers(enc, Xa, memory=self.memory) if layers is None else layers
                found[role] = layers[run.layer_of[role]]
            else:
                found[role] = embed(enc, Xa, memory=self.memory)
            seconds[role] = time.perf_counter() - t1
        return found, seconds

    def _measure(self, run: _Run) -> list[dict[str, Any]]:
        """One setting per item of the meter's parallel map; the originals' loudness measured once for all."""
        X = run.X
        # every setting matches loudness to the same originals: measure them once
        originals_loudness = known_loudness(X, run.sr) if self.loudness_match else contextlib.nullcontext()
        with originals_loudness:
            return self._map(self._measure_setting, [(run, k, p) for k, p in enumerate(run.points)],
                             desc="SensitivityMeter settings")

    def _check_quality_length(self, run: _Run) -> None:
        """Before any work: ViSQOL cannot score clips shorter than a second."""
        if self.quality and self.quality != "signal":
            check_mos_length(run.n_samples, run.sr, owner="SensitivityMeter(quality=True)")

    def _quality_clips(self, n: int) -> np.ndarray:
        """The clips whose audibility is measured: at most ``quality_clips``, evenly spaced (no draw: any chunking agrees)."""
        return evenly_spaced(n, self.quality_clips)

    def _step(self, run: _Run, k: int, point: GridPoint) -> Any:
        """Setting ``k``'s perturbation, seeded by the call's seed tree (loudness matched unless the identity)."""
        return seeded_step(point, seed=run.common.seeds.seed("perturbation", k), sr=run.sr,
                           loudness_match=self.loudness_match)

    def _start_workers(self, run: _Run, pool: Any) -> bool:
        """Whether the settings that hold the GIL go to ``pool``'s workers; if so, start them now.

        They do when the pool has workers, those settings carry at least
        :data:`MIN_WORKER_AUDIO_S` of audio, and ``memory`` does not already
        hold their output (checked on the first of them: a meter after
        another on the same clips and seeds finds them all there). The
        workers then start while the originals are embedded.
        """
        gil_bound = [(k, p) for k, p in enumerate(run.points)
                     if p.severity != "identity" and holds_gil(p.perturbation)]
        if not pool.active or len(gil_bound) * run.n_clips * run.n_samples / run.sr < MIN_WORKER_AUDIO_S:
            return False
        k, point = gil_bound[0]
        # (files: not checked, the cache's keys are per chunk; a resumed run starts the workers anyway)
        if run.X is not None and in_cache(perturb, self.memory, self._step(run, k, point), run.X, None, ignore=("pool",)):
            return False
        pool.warm(type(p.perturbation).__module__ for _, p in gil_bound)
        return True

    def _perturbed(self, run: _Run, k: int, point: GridPoint, X: np.ndarray) -> np.ndarray:
        """Setting ``k``'s perturbation of ``X`` (cached with ``memory=``), checked: one clip per clip."""
        step = self._step(run, k, point)
        # with memory=, each setting's audio is perturbed once across meters that share clips and seeds
        Xp = np.asarray(cached_call(perturb, self.memory, step, X, run.pool, what=f"perturbation {point.name!r}",
                                    ignore=("pool",)), dtype=X.dtype)
        if Xp.ndim != 2 or len(Xp) != len(X):
            raise ValueError(f"perturbation {point.name!r} returned shape {Xp.shape} for {len(X)} clips; "
                             "it must return one clip per input clip.")
        return Xp

    def _measure_setting(self, run: _Run, k: int, point: GridPoint) -> dict[str, Any]:
        X = run.X
        t0 = time.perf_counter()
        identity = point.severity == "identity"
        Xp = X if identity else self._perturbed(run, k, point, X)
        out: dict[str, Any] = {"seconds_perturb": time.perf_counter() - t0, "length": Xp.shape[1]}
        if self.quality and not identity:  # how audible the setting is, on a few clips
            idx = self._quality_clips(run.n_clips)
            out["quality"] = quality_table(X[idx], Xp[idx], run.sr, mos=self.quality != "signal", clips=idx)
        D_audio = run.audio(Xp) if run.audio is not None else None
        in_audio = neighbour_outcomes(D_audio) if D_audio is not None else None  # once per setting, for every role
        # the originals are never embedded twice; with memory=, neither is a perturbed setting
        originals = run.originals
        embedded, seconds = (originals, dict.fromkeys(run.encoders, 0.0)) if identity else self._embed_roles(run, Xp)
        for role in run.encoders:
            out[f"seconds_{role}"] = seconds[role]
            _check_dimension(run, role, point, embedded[role], originals[role])
            owner = f"{role} on {point.name}"
            if in_audio is None:  # by blocks of rows: memory O(block x n), never n x n
                res = self._outcomes(embedded[role], originals[role], owner)
            else:  # between-space consistency correlates the whole matrices
                D = self._distance(embedded[role], originals[role], owner)
                res = neighbour_outcomes(D)
            if in_audio is not None:
                res["audio_consistent"] = in_audio["consistent"]
                res["agreement"] = in_audio["consistent"] == res["consistent"]
                res["spearman_per_clip"] = row_spearman(D_audio, D)
                out[f"distances_{role}"] = (D_audio, D)
            out[role] = res
        return out

    # -- a corpus of files, chunk by chunk ------------------------------------------------------
    def _preflight(self, run: _Run, X_few: np.ndarray, originals: dict[str, np.ndarray]) -> None:
        """Before any perturbation: every encoder gives a clip one embedding and tells the clips apart."""
        for role, enc in run.encoders.items():
            if role in run.layer_of:  # a layer profile: its layers come from one pass, checked on the deepest
                continue
            preflight(enc, X_few, originals[role][: len(X_few)], originals[role], owner="SensitivityMeter", role=role)

    def _setup_corpus(self, X: Any, pool: Any = None, prefer: str = "threads") -> _Run:
        """The parameters checked and the files' corpus built (headers only); nothing is read yet."""
        t_start = time.perf_counter()
        self._check_params()
        if self.audio_distance is not None:
            raise ValueError(
                "audio_distance compares every pair of clips' audio, which needs the whole corpus at once; it is not "
                "available when the clips stream from files. Load them (Corpus.load()) and pass the array, or leave "
                "audio_distance out.")
        common = self._check_common()
        # the rate: the meter's sr, else the encoder's declared rate, else the files' own
        corpus = as_corpus(X, sr=self.sr if self.sr is not None else declared_sr(self.encoder), labels=None)
        _check_n_clips(len(corpus))
        encoders, layer_of = self._roles(corpus.sr)
        run = _Run(X=None, sr=corpus.sr, common=common, points=self._points(corpus.sr), encoders=encoders,
                   layer_of=layer_of, corpus=corpus, prefer=prefer)
        self._check_quality_length(run)
        # the cheap checks of the encoders on the first clips, before hours of work
        first = check_audio(corpus.read(np.arange(min(len(corpus), 16))), sr=corpus.sr, owner="SensitivityMeter")
        self._preflight(run, first[:2], self._embed_roles(run, first)[0])
        if pool is not None and self._start_workers(run, pool):
            run = dataclasses.replace(run, pool=pool)
        return dataclasses.replace(run, setup_s=time.perf_counter() - t_start)

    def _measure_corpus(self, run: _Run) -> tuple[list[dict[str, Any]], list[str]]:
        """Every chunk read, perturbed and embedded (one task each); then every setting measured over all clips.

        Returns each setting's results and the clips' content keys.

        A chunk's task receives indices into the corpus, not audio, and
        returns embeddings; clips are seeded by their content, so nothing
        depends on the chunking. With ``memory=``, a finished chunk's
        perturbations and embeddings are kept: a run stopped half-way
        resumes without redoing them.
        """
        chunks = run.corpus.chunks(self.chunk_size)
        roles, settings = list(run.encoders), [k for k, p in enumerate(run.points) if p.severity != "identity"]
        seconds = [{"perturb": 0.0, **dict.fromkeys(roles, 0.0)} for _ in run.points]
        lengths = [run.corpus.n_samples] * len(run.points)
        # the chunks' embeddings go straight into one array per (setting, role) as they arrive: in memory when they
        # fit, memory-mapped files otherwise; nothing else of a chunk is kept
        keys: list[str] = [""] * len(run.corpus)
        quality: dict[int, list[pd.DataFrame]] = {k: [] for k in settings}
        with RowStore(len(run.corpus), n_arrays=len(roles) * (1 + len(settings))) as store:

            def keep(i: int, part: dict[str, Any]) -> None:
                for place, key in zip(chunks[i], part["keys"]):
                    keys[place] = key
                for role in roles:
                    store.put(("originals", role), chunks[i], part["originals"][role])
                for k in settings:
                    done = part["settings"][k]
                    lengths[k] = done["length"]
                    seconds[k]["perturb"] += done["seconds_perturb"]
                    for role in roles:
                        store.put((k, role), chunks[i], done["embedded"][role])
                        seconds[k][role] += done["seconds"][role]
                    if done.get("quality") is not None:
                        quality[k].append(done["quality"])

            self._map(self._embed_chunk, [(run, idx) for idx in chunks], desc="SensitivityMeter chunks", consume=keep,
                      prefer=run.prefer)
            originals = {role: store.get(("originals", role)) for role in roles}
            _warn_duplicates(originals)
            run = dataclasses.replace(run, originals=originals)
            items = [(run, k, p, originals if k not in settings else {role: store.get((k, role)) for role in roles},
                      seconds[k], lengths[k]) for k, p in enumerate(run.points)]
            results = self._map(self._setting_over_corpus, items, desc="SensitivityMeter settings")
        for k, parts in quality.items():
            if parts:
                results[k]["quality"] = pd.concat(parts, ignore_index=True).sort_values("clip", ignore_index=True)
        return results, keys

    def _embed_chunk(self, run: _Run, index: np.ndarray) -> dict[str, Any]:
        """One chunk of the corpus: read, then every setting perturbed and embedded by every role.

        An error about a clip names it by its place in the corpus, not in the chunk.
        """
        try:
            return self._embed_chunk_clips(run, index)
        except (InvalidAudioError, ValueError) as exc:
            renamed = re.sub(r"\b(clip|original) (\d+)\b", lambda m: f"{m.group(1)} {int(index[int(m.group(2))])}",
                             str(exc)) if len(index) else str(exc)
            if renamed == str(exc):
                raise
            raise type(exc)(renamed) from exc

    def _embed_chunk_clips(self, run: _Run, index: np.ndarray) -> dict[str, Any]:
        X = check_audio(run.corpus.read(index), sr=run.sr, owner="SensitivityMeter")
        silent = (X == 0).mean(axis=1)
        _warn_silence(silent, index)  # as the clips in one array would be warned about, by their place in the corpus
        if self.loudness_match:  # before any work on the chunk: a clip whose loudness is undefined, named
            quiet = np.flatnonzero(~np.isfinite(integrated_loudness(X, sr=run.sr)))
            if len(quiet):
                raise InvalidAudioError(
                    f"clip {int(quiet[0])} is too quiet for loudness matching (every 400 ms block below BS.1770's "
                    f"-70 LUFS gate, e.g. digital silence; {len(quiet)} such clips in its chunk): drop it from the "
                    "corpus, or pass loudness_match=False (--no-loudness-match).")
        # every setting matches loudness to the same originals: measure them once per chunk
        with known_loudness(X, run.sr) if self.loudness_match else contextlib.nullcontext():
            originals, _ = self._embed_roles(run, X)
            settings = []
            for k, point in enumerate(run.points):
                if point.severity == "identity":
                    settings.append({"length": X.shape[1], "seconds_perturb": 0.0, "embedded": originals,
                                     "seconds": dict.fromkeys(run.encoders, 0.0)})
                    continue
                t0 = time.perf_counter()
                Xp = self._perturbed(run, k, point, X)
                seconds_perturb = time.perf_counter() - t0
                embedded, seconds = self._embed_roles(run, Xp)
                for role in run.encoders:
                    _check_dimension(run, role, point, embedded[role], originals[role])
                quality = None
                if self.quality:  # the chunk's clips among the few whose audibility is measured
                    mine = np.flatnonzero(np.isin(index, self._quality_clips(len(run.corpus))))
                    quality = quality_table(X[mine], Xp[mine], run.sr, mos=self.quality != "signal", clips=index[mine])
                settings.append({"length": Xp.shape[1], "seconds_perturb": seconds_perturb, "embedded": embedded,
                                 "seconds": seconds, "quality": quality})
        return {"originals": originals, "settings": settings, "keys": content_keys(X)}

    def _setting_over_corpus(self, run: _Run, k: int, point: GridPoint, embedded: dict[str, np.ndarray],
                             seconds: dict[str, float], length: int) -> dict[str, Any]:
        """Setting ``k`` measured over the whole corpus from every clip's embedding, by blocks of rows."""
        out: dict[str, Any] = {"seconds_perturb": seconds["perturb"], "length": length}
        for role in run.encoders:
            _check_dimension(run, role, point, embedded[role], run.originals[role])
            out[role] = self._outcomes(embedded[role], run.originals[role], f"{role} on {point.name}")
            out[f"seconds_{role}"] = seconds[role]
        return out

    def _verified(self, run: _Run) -> pd.DataFrame | None:
        """With ``verify``: each setting's directional check on the quality clips, with the meter's own draws."""
        if not self.verify:
            return None
        from ..perturbations import verify_perturbations

        idx = self._quality_clips(run.n_clips)
        X = run.X[idx] if run.X is not None else check_audio(run.corpus.read(idx), sr=run.sr, owner="SensitivityMeter")
        table = verify_perturbations(self.perturbations, X, sr=run.sr, clips=len(idx),
                                     random_state=run.common.seeds.entropy, confidence=run.common.confidence)
        for r in table[table["verdict"] == "did not happen"].itertuples():
            warnings.warn(f"setting {r.setting!r} claims {r.claim} but measured {r.measured:.3g} (as claimed on "
                          f"{r.share:.0%} of {r.n} clips): its sensitivity measures a change that was not made. Check "
                          "the perturbation (its backend, its parameters, the rate).", TrustkitWarning, stacklevel=4)
        return table

    def _report(self, run: _Run, results: list[dict[str, Any]], verified: pd.DataFrame | None = None) -> SensitivityReport:
        points, encoders, layer_of = run.points, run.encoders, run.layer_of
        seeds, n_boot, conf = run.common.seeds, run.common.n_bootstrap, run.common.confidence
        setting_rows, clips, comp = [], [], []
        has_scope = any(p.severity == "imperceptible" for p in points)
        names = {role: getattr(enc, "display_name", type(enc).__name__) + (f"/{layer_of[role]}" if role in layer_of else "")
                 for role, enc in encoders.items()}
        n = run.n_clips
        in_headline = [p.severity != "identity" and (p.severity == "imperceptible" or not has_scope) for p in points]
        for k, (point, res) in enumerate(zip(points, results)):
            for role in encoders:
                o = res[role]
                ids = {"scope": "setting", "encoder": names[role], "role": role,
                       **({"layer": layer_of.get(role)} if layer_of else {}), "setting": point.name,
                       "family": point.family, "severity": point.severity, "param": point.param or "",
                       "param_value": point.value, "length_out": res["length"], "in_headline": in_headline[k]}
                # one seed per setting, shared by the roles: an encoder gets the same intervals whether it is
                # the encoder of one meter or the baseline of another
                figures = _setting_measures(o, res.get(f"distances_{role}"), n_boot, conf, seeds.seed("bootstrap", k))
                setting_rows += [estimate_row(m, e, **ids) for m, e in figures.items()]
                clips.append(pd.DataFrame({"setting": point.name, "role": role, "clip": np.arange(n), **dict(o.items())}))
            if res.get("quality") is not None:  # the setting's audibility: one row per measure, no encoder
                q_ids = {"scope": "quality", "setting": point.name, "family": point.family, "severity": point.severity,
                         "param": point.param or "", "param_value": point.value}
                q_est = quality_estimates(res["quality"], n_bootstrap=n_boot, confidence=conf,
                                          random_state=seeds.seed("quality", k))
                setting_rows += [estimate_row(m, e, **q_ids) for m, e in q_est.items()]
            if "baseline" in encoders:
                d = paired_difference(
                    res["encoder"]["consistent"].astype(float), res["baseline"]["consistent"].astype(float),
                    n_bootstrap=n_boot, confidence=conf, random_state=seeds.seed("bootstrap", k, 1),
                )
                comp.append(estimate_row("consistency difference", d, scope="encoder - baseline", setting=point.name,
                                         family=point.family, severity=point.severity))
        per_clip = pd.concat(clips, ignore_index=True)
        scope = [p.name for p, inside in zip(points, in_headline) if inside]
        headlines = {role: self._headline(per_clip, scope, role, n_boot, conf, seeds.seed("headline")) for role in encoders}
        config = {
            "encoder": names["encoder"], "baseline": names.get("baseline"), "n_clips": n,
            "n_samples": run.n_samples, "sr": run.sr, "n_settings": len(points) - 1,
            "metric": self.metric if isinstance(self.metric, str) else getattr(self.metric, "__name__", "callable"),
            "loudness_match": self.loudness_match,
            "audio_distance": self.audio_distance if isinstance(self.audio_distance, (str, type(None))) else "callable",
            "headline_scope": "imperceptible settings" if has_scope else "all settings",
            "intervals": {"consistency, sensitivity, agreement, audio_consistency": "Wilson score interval over clips",
                          "mrr, spearman_per_clip": "percentile bootstrap over clips",
                          "distance_ratio": "percentile bootstrap of the median over clips",
                          "spearman": "percentile bootstrap over perturbed clips (rows of the distance matrices)",
                          "headline": "percentile bootstrap over clips of each clip's failure rate "
                                      "(Wilson over clips when every clip has the same rate)",
                          "comparison": "paired percentile bootstrap over clips"},
        }
        if self.quality:
            config["quality"] = {"measures": "ViSQOL v3 MOS-LQO (audio mode, 48 kHz), SNR, segmental SNR, LSD"
                                 if self.quality != "signal" else "SNR, segmental SNR, LSD (no MOS-LQO)",
                                 "mos": self.quality != "signal",
                                 "clips": self._quality_clips(n).tolist(), "threshold": IMPERCEPTIBLE_MOS,
                                 "interval": "percentile bootstrap over the measured clips"}
        if verified is not None:  # did each setting do what it claims: the share of clips, with its interval
            config["verification"] = {"clips": self._quality_clips(n).tolist(),
                                       "interval": "Wilson over the checked clips"}
            setting_rows += [estimate_row("happened", Estimate(r.share, r.low, r.high, r.n, conf), scope="verification",
                                          setting=r.setting, family=r.family, claim=r.claim, measured=r.measured,
                                          verdict=r.verdict) for r in verified.itertuples() if r.verdict != "no claim"]
        baseline = ([estimate_row("sensitivity", headlines["baseline"], scope="headline", encoder=names["baseline"],
                                  role="baseline")] if "baseline" in headlines else [])
        table = long_table([*baseline, *setting_rows, *comp], conf)
        profile = layer_profile({layer: estimate_row("sensitivity", headlines[role]) for role, layer in layer_of.items()})
        if layer_of:
            config["layers"] = list(layer_of.values())
        return SensitivityReport(table=table, per_clip=per_clip, headline_estimate=headlines["encoder"], config=config,
                                 baseline_estimate=headlines.get("baseline"), profile=profile)

    @staticmethod
    def _headline(per_clip: pd.DataFrame, scope: list[str], role: str, n_boot: int, conf: float, seed: int) -> Estimate:
        """Mean over clips of each clip's failure rate across the headline's settings, with its interval."""
        fails = per_clip[(per_clip["role"] == role) & per_clip["setting"].isin(scope)]
        rate = 1.0 - fails.groupby("clip")["consistent"].mean().to_numpy(dtype=float)
        if len(rate) and np.ptp(rate) == 0:
            # every clip fails the same share of settings (typically none or all): a bootstrap would
            # collapse to a point; use the Wilson interval of that share as a proportion of the clips
            w = proportion_interval(round(float(rate[0]) * len(rate)), len(rate), confidence=conf)
            return Estimate(float(rate[0]), w.low, w.high, len(rate), conf)
        return bootstrap_estimate(rate, n_bootstrap=n_boot, confidence=conf, random_state=seed)


def _setting_measures(o: dict[str, np.ndarray], distances: tuple[np.ndarray, np.ndarray] | None, n_boot: int,
                      conf: float, seed: int) -> dict[str, Estimate]:
    """One role's figures on one setting, each with its interval (Wilson for proportions, bootstrap otherwise)."""

    def est(values, statistic=None):
        kw = {"statistic": statistic} if statistic is not None else {}
        return bootstrap_estimate(values, n_bootstrap=n_boot, confidence=conf, random_state=seed, **kw)

    def prop(flags):  # a proportion of clips: Wilson, which does not collapse at 0 or 1
        return proportion_interval(int(np.sum(flags)), len(flags), confidence=conf)

    cons = prop(o["consistent"])
    figures = {"sensitivity": Estimate(1 - cons.statistic, 1 - cons.high, 1 - cons.low, cons.n, cons.confidence),
               "consistency": cons, "mrr": est(o["reciprocal_rank"]),
               "distance_ratio": est(np.where(np.isfinite(o["distance_ratio"]), o["distance_ratio"], np.nan),
                                     statistic=_nanmedian)}
    if "agreement" in o:
        D_audio, D = distances
        figures.update(
            audio_consistency=prop(o["audio_consistent"]), agreement=prop(o["agreement"]),
            spearman=bootstrap_statistic(lambda i: pooled_spearman(D_audio[i], D[i]), len(D), n_bootstrap=n_boot,
                                         confidence=conf, random_state=seed),
            spearman_per_clip=est(o["spearman_per_clip"]),
        )
    return figures


def _check_n_clips(n: int) -> None:
    if n < 2:
        raise ValueError(
            f"SensitivityMeter needs at least 2 clips (a clip is consistent when it stays nearer its own "
            f"original than any other); got {n}."
        )


def _check_dimension(run: _Run, role: str, point: GridPoint, embedded: np.ndarray, originals: np.ndarray) -> None:
    """A perturbed setting's embeddings have the originals' dimension, or an error saying why they must."""
    if embedded.shape[1] != originals.shape[1]:
        enc = run.encoders[role]
        raise ValueError(
            f"the {role} ({getattr(enc, 'display_name', type(enc).__name__)}) returned embeddings of shape "
            f"{embedded.shape} for setting {point.name!r} but {originals.shape} for the originals: "
            "an encoder must give every clip the same dimension, whatever the audio (e.g. pool over time "
            "instead of flattening frames)."
        )


def _warn_duplicates(originals: dict[str, np.ndarray]) -> None:
    for role, Z in originals.items():
        dup = _duplicate_rows(Z)
        if dup is not None:
            warnings.warn(
                f"the {role} gives clips {dup[0]} and {dup[1]} the same embedding: they can never be "
                "consistent (ties fail). Drop duplicate clips or check the encoder.",
                TrustkitWarning,
                stacklevel=4,
            )


def _warn_silence(silent: np.ndarray, index: np.ndarray | None = None) -> None:
    """Warn when clips are mostly digital silence.

    ``silent`` holds each clip's share of exact zeros; ``index`` their places in the corpus when they are a chunk of it.
    """
    if (silent > SILENCE_SHARE).any():
        worst = int(np.argmax(silent))
        name = worst if index is None else int(index[worst])
        warnings.warn(
            f"{int((silent > SILENCE_SHARE).sum())} clips are more than {SILENCE_SHARE:.0%} digital silence (clip "
            f"{name}: {silent[worst]:.0%}, e.g. padding): added noise is audible in digital silence even at an "
            "'imperceptible' SNR, and a clip-level SNR averages the pauses in. Crop the clips, or measure the "
            "SNR over the active part "
            "(AddNoise(snr_reference='active'), study_grid(..., snr_reference='active'); on the command line "
            "--snr-reference active).",
            TrustkitWarning, stacklevel=4,
        )


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
