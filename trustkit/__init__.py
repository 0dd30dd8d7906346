"""trustkit: measure how far a music-audio model can be trusted.

Robustness, transferability and explainability meters with a scikit-learn
API. This release provides the foundation: input validation, audio helpers,
synthetic music and the perturbation library (:mod:`trustkit.perturbations`).
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from . import encoders, perturbations
from .encoders.check import EncoderCheckError, EncoderCheckReport, check_encoder
from .exceptions import GateError, InvalidAudioError, TrustkitWarning
from .fidelity import FidelityComplexityReport, FidelityComplexityScorer
from .reports import version
from .robustness import SensitivityGateError, SensitivityMeter, SensitivityReport
from .transferability import ComparisonReport, TransferabilityProbe, TransferReport, compare_encoders

__version__ = version()  # the one place that reads it: trustkit.reports.version

__all__ = [
    "ComparisonReport",
    "EncoderCheckError",
    "EncoderCheckReport",
    "FidelityComplexityReport",
    "FidelityComplexityScorer",
    "GateError",
    "InvalidAudioError",
    "SensitivityGateError",
    "SensitivityMeter",
    "SensitivityReport",
    "TransferReport",
    "TransferabilityProbe",
    "TrustkitWarning",
    "__version__",
    "check_encoder",
    "compare_encoders",
    "encoders",
    "perturbations",
    "show_versions",
]


def show_versions() -> str:
    """Print (and return) the versions of Python, trustkit and its dependencies.

    Paste the output into bug reports.

    Examples
    --------
    >>> "numpy" in show_versions()  # doctest: +ELLIPSIS
    python...
    True
    """
    deps = [
        "numpy", "scipy", "scikit-learn", "pandas", "joblib", "librosa", "soundfile",
        "soxr", "pyloudnorm", "fast-mp3-augment", "python-stretch", "matplotlib", "lime", "shap",
    ]
    lines = [f"python: {sys.version.split()[0]} ({platform.platform()})", f"trustkit: {__version__}"]
    for dep in deps:
        try:
            lines.append(f"{dep}: {metadata.version(dep)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{dep}: not installed")
    text = "\n".join(lines)
    print(text)
    return text
