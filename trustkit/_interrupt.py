"""Ctrl-C for the command line: an interrupt is never lost.

CPython delivers SIGINT as a ``KeyboardInterrupt`` raised wherever the main
thread happens to be; when that is a finaliser (``__del__``) or a callback, the
exception is printed as "ignored" and the run goes on. The command line
therefore also records the interrupt, and long work checks the record at its
step boundaries (:func:`check`), so the run stops there and writes nothing.
Library use is unaffected: nothing is recorded unless the command line
installed the handler.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any

__all__ = ["check", "handle_interrupts", "interrupted"]

_INTERRUPTED = threading.Event()


def _handler(signum: int, frame: Any) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether the command line was interrupted (Ctrl-C) during the current command."""
    return _INTERRUPTED.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if the command line was interrupted."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


@contextmanager
def handle_interrupts():
    """Record SIGINT while the block runs (main thread only); restore the previous handler after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import sys

    def unraisable(info: Any, default: Any = sys.unraisablehook) -> None:
        if not (info.exc_type is KeyboardInterrupt and _INTERRUPTED.is_set()):  # recorded: no "ignored" traceback
            default(info)

    _INTERRUPTED.clear()
    previous, previous_hook = signal.signal(signal.SIGINT, _handler), sys.unraisablehook
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
        _INTERRUPTED.clear()
