"""The musicnn music auto-taggers (MagnaTagATune and Million Song Dataset), offline through ONNX.

Pons & Serra's musicnn 0.1.0 (ISC licence) ships four TensorFlow-1 models
trained to tag music: ``MSD_musicnn`` and ``MTT_musicnn`` (the musically
motivated CNN) and ``MSD_vgg`` and ``MTT_vgg`` (a VGG-like baseline), trained
on the Million Song Dataset and on MagnaTagATune with 50 tags each. trustkit
ships them converted to ONNX (``tools/convert_musicnn.py`` rebuilds the files
from the musicnn wheel; their outputs equal TensorFlow's within 1e-4 of each
layer's scale) and runs them with onnxruntime alone: no TensorFlow, nothing
downloaded.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, ClassVar

import numpy as np

from .._validation import check_choice
from ._base import POOLING, BaseEncoder, pool_frames
from ._onnx import onnx_session
from .mfcc import mel_power

__all__ = ["MusicnnEncoder", "musicnn_logmel", "musicnn_patches"]

MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
#: layers of each architecture, shallow to deep, as (n_patches, dim) per clip
LAYERS = {
    "musicnn": ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "max_pool", "mean_pool", "penultimate", "taggram"),
    "vgg": ("pool1", "pool2", "pool3", "pool4", "pool5", "taggram"),
}
DEFAULT_LAYER = {"musicnn": "penultimate", "vgg": "pool5"}
SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
#: frames per patch: 3 s, the input length the models were trained on
PATCH = 187
_INSTALL = 'pip install "onnxruntime>=1.19" (a dependency of trustkit)'


def _architecture(model: str) -> str:
    return "vgg" if model.endswith("_vgg") else "musicnn"


def _path(model: str) -> str:
    return str(resources.files("trustkit.encoders") / "_musicnn" / f"{model}.onnx")


@functools.lru_cache(maxsize=2)
def _tags(dataset: str) -> tuple[str, ...]:
    text = (resources.files("trustkit.encoders") / "_musicnn" / "tags.json").read_text()
    return tuple(json.loads(text)[dataset])


def musicnn_logmel(x: np.ndarray) -> np.ndarray:
    """The input of the musicnn models: the log-compressed mel spectrogram of 16-kHz audio, ``(n_frames, 96)``.

    ``log10(10000 * S + 1)`` of the 96-band mel power spectrogram (n_fft 512,
    hop 256, Slaney mel filters, STFT frames centred with reflect padding as
    librosa did when the models were trained). The log is taken in float32:
    musicnn 0.1.0 takes it in float16, which overflows to inf (and gives NaN
    embeddings) wherever the mel power exceeds about 6.55.

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        Audio at 16 kHz.

    Returns
    -------
    ndarray of shape (1 + n_samples // 256, 96), float32

    Examples
    --------
    >>> t = np.arange(16000) / 16000
    >>> rep = musicnn_logmel(0.9 * np.sin(2 * np.pi * 440 * t))
    >>> rep.shape, bool(np.isfinite(rep).all())
    ((63, 96), True)
    """
    S = mel_power(np.asarray(x, dtype=np.float32), sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, pad_mode="reflect")
    return np.log10(np.float32(10000) * S.T.astype(np.float32) + np.float32(1))


def musicnn_patches(rep: np.ndarray) -> np.ndarray:
    """Cut a log-mel spectrogram into the 187-frame (3-s) patches the models read.

    Non-overlapping patches from the start, as musicnn's ``extractor`` cuts
    them. musicnn drops the frames left after the last whole patch, so a
    change there would be invisible: here a tail longer than a tenth of a
    patch (19 frames or more, 0.3 s) gets one more patch, ending at the last frame. A
    shorter tail is left out, such as the one to six frames that clips of 3 s
    to 30 s have beyond their whole patches (a 187-frame patch is 2.99 s), so
    that a clip of k times 3 s has k patches. A spectrogram shorter than one
    patch is repeated until it fills one (musicnn's training configuration,
    ``"pad_short": "repeat-pad"``: the models never saw a shorter or padded
    patch).

    Parameters
    ----------
    rep : ndarray of shape (n_frames, 96)

    Returns
    -------
    ndarray of shape (n_patches, 187, 96)

    Examples
    --------
    >>> musicnn_patches(np.zeros((400, 96))).shape  # 0-187, 187-374, and 213-400
    (3, 187, 96)
    >>> musicnn_patches(np.zeros((188, 96))).shape  # a 3-s clip
    (1, 187, 96)
    >>> musicnn_patches(np.arange(100.0)[:, None] * np.ones(96))[0, 100:102, 0]  # repeated
    array([0., 1.])
    """
    n = len(rep)
    if n < PATCH:
        return np.resize(rep, (PATCH, rep.shape[1]))[np.newaxis]  # np.resize repeats the frames in order
    starts = list(range(0, n - PATCH + 1, PATCH))
    if n - (starts[-1] + PATCH) > PATCH / 10:  # more than 18.7 frames
        starts.append(n - PATCH)
    return np.stack([rep[s : s + PATCH] for s in starts])


class MusicnnEncoder(BaseEncoder):
    """Embeddings of the musicnn music auto-taggers, pooled over 3-s patches.

    The clip is resampled to 16 kHz (soxr), turned into musicnn's log-mel
    spectrogram (:func:`musicnn_logmel`), cut into 3-s patches
    (:func:`musicnn_patches`: a clip shorter than 3 s is repeated to fill one
    patch, as the models' training did), and every patch goes through the
    network on its own; the chosen layer's per-patch vectors are pooled over
    the clip (mean and standard deviation by default).

    Parameters
    ----------
    sr : int or None, default=None
        Sample rate of the audio in Hz. Leave it None inside a meter: the
        meter tells the encoder the audio's rate (an encoder whose own ``sr``
        disagrees with the audio's is an error, never a silent mismatch).
        Set it to use the encoder on its own.
    model : {"MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"}, default="MSD_musicnn"
        Architecture (musicnn or vgg) and training data (Million Song Dataset
        or MagnaTagATune).
    layer : str, default="auto"
        ``"all"``: every layer, for a layer profile (:meth:`transform_layers`,
        or any meter). ``"auto"``: ``"penultimate"`` (musicnn, 200 values per patch) or
        ``"pool5"`` (vgg, 256). musicnn layers, shallow to deep:
        ``"timbral"`` (408), ``"temporal"`` (153), ``"cnn1"``, ``"cnn2"``,
        ``"cnn3"`` (64 each; these five are the front- and mid-end feature
        maps averaged over the patch's frames), ``"max_pool"``,
        ``"mean_pool"`` (753 each, the back-end's temporal poolings),
        ``"penultimate"``, ``"taggram"`` (the 50 tag probabilities). vgg
        layers: ``"pool1"`` to ``"pool4"`` (128 each, averaged over time and
        frequency), ``"pool5"``, ``"taggram"``.
    pool : {"meanstd", "mean", "max"}, default="meanstd"
        How the patches' vectors are pooled over the clip.

    Attributes
    ----------
    tags : tuple of str
        The model's 50 tag names (the columns of :meth:`predict_tags`).

    See Also
    --------
    musicnn_logmel, musicnn_patches

    Notes
    -----
    Two faults of musicnn 0.1.0 are not inherited: its ``extractor`` returns
    the first patch's ``cnn1``..``cnn3``/``penultimate`` features for every
    later patch of a clip longer than 3 s (stale variables in its loop), and
    its float16 log overflows on loud audio (see :func:`musicnn_logmel`).
    Each patch runs alone (one onnxruntime call, one thread): a clip's
    embedding never depends on the other clips of a batch, and on two cores
    this is faster than stacking patches into one call. Reference: J. Pons
    and X. Serra, *musicnn: pre-trained convolutional neural networks for
    music audio tagging*, ISMIR late-breaking demo, 2019.

    Examples
    --------
    >>> from trustkit.datasets import make_music
    >>> X, _ = make_music(2, duration=3.0, sr=22050, random_state=0)
    >>> enc = MusicnnEncoder(sr=22050)
    >>> enc.fit_transform(X).shape
    (2, 400)
    >>> MusicnnEncoder(sr=22050, model="MTT_vgg", layer="taggram", pool="mean").fit_transform(X).shape
    (2, 50)
    >>> enc.predict_tags(X).shape  # clip x tag probabilities, the 50 MSD tags as columns
    (2, 50)
    """

    _model_sr: ClassVar[int] = SR
    _min_model_samples: ClassVar[int] = SR  # 1 s: at most three repeats fill a patch

    def __init__(self, sr=None, *, model="MSD_musicnn", layer="auto", pool="meanstd"):
        self.sr = sr
        self.model = model
        self.layer = layer
        self.pool = pool

    @property
    def tags(self) -> tuple[str, ...]:
        """The 50 tag names of the model's training data."""
        return _tags(check_choice(self.model, "model", MODELS)[:3])

    @property
    def display_name(self) -> str:
        """``"musicnn MSD_musicnn/penultimate"`` (``"musicnn MSD_musicnn"`` with ``layer="all"``; for reports)."""
        return f"musicnn {self.model}" if self.layer == "all" else f"musicnn {self.model}/{self._layer()}"

    def layer_names(self) -> list[str]:
        """The model's layers, shallow to deep (``layer="all"`` gives them all in one pass).

        Examples
        --------
        >>> MusicnnEncoder(model="MTT_vgg").layer_names()
        ['pool1', 'pool2', 'pool3', 'pool4', 'pool5', 'taggram']
        """
        return list(LAYERS[_architecture(check_choice(self.model, "model", MODELS))])

    def _embed_layers(self, x, sr):
        check_choice(self.pool, "pool", POOLING)
        out = self._forward(x, tuple(self.layer_names()))
        return {name: pool_frames(v, self.pool) for name, v in out.items()}

    def _layer(self) -> str:
        model = check_choice(self.model, "model", MODELS)
        arch = _architecture(model)
        layer = DEFAULT_LAYER[arch] if self.layer == "auto" else self.layer
        return check_choice(layer, f"layer (of {model})", LAYERS[arch])

    def _forward(self, x: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Every patch of one 16-kHz clip through the network: ``{layer: (n_patches, dim)}`` in float32."""
        session = onnx_session(_path(self.model), owner="MusicnnEncoder", install=_INSTALL)
        patches = musicnn_patches(musicnn_logmel(x))
        runs = [session.run(list(layers), {"logmel": p[np.newaxis]}) for p in patches]
        return {name: np.vstack([run[i] for run in runs]) for i, name in enumerate(layers)}

    def _embed(self, x, sr):
        check_choice(self.pool, "pool", POOLING)
        layer = self._layer()
        return pool_frames(self._forward(x, (layer,))[layer], self.pool)

    def transform_patches(self, X: Any) -> list[np.ndarray]:
        """The chosen layer for every 3-s patch of every clip, before pooling.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)

        Returns
        -------
        list of ndarray of shape (n_patches, dim)
            One array per clip (clips of 3 s to 6 s have two patches: see
            :func:`musicnn_patches`).

        Examples
        --------
        >>> X = np.random.default_rng(0).uniform(-0.1, 0.1, (1, 7 * 16000))
        >>> [p.shape for p in MusicnnEncoder(sr=16000).transform_patches(X)]
        [(3, 200)]
        """
        X = self._check_X(X)
        layer = self._layer()
        return [self._forward(x, (layer,))[layer].astype(np.float64) for x, _ in self._model_inputs(X)]

    def predict_tags(self, X: Any):
        """The tag probabilities the model hears in each clip, averaged over its patches.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)

        Returns
        -------
        pandas.DataFrame of shape (n_clips, 50)
            One column per tag (:attr:`tags`), probabilities in [0, 1] (the
            models are multi-label: the rows do not sum to 1).

        Examples
        --------
        >>> t = np.arange(4 * 16000) / 16000
        >>> tags = MusicnnEncoder(sr=16000).predict_tags(0.3 * np.sin(2 * np.pi * 440 * t)[None])
        >>> tags.shape, float(tags.to_numpy().min()) >= 0
        ((1, 50), True)
        """
        import pandas as pd

        X = self._check_X(X)
        check_choice(self.model, "model", MODELS)
        rows = [self._forward(x, ("taggram",))["taggram"].mean(axis=0) for x, _ in self._model_inputs(X)]
        return pd.DataFrame(np.vstack(rows).astype(np.float64), columns=list(self.tags))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the embedding's columns: ``mean_rock``, ``std_rock``, ... or ``mean_penultimate_0``, ...

        Examples
        --------
        >>> MusicnnEncoder(layer="taggram").get_feature_names_out()[:2]
        array(['mean_rock', 'mean_pop'], dtype=object)
        """
        check_choice(self.pool, "pool", POOLING)
        layer = self._layer()
        if layer == "taggram":
            units = list(self.tags)
        else:
            session = onnx_session(_path(self.model), owner="MusicnnEncoder", install=_INSTALL)
            dim = next(o.shape[-1] for o in session.get_outputs() if o.name == layer)
            units = [f"{layer}_{i}" for i in range(dim)]
        stats = {"meanstd": ("mean", "std"), "mean": ("mean",), "max": ("max",)}[self.pool]
        return np.array([f"{s}_{u}" for s in stats for u in units], dtype=object)
