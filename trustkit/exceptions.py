"""Exceptions and warnings raised by trustkit."""

from __future__ import annotations

__all__ = ["InvalidAudioError", "TrustkitWarning"]


class InvalidAudioError(ValueError):
    """Audio input that trustkit cannot process (non-finite, silent, too short...).

    Subclasses :class:`ValueError`, so ``except ValueError`` catches it too.
    """


class TrustkitWarning(UserWarning):
    """Warning category for everything trustkit warns about.

    Filter it with ``warnings.filterwarnings("ignore", category=TrustkitWarning)``.
    """
