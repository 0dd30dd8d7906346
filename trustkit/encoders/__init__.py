"""Encoders: anything that maps audio ``(n_clips, n_samples)`` to ``(n_clips, dim)``.

``as_encoder`` adapts a callable, a fitted scikit-learn transformer or a torch
module; :class:`MFCCEncoder` is an MFCC-statistics baseline
(``MFCCEncoder.study()``: the robustness study's own 240-d definition);
:class:`MusicnnEncoder` runs the four musicnn music auto-taggers (MSD and
MagnaTagATune; musicnn and VGG) shipped inside trustkit as ONNX files;
:class:`CrepeEncoder` and :class:`BasicPitchEncoder` are pre-trained pitch and
transcription networks. All run offline. :class:`HearEncoder` and
:class:`HFAudioEncoder` adapt the encoders people already have: HEAR-API
modules and Hugging Face ``transformers`` audio models.
"""

from ._base import (
    BaseEncoder,
    FunctionEncoder,
    TorchEncoder,
    TransformerEncoder,
    as_encoder,
    declared_sr,
    embed,
    embed_corpus,
    embed_layers,
    is_layer_profile,
    pool_frames,
)
from .external import HearEncoder, HFAudioEncoder
from .mfcc import MFCCEncoder, RandomProjectionEncoder
from .musicnn import MusicnnEncoder
from .pretrained import BasicPitchEncoder, CrepeEncoder

__all__ = [
    "BaseEncoder",
    "BasicPitchEncoder",
    "CrepeEncoder",
    "FunctionEncoder",
    "HFAudioEncoder",
    "HearEncoder",
    "MFCCEncoder",
    "MusicnnEncoder",
    "RandomProjectionEncoder",
    "TorchEncoder",
    "TransformerEncoder",
    "as_encoder",
    "declared_sr",
    "embed",
    "embed_corpus",
    "embed_layers",
    "is_layer_profile",
    "pool_frames",
]
