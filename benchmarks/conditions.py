"""The conditions a benchmark ran under, printed first and stored with its results.

A ratio measured on a loaded machine, or at another batch size, is a
different number: every script prints this header and writes it into its
JSON, with the load average at the start and at the end of the run.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def conditions(**workload) -> dict:
    """Machine, cores, load average (1, 5, 15 min), versions and date, plus the workload's own settings."""
    import numpy as np

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": cores,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        if hasattr(os, "sysconf") else None,
        "load_start": [round(v, 2) for v in os.getloadavg()],
        "machine": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        **workload,
    }


def finish(meta: dict) -> dict:
    """``meta`` with the load average at the end of the run."""
    meta["load_end"] = [round(v, 2) for v in os.getloadavg()]
    return meta


def header(meta: dict) -> str:
    """One line: the workload, the machine and its load."""
    work = ", ".join(f"{k}={v}" for k, v in meta.items() if k not in {
        "date", "cpu", "cores", "memory_gib", "load_start", "load_end", "machine", "python", "numpy"})
    load = "/".join(f"{v:.2f}" for v in meta["load_start"])
    return (f"# {meta['date']}  {meta['cpu']}, {meta['cores']} cores, {meta['memory_gib']} GiB, "
            f"load {load} (1/5/15 min)  Python {meta['python']}, numpy {meta['numpy']}" + (f"\n# {work}" if work else ""))
