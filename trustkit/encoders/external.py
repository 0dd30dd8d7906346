"""The encoders people already have: HEAR-API modules and Hugging Face ``transformers`` audio models.

Both go through :class:`~trustkit.encoders.BaseEncoder`, so validation,
resampling to the model's own rate (soxr), one-clip-at-a-time embedding,
thread pinning and caching (:func:`trustkit.encoders.embed`) are the same as
for every other encoder. torch and transformers are imported only when a
model is used.
"""

from __future__ import annotations

import functools
import importlib
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .._validation import check_choice
from ._base import POOLING, BaseEncoder, pool_frames

__all__ = ["HFAudioEncoder", "HearEncoder"]


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError('this encoder needs torch: pip install "torch==2.13.0" (CPU build)') from exc
    return torch


# -- HEAR ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _hear_model(module_name: str, model_file: str | None) -> tuple[Any, Any]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"HearEncoder: cannot import the HEAR module {module_name!r} ({exc}); install it first.") from exc
    missing = [f for f in ("load_model", "get_scene_embeddings", "get_timestamp_embeddings") if not hasattr(module, f)]
    if missing:
        raise TypeError(f"HearEncoder: {module_name!r} does not follow the HEAR API: it has no {', '.join(missing)}.")
    try:
        model = module.load_model(model_file) if model_file is not None else module.load_model()
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, EOFError) as exc:  # the module's own refusal
        what = f"model_file={model_file!r}" if model_file is not None else "no model_file"
        raise ValueError(f"HearEncoder: {module_name}.load_model failed with {what} ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); check the module's model file.") from exc
    rate = getattr(model, "sample_rate", None)
    if not isinstance(rate, int | np.integer) or rate <= 0:
        raise TypeError(f"HearEncoder: the model of {module_name!r} has no valid sample_rate attribute (got {rate!r}).")
    if hasattr(model, "eval"):
        model.eval()
    return module, model


class HearEncoder(BaseEncoder):
    """Any module that follows the HEAR benchmark API, as a trustkit encoder.

    The module (imported by name) provides ``load_model(model_file_path)``,
    ``get_scene_embeddings(audio, model)`` and
    ``get_timestamp_embeddings(audio, model)``; ``model.sample_rate`` is the
    rate it needs, and clips are resampled to it. Each clip is passed alone,
    as a ``(1, n_samples)`` float32 torch tensor, so a module that normalises
    over its batch cannot make embeddings depend on batch company.

    Parameters
    ----------
    module : str, default=None
        Import name of the HEAR module (e.g. ``"hearbaseline.wav2vec2"``).
    sr : int or None, default=None
        Sample rate of the audio in Hz (a meter sets it).
    model_file : str or None, default=None
        Passed to ``load_model`` (weights file of modules that need one).
    kind : {"scene", "timestamp"}, default="scene"
        ``"scene"``: the module's clip embedding; ``"timestamp"``: its
        timestamp embeddings pooled over time with ``pool``.
    pool : {"meanstd", "mean", "max"}, default="meanstd"
        Pooling of timestamp embeddings (``kind="timestamp"`` only).

    Notes
    -----
    The model is loaded once per process and module/file. The HEAR API has no
    notion of inner layers, so layer profiles are not available here (wrap
    the module's network with :class:`TorchEncoder` to profile it).

    Examples
    --------
    >>> enc = HearEncoder("my_hear_module", sr=22050)  # doctest: +SKIP
    >>> enc.fit_transform(X).shape  # doctest: +SKIP
    (n_clips, scene_embedding_size)
    """

    def __init__(self, module=None, *, sr=None, model_file=None, kind="scene", pool="meanstd"):
        self.module = module
        self.sr = sr
        self.model_file = model_file
        self.kind = kind
        self.pool = pool

    def _loaded(self) -> tuple[Any, Any]:
        if not isinstance(self.module, str) or not self.module:
            raise TypeError(f"module must be the import name of a HEAR module (a str), got {self.module!r}.")
        return _hear_model(self.module, None if self.model_file is None else str(self.model_file))

    @property
    def _model_sr(self) -> int:  # the rate the module's model needs
        return int(self._loaded()[1].sample_rate)

    @property
    def display_name(self) -> str:
        """``"HEAR my_module (scene)"`` (for reports)."""
        return f"HEAR {self.module} ({self.kind})"

    def _embed(self, x, sr):
        torch = _torch()
        check_choice(self.kind, "kind", ("scene", "timestamp"))
        check_choice(self.pool, "pool", POOLING)
        module, model = self._loaded()
        audio = torch.as_tensor(np.require(x, np.float32, ["C", "W"])[np.newaxis])
        with torch.no_grad():
            if self.kind == "scene":
                out = _numpy(module.get_scene_embeddings(audio, model), "get_scene_embeddings", self.module)
                if out.ndim != 2:
                    raise ValueError(f"{self.module}.get_scene_embeddings returned shape {out.shape}; the HEAR API "
                                     "returns (n_sounds, embedding_size).")
                return out[0]
            emb, _timestamps = module.get_timestamp_embeddings(audio, model)
        frames = _numpy(emb, "get_timestamp_embeddings", self.module)
        if frames.ndim != 3:
            raise ValueError(f"{self.module}.get_timestamp_embeddings returned shape {frames.shape}; the HEAR API "
                             "returns (n_sounds, n_timestamps, dim).")
        return pool_frames(frames[0], self.pool)


