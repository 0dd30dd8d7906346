"""Exceptions and warnings raised by trustkit."""

from __future__ import annotations

__all__ = ["GateError", "InvalidAudioError", "TrustkitWarning"]


class InvalidAudioError(ValueError):
    """Audio input that trustkit cannot process (non-finite, silent, too short...).

    Subclasses :class:`ValueError`, so ``except ValueError`` catches it too.
    """


class GateError(AssertionError):
    """A report failed its gate (:meth:`trustkit.reports.Report.check`).

    Subclasses :class:`AssertionError`, so a failed gate fails a test.
    """


class TrustkitWarning(UserWarning):
    """Warning category for everything trustkit warns about.

    Filter it with ``warnings.filterwarnings("ignore", category=TrustkitWarning)``.
    """
