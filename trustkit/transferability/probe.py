"""TransferabilityProbe: how well a frozen representation serves a target task."""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target

from .._cache import cached_call
from .._meter import Common, Meter, one_blas_thread
from .._validation import check_audio, check_choice, check_number
from ..audio import content_keys
from ..corpus import Corpus, as_corpus, is_corpus_input
from ..encoders import as_encoder, declared_sr, embed, embed_corpus, embed_layers, is_layer_profile
from ..encoders.check import preflight
from ..exceptions import TrustkitWarning
from ..perturbations import grid_points, perturb, seeded_step
from ..reports import estimate_row, layer_profile, long_table
from ..stats import (
    Estimate,
    bootstrap_statistic,
    cluster_mean_interval,
    jackknife_interval,
    mcnemar_exact,
    nadeau_bengio_interval,
    paired_bootstrap,
    proportion_interval,
    score_metric,
)
from .estimators import ESTIMATORS, _features, knn_loo_correct, leep, logme, n_constant_columns, nce
from .report import DROP, ESTIMATOR, OUT_OF_FOLD, PERTURBED, TransferReport, metric_rows

__all__ = ["TransferReport", "TransferabilityProbe"]

PROBES = ("logistic", "ridge", "svm", "knn", "mlp")
TASKS = ("auto", "multiclass", "multilabel", "regression")
MAIN_METRIC = {"multiclass": "accuracy", "multilabel": "roc_auc", "regression": "r2"}
METRICS = {
    "multiclass": ("accuracy", "macro_f1"),
    "multilabel": ("roc_auc", "map"),
    "regression": ("r2", "pearson_r"),
}
CLASS_ONLY_ESTIMATORS = ("hscore", "hscore_shrinkage", "knn", "gbc", "transrate")


# -- targets ---------------------------------------------------------------------------
def detect_task(y: Any) -> str:
    """Task of a target: ``"multiclass"``, ``"multilabel"`` or ``"regression"``."""
    arr = np.asarray(y, dtype=object) if not hasattr(y, "dtype") else np.asarray(y)
    if arr.ndim == 2 and arr.dtype.kind in "OUS":
        raise ValueError(
            "multilabel targets must be a binary indicator matrix (n_items, n_labels), not strings; "
            "convert lists of tags with sklearn.preprocessing.MultiLabelBinarizer."
        )
    kind = type_of_target(arr)
    if kind in ("binary", "multiclass"):
        return "multiclass"
    if kind == "multilabel-indicator":
        return "multilabel"
    if kind in ("continuous", "continuous-multioutput"):
        return "regression"
    raise ValueError(
        f"y looks like {kind!r}; expected class labels (n,), a binary indicator matrix (n, n_labels) "
        "or real-valued targets."
    )


def _probe_and_grid(probe: Any, task: str, seed: int) -> tuple[Any, dict[str, list]]:
    from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.svm import LinearSVC, LinearSVR

    if isinstance(probe, tuple) and len(probe) == 2:
        return probe[0], dict(probe[1])
    if not isinstance(probe, str):
        if not hasattr(probe, "fit"):
            raise TypeError(f"probe must be a name in {PROBES}, an estimator or (estimator, param_grid); got {type(probe).__name__}.")
        return probe, {}
    check_choice(probe, "probe", PROBES)
    C = list(np.logspace(-3, 2, 6))
    if task == "regression":
        model, grid = {
            "logistic": (Ridge(), {"alpha": list(np.logspace(-2, 4, 7))}),
            "ridge": (Ridge(), {"alpha": list(np.logspace(-2, 4, 7))}),
            "svm": (LinearSVR(max_iter=5000, random_state=seed), {"C": C}),
            "knn": (KNeighborsRegressor(), {"n_neighbors": [1, 3, 5, 9, 15]}),
            "mlp": (MLPRegressor((128,), max_iter=500, random_state=seed), {"alpha": [1e-4, 1e-2, 1.0]}),
        }[probe]
    else:
        model, grid = {
            "logistic": (LogisticRegression(max_iter=2000), {"C": C}),
            "ridge": (RidgeClassifier(), {"alpha": list(np.logspace(-2, 4, 7))}),
            "svm": (LinearSVC(max_iter=5000, random_state=seed), {"C": C}),
            "knn": (KNeighborsClassifier(), {"n_neighbors": [1, 3, 5, 9, 15]}),
            "mlp": (MLPClassifier((128,), max_iter=500, random_state=seed), {"alpha": [1e-4, 1e-2, 1.0]}),
        }[probe]
        if task == "multilabel" and probe in ("logistic", "ridge", "svm"):
            model = OneVsRestClassifier(model)
            grid = {f"estimator__{k}": v for k, v in grid.items()}
    return Pipeline([("scale", StandardScaler()), ("probe", model)]), {f"probe__{k}": v for k, v in grid.items()}


# -- metrics -----------------------------------------------------------------------------
def _scores(est: Any, F: np.ndarray, task: str) -> np.ndarray | None:
    """Continuous scores: class probabilities, decision values, or None."""
    if task == "regression":
        return None
    if hasattr(est, "predict_proba"):
        try:
            P = est.predict_proba(F)
        except AttributeError:
            P = None
        if P is not None:
            if isinstance(P, list):  # multilabel k-NN: one (n, 2) array per label
                P = np.column_stack([p[:, -1] for p in P])
            return np.asarray(P, dtype=np.float64)
    if hasattr(est, "decision_function"):
        D = np.asarray(est.decision_function(F), dtype=np.float64)
        return D[:, None] if D.ndim == 1 else D
    return None


