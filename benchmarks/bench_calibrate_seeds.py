"""Is the CDNOW fit something a team can bet on? The calibration of `bench_calibrate.py`
repeated over 5 seeds on two splits of weeks 1-39 (fit 1-20 / forecast 21-39, fit 1-26 /
forecast 27-39): the holdout total and its 90% band, the spread of the forecasts across seeds,
weekly MAPE against the closed-form BG/NBD on the same split, and per-customer expected orders
in the holdout (MAE, RMSE, correlation) against BG/NBD's conditional expectation (issue 16).
Writes benchmarks/results/calibrate_seeds.json; the calibration folders stay in --work so the
per-customer step can be re-run alone (--evaluate-only).

Usage: python benchmarks/bench_calibrate_seeds.py [--seeds 1,2,3,4,5] [--weeks 20,26]
       [--trials 210] [--executor processes:2] [--work DIR] [--evaluate-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_calibrate import DATA, FIT, mape, scenario, weekly

from experiments.calibration import bgnbd
from experiments.calibration.calibrate import calibrate
from experiments.calibration.customers import accuracy, holdout_orders, risk_table
from experiments.calibration.forecast import forecast, load_posterior
from experiments.calibration.observed import load_observed
from experiments.runs.executors import make_executor
from sim.scenario import load_scenario, validate_scenario

ROOT = Path(__file__).resolve().parents[1]
ALL_DAYS = 273
START = pd.Timestamp("1997-01-01")


def last_fitted_date(weeks: int) -> str:
    """--until is inclusive: the last day of week `weeks` (1997-07-01 for 26 weeks)."""
    return (START + pd.Timedelta(days=7 * weeks - 1)).date().isoformat()


def fit_one(weeks: int, seed: int, work: Path, trials: int, executor: str,
            method: str) -> dict:
    """Calibrate on the first `weeks` weeks with this seed, forecast the rest to week 39."""
    until = last_fitted_date(weeks)
    fit_data = load_observed(DATA, until=until, salt_folder=work)
    full = load_observed(DATA, salt_folder=work)
    size = int(sum(v.sum() for v in fit_data.arrivals.values()))
    base = validate_scenario({**scenario(size), "seed": seed, "days": 7 * weeks}, "<bench>")
    started = time.perf_counter()
    with make_executor(executor) as pool:
        cal = calibrate(base, fit_data, FIT, pool, work / f"{method}-w{weeks}-s{seed}",
                        targets_text="repeat_purchases", trials=trials, replicates=2,
                        method=method)
        seconds = time.perf_counter() - started
        fc = forecast(cal.fitted, cal.posterior, ALL_DAYS - 7 * weeks, pool, draws=40,
                      replicates=5, observed=full, metrics=["repeat_purchases"])
    table = fc.table[fc.table["metric"] == "repeat_purchases"].sort_values("week")
    actual = weekly(full.daily["repeat_purchases"].to_numpy())
    hold = slice(weeks, 39)
    total = fc.doc["totals"]["repeat_purchases"]
    return {"method": method, "weeks": weeks, "seed": seed,
            "calibrate_seconds": round(seconds, 1),
            "folder": str(cal.folder), "params": cal.best,
            "draws_kept": cal.doc["posterior"]["draws"],
            "draw_check": cal.doc["posterior"].get("draw_check"),
            "holdout_total": total, "actual_total": float(actual[hold].sum()),
            "holdout_mape": mape(table["mean"].to_numpy()[hold], actual[hold]),
            "total_error": total["median"] / float(actual[hold].sum()) - 1}


def bgnbd_split(weeks: int, work: Path) -> dict:
    until = last_fitted_date(weeks)
    fit_data = load_observed(DATA, until=until, salt_folder=work)
    full = load_observed(DATA, salt_folder=work)
    rfm = bgnbd.rfm(fit_data.customers)
    model = bgnbd.fit(rfm["x"].to_numpy(), rfm["t_x"].to_numpy(), rfm["T"].to_numpy())
    cohort = bgnbd.cohort_weekly_repeats(model, fit_data.customers["first_day"].to_numpy(),
                                         ALL_DAYS)
    actual = weekly(full.daily["repeat_purchases"].to_numpy())
    hold = slice(weeks, 39)
    predicted = bgnbd.expected_orders(model, rfm["x"].to_numpy(), rfm["t_x"].to_numpy(),
                                      rfm["T"].to_numpy(), (ALL_DAYS - 7 * weeks) / 7.0)
    truth = holdout_orders(fit_data.customers, full.customers)
    return {"params": {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b},
            "holdout_mape": mape(cohort[hold], actual[hold]),
            "holdout_total": float(cohort[hold].sum()),
            "total_error": float(cohort[hold].sum()) / float(actual[hold].sum()) - 1,
            "per_customer": accuracy(predicted, truth)}


def per_customer(run: dict, work: Path) -> dict:
    """The calibrated model's conditional expected orders per customer in the holdout."""
    weeks = run["weeks"]
    folder = Path(run["folder"])
    fitted_path = next(folder.rglob("fitted.yaml"))
    fitted = load_scenario(fitted_path)
    posterior, _ = load_posterior(fitted_path, fitted)
    customers = pd.read_parquet(fitted_path.parent / "customers.parquet")
    full = load_observed(DATA, salt_folder=work)
    table = risk_table(fitted, customers, posterior, ALL_DAYS - 7 * weeks)
    truth = holdout_orders(table.rename(columns={"customer": "user"}), full.customers)
    return accuracy(table["expected_orders"].to_numpy(), truth)


