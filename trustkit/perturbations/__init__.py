"""Audio perturbations as composable scikit-learn transformers.

Every perturbation maps a batch ``X`` of shape ``(n_clips, n_samples)`` to a
batch of the same shape (unless a length policy says otherwise), is seeded per
clip, never modifies its input, and reports what it did clip by clip with
``transform_with_params``.
"""

from .._buffers import release as release_buffers
from ._base import BasePerturbation, configure_step, holds_gil
from .codec import Mp3Compression
from .compose import Compose, Identity, OneOf, RandomApply, SomeOf
from .distortion import Bitcrush, Clipping, Downsample
from .filters import BandPass, Gain, HighPass, LowPass
from .grid import (
    GRID_NAMES,
    STUDY_GRIDS,
    GridPoint,
    PerturbationGrid,
    grid_points,
    perturb,
    seeded_step,
    study_grid,
)
from .loudness import LoudnessMatch, known_loudness
from .noise import AddBackgroundNoise, AddNoise, colored_noise
from .pitch_time import PitchShift, SpeedChange, TimeStretch
from .presets import PRESETS, degradation
from .quality import measure_quality
from .reverb import Reverb, measure_rt60, synthetic_rir
from .verify import verify_perturbations

__all__ = [
    "GRID_NAMES",
    "PRESETS",
    "STUDY_GRIDS",
    "AddBackgroundNoise",
    "AddNoise",
    "BandPass",
    "BasePerturbation",
    "Bitcrush",
    "Clipping",
    "Compose",
    "Downsample",
    "Gain",
    "GridPoint",
    "HighPass",
    "Identity",
    "LoudnessMatch",
    "LowPass",
    "Mp3Compression",
    "OneOf",
    "PerturbationGrid",
    "PitchShift",
    "RandomApply",
    "Reverb",
    "SomeOf",
    "SpeedChange",
    "TimeStretch",
    "colored_noise",
    "configure_step",
    "degradation",
    "grid_points",
    "holds_gil",
    "known_loudness",
    "measure_quality",
    "measure_rt60",
    "perturb",
    "release_buffers",
    "seeded_step",
    "study_grid",
    "synthetic_rir",
    "verify_perturbations",
]