def _numpy(out: Any, func: str, owner: str) -> np.ndarray:
    """A HEAR function's output as float64, refused when it is out of the API's spec (real float embeddings)."""
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    try:
        raw = np.asarray(out)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{owner}.{func} returned {type(out).__name__}, not an array of embeddings ({exc}); the HEAR "
                        "API returns a float32 tensor.") from exc
    if np.iscomplexobj(raw) or not (np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer)):
        raise TypeError(f"{owner}.{func} returned {raw.dtype} values; the HEAR API returns real float32 embeddings "
                        "(a complex or non-numeric output would be cast silently, so it is refused).")
    out = raw.astype(np.float64)
    if out.ndim < 2 or out.shape[0] != 1:
        raise ValueError(f"{owner}.{func} returned shape {out.shape} for one clip; expected (1, ...).")
    return out


# -- Hugging Face -----------------------------------------------------------------------------------
def _hub_reachable(timeout: float = 3.0) -> str | None:
    """``None`` if the Hugging Face endpoint accepts a TCP connection within ``timeout`` s, else why not."""
    try:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    except ImportError:
        endpoint = "https://huggingface.co"
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host} cannot be reached ({exc})"


def _folder_identity(name: str) -> tuple[tuple[str, int, int], ...]:
    """The files of a local model folder by name, size and modification time: a changed file is a new model."""
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return ()
    return tuple(sorted((str(p.relative_to(folder)), st.st_size, st.st_mtime_ns)
                        for p in folder.rglob("*") if p.is_file() for st in (p.stat(),)))


#: audio models take these inputs; a text model (input_ids) with an audio feature extractor is refused
AUDIO_INPUTS = ("input_values", "input_features", "pixel_values")


def _hf_load(name: str, revision: str | None, trust_remote_code: bool) -> tuple[Any, Any]:
    """The model and feature extractor, cached per process by the folder's files (or the hub name and revision)."""
    return _hf_load_cached(name, revision, trust_remote_code, _folder_identity(name))