def summary(runs: list[dict], splits: dict[int, dict], method: str) -> dict:
    out = {}
    for weeks, bg in splits.items():
        mine = [r for r in runs if r["weeks"] == weeks and r["method"] == method]
        medians = np.array([r["holdout_total"]["median"] for r in mine])
        out[f"fit 1-{weeks}"] = {
            "seeds": len(mine), "actual_total": mine[0]["actual_total"] if mine else None,
            "total_error_each": [round(r["total_error"], 4) for r in mine],
            "spread_of_totals": float((medians.max() - medians.min()) / medians.mean())
            if len(mine) else None,
            "band_each": [(round(r["holdout_total"]["lo"]), round(r["holdout_total"]["hi"]))
                          for r in mine],
            "band_contains_actual": [r["holdout_total"]["lo"] <= r["actual_total"]
                                     <= r["holdout_total"]["hi"] for r in mine],
            "band_half_width_share": [round((r["holdout_total"]["hi"] - r["holdout_total"]["lo"])
                                            / 2 / r["holdout_total"]["median"], 4)
                                      for r in mine],
            "holdout_mape_each": [round(r["holdout_mape"], 2) for r in mine],
            "bgnbd": bg,
            "per_customer_each": [r.get("per_customer") for r in mine]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--weeks", default="20,26")
    parser.add_argument("--trials", type=int, default=210)
    parser.add_argument("--methods", default="likelihood,msm")
    parser.add_argument("--executor", default="processes:2")
    parser.add_argument("--work", default=str(ROOT / "runs" / "bench_calibrate_seeds"))
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"
                                             / "calibrate_seeds.json"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load_observed(DATA, salt_folder=work).keep_salt()  # one salt: ids link across splits
    runs_file = work / "runs.json"
    runs = json.loads(runs_file.read_text()) if runs_file.exists() else []
    for run in runs:
        run.setdefault("method", "msm")
    methods = args.methods.split(",")
    if not args.evaluate_only:
        done = {(r["method"], r["weeks"], r["seed"]) for r in runs}
        for method in methods:
            for weeks in (int(w) for w in args.weeks.split(",")):
                for seed in (int(s) for s in args.seeds.split(",")):
                    if (method, weeks, seed) in done:
                        continue
                    runs.append(fit_one(weeks, seed, work, args.trials, args.executor, method))
                    runs_file.write_text(json.dumps(runs, indent=2))
                    print(json.dumps({k: runs[-1][k] for k in (
                        "method", "weeks", "seed", "total_error", "holdout_mape")}), flush=True)
    for run in runs:
        run["per_customer"] = per_customer(run, work)
    splits = {w: bgnbd_split(w, work) for w in sorted({r["weeks"] for r in runs})}
    result = {"what": __doc__.splitlines()[0], "trials": args.trials,
              "machine": f"{platform.machine()} {os.cpu_count()} cores, "
                         f"{platform.python_version()}",
              "methods": {m: summary(runs, splits, m) for m in methods}, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=float), "utf-8")
    print(json.dumps(result["methods"], indent=2, default=float))


if __name__ == "__main__":
    main()
