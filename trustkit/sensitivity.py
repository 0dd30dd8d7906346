"""Alias of :mod:`trustkit.robustness` (the robustness meter moved there); kept so that existing imports work."""

from .robustness import (
    SensitivityGateError,
    SensitivityMeter,
    SensitivityReport,
    dtw_audio_distance,
    neighbour_outcomes,
)

__all__ = ["SensitivityGateError", "SensitivityMeter", "SensitivityReport", "dtw_audio_distance", "neighbour_outcomes"]
