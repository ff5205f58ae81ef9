"""Issue 17 benchmark: the day loop against the event-driven yardstick, and nanoseconds per
user-day of the full scenarios, at 1M users x 365 days on one core.

- Reference: the engine (`scenarios/reference.yaml`) and `event_driven_reference.py` (the same
  rules, written independently, agreement tested in tests/validation), in turn, each in a
  fresh process: medians of RUNS runs and the ratio of the medians. Target: within 1.5x.
  Beside it, like for like: the engine without the cohort tables, retention grid and growth
  accounting the yardstick does not compute (`_measure.py --lean`, as an A/B market runs).
- growth, retention, scale: simulation time per user-day with the friendship graph read from
  the disk store (what every run after the first on a machine pays; one warm-up run fills it),
  and one cold run each with the store off (the graph built in the run).
  Targets: growth <= 12, retention <= 20, scale <= 15 ns per user-day.

    python benchmarks/bench_speed.py        # about 5 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402

RUNS = int(os.environ.get("GROWTHSIM_BENCH_RUNS", "5"))
USERS, DAYS = 1_000_000, 365
TARGET_NS = {"growth.yaml": 12.0, "retention.yaml": 20.0, "scale.yaml": 15.0}


def engine_seconds(scenario: str, store: str | None = None, lean: bool = False) -> float:
    """Simulation seconds of one fresh-process run (benchmarks/_measure.py --once)."""
    env = dict(os.environ)
    if store is not None:
        env["GROWTHSIM_GRAPH_CACHE"] = store
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_measure.py"), "--once",
                          *(["--lean"] if lean else []),
                          str(ROOT / "scenarios" / scenario), f"market.size={USERS}",
                          f"days={DAYS}"], capture_output=True, text=True, check=True, env=env)
    return float(json.loads(out.stdout)["seconds"])


def yardstick_seconds(seed: int) -> float:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "event_driven_reference.py"),
                          "--users", str(USERS), "--days", str(DAYS), "--seed", str(seed)],
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["seconds"])


def reference_against_yardstick() -> dict:
    engine, lean, other = [], [], []
    for i in range(RUNS):  # in turn, so all meet the same machine load
        engine.append(engine_seconds("reference.yaml"))
        lean.append(engine_seconds("reference.yaml", lean=True))
        other.append(yardstick_seconds(i + 1))
    yardstick = statistics.median(other)
    ratio = statistics.median(engine) / yardstick
    lean_ratio = statistics.median(lean) / yardstick
    print(f"reference 1M x 365: engine {statistics.median(engine):.2f} s, event-driven "
          f"yardstick {yardstick:.2f} s, ratio {ratio:.2f} (target <= 1.5); like for like "
          f"(no cohorts, retention grid, growth accounting) {statistics.median(lean):.2f} s, "
          f"ratio {lean_ratio:.2f}", flush=True)
    return {"engine_seconds": engine, "lean_engine_seconds": lean, "yardstick_seconds": other,
            "engine_median": statistics.median(engine), "lean_median": statistics.median(lean),
            "yardstick_median": yardstick, "ratio": ratio, "lean_ratio": lean_ratio,
            "target_ratio": 1.5}


def scenario_speed(scenario: str, store: str) -> dict:
    engine_seconds(scenario, store)  # warm-up: fills the graph store
    warm = [engine_seconds(scenario, store) for _ in range(max(3, RUNS))]
    cold = engine_seconds(scenario, "off")
    per = USERS * DAYS
    row = {"warm_seconds": warm, "warm_median": statistics.median(warm), "cold_seconds": cold,
           "ns_per_user_day_warm": statistics.median(warm) / per * 1e9,
           "ns_per_user_day_cold": cold / per * 1e9, "target_ns": TARGET_NS[scenario]}
    print(f"{scenario}: {row['warm_median']:.2f} s = {row['ns_per_user_day_warm']:.1f} ns per "
          f"user-day with the graph from the store, {cold:.2f} s = "
          f"{row['ns_per_user_day_cold']:.1f} ns building it (target {TARGET_NS[scenario]:g})",
          flush=True)
    return row


def main() -> dict:
    import shutil
    import tempfile

    store = tempfile.mkdtemp(prefix="bench-graphs-")  # its own store: a warm-up fills it
    try:
        return {"what": "issue 17: engine speed at 1M users x 365 days, one core",
                "runs": RUNS, "reference": reference_against_yardstick(),
                "scenarios": {s: scenario_speed(s, store) for s in TARGET_NS},
                "machine": machine()}
    finally:
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "speed.json").write_text(json.dumps(data, indent=2))
