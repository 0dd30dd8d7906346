"""Writing report files: all or nothing, and ``-`` for standard output."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

__all__ = ["is_stream_target", "write_text_atomic", "write_texts_atomic"]


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place.

    A reader never sees half a file, and an interrupted or failed write leaves
    the previous file (or none) behind, never a truncated one. One output of
    :func:`write_texts_atomic` (streams written as streams, symlinks kept).
    """
    write_texts_atomic({path: text})


def is_stream_target(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` must be written as a stream, never replaced: ``-``, a FIFO, a device, a socket, /dev or /proc.

    ``--json >(jq .)``, ``/dev/stdout`` (a symlink to a descriptor) and device
    nodes are opened and written; replacing them with a regular file would
    lose the output (and, as root, destroy a device node).

    Examples
    --------
    >>> is_stream_target("-"), is_stream_target("/dev/stdout"), is_stream_target("report.json")
    (True, True, False)
    """
    import stat

    path = os.fspath(path)
    if path == "-":
        return True
    full = os.path.abspath(path)
    if full in ("/dev/stdout", "/dev/stderr") or full.startswith(("/dev/fd/", "/proc/")) or \
            os.path.realpath(path).startswith("/proc/"):  # descriptors (a file in /dev/shm is a file)
        return True
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_texts_atomic(texts: dict[str | os.PathLike[str], str], *, stdout: Any = None) -> list[tuple[str, bool]]:
    """Write several outputs all or nothing: every file is written to a temporary first, then all are renamed.

    If writing any of them fails (a full disk, a permission), the temporaries
    are removed and every existing file is left as it was: a failed run never
    leaves half its outputs, nor replaces an older output. A symlink to a
    regular file has its target replaced (the link stays); stream targets
    (:func:`is_stream_target`: ``-`` for ``stdout``, FIFOs, devices) are
    written in place, after every file is ready.

    Returns
    -------
    list of (str, bool)
        Each path written and whether it replaced an existing file.
    """
    import tempfile

    pending: list[tuple[str, str, str]] = []
    streams, done = [], []

    def remove_temporaries(start: int = 0) -> None:
        for tmp, _, _ in pending[start:]:
            with contextlib.suppress(OSError):
                os.remove(tmp)

    try:
        for path, text in texts.items():
            path = os.fspath(path)
            if is_stream_target(path):
                streams.append((path, text))
                continue
            target = os.path.realpath(path)  # a symlink keeps pointing at the file it names
            folder = os.path.dirname(target)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".trustkit-", suffix=".tmp", dir=folder)
            pending.append((tmp, target, path))
            os.chmod(tmp, 0o644)  # as a plain open() would leave it (mkstemp makes it private)
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(text)
    except BaseException:
        remove_temporaries()
        raise
    for k, (tmp, target, path) in enumerate(pending):  # every file is complete: now they all take their places
        done.append((path, os.path.exists(target)))
        try:
            os.replace(tmp, target)
        except BaseException:
            remove_temporaries(k)  # a rename that fails leaves no temporary behind
            raise
    for path, text in streams:
        if path == "-":
            out = stdout if stdout is not None else sys.stdout
            out.write(text if text.endswith("\n") else text + "\n")
            out.flush()
        else:
            with open(path, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(text)
        done.append((path, False))
    return done
