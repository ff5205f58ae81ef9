"""The machine a benchmark ran on, written beside its figures, and the CPU time it used."""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}


def cpu_seconds() -> tuple[float, float]:
    """User and system CPU seconds of this process so far. A benchmark reports both beside its
    wall time: on a shared VM the wall time swings with kernel time (page faults of fresh
    arrays), while user time stays steady."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime
