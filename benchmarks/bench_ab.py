"""Benchmark: 200 replicates of a 100k-user, 60-day A/B test of two designs through
`processes:2`.

One replicate of `simctl ab --units user,cluster` is, per design, three 100k-user markets
(mixed arms, all-treatment, all-control) plus the analysis of each, every market of the
replicate on one friendship graph; the target (issue 17) is at most 60 s for 200 of them on
the 2-core machine (issue 6's was 2 minutes for the user design alone). Runs `RUNS` times
(default 3; env GROWTHSIM_BENCH_RUNS) and writes the median to benchmarks/results/ab.json.

    .venv/bin/python benchmarks/bench_ab.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

from experiments.planning.ab_summary import summarise
from experiments.planning.abtest import simulate_ab
from experiments.runs.executors import make_executor
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
REPLICATES = 200
TARGET_SECONDS = 60.0
UNITS = ["user", "cluster"]


def one_run() -> tuple[float, dict]:
    scenario = load_scenario(ROOT / "scenarios" / "ab_referral.yaml")
    assert scenario.market.size == 100_000 and scenario.days == 60
    started = time.perf_counter()
    with make_executor("processes:2") as executor:  # pool start-up is part of the time
        rows = simulate_ab(scenario, executor, units=UNITS, replicates=REPLICATES)
    seconds = time.perf_counter() - started
    row = summarise(rows).query("metric == 'purchases' and unit == 'user'").iloc[0]
    return seconds, {k: float(row[k]) for k in ("power", "analytic_power", "aa_rate",
                                                 "bias", "bias_se", "relative_bias")}


def main() -> None:
    runs = int(os.environ.get("GROWTHSIM_BENCH_RUNS", "3"))
    times, figures = [], {}
    for i in range(runs):
        seconds, figures = one_run()
        times.append(seconds)
        print(f"run {i + 1}/{runs}: {seconds:.1f} s", flush=True)
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version()},
        "case": "scenarios/ab_referral.yaml: 100k users, 60 days, units user and cluster, "
                "200 replicates x 2 designs x 3 markets, processes:2",
        "seconds_median": statistics.median(times), "seconds_all": [round(t, 1) for t in times],
        "target_seconds": TARGET_SECONDS,
        "meets_target": statistics.median(times) <= TARGET_SECONDS,
        "last_run_purchases": figures,
    }
    out = ROOT / "benchmarks" / "results" / "ab.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