# -- the report ----------------------------------------------------------------------------
class TransferabilityProbe(Meter):
    """Probe a frozen representation on a target task, with intervals that hold.

    Parameters
    ----------
    encoder : encoder, fitted transformer, torch module, callable or "precomputed"
        With ``"precomputed"``, ``X`` is an embedding matrix ``(n_items, dim)``.
    probe : {"logistic", "ridge", "svm", "knn", "mlp"}, estimator or (estimator, param_grid), default="logistic"
        Standardisation lives inside the pipeline; the named probes tune their
        regularisation by an inner CV inside every outer fold (nested: the test
        fold never takes part). For regression, "logistic" means ridge.
    task : {"auto", "multiclass", "multilabel", "regression"}, default="auto"
    cv : int or iterable of (train, test), default=5
        Outer folds (stratified for classes; grouped with ``groups``).
    metrics : "auto" or list of str, default="auto"
        ``"auto"``: accuracy and macro-F1 (multiclass); macro ROC-AUC and mAP
        (multilabel); R2 and Pearson r (regression). A list keeps only those
        (the task's main metric, the headline, always stays).
    estimators : tuple of str, default=("logme", "hscore", "knn")
        Training-free estimators among "logme", "hscore", "hscore_shrinkage",
        "knn", "gbc", "transrate" (class estimators are skipped for other tasks);
        LEEP and NCE when ``source_proba`` is passed to :meth:`score`.
    n_bootstrap : int, default=1000
        Resamples for the bootstrap intervals over items. Training-free
        estimators get a delete-a-group jackknife interval instead (20 groups):
        resampling with replacement duplicates items, which biases them.
    confidence : float, default=0.95
        Level of every interval (bootstrap, Nadeau-Bengio, jackknife).
    sr : int or None, default=None
        Sample rate of audio ``X``.
    inner_cv : int, default=3
        Folds of the inner tuning CV (fewer when a training fold holds fewer
        members of a class; untuned defaults when not even 2 fit).
    n_jobs : int or None, default=None
        Outer folds in parallel (joblib, threads by default); numbers do not
        depend on it.
    random_state : int, RandomState or None, default=None
        Roots the call's seed tree: folds, fits, bootstrap and jackknife.
    verbose : bool, default=False
        A progress bar over the outer folds of each probed embedding, on stderr.
    memory : str, joblib.Memory or None, default=None
        Cache of the embeddings (with files: of each finished chunk).
    chunk_size : int or None, default=None
        With files (a :class:`~trustkit.datasets.Corpus`, a folder or a list
        of paths): clips read and embedded per task; only a chunk's audio is
        ever in memory. None: at most 64 clips, and at least 16 chunks of
        equal size (so that the workers share the work evenly).
    perturbations : {"imperceptible", "graver", "all"}, PerturbationGrid, list or None, default=None
        Task-level robustness: the probe of every outer fold, trained on the
        clean training items, also scores that fold's test items perturbed,
        setting by setting (the same settings, draws and loudness matching as
        :class:`~trustkit.SensitivityMeter` with the same ``random_state``).
        The report then holds, per setting, the main metric on the perturbed
        test folds and its paired drop from the clean score (scopes
        ``"probe, perturbed test folds"`` and ``"drop under perturbation"``),
        each with its interval. Needs audio and an encoder.
    loudness_match : bool, default=True
        With ``perturbations``: scale every perturbed clip to its original's
        loudness, as the robustness meter does.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["a", "b", "c"], 30)
    >>> F = np.eye(3)[np.repeat([0, 1, 2], 30)] + 0.3 * rng.standard_normal((90, 3))
    >>> report = TransferabilityProbe("precomputed", cv=3, n_bootstrap=100, random_state=0).score(F, y)
    >>> float(report) > 0.9
    True
    """

    def __init__(
        self, encoder=None, probe="logistic", *, task="auto", cv=5, metrics="auto",
        estimators=("logme", "hscore", "knn"), n_bootstrap=1000, confidence=0.95, sr=None, inner_cv=3,
        n_jobs=None, random_state=None, verbose=False, memory=None, chunk_size=None, perturbations=None,
        loudness_match=True,
    ):
        self.encoder = encoder
        self.probe = probe
        self.task = task
        self.cv = cv
        self.metrics = metrics
        self.estimators = estimators
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.sr = sr
        self.inner_cv = inner_cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.memory = memory
        self.chunk_size = chunk_size
        self.perturbations = perturbations
        self.loudness_match = loudness_match

    _fixed_params = ("encoder",)  # a fixed, possibly fitted model: clone keeps it

    # -- inputs -------------------------------------------------------------------------
    def _checked_input(self, X: Any) -> tuple[np.ndarray, Any]:
        """``X`` checked once: embeddings with ``encoder="precomputed"`` (and no encoder), else audio and the encoder."""
        if isinstance(self.encoder, str) and self.encoder == "precomputed":
            return _features(X, "X (precomputed embeddings)"), None
        if self.encoder is None:
            raise ValueError("TransferabilityProbe needs an encoder, or encoder='precomputed' with embeddings as X.")
        return check_audio(X, owner="TransferabilityProbe"), as_encoder(self.encoder, sr=self.sr)

    def _represent(self, X: np.ndarray, enc: Any) -> tuple[np.ndarray, dict[str, np.ndarray], str, list[str]]:
        """The embeddings to probe, their layers, the representation's name and the clips' content keys.

        ``layers`` holds every layer of an encoder set to ``layer="all"`` (one
        forward pass per clip; the deepest is the embeddings) and is empty
        otherwise. Given embeddings have no content keys (they change with the encoder).
        """
        if enc is None:
            return X, {}, "precomputed", []
        if isinstance(X, Corpus):  # files: chunk by chunk, only embeddings kept
            Z, keys = embed_corpus(enc, X, chunk_size=self.chunk_size, memory=self.memory, parallel_map=self._map,
                                   return_keys=True)
        else:
            Z = embed_layers(enc, X, memory=self.memory) if is_layer_profile(enc) else embed(enc, X, memory=self.memory)
            keys = content_keys(X)
        if is_layer_profile(enc):
            layers = {name: _features(L, f"embeddings of {type(enc).__name__} layer {name!r}") for name, L in Z.items()}
            return layers[next(reversed(layers))], layers, getattr(enc, "display_name", type(enc).__name__), keys
        return _features(Z, f"embeddings of {type(enc).__name__}"), {}, type(enc).__name__, keys

    def _checked_corpus(self, X: Any) -> tuple[Corpus, Any]:
        """Files as a corpus (headers checked, nothing read) at the probe's rate, and the encoder."""
        if self.encoder is None:
            raise ValueError("TransferabilityProbe needs an encoder to embed audio files.")
        corpus = as_corpus(X, sr=self.sr if self.sr is not None else declared_sr(self.encoder))
        return corpus, as_encoder(self.encoder, sr=corpus.sr)

    def _check_task_params(self, task: str) -> None:
        """The probe, inner CV, metrics and estimators, checked for this task before any fit."""
        check_number(self.inner_cv, "inner_cv", low=2, integer=True)
        _probe_and_grid(self.probe, task, 0)
        self._metric_names(task)
        for name in self.estimators or ():
            if name not in ESTIMATORS:
                raise ValueError(f"estimators must be among {sorted(ESTIMATORS)}; got {name!r}.")

    def _metric_names(self, task: str) -> list[str]:
        """The metrics to report: every one of the task's with "auto", else the chosen ones (the main one always)."""
        available = METRICS[task]
        if isinstance(self.metrics, str):
            if self.metrics != "auto":
                raise ValueError(f"metrics must be 'auto' or a list among {list(available)} for a {task} task; "
                                 f"got {self.metrics!r}.")
            return list(available)
        chosen = list(self.metrics)
        unknown = [m for m in chosen if m not in available]
        if unknown or not chosen:
            raise ValueError(f"metrics {unknown or chosen} are not among those of a {task} task: {list(available)}.")
        main = MAIN_METRIC[task]
        return [m for m in available if m in chosen or m == main]

    def _targets(self, y: Any, n: int) -> tuple[np.ndarray, str, np.ndarray | None]:
        check_choice(self.task, "task", TASKS)
        if hasattr(y, "to_numpy"):
            y = y.to_numpy()
        arr = np.asarray(y) if not isinstance(y, list) or not y or not isinstance(y[0], (list, tuple, set)) else None
        if arr is None:
            raise ValueError(
                "multilabel targets must be a binary indicator matrix (n_items, n_labels), not lists of tags; "
                "convert them with sklearn.preprocessing.MultiLabelBinarizer."
            )
        if len(arr) != n:
            raise ValueError(f"y has {len(arr)} targets but X has {n} items; pass one target per item.")
        missing = np.asarray(pd.isna(pd.DataFrame(arr.reshape(len(arr), -1))).any(axis=1))
        if missing.any():
            raise ValueError(
                f"y has {int(missing.sum())} missing targets (None or NaN; first at item {int(np.argmax(missing))}); "
                "drop those items (from X, y and groups) or fill in their labels."
            )
        if arr.dtype.kind in "fc" and np.isinf(arr).any():
            first = int(np.argmax(np.isinf(arr.reshape(len(arr), -1)).any(axis=1)))
            raise ValueError(f"y has {int(np.isinf(arr).sum())} infinite targets (first at item {first}); a regression "
                             "target must be finite: drop or repair those items.")
        if arr.dtype.kind == "O" and arr.ndim == 1 and len({type(v) for v in arr}) > 1:
            kinds = sorted({type(v).__name__ for v in arr})
            raise TypeError(f"y mixes label types ({', '.join(kinds)}); use one type, e.g. y.astype(str).")
        task = detect_task(arr) if self.task == "auto" else self.task
        classes = None
        if task == "multiclass":
            if arr.ndim != 1:
                raise ValueError(f"multiclass targets must have shape (n,); got {arr.shape}.")
            classes, codes = np.unique(arr, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(f"y holds a single class ({classes[0]!r}); a probe needs at least two.")
            arr = codes.ravel()
        elif task == "multilabel":
            if arr.ndim != 2 or not np.isin(arr, (0, 1)).all():
                raise ValueError("multilabel targets must be a 0/1 indicator matrix (n_items, n_labels).")
            arr = arr.astype(int)
        else:
            arr = np.asarray(arr, dtype=np.float64)
            if not np.isfinite(arr).all():
                raise ValueError("regression targets must be finite.")
        return arr, task, classes

    def _splits(
        self, F: np.ndarray, y: np.ndarray, task: str, groups: Any, seed: int, classes: Any = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(F),):
                raise ValueError(f"groups must hold one group per item, shape ({len(F)},); got {groups.shape}.")
        if not isinstance(self.cv, (int, np.integer)) or isinstance(self.cv, bool):
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in (self.cv.split(F, y, groups) if hasattr(self.cv, "split") else self.cv)]
            if len(splits) < 2:
                raise ValueError("cv must provide at least 2 (train, test) splits.")
            return splits
        k = check_number(self.cv, "cv", low=2, integer=True)
        if task == "multiclass":
            counts = np.bincount(y)
            if counts.min() < k:
                rare = int(np.argmin(counts))
                label = classes[rare] if classes is not None else rare
                raise ValueError(
                    f"class {label!r} has {counts.min()} members, fewer than cv={k} folds; "
                    "lower cv, merge or drop rare classes."
                )
            splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed) if groups is not None else StratifiedKFold(k, shuffle=True, random_state=seed)
        else:
            splitter = GroupKFold(k, shuffle=True, random_state=seed) if groups is not None else KFold(k, shuffle=True, random_state=seed)
        if groups is not None and len(np.unique(groups)) < k:
            raise ValueError(f"groups has {len(np.unique(groups))} distinct groups, fewer than cv={k} folds.")
        return list(splitter.split(F, y, groups))

    # -- work --------------------------------------------------------------------------------
    def score(self, X: Any, y: Any = None, groups: Any = None, *, source_proba: Any = None) -> TransferReport:
        """Embed, probe with nested cross-validation, and estimate transferability.

        Parameters
        ----------
        X : array-like, Corpus, folder or list of paths
            Audio ``(n_clips, n_samples)``, or embeddings with
            ``encoder="precomputed"``, or files (read and embedded
            ``chunk_size`` clips at a time, at ``sr``, else the encoder's
            declared rate, else the files' own).
        y : array-like or None
            Class labels ``(n,)``, a 0/1 indicator matrix ``(n, n_labels)`` or
            real targets. With files, None takes the corpus's labels (a
            folder's sub-folders).
        groups : array-like of shape (n,) or None
            E.g. artist: no group is on both sides of any split (outer or
            inner). With files, None takes the corpus's groups.
        source_proba : array-like of shape (n, n_source_classes) or None
            Source-task class probabilities, for LEEP and NCE.

        Returns
        -------
        TransferReport
        """
        # every parameter, the targets and the folds are checked before the encoder runs
        common = self._check_common()
        corpus = None
        if is_corpus_input(X) and not (isinstance(self.encoder, str) and self.encoder == "precomputed"):
            corpus, enc = self._checked_corpus(X)
            X = corpus
            y = corpus.labels if y is None else y
            groups = corpus.groups if groups is None else groups
        else:
            X, enc = self._checked_input(X)
        if y is None:
            raise TypeError("TransferabilityProbe.score needs y, the targets (one per item); only files labelled "
                            "by their folders or a CSV bring their own.")
        n = len(X)
        y_arr, task, classes = self._targets(y, n)
        self._check_task_params(task)
        splits = self._splits(np.zeros((n, 1)), y_arr, task, groups, common.seeds.seed("folds"), classes)
        job = _Task(y_arr, task, classes, splits, None if groups is None else np.asarray(groups), source_proba)
        t0 = time.perf_counter()
        if self.perturbations is not None:  # checked before the encoder runs
            if enc is None or is_layer_profile(enc):
                raise ValueError("perturbations= probes the task on perturbed audio: it needs audio and an encoder "
                                 "(not 'precomputed' embeddings), and one layer (not layer='all'; score the layer you "
                                 "want).")
            p_sr = X.sr if isinstance(X, Corpus) else (self.sr if self.sr is not None else declared_sr(enc))
            if p_sr is None:
                raise ValueError("perturbations= needs the audio's sample rate: pass sr= to TransferabilityProbe, or an "
                                 "encoder that states its rate (e.g. MFCCEncoder(sr=22050)).")
            points = grid_points(self.perturbations, p_sr)
        F, layers, enc_name, keys = self._represent(X, enc)
        if enc is not None and not layers:  # before any fit: one embedding per clip, and clips told apart
            preflight(enc, X.read([0, 1]) if isinstance(X, Corpus) else X[:2], F[:2], F, owner="TransferabilityProbe")
        t_embed = time.perf_counter() - t0
        files = {} if corpus is None else {"corpus": corpus.describe(self.chunk_size)}
        if not layers:
            perturbed = self._perturbed(X, enc, points, p_sr, common) if self.perturbations is not None else None
            report = self._evaluate(F, job, common, enc_name, t_embed, perturbed)
            return dataclasses.replace(report, config={**report.config, **files}, clip_keys=keys)
        # a layer profile: every layer on the same folds with the same seeds; the report is the deepest layer's
        reports = {name: self._evaluate(Z, job, common, f"{enc_name}/{name}", t_embed) for name, Z in layers.items()}
        profile = layer_profile({name: rep.row(MAIN_METRIC[task], scope=OUT_OF_FOLD) for name, rep in reports.items()})
        deepest = reports[next(reversed(reports))]
        return dataclasses.replace(deepest, profile=profile, config={**deepest.config, "layers": list(layers), **files},
                                   clip_keys=keys)

    def outer_folds(self, F: Any, y: Any, groups: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """The outer folds :meth:`score` uses for these items.

        The same ``cv``, ``groups`` and ``random_state`` give the same folds.

        Parameters
        ----------
        F : array-like of shape (n, dim)
            Embeddings (only their number is used).
        y : array-like
            Targets, as for :meth:`score`.
        groups : array-like of shape (n,) or None

        Returns
        -------
        list of (train indices, test indices)
        """
        F = _features(F, "F (embeddings)")
        y_arr, task, classes = self._targets(y, len(F))
        return self._splits(F, y_arr, task, groups, self._check_common().seeds.seed("folds"), classes)

    def score_embeddings(
        self, F: Any, y: Any, groups: Any = None, *, splits: Any = None, name: str = "precomputed",
        source_proba: Any = None, perturbed: Any = None,
    ) -> TransferReport:
        """Probe given embeddings, on given folds: the seam :func:`compare_encoders` uses.

        Equal to :meth:`score` with ``encoder="precomputed"``; with ``splits``
        (e.g. from :meth:`outer_folds` on another encoder's embeddings of the same
        items), every encoder is probed on the very same folds.

        Parameters
        ----------
        F : array-like of shape (n, dim)
        y, groups, source_proba
            As for :meth:`score`.
        splits : list of (train, test) or None
            Outer folds; None: :meth:`outer_folds`'s.
        name : str, default="precomputed"
            The representation's name in the report.
        perturbed : list of (GridPoint, array) or None
            Task-level robustness on given embeddings: each setting with the
            embeddings of the perturbed items (see ``perturbations=``).

        Returns
        -------
        TransferReport
        """
        F = _features(F, f"embeddings of {name}")
        y_arr, task, classes = self._targets(y, len(F))
        common = self._check_common()
        self._check_task_params(task)
        if splits is None:
            splits = self._splits(F, y_arr, task, groups, common.seeds.seed("folds"), classes)
        job = _Task(y_arr, task, classes, [(np.asarray(tr), np.asarray(te)) for tr, te in splits],
                    None if groups is None else np.asarray(groups), source_proba)
        return self._evaluate(F, job, common, name, perturbed=perturbed)

    def _perturbed(self, X: Any, enc: Any, points: list[Any], sr: int, common: Common) -> list[tuple[Any, np.ndarray]]:
        """Every setting's embeddings of the perturbed clips (files: chunk by chunk), seeded as the robustness meter's."""
        # k as the robustness meter numbers them (0 is its identity)
        steps = [seeded_step(point, seed=common.seeds.seed("perturbation", k), sr=sr, loudness_match=self.loudness_match)
                 for k, point in enumerate(points, start=1)]
        if isinstance(X, Corpus):  # files: each chunk read once, every setting perturbed and embedded from it
            Zs = embed_corpus(enc, X, chunk_size=self.chunk_size, memory=self.memory, parallel_map=self._map,
                              transforms=steps)
            return [(point, _features(Z, f"embeddings of {type(enc).__name__} on {point.name}"))
                    for point, Z in zip(points, Zs)]
        out = []
        for point, step in zip(points, steps):
            # through the robustness meter's cache: a meter on the same clips and seeds perturbed them already
            Xp = np.asarray(cached_call(perturb, self.memory, step, X, None, what=f"perturbation {point.name!r}",
                                        ignore=("pool",)), dtype=X.dtype)
            if Xp.ndim != 2 or len(Xp) != len(X):
                raise ValueError(f"perturbation {point.name!r} returned shape {Xp.shape} for {len(X)} clips; "
                                 "it must return one clip per input clip.")
            Z = embed(enc, Xp, memory=self.memory)
            out.append((point, _features(Z, f"embeddings of {type(enc).__name__} on {point.name}")))
        return out

    def _evaluate(self, F: np.ndarray, job: _Task, common: Common, enc_name: str, t_embed: float = 0.0,
                  perturbed: list[tuple[Any, np.ndarray]] | None = None) -> TransferReport:
        """Probe one representation on the task's folds, in three steps: fit the folds, measure, assemble."""
        inner = check_number(self.inner_cv, "inner_cv", low=2, integer=True)
        t1 = time.perf_counter()
        folds = self._map(_fit_fold, [(self.probe, F, job.y, job.task, tr, te, job.groups, inner, common.seeds.seed("fit", k))
                                      for k, (tr, te) in enumerate(job.splits)], desc=f"{enc_name} -> {job.task}: outer folds")
        t_probe = time.perf_counter() - t1
        oof = _out_of_fold(job, folds)
        ids = {"encoder": enc_name, "task": job.task}
        rows = self._metric_rows(job, folds, oof, common, ids)
        t2 = time.perf_counter()
        rows += self._estimator_rows(F, job.y, job.task, job.source_proba, common, job.groups, ids)
        t_est = time.perf_counter() - t2
        oof_table, per_class = _item_tables(job, oof)
        if perturbed:
            robust_rows, columns = _perturbed_rows(job, folds, oof, perturbed, common, ids)
            rows += robust_rows
            oof_table = pd.concat([oof_table, pd.DataFrame(columns, index=oof_table.index)], axis=1)
        n_dup = _near_duplicates_across_folds(F, job.splits)
        if n_dup:
            warnings.warn(
                f"{enc_name}: {n_dup} held-out items have a near-duplicate in their training fold (embeddings closer "
                f"than {DUPLICATE_SHARE:.1%} of the median distance between items: the same clip twice, or excerpts "
                "of one recording): the probe is scored on what it was trained on, and the score is optimistic. Pass "
                "groups= (--groups on the command line) so that copies stay on one side.",
                TrustkitWarning, stacklevel=4,
            )
        folds_table = pd.DataFrame([
            {"fold": k, "n_train": len(tr), "n_test": len(te), **f["scores_by_metric"], **{f"param:{p}": v for p, v in f["best_params"].items()},
             "convergence_warnings": f["n_warnings"], "fit_seconds": f["seconds"]}
            for k, ((tr, te), f) in enumerate(zip(job.splits, folds))
        ])
        config = {
            "encoder": enc_name, "task": job.task, "n_items": len(job.y),
            "probe": self.probe if isinstance(self.probe, str) else type(self.probe).__name__,
            "n_folds": len(job.splits), "inner_cv": inner, "groups": job.groups is not None, "main_metric": MAIN_METRIC[job.task],
            "n_groups": None if job.groups is None else len(np.unique(job.groups)), "n_near_duplicates": n_dup,
            "n_classes": len(job.classes) if job.classes is not None else None, "dim": F.shape[1],
            **({"perturbations": [p.name for p, _ in perturbed], "loudness_match": self.loudness_match} if perturbed else {}),
            **self._record(common, embed_s=t_embed, probe_s=t_probe, estimators_s=t_est),
        }
        return TransferReport(table=long_table(rows, common.confidence), folds=folds_table, per_class=per_class,
                              oof=oof_table, config=config)

    def _metric_rows(self, job: _Task, folds: list[dict[str, Any]], oof: dict[str, Any], common: Common,
                     ids: dict[str, Any]) -> list[dict[str, Any]]:
        """Each metric on the out-of-fold predictions, with its bootstrap and Nadeau-Bengio intervals and baselines."""
        covered, pred, scores = oof["covered"], oof["pred"], oof["scores"]
        y, splits = job.y, job.splits
        n_train = int(np.mean([len(tr) for tr, _ in splits]))
        n_test = int(np.mean([len(te) for _, te in splits]))
        chance, majority = _baselines(y[covered], job.task, splits)
        yc, pc = y[covered], pred[covered]
        sc = None if scores is None else scores[covered]
        rows = []
        for m_i, name in enumerate(self._metric_names(job.task)):
            value = score_metric(name, yc, pc, sc)
            boot = _bootstrap_metric(name, yc, pc, sc, common.n_bootstrap, common.seeds.seed("bootstrap", m_i),
                                     confidence=common.confidence, groups=None if job.groups is None else job.groups[covered])
            fold_scores = [f["scores_by_metric"][name] for f in folds]
            nb = nadeau_bengio_interval(fold_scores, n_train=n_train, n_test=n_test, confidence=common.confidence,
                                        bounds=METRIC_RANGE[name])
            item = Estimate(value, boot.low, boot.high, len(y), common.confidence)
            rows += metric_rows(ids, name, item, nb, chance[name], majority[name],
                                _interval_name(name, job.groups is not None))
        return rows

    def _estimator_rows(self, F, y, task, source_proba, common: Common, groups, ids: dict[str, Any]) -> list[dict[str, Any]]:
        """The training-free estimators' rows of the long table, each with its interval, how it was computed and a note."""
        names = list(self.estimators or ())
        for name in names:
            if name not in ESTIMATORS:
                raise ValueError(f"estimators must be among {sorted(ESTIMATORS)}; got {name!r}.")
        rows = []
        seed, conf = common.seeds.seed("estimators"), common.confidence
        n_classes = len(np.unique(y)) if task == "multiclass" else None
        grouped = groups is not None
        jackknife = "jackknife deleting whole groups" if grouped else "delete-a-group jackknife (20 random groups)"
        # what a linear model can fit: the rank of the centred embeddings, once for every estimator's note
        rank = int(np.linalg.matrix_rank(F - F.mean(axis=0))) if set(names) & set(RANK_SENSITIVE) else 0
        for name in names:
            if task != "multiclass" and name in CLASS_ONLY_ESTIMATORS:
                continue
            if name == "knn":
                # leave-one-group-out neighbours, and whole groups resampled
                correct = knn_loo_correct(F, y, groups=groups)
                est = _proportion_estimate(correct, groups, conf)
                interval = _interval_name("accuracy", grouped)
            else:
                fn = (lambda G, t: logme(G, t, regression=task != "multiclass")) if name == "logme" else ESTIMATORS[name]
                bounds = (0.0, float(n_classes - 1)) if name in ("hscore", "hscore_shrinkage") else None
                est = jackknife_interval(lambda i, fn=fn: fn(F[i], y[i]), len(F), groups=groups, bounds=bounds, confidence=conf,
                                         random_state=seed)
                interval = jackknife
            note = _estimator_note(name, est, F, n_classes, rank)
            if note.startswith("saturated"):  # an interval that cannot vary is not shown
                est = dataclasses.replace(est, low=np.nan, high=np.nan)
            rows.append(estimate_row(name, est, **ids, scope=ESTIMATOR, group_aware=grouped, interval=interval, note=note))
        if source_proba is not None and task == "multiclass":
            P = np.asarray(source_proba, dtype=np.float64)
            for name, fn in (("leep", lambda G, t: leep(G, t)), ("nce", lambda G, t: nce(G.argmax(axis=1), t))):
                est = jackknife_interval(lambda i, fn=fn: fn(P[i], y[i]), len(P), groups=groups, confidence=conf,
                                         random_state=seed)
                rows.append(estimate_row(name, est, **ids, scope=ESTIMATOR, group_aware=grouped, interval=jackknife, note=""))
        return rows


#: two items whose embeddings are closer than this share of the median distance between items are near-duplicates
DUPLICATE_SHARE = 1e-3


def _near_duplicates_across_folds(F: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """How many held-out items have a training item of their fold closer than DUPLICATE_SHARE of the median distance."""
    from scipy.spatial.distance import cdist

    sample = F[np.unique(np.linspace(0, len(F) - 1, min(len(F), 500)).astype(int))]  # the scale: evenly spaced items
    d = cdist(sample, sample)
    scale = float(np.median(d[np.triu_indices(len(sample), 1)])) if len(sample) > 1 else 0.0
    if not scale > 0:
        return 0
    count = 0
    for tr, te in splits:
        for s in range(0, len(te), 1024):  # row blocks: memory O(block x n_train)
            count += int((cdist(F[te[s : s + 1024]], F[tr]).min(axis=1) < DUPLICATE_SHARE * scale).sum())
    return count


#: estimators that a rank >= n - 1 makes uninformative (H-score saturates)
RANK_SENSITIVE = ("hscore", "logme", "hscore_shrinkage", "gbc", "transrate")


def _estimator_note(name: str, est: Any, F: np.ndarray, n_classes: int | None, rank: int) -> str:
    """Why an estimator's value says little, in words ("" when nothing is known to be wrong with it).

    With ``rank(F - mean) >= n - 1`` a linear model (with an intercept) fits any labelling of the items exactly: the
    classes are separable whatever they are, H-score saturates at ``C - 1``, and LogME, GBC, TransRate and the
    shrinkage H-score mostly measure the dimension.
    """
    n = len(F)
    constant = n_constant_columns(F)
    dropped = f"; {constant} constant columns dropped" if constant and name == "logme" else ""
    if name not in RANK_SENSITIVE:
        return ""
    if name == "hscore" and n_classes and (rank >= n - 1 or abs(est.statistic - (n_classes - 1)) < 1e-9):
        return (f"saturated at C - 1 = {n_classes - 1}: the centred embeddings have rank {rank} for {n} items, so every "
                "class is linearly separable and H-score takes its maximum whatever the encoder (no interval: it "
                "cannot vary)")
    if rank >= n - 1 and name != "hscore":
        return (f"uninformative: the centred embeddings have rank {rank} >= n - 1 = {n - 1}, so a linear model fits "
                f"any labelling; compare encoders on it only at equal dimension{dropped}")
    return dropped.removeprefix("; ")


@dataclasses.dataclass(frozen=True)
class _Task:
    """One task as the probe evaluates it: encoded targets, their kind, the folds, and what travels with the items."""

    y: np.ndarray
    task: str  # "multiclass", "multilabel" or "regression"
    classes: np.ndarray | None
    splits: list[tuple[np.ndarray, np.ndarray]]
    groups: np.ndarray | None = None
    source_proba: Any = None


def _out_of_fold(job: _Task, folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Every item's prediction (and scores) from the fold that held it out; ``covered`` marks the items predicted."""
    y = job.y
    pred = np.empty(y.shape, dtype=np.float64 if job.task == "regression" else int)
    fold_of = np.full(len(y), -1)
    scores = None
    for k, ((_, te), res) in enumerate(zip(job.splits, folds)):
        pred[te] = res["pred"]
        fold_of[te] = k
        if res["scores"] is not None:
            if scores is None:
                scores = np.full((len(y), res["scores"].shape[1]), np.nan)
            scores[te] = res["scores"]
    return {"pred": pred, "fold_of": fold_of, "scores": scores, "covered": fold_of >= 0}


def _item_tables(job: _Task, oof: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The out-of-fold table (one row per item) and the per-class (or per-label) table."""
    y, classes, pred, scores, covered = job.y, job.classes, oof["pred"], oof["scores"], oof["covered"]
    table = pd.DataFrame({"item": np.arange(len(y)), "fold": oof["fold_of"]})
    if job.groups is not None:
        table["group"] = job.groups
    if job.task == "multiclass":
        table["true"] = classes[y]
        table["pred"] = np.where(covered, classes[np.where(covered, pred, 0)], None)
        per_class = pd.DataFrame(skm.precision_recall_fscore_support(y[covered], pred[covered], labels=np.arange(len(classes)),
                                                                     zero_division=0)).T
        per_class.columns = ["precision", "recall", "f1", "support"]
        per_class.insert(0, "class", classes)
    elif job.task == "multilabel":
        for j in range(y.shape[1]):
            table[f"true_{j}"] = y[:, j]
            table[f"score_{j}"] = scores[:, j] if scores is not None else pred[:, j]

        def label_metric(name: str, j: int) -> float:
            return score_metric(name, y[covered][:, [j]], pred[covered][:, [j]], None if scores is None else scores[covered][:, [j]])

        per_class = pd.DataFrame([{"label": j, "prevalence": float(y[covered, j].mean()),
                                   "roc_auc": label_metric("roc_auc", j), "ap": label_metric("map", j)}
                                  for j in range(y.shape[1])])
    else:
        Y = y.reshape(len(y), -1)
        P = pred.reshape(len(y), -1)
        for j in range(Y.shape[1]):
            table[f"true_{j}"] = Y[:, j]
            table[f"pred_{j}"] = P[:, j]
        per_class = pd.DataFrame()
    return table, per_class


#: the range of each metric: intervals are clipped to it
METRIC_RANGE = {"accuracy": (0.0, 1.0), "macro_f1": (0.0, 1.0), "roc_auc": (0.0, 1.0), "map": (0.0, 1.0),
                "r2": (-np.inf, 1.0), "pearson_r": (-1.0, 1.0)}


def _interval_name(name: str, grouped: bool) -> str:
    """The interval :func:`_bootstrap_metric` gives a metric, in words."""
    if name == "accuracy":
        return "cluster-robust t over groups" if grouped else "Wilson over items"
    return "jackknife deleting one group at a time" if grouped else "bootstrap over items"


def _bootstrap_metric(name, y, pred, scores, n_boot, seed, groups=None, confidence=0.95) -> Estimate:
    """A metric on the out-of-fold predictions with an interval that holds its coverage.

    Accuracy is a proportion: Wilson over items (150 of 150 correct reads [0.975, 1], not [1, 1]), or with groups
    the cluster-robust t interval (the percentile cluster bootstrap covered 0.85 with 6 groups; see
    ``tools/coverage_few_groups.py``). Other metrics: the percentile bootstrap over items, or with groups the
    delete-one-group jackknife with t quantiles. Every interval is clipped to the metric's range.
    """
    bounds = METRIC_RANGE[name]
    if name == "accuracy":
        return _proportion_estimate(y == pred, groups, confidence)

    def statistic(i: np.ndarray) -> float:
        return score_metric(name, y[i], pred[i], None if scores is None else scores[i])

    if groups is not None:
        n_groups = len(np.unique(groups))
        return jackknife_interval(statistic, len(y), groups=groups, n_groups=n_groups, bounds=bounds,
                                  confidence=confidence, random_state=seed)
    return bootstrap_statistic(statistic, len(y), n_bootstrap=n_boot, confidence=confidence,
                               random_state=seed).clip(bounds)


def _proportion_estimate(correct: np.ndarray, groups: Any, confidence: float) -> Estimate:
    """A share of correct items: Wilson over items, or the cluster-robust t interval over groups."""
    correct = np.asarray(correct, dtype=float)
    if groups is not None:
        return cluster_mean_interval(correct, groups, confidence=confidence, bounds=METRIC_RANGE["accuracy"])
    return proportion_interval(int(correct.sum()), len(correct), confidence=confidence)


def _baselines(y: np.ndarray, task: str, splits) -> tuple[dict[str, float], dict[str, float]]:
    if task == "multiclass":
        p = np.bincount(y) / len(y)
        chance = {"accuracy": float(np.sum(p**2)), "macro_f1": 1.0 / len(p)}
        pred = np.empty_like(y)
        for tr, te in splits:  # majority class of each training fold
            pred[te] = np.bincount(y[tr], minlength=len(p)).argmax()
        majority = {m: score_metric(m, y, pred, None) for m in METRICS[task]}
    elif task == "multilabel":
        prev = y.mean(axis=0)
        chance = {"roc_auc": 0.5, "map": float(prev[(prev > 0) & (prev < 1)].mean())}
        majority = dict(chance)
    else:
        chance = {"r2": 0.0, "pearson_r": 0.0}
        pred = np.empty(y.shape)
        for tr, te in splits:
            pred[te] = y[tr].mean(axis=0)
        majority = {"r2": score_metric("r2", y, pred, None), "pearson_r": 0.0}
    return chance, majority


def _multilabel_auc_scorer(est: Any, X: np.ndarray, y: np.ndarray) -> float:
    value = score_metric("roc_auc", y, est.predict(X), _scores(est, X, "multilabel"))
    return value if np.isfinite(value) else 0.5


def _fit_fold(probe, F, y, task, tr, te, groups, inner, seed) -> dict[str, Any]:
    t0 = time.perf_counter()
    model, grid = _probe_and_grid(probe, task, seed)
    model = clone(model)
    g_tr = None if groups is None else groups[tr]
    # a training fold may hold fewer groups, or fewer members of a rare class, than inner folds: shrink the
    # inner CV to fit, and leave the probe untuned (its defaults) when not even 2 folds fit
    if g_tr is not None:
        inner = min(inner, len(np.unique(g_tr)))
    if task == "multiclass":
        inner = min(inner, int(np.bincount(y[tr]).min()))
    if inner < 2:
        grid = {}
    inner = max(inner, 2)
    if task == "multiclass":
        inner_cv = (StratifiedGroupKFold(inner, shuffle=True, random_state=seed) if g_tr is not None
                    else StratifiedKFold(inner, shuffle=True, random_state=seed))
        scoring = "accuracy"
    elif task == "multilabel":
        inner_cv = GroupKFold(inner, shuffle=True, random_state=seed) if g_tr is not None else KFold(inner, shuffle=True, random_state=seed)
        scoring = _multilabel_auc_scorer
    else:
        inner_cv = GroupKFold(inner, shuffle=True, random_state=seed) if g_tr is not None else KFold(inner, shuffle=True, random_state=seed)
        scoring = "r2"
    with warnings.catch_warnings(record=True) as caught, one_blas_thread():
        warnings.simplefilter("always", ConvergenceWarning)
        if grid:
            search = GridSearchCV(model, grid, cv=inner_cv, scoring=scoring, n_jobs=1, refit=True, error_score="raise")
            search.fit(F[tr], y[tr], groups=g_tr)
            est, best = search.best_estimator_, search.best_params_
        else:
            est, best = model.fit(F[tr], y[tr]), {}
        pred = est.predict(F[te])
        scores = _scores(est, F[te], task) if (is_classifier(est) or task != "regression") else None
    n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if task == "multiclass" and scores is not None and scores.shape[1] == 1:
        scores = np.column_stack([-scores[:, 0], scores[:, 0]])
    by_metric = {m: score_metric(m, y[te], np.asarray(pred), scores) for m in METRICS[task]}
    return {"pred": np.asarray(pred), "scores": scores, "model": est, "best_params": {k: _plain(v) for k, v in best.items()},
            "scores_by_metric": by_metric, "n_warnings": n_warn, "seconds": time.perf_counter() - t0}


def _fold_outputs(job: _Task, folds: list[dict[str, Any]], F: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Every item's prediction (and scores) on embeddings ``F`` by the probe of the fold that held it out."""
    y = job.y
    pred = np.empty(y.shape, dtype=np.float64 if job.task == "regression" else int)
    scores = None
    for (_, te), res in zip(job.splits, folds):
        est = res["model"]
        with one_blas_thread():
            pred[te] = est.predict(F[te])
            s = _scores(est, F[te], job.task) if (is_classifier(est) or job.task != "regression") else None
        if s is not None:
            if job.task == "multiclass" and s.shape[1] == 1:
                s = np.column_stack([-s[:, 0], s[:, 0]])
            scores = np.full((len(y), s.shape[1]), np.nan) if scores is None else scores
            scores[te] = s
    return pred, scores


def _perturbed_rows(job: _Task, folds: list[dict[str, Any]], oof: dict[str, Any], perturbed: list[tuple[Any, np.ndarray]],
                    common: Common, ids: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per setting: the main metric on the perturbed test folds, and its paired drop from the clean score.

    Each fold's probe (trained on clean items) predicts its own test items,
    perturbed; the drop ``clean - perturbed`` is paired item by item (McNemar's
    exact test for an accuracy without groups; the paired bootstrap, by group
    with groups, otherwise). Also returns the out-of-fold table's columns of
    each setting's predictions (``pred@SETTING``, ``score_j@SETTING``, ``pred_j@SETTING``).
    """
    main = MAIN_METRIC[job.task]
    cov = oof["covered"]
    y = job.y[cov]
    groups = None if job.groups is None else job.groups[cov]
    pc, sc = oof["pred"][cov], None if oof["scores"] is None else oof["scores"][cov]
    rows, columns = [], {}
    for k, (point, Fp) in enumerate(perturbed):
        pred, scores = _fold_outputs(job, folds, Fp)
        pp, sp = pred[cov], None if scores is None else scores[cov]
        where = {**ids, "setting": point.name, "family": point.family, "severity": point.severity}
        boot = _bootstrap_metric(main, y, pp, sp, common.n_bootstrap, common.seeds.seed("task_robustness", k, 0),
                                 confidence=common.confidence, groups=groups)
        value = score_metric(main, y, pp, sp)
        rows.append(estimate_row(main, Estimate(value, boot.low, boot.high, len(y), common.confidence), **where,
                                 scope=PERTURBED, interval=_interval_name(main, groups is not None)))
        def drop_on(i: np.ndarray, pp: np.ndarray = pp, sp: np.ndarray | None = sp) -> float:
            return (score_metric(main, y[i], pc[i], None if sc is None else sc[i])
                    - score_metric(main, y[i], pp[i], None if sp is None else sp[i]))

        drop, p = paired_bootstrap(drop_on, len(y), groups=groups, n_bootstrap=common.n_bootstrap, confidence=common.confidence,
                                   random_state=common.seeds.seed("task_robustness", k, 1))
        test = "paired bootstrap" + (" by group" if groups is not None else "")
        if main == "accuracy" and groups is None:
            p, test = mcnemar_exact(pc == y, pp == y), "McNemar exact"
        rows.append(estimate_row(main, drop, **where, scope=DROP, interval=f"paired percentile bootstrap over "
                                 f"{'groups' if groups is not None else 'items'}", test=test, p=p))
        if job.task == "multiclass":
            columns[f"pred@{point.name}"] = np.where(oof["covered"], job.classes[np.where(oof["covered"], pred, 0)], None)
        elif job.task == "multilabel":
            out = scores if scores is not None else pred
            columns.update({f"score_{j}@{point.name}": out[:, j] for j in range(out.shape[1])})
        else:
            P = pred.reshape(len(pred), -1)
            columns.update({f"pred_{j}@{point.name}": P[:, j] for j in range(P.shape[1])})
    return rows, columns


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
