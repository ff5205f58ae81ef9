"""Run one scenario once in this (fresh) process and print wall time and peak memory as JSON.

Used by the benchmarks through a subprocess per measurement, so peak RSS is this run's alone.
Usage: python benchmarks/_measure.py [--once] SCENARIO [overrides...]
(--once: no second, traced run; traced_peak_bytes is then null)
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc

from sim.engine import simulate
from sim.scenario import load_scenario


def main() -> None:
    args = sys.argv[1:]
    once = args[:1] == ["--once"]
    args = args[1:] if once else args
    scenario = load_scenario(args[0], args[1:])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    simulate(scenario)
    seconds = time.perf_counter() - started
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    traced_peak = None
    if not once:
        tracemalloc.start()  # a second, traced run: what the simulation itself allocates
        simulate(scenario)
        _, traced_peak = tracemalloc.get_traced_memory()
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak_rss,
                      "rss_before_bytes": rss_before, "traced_peak_bytes": traced_peak,
                      "users": scenario.market.size, "days": scenario.days}))


if __name__ == "__main__":
    main()
