"""Parameter recovery: data simulated at known BG/NBD-style parameters, fitted back by
`calibrate`, and the coverage of the posterior intervals counted. One definition serves the
suite's small check (tests/experiments/calibration/test_calibrate.py) and the larger study
(`study`, run by benchmarks/bench_coverage.py), so both measure the same thing.

The truth: 6,000 users arriving evenly over three weeks, twelve weeks observed (weekly repeat
purchases and churned users), each seed's parameters drawn around r = 0.5, alpha = 10, a = 0.8,
b = 3 (close to the CDNOW fit, in days) by a factor exp(U(-0.3, 0.3)). The boxes' log-centres,
where the optimisers start, lie 0.2-0.5 (log) away from these: a truth at the start would flatter
weakly identified directions, where the fit barely moves (a first study with the truth at the
box centres measured mean z^2 0.3 for four parameters for that reason). A seed draws one
observed data set (scenario seed 2000 + seed, replicate 0); the fit uses scenario seed 1, so its
simulations share no random numbers with the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.calibration.calibrate import calibrate
from experiments.calibration.observed import load_observed
from experiments.runs.evaluator import Task, TaskOutcome, evaluate
from experiments.runs.executors import make_executor
from sim.aggregation import daily_table
from sim.engine import simulate
from sim.metrics import daily_metrics
from sim.scenario import Scenario, validate_scenario

P = "mechanics.purchase."
TRUTH = {P + "purchase_rate.r": 0.5, P + "purchase_rate.alpha": 10.0, P + "dropout.a": 0.8,
         P + "dropout.b": 3.0}
BOX = {P + "purchase_rate.r": "0.1..4", P + "purchase_rate.alpha": "2..80",
       P + "dropout.a": "0.2..8", P + "dropout.b": "0.5..40"}
JITTER = 0.3  # each seed's truth: TRUTH x exp(U(-JITTER, JITTER))
FITTED = {1: [P + "dropout.a"], 2: [P + "dropout.a", P + "purchase_rate.alpha"], 4: list(TRUTH)}
TARGETS = "repeat_purchases,churned_users"


def truth_of(seed: int) -> dict[str, float]:
    """The parameters seed `seed` simulates its observed data at."""
    rng = np.random.default_rng(7_000 + seed)
    return {k: v * math.exp(rng.uniform(-JITTER, JITTER)) for k, v in TRUTH.items()}


def truth_scenario(seed: int, size: int = 6000, weeks: int = 12,
                   truth: dict[str, float] | None = None) -> Scenario:
    """The data-generating scenario (also the fit's base, with another seed)."""
    truth = truth or TRUTH
    per_day = size // 21
    return validate_scenario({
        "name": "recovery", "seed": seed, "days": 7 * weeks, "market": {"size": per_day * 21},
        "mechanics": {
            "arrivals": {"type": "observed_arrivals", "counts": [per_day] * 21},
            "purchase": {"type": "purchase_dropout",
                         "purchase_rate": {"r": truth[P + "purchase_rate.r"],
                                           "alpha": truth[P + "purchase_rate.alpha"]},
                         "dropout": {"a": truth[P + "dropout.a"], "b": truth[P + "dropout.b"]},
                         "order_value": {"model": "gamma", "shape": 2.0, "scale": 10.0},
                         "purchase_on_acquisition": True}}}, "<recovery>")


DAILY_TRUTH = {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 2.5}  # weekly rates, as CDNOW's fit
DAILY_FIT = [f"{P}purchase_rate.{k}=0.05..20" for k in ("r", "alpha")] + [
    f"{P}dropout.{k}=0.05..20" for k in ("a", "b")]


def daily_truth_scenario(size: int, seed: int, days: int) -> Scenario:
    """The truth of the likelihood's checks (tests/experiments/calibration/test_customers.py
    and benchmarks/bench_likelihood_coverage.py): customers join on their own over the first
    weeks (q = 0, so they are independent) and buy as BG/NBD in daily steps at DAILY_TRUTH."""
    return validate_scenario({
        "name": "daily_truth", "seed": seed, "days": days, "market": {"size": size},
        "mechanics": {
            "acquisition": {"type": "bass_acquisition", "p": 0.03, "q": 0.0},
            "purchase": {"type": "purchase_dropout", "purchase_on_acquisition": True,
                         "purchase_rate": {"r": DAILY_TRUTH["r"], "alpha": DAILY_TRUTH["alpha"],
                                           "time_unit_days": 7.0, "link": "poisson"},
                         "dropout": {"a": DAILY_TRUTH["a"], "b": DAILY_TRUTH["b"]},
                         "order_value": {"model": "gamma", "shape": 2.0, "scale": 18.0}}}},
        "<daily truth>")


def observed_file(seed: int, folder: Path, size: int = 6000, weeks: int = 12) -> Path:
    """One observed data set drawn from the truth, as a daily metrics CSV."""
    d = daily_metrics(daily_table(simulate(truth_scenario(2000 + seed, size, weeks,
                                                          truth_of(seed)), 0)))
    d.insert(0, "date", pd.date_range("2025-01-01", periods=len(d)).strftime("%Y-%m-%d"))
    path = folder / f"observed-{seed}.csv"
    d[["date", "new_users", "repeat_purchases", "churned_users"]].to_csv(path, index=False)
    return path


def recover(p: int, seed: int, folder: Path, *, size: int = 6000, weeks: int = 12,
            trials: int = 12, replicates: int = 2, design: int | None = None, stages: int = 3,
            executor: str = "serial") -> list[dict[str, Any]]:
    """Fit p of the four parameters to one simulated data set; one record per parameter:
    truth, posterior mean and sd (transformed scale), z, and whether the 90% / 50% intervals
    hold the truth."""
    names = FITTED[p]
    truth = truth_of(seed)  # the fit's base carries it too: for the parameters not fitted
    folder.mkdir(parents=True, exist_ok=True)
    path = observed_file(seed, folder, size, weeks)
    with make_executor(executor) as pool:
        c = calibrate(truth_scenario(1, size, weeks, truth), load_observed(path,
                                                                          salt_folder=folder),
                      [f"{n}={BOX[n]}" for n in names], pool, folder / "cal",
                      targets_text=TARGETS, trials=trials, replicates=replicates,
                      noise_replicates=2, design=design, stages=stages, draws=20,
                      check_fit=False)  # intervals only: the draws' fit check is not needed
    records = []
    for n in names:
        post = c.doc["posterior"]["params"][n]
        value = truth[n]
        z = (math.log(value) - math.log(post["mean"])) / post["sd_transformed"]
        records.append({"p": p, "seed": seed, "param": n.removeprefix(P), "truth": value,
                        "estimate": post["estimate"], "mean": post["mean"],
                        "sd_transformed": post["sd_transformed"], "z": z,
                        "in90": bool(post["interval90"][0] <= value <= post["interval90"][1]),
                        "in50": bool(post["interval50"][0] <= value <= post["interval50"][1]),
                        "ess": c.doc["posterior"]["importance_ess"]})
    return records


def study(ps: list[int], seeds: list[int], folder: Path, executor: Executor, *,
          stages: int = 3, design: int | None = None,
          on_outcome: Callable[[TaskOutcome], None] | None = None,
          ) -> tuple[dict[int, list[dict[str, Any]]], list[str]]:
    """`recover` for every (p, seed), one serial calibration per task through the evaluator (so
    the numbers are the same whatever the executor): records per p in seed order, and the
    tasks that failed (reported, the others complete). `on_outcome` sees each as it finishes
    (to write partial results)."""
    run = partial(recover, stages=stages, design=design)
    tasks = [Task(p, seed, run, (p, seed, folder / f"p{p}-s{seed}")) for seed in seeds
             for p in ps]
    outcomes = evaluate(executor, tasks, on_outcome=on_outcome)
    records: dict[int, list[dict[str, Any]]] = {p: [] for p in ps}
    for outcome in outcomes:
        if outcome.ok:
            records[outcome.task.point] += outcome.value
    return records, [o.describe() for o in outcomes if not o.ok]


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage of the 90% and 50% intervals with binomial standard errors (per interval and,
    since one seed's intervals are correlated, per seed: the share of seeds' mean hits), and the
    mean of z^2 (about 1 when the spread is right, a little more for t-shaped posteriors)."""
    frame = pd.DataFrame(records)
    n = len(frame)
    seeds = frame["seed"].nunique()
    out: dict[str, Any] = {"intervals": n, "seeds": seeds}
    for level in (90, 50):
        rate = float(frame[f"in{level}"].mean())
        nominal = level / 100
        per_seed = frame.groupby("seed")[f"in{level}"].mean()
        out[f"coverage{level}"] = rate
        out[f"coverage{level}_hits"] = int(frame[f"in{level}"].sum())
        out[f"coverage{level}_se_nominal"] = math.sqrt(nominal * (1 - nominal) / n)
        out[f"coverage{level}_se_seed_clustered"] = float(per_seed.std(ddof=1) / math.sqrt(
            seeds)) if seeds > 1 else float("nan")
    out["mean_z2"] = float(np.mean(frame["z"] ** 2))
    out["median_abs_z"] = float(np.median(np.abs(frame["z"])))
    out["by_param"] = {name: {"coverage90": float(g["in90"].mean()),
                              "coverage50": float(g["in50"].mean()),
                              "mean_z2": float(np.mean(g["z"] ** 2)),
                              "mean_sd_transformed": float(g["sd_transformed"].mean())}
                       for name, g in frame.groupby("param")}
    return out
