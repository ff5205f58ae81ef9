"""Run one scenario once in this (fresh) process and print wall time and peak memory as JSON.

Used by the benchmarks through a subprocess per measurement, so peak RSS is this run's alone.
Usage: python benchmarks/_measure.py [--once] [--lean] SCENARIO [overrides...]
(--once: no second, traced run; traced_peak_bytes is then null. --lean: the run keeps no cohort
tables, retention grid or growth accounting, as an A/B market runs (`UserTally(cohorts=False)`):
the engine doing about the work the event-driven yardstick does)
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc

from _machine import cpu_seconds

from sim.engine import UserTally, simulate
from sim.scenario import load_scenario


def main() -> None:
    args = sys.argv[1:]
    once = "--once" in args
    lean = UserTally(events=(), cohorts=False) if "--lean" in args else None
    args = [a for a in args if a not in ("--once", "--lean")]
    scenario = load_scenario(args[0], args[1:])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started, cpu = time.perf_counter(), cpu_seconds()
    simulate(scenario, tally=lean)
    seconds = time.perf_counter() - started
    user, system = (after - before for after, before in zip(cpu_seconds(), cpu, strict=True))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    traced_peak = None
    if not once:
        tracemalloc.start()  # a second, traced run: what the simulation itself allocates
        simulate(scenario, tally=lean)
        _, traced_peak = tracemalloc.get_traced_memory()
    print(json.dumps({"seconds": seconds, "user_seconds": user, "sys_seconds": system,
                      "peak_rss_bytes": peak_rss,
                      "rss_before_bytes": rss_before, "traced_peak_bytes": traced_peak,
                      "users": scenario.market.size, "days": scenario.days}))


if __name__ == "__main__":
    main()
