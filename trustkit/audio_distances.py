"""Alias of :mod:`trustkit.robustness.audio_distances`; kept so that existing imports work."""

from .robustness.audio_distances import (
    AUDIO_DISTANCES,
    AudioDistance,
    dtw_distance,
    mckl_distance,
    simple_distance,
)

__all__ = ["AUDIO_DISTANCES", "AudioDistance", "dtw_distance", "mckl_distance", "simple_distance"]
