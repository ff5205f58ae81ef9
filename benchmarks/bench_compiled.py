"""Issue 17's open question, measured: would a compiled engine bring the reference run within
1.5x of the event-driven yardstick?

In turn, each in a fresh process, RUNS times (seeds 1..RUNS) at 1M users x 365 days: the
engine (full and lean, `_measure.py`), the yardstick (`event_driven_reference.py`), a day loop
compiled whole with numba (`compiled_day_loop.py`: numba's random numbers, each due user's
fields together) and a hybrid (`hybrid_day_loop.py`: numpy draws a day's numbers in bulk, one
numba kernel a day books the orders). Both prototypes keep the bookkeeping of the engine's
full run (daily counters, cohort tables, growth accounting); their wall time includes numba's
load of the cached kernels (`load_seconds`), not numba's import. A warm-up run of each fills
numba's cache first. The prototypes' totals (orders, revenue, churned) are checked against the
yardstick's over the seeds: the difference of the means within 4 standard errors (the same
model, or the timing would mean nothing). Needs numba (`pip install -e .[bench]`).

    python benchmarks/bench_compiled.py        # about 1 minute on 2 cores
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402
from bench_speed import DAYS, RUNS, USERS, engine_run  # noqa: E402

PROTOTYPES = ("compiled_day_loop.py", "hybrid_day_loop.py")
TOTALS = ("orders", "revenue", "churned")


def script_run(script: str, seed: int) -> dict:
    """One fresh-process run of a benchmark script: its whole printed line."""
    import subprocess

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--users",
                          str(USERS), "--days", str(DAYS), "--seed", str(seed)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def agreement(runs: list[dict], yardstick: list[dict]) -> dict[str, dict[str, float]]:
    """Each total's mean against the yardstick's, in standard errors of the difference."""
    out = {}
    for total in TOTALS:
        ours, theirs = [r[total] for r in runs], [r[total] for r in yardstick]
        se = math.sqrt(statistics.variance(ours) / len(ours)
                       + statistics.variance(theirs) / len(theirs))
        diff = statistics.mean(ours) - statistics.mean(theirs)
        out[total] = {"mean": statistics.mean(ours), "yardstick": statistics.mean(theirs),
                      "z": diff / se if se else 0.0}
    return out


def main() -> dict:
    for script in PROTOTYPES:
        script_run(script, 1)  # warm-up: compiles into numba's cache the first time
    runs: dict[str, list[dict]] = {k: [] for k in ("engine", "lean", "yardstick", *PROTOTYPES)}
    for seed in range(1, max(3, RUNS) + 1):  # in turn, so all meet the same machine load
        runs["engine"].append(engine_run("reference.yaml"))
        runs["lean"].append(engine_run("reference.yaml", lean=True))
        runs["yardstick"].append(script_run("event_driven_reference.py", seed))
        for script in PROTOTYPES:
            runs[script].append(script_run(script, seed))
    wall = {k: statistics.median(r["seconds"] for r in rs) for k, rs in runs.items()}
    load = {s: statistics.median(r["load_seconds"] for r in runs[s]) for s in PROTOTYPES}
    checks = {s: agreement(runs[s], runs["yardstick"]) for s in PROTOTYPES}
    for script, totals in checks.items():
        worst = max(abs(v["z"]) for v in totals.values())
        if worst > 4:
            raise SystemExit(f"{script} disagrees with the yardstick ({worst:.1f} SE): {totals}")
    row = {"what": "issue 17: compiled day loops against the engine and the yardstick, "
                   "1M users x 365 days, one core", "runs": runs, "median_seconds": wall,
           "median_load_seconds": load, "ratio_to_yardstick": {
               k: v / wall["yardstick"] for k, v in wall.items()},
           "agreement_with_yardstick": checks, "machine": machine()}
    print(", ".join(f"{k} {v:.2f} s ({v / wall['yardstick']:.2f}x)" for k, v in wall.items())
          + "; numba kernel load " + ", ".join(f"{k} {v:.2f} s" for k, v in load.items()),
          flush=True)
    return row


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "compiled.json").write_text(json.dumps(data, indent=2))
