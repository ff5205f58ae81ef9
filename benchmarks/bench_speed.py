"""Issue 17 benchmark: the day loop against the event-driven yardstick, and nanoseconds per
user-day of the full scenarios, at 1M users x 365 days on one core.

- Reference: the engine (`scenarios/reference.yaml`) and `event_driven_reference.py` (the same
  rules, written independently, agreement tested in tests/validation), in turn, each in a
  fresh process: medians of RUNS runs and the ratio of the medians. Target: within 1.5x.
  Beside it, like for like: the engine without the cohort tables, retention grid and growth
  accounting the yardstick does not compute (`_measure.py --lean`, as an A/B market runs), and
  `day_loop_reference.py`, the same rules as the barest numpy day loop (the floor for stepping
  days). Each run also reports user and system CPU seconds: the wall time of the same code
  swings with kernel time (page faults) on a shared VM, user time much less.
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


def measured(command: list[str], env: dict | None = None) -> dict:
    """Wall, user and system seconds of one fresh-process run, as the script prints them."""
    out = subprocess.run([sys.executable, *command], capture_output=True, text=True, check=True,
                         env=env)
    row = json.loads(out.stdout)
    return {key: float(row[key]) for key in ("seconds", "user_seconds", "sys_seconds")}


def engine_run(scenario: str, store: str | None = None, lean: bool = False) -> dict:
    """One fresh-process run of the engine (benchmarks/_measure.py --once)."""
    env = dict(os.environ)
    if store is not None:
        env["GROWTHSIM_GRAPH_CACHE"] = store
    return measured([str(ROOT / "benchmarks" / "_measure.py"), "--once",
                     *(["--lean"] if lean else []), str(ROOT / "scenarios" / scenario),
                     f"market.size={USERS}", f"days={DAYS}"], env)


def reference_script_run(script: str, seed: int) -> dict:
    return measured([str(ROOT / "benchmarks" / script), "--users", str(USERS), "--days",
                     str(DAYS), "--seed", str(seed)])


def reference_against_yardstick() -> dict:
    """The engine (full and lean), the bare day loop and the event-driven yardstick, in turn."""
    runs: dict[str, list[dict]] = {"engine": [], "lean": [], "day_loop": [], "yardstick": []}
    for i in range(RUNS):  # in turn, so all meet the same machine load
        runs["engine"].append(engine_run("reference.yaml"))
        runs["lean"].append(engine_run("reference.yaml", lean=True))
        runs["day_loop"].append(reference_script_run("day_loop_reference.py", i + 1))
        runs["yardstick"].append(reference_script_run("event_driven_reference.py", i + 1))
    median = {k: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for k, rs in runs.items()}
    wall = {k: m["seconds"] for k, m in median.items()}
    user = {k: m["user_seconds"] for k, m in median.items()}
    row = {"runs": runs, "medians": median,
           "engine_median": wall["engine"], "lean_median": wall["lean"],
           "day_loop_median": wall["day_loop"], "yardstick_median": wall["yardstick"],
           "ratio": wall["engine"] / wall["yardstick"], "lean_ratio": wall["lean"] /
           wall["yardstick"], "day_loop_ratio": wall["day_loop"] / wall["yardstick"],
           "engine_over_day_loop": wall["engine"] / wall["day_loop"],
           "lean_over_day_loop": wall["lean"] / wall["day_loop"],
           "user_cpu_ratio": user["engine"] / user["yardstick"], "target_ratio": 1.5}
    print(f"reference {USERS:,} x {DAYS} (median wall s): engine {wall['engine']:.2f}, lean engine "
          f"{wall['lean']:.2f}, bare day loop {wall['day_loop']:.2f}, event-driven yardstick "
          f"{wall['yardstick']:.2f}; engine/yardstick {row['ratio']:.2f} (target <= 1.5), "
          f"lean {row['lean_ratio']:.2f}, day loop {row['day_loop_ratio']:.2f}; engine/day loop "
          f"{row['engine_over_day_loop']:.2f}, lean {row['lean_over_day_loop']:.2f}; user CPU "
          f"engine/yardstick {row['user_cpu_ratio']:.2f} (system s: " + ", ".join(
              f"{k} {m['sys_seconds']:.2f}" for k, m in median.items()) + ")", flush=True)
    return row


def scenario_speed(scenario: str, store: str) -> dict:
    engine_run(scenario, store)  # warm-up: fills the graph store
    warm = [engine_run(scenario, store) for _ in range(max(3, RUNS))]
    cold = engine_run(scenario, "off")["seconds"]
    per = USERS * DAYS
    wall = statistics.median(r["seconds"] for r in warm)
    user = statistics.median(r["user_seconds"] for r in warm)
    row = {"warm_seconds": [r["seconds"] for r in warm], "warm_runs": warm, "warm_median": wall,
           "cold_seconds": cold, "ns_per_user_day_warm": wall / per * 1e9,
           "ns_per_user_day_user_cpu": user / per * 1e9,
           "ns_per_user_day_cold": cold / per * 1e9, "target_ns": TARGET_NS[scenario]}
    print(f"{scenario}: {wall:.2f} s = {row['ns_per_user_day_warm']:.1f} ns per user-day with "
          f"the graph from the store (user CPU {row['ns_per_user_day_user_cpu']:.1f} ns), "
          f"{cold:.2f} s = {row['ns_per_user_day_cold']:.1f} ns building it (target "
          f"{TARGET_NS[scenario]:g})", flush=True)
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