@functools.lru_cache(maxsize=4)
def _hf_load_cached(name: str, revision: str | None, trust_remote_code: bool,
                    _identity: tuple[tuple[str, int, int], ...]) -> tuple[Any, Any]:
    try:
        import transformers
        from transformers import AutoFeatureExtractor, AutoModel
    except ImportError as exc:
        raise ImportError('HFAudioEncoder needs transformers and torch: pip install "trustkit[hf]"') from exc
    kwargs = {"revision": revision, "trust_remote_code": trust_remote_code, "output_loading_info": True}
    local = Path(name).expanduser().is_dir()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # nothing printed when nobody asked
    verbosity = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()  # missing weights are refused below, not warned on stderr
    try:
        try:  # a local folder, or a model already in the Hugging Face cache: never touches the network
            fe = AutoFeatureExtractor.from_pretrained(name, local_files_only=True, revision=revision,
                                                      trust_remote_code=trust_remote_code)
            model, info = AutoModel.from_pretrained(name, local_files_only=True, **kwargs)
        except OSError as exc:
            if local:
                raise OSError(f"HFAudioEncoder: {name!r} is a folder but not a saved transformers audio model and "
                              f"feature extractor ({exc}).") from exc
            why = _hub_reachable()
            if why is not None:  # fail at once instead of retrying for a minute
                raise OSError(
                    f"HFAudioEncoder: {name!r} is not a local folder, not in the Hugging Face cache, and {why}. "
                    f"Download it where a network exists (huggingface-cli download {name} --local-dir DIR) and pass "
                    "the folder, or set HF_HOME to a cache that holds it."
                ) from exc
            fe = AutoFeatureExtractor.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
            model, info = AutoModel.from_pretrained(name, **kwargs)
        except ImportError:
            raise
        except Exception as exc:  # a damaged or foreign weights file (safetensors raises its own error type)
            raise ValueError(f"HFAudioEncoder: the model in {name!r} cannot be loaded ({type(exc).__name__}: "
                             f"{str(exc)[:300]}); check that its weights file is complete and matches its config.") from exc
    finally:
        transformers.utils.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()
    _check_loading(name, model, info)
    model.eval()
    return model, fe


