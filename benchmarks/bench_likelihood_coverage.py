"""Coverage of `--method likelihood` (issue 16): data sets simulated by the engine at known
parameters (4,000 customers joining over the first weeks, BG/NBD purchases in daily steps, 26
weeks seen, 6 more to predict). For each: the maximum-likelihood fit, whether each parameter's
90% and 50% intervals hold the truth, and whether the 90% band of the customers' expected orders
in the next 42 days (over posterior draws: parameter uncertainty only) holds the model's own
expectation at the true parameters. Writes benchmarks/results/likelihood_coverage.json.

Usage: python benchmarks/bench_likelihood_coverage.py [--datasets 60] [--customers 4000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from experiments.calibration.bgnbd import BGNBD
from experiments.calibration.customers import daily_conditional, history, point
from experiments.calibration.likelihood import maximum_likelihood
from experiments.calibration.objective import parse_fit
from experiments.calibration.observed import customer_table
from experiments.calibration.recovery import DAILY_FIT, daily_truth_scenario
from experiments.calibration.recovery import DAILY_TRUTH as TRUE
from sim.engine import simulate
from sim.events import event_table
from sim.planning import layout_of

ROOT = Path(__file__).resolve().parents[1]
SEEN, AHEAD = 182, 42


def one(size: int, seed: int) -> dict:
    scenario = daily_truth_scenario(size, seed, SEEN)
    events = event_table(simulate(scenario, log_events=True), layout_of(scenario))
    customers = customer_table(events, SEEN)
    params = parse_fit(scenario, DAILY_FIT)
    best, draws, doc = maximum_likelihood(scenario, params, customers, 200, seed)
    past = history(customers)
    args = (past["x"].to_numpy(), past["trials_to_last"].to_numpy(), past["trials"].to_numpy())
    truth_total = float(daily_conditional(point(scenario), 7.0, *args, AHEAD)[1].sum())
    totals = [float(daily_conditional(BGNBD(*row, math.nan), 7.0, *args, AHEAD)[1].sum())
              for row in draws[[p.path for p in params]].to_numpy(dtype=float)]
    lo, hi = np.quantile(totals, [0.05, 0.95])
    out = {"seed": seed, "customers": len(customers), "forecast_total_truth": truth_total,
           "forecast_band": [float(lo), float(hi)], "forecast_covered": bool(lo <= truth_total
                                                                               <= hi)}
    for p in params:
        key = p.path.rsplit(".", 1)[-1]
        info = doc["params"][p.path]
        out[key] = {"estimate": best[p.path],
                    "in90": info["interval90"][0] <= TRUE[key] <= info["interval90"][1],
                    "in50": info["interval50"][0] <= TRUE[key] <= info["interval50"][1]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=60)
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"
                                             / "likelihood_coverage.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    records = [one(args.customers, 1000 + i) for i in range(args.datasets)]
    n = len(records)
    summary = {}
    for key in TRUE:
        for level in ("in90", "in50"):
            rate = float(np.mean([r[key][level] for r in records]))
            summary[f"{key} {level}"] = {"coverage": rate,
                                         "se": math.sqrt(max(rate * (1 - rate), 1e-9) / n)}
    rate = float(np.mean([r["forecast_covered"] for r in records]))
    summary["forecast total in90"] = {"coverage": rate, "se": math.sqrt(rate * (1 - rate) / n)}
    result = {"what": __doc__.splitlines()[0], "datasets": n, "truth": TRUE,
              "wall_seconds": round(time.perf_counter() - started, 1),
              "machine": f"{platform.machine()} {os.cpu_count()} cores, "
                         f"{platform.python_version()}",
              "summary": summary, "records": records}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
