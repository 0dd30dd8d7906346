"""Robustness: how far an embedding moves when the audio changes in ways a listener would not notice.

- :class:`SensitivityMeter` (the meter) and :class:`SensitivityReport` (its report);
- :mod:`~trustkit.robustness.consistency`: within- and between-space consistency on distance matrices;
- :mod:`~trustkit.robustness.audio_distances`: the study's audio-space distances (DTW, SiMPle, MC-KL).

The perturbations themselves live in :mod:`trustkit.perturbations`.
"""

from .audio_distances import AUDIO_DISTANCES, AudioDistance, dtw_distance, mckl_distance, simple_distance
from .consistency import neighbour_outcomes, pooled_spearman, row_spearman
from .meter import SensitivityMeter
from .report import SensitivityGateError, SensitivityReport

__all__ = [
    "AUDIO_DISTANCES",
    "AudioDistance",
    "SensitivityGateError",
    "SensitivityMeter",
    "SensitivityReport",
    "dtw_distance",
    "mckl_distance",
    "neighbour_outcomes",
    "pooled_spearman",
    "row_spearman",
    "simple_distance",
]
