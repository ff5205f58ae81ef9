"""Issue 17 benchmark: scenarios/scale.yaml at 20M users x 365 days on the 24 GB machine.

One whole `simctl run` (the graph built in the run: the store is off), in a fresh process: its
wall time, the run's own seconds, its peak RSS and `check_memory`'s estimate beside it. About
six minutes and 10 GB; `GROWTHSIM_BENCH_USERS` runs another size.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402

USERS = int(os.environ.get("GROWTHSIM_BENCH_USERS", "20000000"))
SCENARIO = ROOT / "scenarios" / "scale.yaml"


def main() -> dict:
    from sim.planning import memory_estimate
    from sim.scenario import load_scenario

    estimate = memory_estimate(load_scenario(SCENARIO, [f"market.size={USERS}"]))
    out = Path(tempfile.mkdtemp(prefix="bench-20m-"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from experiments.cli import main; main()", "run",
                    str(SCENARIO), f"market.size={USERS}", "--quiet", "--out", str(out)],
                   check=True, capture_output=True,
                   env={**os.environ, "GROWTHSIM_GRAPH_CACHE": "off"})
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    (summary,) = out.glob("*/*/summary.json")
    run_seconds = float(json.loads(summary.read_text())["wall_seconds"])
    result = {"what": __doc__.splitlines()[0], "users": USERS, "days": 365,
              "process_seconds": seconds, "run_seconds": run_seconds,
              "ns_per_user_day": run_seconds / (USERS * 365) * 1e9,
              "peak_rss_gib": peak / 2**30, "estimate_gib": estimate / 2**30,
              "estimate_error": estimate / peak - 1, "machine": machine()}
    print(f"scale.yaml {USERS:,} x 365: run {run_seconds:.0f} s "
          f"({result['ns_per_user_day']:.1f} ns per user-day, graph build included), whole "
          f"process {seconds:.0f} s, peak RSS {result['peak_rss_gib']:.2f} GiB, check_memory "
          f"{result['estimate_gib']:.2f} GiB ({result['estimate_error']:+.1%})", flush=True)
    return result


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "scale_20m.json").write_text(json.dumps(data, indent=2))