def _check_loading(name: str, model: Any, info: dict[str, Any]) -> None:
    """Refuse weights that do not make up the model: layers left random (numbers that change per process)."""
    missing = list(info.get("missing_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    # heads of a pre-training checkpoint (quantizer, projections, an LM head) are not part of the encoder; weights
    # of layers the config does not declare are: the model would silently run fewer layers than were trained
    unexpected = [k for k in info.get("unexpected_keys") or [] if ".layers." in k or ".layer." in k]
    if missing or mismatched or unexpected:
        parts = [f"{len(missing)} weights missing (e.g. {missing[0]!r}: they would be random)" if missing else "",
                 f"{len(mismatched)} of the wrong shape" if mismatched else "",
                 f"{len(unexpected)} layer weights the config does not declare (e.g. {unexpected[0]!r})" if unexpected
                 else ""]
        raise ValueError(f"HFAudioEncoder: the weights in {name!r} do not match its config: "
                         f"{'; '.join(p for p in parts if p)}. Save the model again with save_pretrained, or fix "
                         "config.json (e.g. num_hidden_layers).")
    main_input = getattr(model, "main_input_name", "input_values")
    if main_input not in AUDIO_INPUTS:
        raise ValueError(f"HFAudioEncoder: {name!r} is a {type(model).__name__}, whose input is {main_input!r}, "
                         "not audio; pass an audio model (wav2vec 2.0, HuBERT, AST, MERT, ...).")


class HFAudioEncoder(BaseEncoder):
    """Hidden states of a Hugging Face ``transformers`` audio model, pooled over time.

    The model and its feature extractor are loaded with ``AutoModel`` and
    ``AutoFeatureExtractor`` from a local folder or a hub name (wav2vec 2.0,
    HuBERT, AST, MERT, ...). Clips are resampled to the feature extractor's
    ``sampling_rate`` and passed **one at a time**, so no padding or attention
    mask is ever shared between clips. The model runs once per clip with
    ``output_hidden_states=True``; ``layer`` picks one hidden state, which is
    pooled over its time steps (or tokens, for AST-style models).

    Parameters
    ----------
    model : str
        A folder written by ``save_pretrained`` (model and feature extractor),
        or a hub name. Hub names are looked up in the local Hugging Face cache
        first; a download is attempted only when huggingface.co answers, and
        otherwise a clear error is raised at once (never a minute of retries).
    sr : int or None, default=None
        Sample rate of the audio in Hz (a meter sets it).
    layer : int or "all", default=-1
        Index into the model's hidden states: 0 is the input embedding
        (e.g. wav2vec 2.0's projected CNN features), ``-1`` the last layer.
        ``"all"``: every hidden state in one forward pass, for a layer
        profile (:meth:`transform_layers`, or any meter).
    pool : {"mean", "meanstd", "max"}, default="mean"
    revision : str or None, default=None
    trust_remote_code : bool, default=False
        Needed by models defined outside transformers (e.g. MERT); runs the
        model repository's code: only for repositories you trust.

    Examples
    --------
    >>> enc = HFAudioEncoder("path/to/wav2vec2-base", layer=6)  # doctest: +SKIP
    >>> enc.set_params(sr=22050).fit_transform(X).shape  # doctest: +SKIP
    (n_clips, 768)

    MERT (needs a network once, and ``trust_remote_code``)::

        HFAudioEncoder("m-a-p/MERT-v1-95M", layer=-1, trust_remote_code=True)
    """

    def __init__(self, model=None, *, sr=None, layer=-1, pool="mean", revision=None, trust_remote_code=False):
        self.model = model
        self.sr = sr
        self.layer = layer
        self.pool = pool
        self.revision = revision
        self.trust_remote_code = trust_remote_code

    def _loaded(self) -> tuple[Any, Any]:
        if not isinstance(self.model, str | Path) or not str(self.model):
            raise TypeError(f"model must be a folder or a hub name (str), got {type(self.model).__name__}.")
        return _hf_load(str(self.model), self.revision, bool(self.trust_remote_code))

    @property
    def _model_sr(self) -> int:
        return int(self._loaded()[1].sampling_rate)

    @property
    def display_name(self) -> str:
        """``"HF <model>/layer <layer>"`` (``"HF <model>"`` with ``layer="all"``; for reports)."""
        name = f"HF {Path(str(self.model)).name}"
        return name if self.layer == "all" else f"{name}/layer {self.layer}"

    def layer_names(self) -> list[str]:
        """``"0"`` (the input embedding) to ``"N"`` (the last of N layers): the hidden states, shallow to deep."""
        model, _ = self._loaded()
        n = getattr(model.config, "num_hidden_layers", None)
        if not isinstance(n, int):
            raise TypeError(f"HFAudioEncoder: {self.model!r} does not say how many layers it has (config.num_hidden_layers).")
        return [str(i) for i in range(n + 1)]

    def _embed_layers(self, x, sr):
        check_choice(self.pool, "pool", POOLING)
        states = self.hidden_states(x)
        names = self.layer_names()
        if len(states) != len(names):
            raise ValueError(f"HFAudioEncoder: {self.model!r} returned {len(states)} hidden states for "
                             f"{len(names) - 1} layers.")
        return {name: pool_frames(h, self.pool) for name, h in zip(names, states)}

    def hidden_states(self, x: np.ndarray) -> list[np.ndarray]:
        """Every hidden state of one clip at the model's rate: a list of ``(n_steps, dim)`` arrays."""
        torch = _torch()
        model, fe = self._loaded()
        try:
            inputs = fe(np.require(x, np.float32), sampling_rate=int(fe.sampling_rate), return_tensors="pt")
            with torch.no_grad():
                out = model(**inputs, output_hidden_states=True)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise ValueError(
                f"HFAudioEncoder: {self.model!r} failed on a clip of {len(x)} samples at {int(fe.sampling_rate)} Hz "
                f"({type(exc).__name__}: {str(exc)[:200]}). A clip shorter than the model's receptive field (e.g. "
                "400 samples for wav2vec 2.0) cannot be embedded: use longer clips."
            ) from exc
        states = getattr(out, "hidden_states", None)
        if states is None:
            raise TypeError(f"HFAudioEncoder: {self.model!r} returned no hidden_states; it is not an encoder model.")
        return [h[0].detach().cpu().numpy().astype(np.float64) for h in states]

    def _embed(self, x, sr):
        check_choice(self.pool, "pool", POOLING)
        states = self.hidden_states(x)
        if not isinstance(self.layer, int | np.integer) or not -len(states) <= self.layer < len(states):
            raise ValueError(f"layer must be an int in [{-len(states)}, {len(states) - 1}] for {self.model!r} "
                             f"({len(states)} hidden states); got {self.layer!r}.")
        return pool_frames(states[self.layer], self.pool)
