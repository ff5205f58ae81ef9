"""CDNOW end to end: ingest, calibrate purchase/dropout on weeks 1-26 with observed arrivals,
forecast weeks 27-39, and compare with the closed-form BG/NBD fitted by maximum likelihood on the
same weeks (Fader, Hardie & Lee 2005). Writes benchmarks/results/calibrate.json.

Usage: python benchmarks/bench_calibrate.py [--trials N] [--executor processes:2]
Environment: GROWTHSIM_BENCH_USERS=K keeps only customers whose id is a multiple of 23570/K
(for quick runs; default: all 23,570).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.calibration import bgnbd
from experiments.calibration.calibrate import calibrate
from experiments.calibration.forecast import forecast
from experiments.calibration.observed import load_observed
from experiments.runs.executors import make_executor
from sim.scenario import validate_scenario

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "cdnow" / "transactions_1997-01-01_to_1997-09-30.csv"
FIT_UNTIL = "1997-07-01"  # day 181: 26 weeks of 7 days from 1997-01-01
FIT_DAYS, ALL_DAYS = 182, 273
FIT = ["mechanics.purchase.purchase_rate.r=0.05..2",
       "mechanics.purchase.purchase_rate.alpha=0.5..40",
       "mechanics.purchase.dropout.a=0.05..5",
       "mechanics.purchase.dropout.b=0.2..20"]


def scenario(size: int) -> dict:
    """Observed arrivals + BG/NBD-style purchases in weekly units (the acquisition is the
    first order, as in the paper); starting values are the centre of the box."""
    return {"name": "cdnow", "seed": 1997, "days": FIT_DAYS, "market": {"size": size},
            "mechanics": {
                "arrivals": {"type": "observed_arrivals", "counts": [0]},
                "purchase": {"type": "purchase_dropout",
                             "purchase_rate": {"r": 0.5, "alpha": 5.0, "time_unit_days": 7.0,
                                               "link": "poisson"},
                             "dropout": {"a": 1.0, "b": 3.0},
                             "order_value": {"model": "gamma", "shape": 2.0, "scale": 18.0},
                             "purchase_on_acquisition": True}}}


def weekly(x: np.ndarray) -> np.ndarray:
    return np.add.reduceat(x, np.arange(0, len(x), 7))


def mape(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - actual) / actual) * 100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=210)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--executor", default="processes:2")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "calibrate.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    data_path = DATA
    keep = int(os.environ.get("GROWTHSIM_BENCH_USERS", "0"))
    work = Path(tempfile.mkdtemp(prefix="bench-calibrate-"))
    if keep:
        raw = pd.read_csv(DATA)
        step = max(1, raw["customer_id"].nunique() // keep)
        data_path = work / "cdnow_small.csv"
        raw[raw["customer_id"] % step == 0].to_csv(data_path, index=False)
    full = load_observed(data_path, salt_folder=work)
    fit_data = load_observed(data_path, until=FIT_UNTIL, salt_folder=work)
    ingest = time.perf_counter() - started
    size = int(sum(v.sum() for v in fit_data.arrivals.values()))
    base = validate_scenario(scenario(size), "<bench>")
    with make_executor(args.executor) as pool:
        t0 = time.perf_counter()
        cal = calibrate(base, fit_data, FIT, pool, work / "calibration",
                        targets_text="repeat_purchases", trials=args.trials,
                        replicates=args.replicates)
        fit_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        fc = forecast(cal.fitted, cal.posterior, ALL_DAYS - FIT_DAYS, pool, draws=20,
                      replicates=5, observed=full, metrics=["repeat_purchases"])
        forecast_seconds = time.perf_counter() - t0
    actual = weekly(full.daily["repeat_purchases"].to_numpy())
    table = fc.table[fc.table["metric"] == "repeat_purchases"].sort_values("week")
    sim_mean = table["mean"].to_numpy()
    inside = (actual >= table["lo"].to_numpy()) & (actual <= table["hi"].to_numpy())
    # closed form on the same 26 weeks
    t0 = time.perf_counter()
    rfm = bgnbd.rfm(fit_data.customers)
    model = bgnbd.fit(rfm["x"].to_numpy(), rfm["t_x"].to_numpy(), rfm["T"].to_numpy())
    bg_seconds = time.perf_counter() - t0
    bg = bgnbd.cohort_weekly_repeats(model, fit_data.customers["first_day"].to_numpy(), ALL_DAYS)
    fit_w, hold_w = slice(0, 26), slice(26, 39)
    result = {
        "what": "CDNOW cohort (Fader, Hardie & Lee 2005): fit weeks 1-26, holdout weeks 27-39",
        "customers": size, "wall_seconds": round(time.perf_counter() - started, 1),
        "ingest_seconds": round(ingest, 1), "calibrate_seconds": round(fit_seconds, 1),
        "forecast_seconds": round(forecast_seconds, 1), "bgnbd_seconds": round(bg_seconds, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "executor": args.executor, "trials": args.trials, "replicates": args.replicates,
        "optimizer": cal.doc["optimizer"],
        "simulated": {
            "params": cal.best, "posterior90": {k: v["interval90"] for k, v in
                                                cal.doc["posterior"]["params"].items()},
            "in_sample_mape_weekly_repeats": mape(sim_mean[fit_w], actual[fit_w]),
            "holdout_mape_weekly_repeats": mape(sim_mean[hold_w], actual[hold_w]),
            "holdout_cumulative_repeats": float(sim_mean[hold_w].sum()),
            "holdout_weeks_inside_90_band": int(inside[hold_w].sum()),
            "early_warnings": fc.warnings},
        "bgnbd_mle": {
            "params": {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b},
            "log_likelihood": model.log_likelihood,
            "in_sample_mape_weekly_repeats": mape(bg[fit_w], actual[fit_w]),
            "holdout_mape_weekly_repeats": mape(bg[hold_w], actual[hold_w]),
            "holdout_cumulative_repeats": float(bg[hold_w].sum())},
        "actual_holdout_cumulative_repeats": float(actual[hold_w].sum()),
        "weekly": {"actual": actual.tolist(), "simulated_mean": sim_mean.tolist(),
                   "simulated_lo": table["lo"].tolist(), "simulated_hi": table["hi"].tolist(),
                   "bgnbd": bg.tolist()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "weekly"}, indent=2))


if __name__ == "__main__":
    main()
