"""The encoder protocol and adapters: callables, fitted transformers, torch modules."""

from __future__ import annotations

import copy
import inspect
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._validation import check_audio, check_choice, check_embeddings, check_sr

__all__ = [
    "ALL_LAYERS",
    "BaseEncoder",
    "FunctionEncoder",
    "TorchEncoder",
    "TransformerEncoder",
    "as_encoder",
    "embed",
    "embed_corpus",
    "embed_layers",
    "is_layer_profile",
    "pool_frames",
]

POOLING = ("meanstd", "mean", "max")
#: ``layer=ALL_LAYERS`` asks a layered encoder for every layer at once (a layer profile)
ALL_LAYERS = "all"


def is_layer_profile(encoder: Any) -> bool:
    """True when ``encoder`` is set to give every layer (``layer="all"``): the meters then profile its layers.

    Examples
    --------
    >>> from trustkit.encoders import MusicnnEncoder
    >>> is_layer_profile(MusicnnEncoder(layer="all")), is_layer_profile(MusicnnEncoder())
    (True, False)
    """
    return isinstance(getattr(encoder, "layer", None), str) and encoder.layer == ALL_LAYERS and hasattr(encoder, "transform_layers")


def pool_frames(frames: Any, how: str = "meanstd") -> np.ndarray:
    """Pool frame-wise features ``(n_frames, dim)`` to one clip vector.

    Parameters
    ----------
    frames : array-like of shape (n_frames, dim)
    how : {"meanstd", "mean", "max"}, default="meanstd"
        ``"meanstd"`` concatenates the mean and the standard deviation over time
        (``2 * dim`` values).

    Examples
    --------
    >>> pool_frames(np.array([[1.0, 2.0], [3.0, 2.0]]))
    array([2., 2., 1., 0.])
    """
    check_choice(how, "pool", POOLING)
    frames = np.asarray(frames, dtype=np.float64)
    frames = frames.reshape(len(frames), -1)
    if how == "mean":
        return frames.mean(axis=0)
    if how == "max":
        return frames.max(axis=0)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


