"""Estimate a scenario's memory before allocating it, and refuse what cannot fit.

The figures are measured, not derived (benchmarks/bench_memory.py: peak resident memory of a
whole `simctl run` process, scale, growth and reference at 0.5M-3M users x 365 days,
2026-12-05, re-measured 2026-12-06): the process starts at about 250 MiB (Python with numpy,
pandas, pyarrow, plotly and the CLI; 204 MiB with the libraries of a month before); a
scenario with a friendship graph peaks while the graph is built, at about 542 bytes per user
for 12 friends on average whatever its other columns (the build's scratch is freed before the
columns are filled); one without a graph peaks with its columns."""

from __future__ import annotations

import os

import numpy as np

from sim.population import CORE_COLUMNS

# A `simctl run` process before the market exists, measured by benchmarks/bench_memory.py with
# numpy 2.4, pandas 3.1, plotly 7.1 and pyarrow 26 (204 MiB with the libraries of November 2026:
# it grows with them, so re-measure after a dependency upgrade).
BASE_BYTES = 250 * 2**20
# rows by group (int32), each user's place among them (int32) and whether still potential
# (bool); the argsort that builds them is gone before the columns fill (measured)
POOL_BYTES_PER_USER = 9


def bytes_per_user(columns: dict[str, np.dtype], scratch: int) -> int:
    everything = {**CORE_COLUMNS, **columns}
    return sum(dt.itemsize for dt in everything.values()) + POOL_BYTES_PER_USER + scratch


def graph_bytes_per_user(mean_degree: float) -> int:
    """Peak while building the friendship graph: int64 stubs, both directions, COO and CSR
    (40 bytes per friendship end), and the kept CSR (measured: 542 at 12 friends)."""
    return int(mean_degree * 40 + 62)


def estimate_bytes(size: int, columns: dict[str, np.dtype], scratch: int,
                   days: int, counters: int, arms: int, graph_degree: float = 0.0) -> int:
    """The peak of one replicate: the larger of the graph build and the simulation's columns
    (they do not overlap), plus the daily counters and the process itself."""
    recorder = days * arms * max(counters, 1) * 8
    graph = graph_bytes_per_user(graph_degree) if graph_degree else 0
    return BASE_BYTES + size * max(bytes_per_user(columns, scratch), graph) + recorder


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
