"""Encoders: anything that maps audio ``(n_clips, n_samples)`` to ``(n_clips, dim)``.

``as_encoder`` adapts a callable, a fitted scikit-learn transformer or a torch
module; :class:`MFCCEncoder` is an MFCC-statistics baseline
(``MFCCEncoder.study()``: the robustness study's own 240-d definition);
:class:`CrepeEncoder` and :class:`BasicPitchEncoder` are real pre-trained
networks that run offline.
"""

from ._base import (
    BaseEncoder,
    FunctionEncoder,
    TorchEncoder,
    TransformerEncoder,
    as_encoder,
    embed,
    pool_frames,
)
from .mfcc import MFCCEncoder, RandomProjectionEncoder
from .pretrained import BasicPitchEncoder, CrepeEncoder

__all__ = [
    "BaseEncoder",
    "BasicPitchEncoder",
    "CrepeEncoder",
    "FunctionEncoder",
    "MFCCEncoder",
    "RandomProjectionEncoder",
    "TorchEncoder",
    "TransformerEncoder",
    "as_encoder",
    "embed",
    "pool_frames",
]
