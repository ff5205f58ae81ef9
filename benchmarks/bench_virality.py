"""Issue 4 benchmark: scenarios/growth.yaml at 1M users x 365 days, one replicate, one core,
graph build included; and the graph build alone.

Targets: <= 10 s and <= 2 GB peak. Each run is a fresh process; medians of RUNS runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5


def measure(*overrides: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_measure.py"),
                          str(ROOT / "scenarios" / "growth.yaml"), *overrides],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def graph_build_seconds() -> list[float]:
    from sim.graph import CommunityGraphParams, community_graph

    times = []
    for seed in range(RUNS):
        started = time.perf_counter()
        community_graph(1_000_000, CommunityGraphParams(), np.random.default_rng(seed))
        times.append(time.perf_counter() - started)
    return times


def main() -> dict:
    runs = [measure() for _ in range(RUNS)]
    graph = graph_build_seconds()
    result = {
        "growth.yaml": {
            "users": runs[0]["users"], "days": runs[0]["days"],
            "seconds_median": statistics.median(r["seconds"] for r in runs),
            "seconds_all": [round(r["seconds"], 2) for r in runs],
            "peak_rss_mb_median": statistics.median(r["peak_rss_bytes"] for r in runs) / 2**20,
        },
        "graph_build_1M_seconds_median": statistics.median(graph),
        "graph_build_1M_seconds_all": [round(t, 2) for t in graph],
    }
    r = result["growth.yaml"]
    print(f"growth.yaml 1M x 365 (graph included): {r['seconds_median']:.2f} s "
          f"(runs {r['seconds_all']}), peak RSS {r['peak_rss_mb_median']:.0f} MB")
    print(f"graph build, 1M users: {result['graph_build_1M_seconds_median']:.2f} s")
    return result


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "virality.json").write_text(json.dumps(data, indent=2))
