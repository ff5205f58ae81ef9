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
import pandas as pd

from experiments.calibration.bgnbd import BGNBD
from experiments.calibration.customers import daily_conditional, history, point
from experiments.calibration.likelihood import maximum_likelihood
from experiments.calibration.objective import parse_fit
from sim.engine import simulate
from sim.events import event_table
from sim.planning import layout_of
from sim.scenario import Scenario, validate_scenario

ROOT = Path(__file__).resolve().parents[1]
TRUE = {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 2.5}
FIT = [f"mechanics.purchase.purchase_rate.{k}=0.05..20" for k in ("r", "alpha")] + [
    f"mechanics.purchase.dropout.{k}=0.05..20" for k in ("a", "b")]
SEEN, AHEAD = 182, 42


def market(size: int, seed: int) -> Scenario:
    return validate_scenario({
        "name": "coverage", "seed": seed, "days": SEEN, "market": {"size": size},
        "mechanics": {
            "acquisition": {"type": "bass_acquisition", "p": 0.03, "q": 0.0},
            "purchase": {"type": "purchase_dropout", "purchase_on_acquisition": True,
                         "purchase_rate": {"r": TRUE["r"], "alpha": TRUE["alpha"],
                                           "time_unit_days": 7.0, "link": "poisson"},
                         "dropout": {"a": TRUE["a"], "b": TRUE["b"]},
                         "order_value": {"model": "gamma", "shape": 2.0, "scale": 18.0}}}},
        "<bench>")


def one(size: int, seed: int) -> dict:
    scenario = market(size, seed)
    events = event_table(simulate(scenario, log_events=True), layout_of(scenario))
    orders = events[events["event"] == "order"].groupby("user")["day"]
    customers = pd.DataFrame({"first_day": orders.min(), "x": orders.size() - 1,
                              "last_day": orders.max(), "observed_days": SEEN}).reset_index()

    class Seen:
        source = "<simulated>"

    Seen.customers = customers  # type: ignore[attr-defined]
    params = parse_fit(scenario, FIT)
    best, draws, doc = maximum_likelihood(scenario, params, Seen, 200, seed)
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
