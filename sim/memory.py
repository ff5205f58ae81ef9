"""Estimate a scenario's memory before allocating it, and refuse what cannot fit."""

from __future__ import annotations

import os

import numpy as np

from sim.population import CORE_COLUMNS

BASE_BYTES = 150 * 2**20  # the interpreter with numpy, pandas, pydantic and simpy loaded
POOL_BYTES_PER_USER = 4 + 8  # rows by group (int32) + the argsort that builds it (int64)


def bytes_per_user(columns: dict[str, np.dtype], scratch: int) -> int:
    everything = {**CORE_COLUMNS, **columns}
    return sum(dt.itemsize for dt in everything.values()) + POOL_BYTES_PER_USER + scratch


def graph_bytes_per_user(mean_degree: float) -> int:
    """Peak while building the friendship graph: int64 stubs, both directions, COO and CSR."""
    return int(mean_degree * 40 + 32)


def estimate_bytes(size: int, columns: dict[str, np.dtype], scratch: int,
                   days: int, counters: int, arms: int, graph_degree: float = 0.0) -> int:
    recorder = days * arms * max(counters, 1) * 8
    graph = size * graph_bytes_per_user(graph_degree) if graph_degree else 0
    return BASE_BYTES + size * bytes_per_user(columns, scratch) + recorder + graph


def available_bytes() -> int:
    """Memory the OS can give us now (MemAvailable), or an override for tests and shared hosts."""
    override = os.environ.get("GROWTHSIM_MEMORY_LIMIT_MB")
    if override:
        return int(float(override) * 2**20)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"