class BaseEncoder(TransformerMixin, BaseEstimator):
    """Base of trustkit encoders: audio ``(n_clips, n_samples)`` at ``sr`` -> ``(n_clips, dim)``.

    Subclasses implement ``_embed(x, sr) -> 1-D vector`` for one clip already
    resampled to ``_model_sr`` (when set). Every clip is embedded on its own,
    so a clip's embedding never depends on the other clips of its batch.
    """

    #: sample rate the model needs (None: any)
    _model_sr: ClassVar[int | None] = None
    #: shortest clip (in samples at the model's rate)
    _min_model_samples: ClassVar[int] = 1

    def fit(self, X: Any, y: Any = None) -> BaseEncoder:
        """Validate ``X``; pre-trained encoders learn nothing.

        Returns
        -------
        self
        """
        X = self._check_X(X)
        self.n_features_in_ = X.shape[1]
        return self

    def _input_sr(self) -> int:
        return check_sr(getattr(self, "sr", None), type(self).__name__)

    def _min_samples(self, sr: int) -> int:
        model_sr = self._model_sr or sr
        return int(np.ceil(self._min_model_samples * sr / model_sr))

    def _check_X(self, X: Any) -> np.ndarray:
        sr = self._input_sr()
        return check_audio(X, min_samples=self._min_samples(sr), sr=sr, owner=type(self).__name__)

    def transform(self, X: Any) -> np.ndarray:
        """Embed each clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Float audio at ``sr`` Hz.

        Returns
        -------
        ndarray of shape (n_clips, dim)
        """
        self._refuse_all_layers()
        X = self._check_X(X)
        rows = [np.asarray(self._embed(x, model_sr), dtype=np.float64).ravel() for x, model_sr in self._model_inputs(X)]
        dims = {len(r) for r in rows}
        if len(dims) != 1:
            raise ValueError(f"{type(self).__name__} returned embeddings of different sizes {sorted(dims)} for clips of one batch.")
        return check_embeddings(np.vstack(rows), n_clips=len(X), owner=type(self).__name__)

    def _refuse_all_layers(self) -> None:
        if is_layer_profile(self):
            raise ValueError(
                f"{type(self).__name__}(layer='all') gives one embedding per layer, not one: call "
                "transform_layers(X) for a dict of layer -> embeddings, or give the encoder to SensitivityMeter, "
                "TransferabilityProbe or compare_encoders for a layer profile (one forward pass per clip). "
                "For one layer, pass its name: layer_names() lists them."
            )

    def layer_names(self) -> list[str]:
        """Names of the layers :meth:`transform_layers` returns, shallow to deep."""
        raise TypeError(f"{type(self).__name__} has no layers to profile.")

    def _embed_layers(self, x: np.ndarray, sr: int) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} has no layers to profile.")

    def transform_layers(self, X: Any) -> dict[str, np.ndarray]:
        """Embed each clip at every layer in one forward pass per clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)

        Returns
        -------
        dict of str -> ndarray of shape (n_clips, dim)
            One embedding matrix per layer, in :meth:`layer_names` order
            (shallow to deep).
        """
        X = self._check_X(X)
        names = self.layer_names()
        rows: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for x, model_sr in self._model_inputs(X):
            out = self._embed_layers(x, model_sr)
            for name in names:
                rows[name].append(np.asarray(out[name], dtype=np.float64).ravel())
        return {name: check_embeddings(np.vstack(r), n_clips=len(X), owner=f"{type(self).__name__} layer {name!r}")
                for name, r in rows.items()}

    def _model_inputs(self, X: np.ndarray):
        """Yield ``(clip, rate)`` for each checked clip, resampled (soxr HQ) to the model's rate when it has one."""
        sr = self._input_sr()
        model_sr = self._model_sr or sr
        for x in X:
            if model_sr != sr:
                import soxr

                x = soxr.resample(x, sr, model_sr, quality="HQ")
            else:  # the model's own copy of the clip: one that writes into its input never reaches the caller's
                x = x.copy()
            yield x, model_sr

    def _embed(self, x: np.ndarray, sr: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def _accepts_sr(func: Any) -> bool:
    try:
        return "sr" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


class FunctionEncoder(BaseEncoder):
    """Adapt a callable ``func(X) -> (n_clips, dim)`` (or ``func(X, sr=...)``).

    Parameters
    ----------
    func : callable
        Called on one clip at a time, ``X`` of shape ``(1, n_samples)``, unless
        ``per_clip=False``. If it accepts an ``sr`` keyword, the rate is passed.
    sr : int or None, default=None
        Sample rate of the audio in Hz, passed to ``func`` when it takes ``sr``.
    per_clip : bool, default=True
        Call ``func`` clip by clip, so a function that normalises over its batch
        cannot make embeddings depend on batch company.

    Examples
    --------
    >>> enc = FunctionEncoder(lambda X: X[:, :4], sr=8000)
    >>> enc.fit_transform(np.arange(10.0).reshape(2, 5))
    array([[0., 1., 2., 3.],
           [5., 6., 7., 8.]])
    """

    def __init__(self, func=None, *, sr=None, per_clip=True):
        self.func = func
        self.sr = sr
        self.per_clip = per_clip

    def _input_sr(self):
        return check_sr(self.sr, "FunctionEncoder") if self.sr is not None else None

    def _check_X(self, X):
        return check_audio(X, owner="FunctionEncoder")

    def _call(self, X: np.ndarray, sr: int | None) -> Any:
        X = np.array(X, copy=True)  # the function's own copy: one that writes into its input never reaches the caller's
        return self.func(X, sr=sr) if _accepts_sr(self.func) else self.func(X)

    def transform(self, X: Any) -> np.ndarray:
        """Embed each clip with ``func``.

        Returns
        -------
        ndarray of shape (n_clips, dim)
        """
        if not callable(self.func):
            raise TypeError(f"func must be callable, got {type(self.func).__name__}.")
        X = self._check_X(X)
        sr = self._input_sr()
        name = f"encoder {getattr(self.func, '__name__', type(self.func).__name__)}"
        if not self.per_clip:
            return check_embeddings(self._call(X, sr), n_clips=len(X), owner=name)
        rows = [check_embeddings(self._call(X[i : i + 1], sr), n_clips=1, owner=name) for i in range(len(X))]
        if len({r.shape[1] for r in rows}) != 1:
            raise ValueError(f"{name} returned embeddings of different sizes for clips of one batch.")
        return np.vstack(rows)


class TransformerEncoder(BaseEncoder):
    """Adapt a fitted scikit-learn transformer (e.g. a pipeline on raw audio).

    The estimator is treated as a fixed model: ``clone`` keeps the fitted
    object instead of refitting it.

    Parameters
    ----------
    estimator : fitted transformer
    sr : int or None, default=None
        Sample rate, for information and checks.
    """

    def __init__(self, estimator=None, *, sr=None):
        self.estimator = estimator
        self.sr = sr

    def _input_sr(self):
        return check_sr(self.sr, "TransformerEncoder") if self.sr is not None else None

    def _check_X(self, X):
        return check_audio(X, owner="TransformerEncoder")

    def transform(self, X: Any) -> np.ndarray:
        """Embed with ``estimator.transform`` (one clip per row).

        Returns
        -------
        ndarray of shape (n_clips, dim)
        """
        if not hasattr(self.estimator, "transform"):
            raise TypeError(f"estimator must have a transform method, got {type(self.estimator).__name__}.")
        X = self._check_X(X)
        # the estimator's own copy: a transformer that writes into its input never reaches the caller's array
        return check_embeddings(self.estimator.transform(np.array(X, copy=True)), n_clips=len(X),
                                owner=type(self.estimator).__name__)

    def __sklearn_clone__(self):
        return TransformerEncoder(self.estimator, sr=self.sr)


class TorchEncoder(BaseEncoder):
    """Adapt a torch module mapping ``(batch, n_samples)`` to embeddings.

    The module is run in eval mode under ``torch.no_grad()`` on one clip at a
    time; a ``(1, dim)`` output is used as it is, a ``(1, n_frames, dim)``
    output is pooled over frames. With ``layer``, the output of a named
    sub-module is taken instead (a forward hook), and ``layer="all"`` takes
    every direct child of the module in one forward pass: a layer profile.

    Parameters
    ----------
    module : torch.nn.Module
    sr : int
        Sample rate of the audio in Hz.
    model_sr : int or None, default=None
        Rate the module expects; clips are resampled (soxr) when it differs.
    pool : {"meanstd", "mean", "max"}, default="meanstd"
    device : str, default="cpu"
    layer : str or None, default=None
        None: the module's output. A name from ``module.named_modules()``:
        that sub-module's output. ``"all"``: every direct child
        (``module.named_children()``), shallow to deep.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> enc = TorchEncoder(net, sr=8000, layer="all")
    >>> {k: v.shape for k, v in enc.transform_layers(np.ones((3, 8))).items()}
    {'0': (3, 4), '1': (3, 4), '2': (3, 2)}
    """

    def __init__(self, module=None, *, sr=None, model_sr=None, pool="meanstd", device="cpu", layer=None):
        self.module = module
        self.sr = sr
        self.model_sr = model_sr
        self.pool = pool
        self.device = device
        self.layer = layer

    @property
    def _model_sr(self) -> int | None:
        return None if self.model_sr is None else check_sr(self.model_sr, "TorchEncoder", name="model_sr")

    def _module(self) -> Any:
        import torch

        if not isinstance(self.module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(self.module).__name__}.")
        return self.module

    def layer_names(self) -> list[str]:
        """The module's direct children, in order (what ``layer="all"`` profiles)."""
        names = [name for name, _ in self._module().named_children()]
        if not names:
            raise TypeError(f"{type(self.module).__name__} has no sub-modules to profile.")
        return names

    def _outputs(self, x: np.ndarray, names: list[str] | None) -> dict[str | None, np.ndarray]:
        """One forward pass of one clip; the module's output (key None) or the named sub-modules' outputs."""
        import torch

        module = self._module()
        check_choice(self.pool, "pool", POOLING)
        captured: dict[str | None, Any] = {}
        hooks = []
        if names:
            subs = dict(module.named_modules())
            for name in names:
                if name not in subs:
                    raise ValueError(f"layer {name!r} is not a sub-module of {type(module).__name__}; "
                                     f"e.g. {', '.join(list(subs)[1:6])}.")
                hooks.append(subs[name].register_forward_hook(
                    lambda _m, _i, out, name=name: captured.__setitem__(name, out[0] if isinstance(out, tuple) else out)))
        module.eval()
        try:
            with torch.no_grad():
                t = torch.as_tensor(np.require(x, np.float32, ["C", "W"])[np.newaxis], device=self.device)
                out = module(t)
        finally:
            for h in hooks:
                h.remove()
        if not names:
            captured[None] = out
        return {k: self._vector(v, k) for k, v in captured.items()}

    def _vector(self, out: Any, name: str | None) -> np.ndarray:
        out = out.detach().cpu().numpy()
        what = "module" if name is None else f"layer {name!r}"
        if out.ndim == 2:
            return out[0]
        if out.ndim == 3:
            return pool_frames(out[0], self.pool)
        raise ValueError(f"{what} returned shape {out.shape} for one clip; expected (1, dim) or (1, n_frames, dim).")

    def _embed(self, x, sr):
        if self.layer is None:
            return self._outputs(x, None)[None]
        return self._outputs(x, [self.layer])[self.layer]

    def _embed_layers(self, x, sr):
        return self._outputs(x, self.layer_names())

    def transform(self, X: Any) -> np.ndarray:
        """Embed each clip with the module (or the sub-module ``layer``).

        Returns
        -------
        ndarray of shape (n_clips, dim)
        """
        self._module()
        check_choice(self.pool, "pool", POOLING)
        return super().transform(X)

    def __sklearn_clone__(self):
        new = copy.copy(self)  # keep the (trained) module; parameters are plain values
        return new


def declared_sr(obj: Any) -> int | None:
    """The sample rate an encoder states it reads (its ``sr`` parameter), or None when it states none.

    A meter given no ``sr`` takes this one, so ``SensitivityMeter(MFCCEncoder(sr=22050)).score(X)`` runs as
    written.

    Examples
    --------
    >>> from trustkit.encoders import MFCCEncoder
    >>> declared_sr(MFCCEncoder(sr=22050)), declared_sr(MFCCEncoder()), declared_sr(len)
    (22050, None, None)
    """
    get_params = getattr(obj, "get_params", None)
    if callable(get_params) and isinstance(obj, BaseEncoder):
        return get_params().get("sr")
    sr = getattr(obj, "sr", None)
    return sr if isinstance(sr, int) and not isinstance(sr, bool) else None


def as_encoder(obj: Any, *, sr: int | None = None) -> BaseEncoder:
    """Adapt ``obj`` to trustkit's encoder protocol.

    Parameters
    ----------
    obj : encoder, fitted transformer, torch module or callable
    sr : int or None
        Sample rate of the audio, given to adapters and to encoders whose own
        ``sr`` is unset. An encoder whose own ``sr`` differs from it raises a
        ``ValueError``: a meter never embeds audio at one rate as if it were
        at another.

    Returns
    -------
    BaseEncoder

    Examples
    --------
    >>> enc = as_encoder(lambda X: X.mean(axis=1, keepdims=True), sr=8000)
    >>> type(enc).__name__, enc.transform(np.ones((3, 100))).shape
    ('FunctionEncoder', (3, 1))
    """
    from ..perturbations import BasePerturbation

    if isinstance(obj, BasePerturbation) or (isinstance(obj, type) and issubclass(obj, BasePerturbation)):
        name = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise TypeError(
            f"{name} is a perturbation (audio in, audio out), not an encoder: an encoder maps audio "
            "(n_clips, n_samples) to embeddings (n_clips, dim). Pass it in perturbations=, and an encoder "
            "such as MFCCEncoder() as the encoder."
        )
    if isinstance(obj, BaseEncoder):
        params = obj.get_params()
        own = params.get("sr")
        if sr is not None and own is None and "sr" in params:
            obj = copy.copy(obj)
            obj.set_params(sr=sr)
        elif sr is not None and own is not None and check_sr(own, type(obj).__name__) != check_sr(sr, "as_encoder"):
            name = type(obj).__name__
            raise ValueError(
                f"{name}(sr={own}) was handed audio at sr={sr} Hz: the encoder would analyse it at the wrong rate. "
                f"Leave the encoder's sr unset ({name}()) so that it takes the audio's rate (it resamples to its "
                f"model's own rate when it has one), or resample the audio to {own} Hz first."
            )
        return obj
    try:
        import torch

        if isinstance(obj, torch.nn.Module):
            return TorchEncoder(obj, sr=sr)
    except ImportError:
        pass
    if hasattr(obj, "transform") and hasattr(obj, "fit"):
        return TransformerEncoder(obj, sr=sr)
    if callable(obj):
        return FunctionEncoder(obj, sr=sr)
    raise TypeError(
        "encoder must be a trustkit encoder, a fitted scikit-learn transformer, a torch "
        f"module or a callable mapping (n_clips, n_samples) to (n_clips, dim); got {type(obj).__name__}."
    )


def _embed_single_threaded(encoder: Any, X: np.ndarray) -> np.ndarray:
    from .._meter import one_blas_thread

    with one_blas_thread():  # same BLAS/OpenMP reductions in every process
        return encoder.transform(X)


def _embed_layers_single_threaded(encoder: Any, X: np.ndarray) -> dict[str, np.ndarray]:
    from .._meter import one_blas_thread

    with one_blas_thread():
        return encoder.transform_layers(X)


def embed_layers(encoder: Any, X: np.ndarray, *, memory: Any = None) -> dict[str, np.ndarray]:
    """Every layer of a layered encoder (``layer="all"``), one forward pass per clip; like :func:`embed`.

    Returns
    -------
    dict of str -> ndarray of shape (n_clips, dim)
        Shallow to deep.
    """
    from .._cache import cached_call

    out = cached_call(_embed_layers_single_threaded, memory, encoder, X, what=f"the layers of {type(encoder).__name__}")
    if memory is not None:
        out = {k: check_embeddings(v, n_clips=len(X), owner=f"the embedding cache of {type(encoder).__name__}")
               for k, v in out.items()}
    return out


def embed(encoder: Any, X: np.ndarray, *, memory: Any = None) -> np.ndarray:
    """Embed ``X`` with BLAS/OpenMP pinned to one thread, cached by ``memory``.

    Pinning the thread count makes embeddings bit-identical in the parent and
    in joblib workers, so meters give the same numbers for any ``n_jobs``.

    Parameters
    ----------
    encoder : BaseEncoder
    X : ndarray of shape (n_clips, n_samples)
    memory : str, joblib.Memory or None
        Cache of the embeddings (keyed by the encoder's parameters and ``X``).
        The cache is made of pickles, and loading a pickle runs code: use
        only a cache folder you trust. A cached result is checked (shape,
        type, finite values) before it is used.

    Returns
    -------
    ndarray of shape (n_clips, dim)
    """
    from .._cache import cached_call

    Z = cached_call(_embed_single_threaded, memory, encoder, X, what=f"the embedding of {type(encoder).__name__}")
    if memory is not None:  # what comes from the cache is checked like what an encoder returns
        Z = check_embeddings(Z, n_clips=len(X), owner=f"the embedding cache of {type(encoder).__name__}")
    return Z


def embed_corpus(encoder: Any, corpus: Any, *, chunk_size: int | None = None, memory: Any = None,
                 parallel_map: Any = None, return_keys: bool = False, transforms: Any = None) -> Any:
    """Embed every clip of a :class:`~trustkit.datasets.Corpus`, ``chunk_size`` clips at a time.

    Each chunk is read, embedded and dropped (only embeddings are kept), so
    memory is bounded by the chunk, not the corpus. A layered encoder
    (``layer="all"``) gives every layer, as :func:`embed_layers`.

    Parameters
    ----------
    encoder : BaseEncoder
    corpus : Corpus
    chunk_size : int or None, default=None
        Clips per chunk; None: :meth:`~trustkit.datasets.Corpus.chunks`' own cut
        (at most 64, at least 16 chunks).
    memory : str, joblib.Memory or None
        Cache of each chunk's embeddings: a run stopped half-way keeps its finished chunks.
    parallel_map : callable or None
        ``parallel_map(fn, items, desc=..., prefer=...)`` (a meter's map); None runs the chunks in turn.
    return_keys : bool, default=False
        Also return the clips' content keys (:func:`trustkit.audio.content_keys`),
        computed on the audio as it was read.
    transforms : list of transformers or None
        Embed each chunk's clips as each transform leaves them (seeded
        perturbations: their draws are keyed by each clip's content, so the
        chunking changes nothing), from one read of the chunk, instead of
        the clips themselves.

    Returns
    -------
    ndarray of shape (n_clips, dim), or dict of layer -> ndarray for a layered encoder
        With ``transforms``, a list of those, one per transform. With
        ``return_keys``, a pair: that and the list of keys.
    """
    from .._validation import check_audio
    from ..audio import content_keys

    layered = is_layer_profile(encoder)

    def one(index: np.ndarray) -> Any:
        X = check_audio(corpus.read(index), sr=corpus.sr, owner=type(encoder).__name__)
        keys = content_keys(X)

        def embedded(A: np.ndarray) -> Any:
            return embed_layers(encoder, A, memory=memory) if layered else embed(encoder, A, memory=memory)

        if transforms is None:
            return embedded(X), keys
        return [embedded(np.asarray(t.fit_transform(X), dtype=X.dtype)) for t in transforms], keys

    chunks = corpus.chunks(chunk_size)
    # each chunk in a worker process (when the encoder and transforms can be sent to one): reading, resampling and
    # most perturbations hold the GIL, so threads would take turns
    parts = parallel_map(one, [(idx,) for idx in chunks], desc="embedding chunks", prefer="processes") \
        if parallel_map is not None else \
        [one(idx) for idx in chunks]
    keys = [k for _, part_keys in parts for k in part_keys]

    def joined(pieces: list[Any]) -> Any:
        return {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]} if layered else np.concatenate(pieces)

    out = joined([p for p, _ in parts]) if transforms is None else \
        [joined([p[t] for p, _ in parts]) for t in range(len(transforms))]
    return (out, keys) if return_keys else out
