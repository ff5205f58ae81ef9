"""In-market A/B tests: what an analyst would estimate, what is true, and the bias between.

All arms live in one simulated market, so a treated user's shares reach control users as they
would in reality (interference). For each design (randomisation unit, market size) and
replicate, one task simulates three markets with common random numbers (same seed, same
replicate, same arm labels, so the same graph, assignment and streams):

* mixed: the experiment as written. The **estimated effect** is the user-level comparison of
  the arms: per eligible user, the primary metric summed over the test window. Unit user: a
  Welch t test on per-user values (a ratio metric: the delta method on per-user numerator and
  denominator). Unit cluster or ego: the same per-user mean, tested with the delta method on
  unit totals (sum of the metric / eligible users per unit), i.e. cluster-robust.
* all-treatment and all-control: every arm set to the treatment's (control's) values. The
  **true global effect** is the per-eligible-user difference between the two markets; the
  **bias** is estimated minus true. The all-control market, which still carries the arm labels,
  is also an **A/A test**: the same analysis must reject at alpha.

Over R replicates: empirical power (rejections in the mixed market), the A/A rejection rate and
CI coverage of the true effect (mean over replicates), each with its Monte Carlo standard
error, next to the analytic power of `experiments.planning.power.solve` for the same baseline,
variances, arm sizes and effect (with the design effect of the measured intra-cluster
correlation for cluster and ego units). Durations are read from one simulation per task
(per-user totals at several checkpoint days), so every (unit, size, duration) is a design
without extra runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis.analysis import (
    RatioStatistic,
    SampleMeanStatistic,
    TestResult,
    ratio_ztest,
    welch_ttest,
)
from experiments.planning.power import Design, MeanMetric, PowerInputError, RatioMetric, solve
from experiments.runs.executors import map_bounded
from sim.engine import UserTally, simulate, user_events
from sim.errors import InputError
from sim.metrics import METRICS, counter_columns
from sim.scenario import Scenario

UNITS = ("user", "cluster", "ego")


# --- inputs ------------------------------------------------------------------------------------


def per_user_problem(scenario: Scenario, name: str) -> str | None:
    """Why a metric cannot be compared per user in this scenario (None if it can)."""
    if name not in METRICS:
        return f"unknown metric {name!r}; expected one of: {', '.join(sorted(METRICS))}"
    metric = METRICS[name]
    if metric.kind == "stock":
        return f"{name} is a stock (a level on the last day), not a per-user total; use a flow " \
               "such as purchases, gmv or new_users"
    events = set(user_events(scenario))
    allowed = events | {f"{e}_amount" for e in events}
    missing = sorted(c for c in counter_columns(name) if c not in allowed)
    if missing:
        return f"{name} needs {', '.join(missing)}, which no mechanic of this scenario records " \
               "per user (channel costs and stocks have no user)"
    return None


def check_ab(scenario: Scenario) -> list[str]:
    """The experiment block an A/B simulation needs; InputError (located) when it is not."""
    exp = scenario.experiment
    if exp is None:
        raise InputError([scenario.problem(("experiment",), "an A/B simulation needs an "
                                           "experiment: block with arms and a primary_metric")])
    problems = []
    if len(exp.arms) != 2:
        problems.append(scenario.problem(("experiment", "arms"), f"simctl ab compares a "
                                         f"control with one treatment; found {len(exp.arms)} "
                                         "arms"))
    if exp.launch is not None:
        problems.append(scenario.problem(("experiment", "launch"), "simctl ab launches each "
                                         "arm in a market of its own; remove launch"))
    if exp.primary_metric is None:
        problems.append(scenario.problem(("experiment",), "set experiment.primary_metric, "
                                         "e.g. purchases"))
    names = [(("experiment", "primary_metric"), exp.primary_metric)] + [
        (("experiment", "guardrail_metrics", i), m) for i, m in enumerate(exp.guardrail_metrics)]
    for where, name in names:
        if name is None:
            continue
        reason = per_user_problem(scenario, name)
        if reason:
            problems.append(scenario.problem(where, reason))
    if problems:
        raise InputError(problems)
    return [exp.primary_metric, *exp.guardrail_metrics]  # type: ignore[list-item]


def default_durations(scenario: Scenario) -> tuple[int, ...]:
    exp = scenario.experiment
    assert exp is not None
    return (exp.last_day(scenario.days) - exp.start_day + 1,)


def check_durations(scenario: Scenario, durations: Iterable[int]) -> tuple[int, ...]:
    exp = scenario.experiment
    assert exp is not None
    out = tuple(sorted(set(int(d) for d in durations)))
    room = scenario.days - exp.start_day
    bad = [d for d in out if not 1 <= d <= room]
    if bad:
        raise InputError([scenario.problem(("experiment", "duration_days"),
                                           f"durations {bad} do not fit: 1..{room} days from "
                                           f"start_day {exp.start_day} in a {scenario.days}-day "
                                           "horizon")])
    return out


# --- the three markets of a design -------------------------------------------------------------


def _rebuild(scenario: Scenario, data: dict[str, Any]) -> Scenario:
    out = Scenario.model_validate(data)
    out._source, out._lines = scenario._source, scenario._lines
    return out


def markets(scenario: Scenario, unit: str, size: int,
            days: int) -> tuple[Scenario, Scenario, Scenario]:
    """(mixed, all-treatment, all-control) for a design: the same arms, shares and unit (so
    the same labels and streams), the horizon cut to `days`. The two counterfactual markets
    launch one arm (`experiment.launch`): they are the mixed market, draw for draw, until
    start_day, and differ only by the arms' settings from it."""
    data = scenario.model_dump(mode="python")
    data["experiment"]["unit"] = unit
    data["experiment"]["duration_days"] = None
    data["market"]["size"] = size
    data["days"] = days
    arms = data["experiment"]["arms"]
    out = []
    for launch in (None, arms[1]["name"], arms[0]["name"]):
        out.append(_rebuild(scenario, {**data, "experiment": {**data["experiment"],
                                                              "launch": launch}}))
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class AbTask:
    """One (design, replicate): picklable, run anywhere by `run_ab_task`."""

    design: int
    unit: str
    size: int
    replicate: int
    mixed: Scenario
    all_treatment: Scenario
    all_control: Scenario
    metrics: tuple[str, ...]
    durations: tuple[int, ...]
    alpha: float = 0.05


# --- per-user analysis -------------------------------------------------------------------------


def _frame(extras: dict[str, np.ndarray], events: list[str], day: int) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for e in events:
        cols[e] = extras[f"user.{e}@{day}"]
        cols[f"{e}_amount"] = extras[f"user.{e}_amount@{day}"]
    return pd.DataFrame(cols)


def metric_values(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-user values of a flow (numerator, None), or numerator and denominator of a ratio."""
    metric = METRICS[name]
    if metric.kind == "ratio":
        return (METRICS[metric.numerator].daily(frame).to_numpy(dtype=float),  # type: ignore
                METRICS[metric.denominator].daily(frame).to_numpy(dtype=float))  # type: ignore
    return metric.daily(frame).to_numpy(dtype=float), None


def _unit_sums(unit: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
    _, inverse = np.unique(unit, return_inverse=True)
    return [np.bincount(inverse, weights=v) for v in values]


def compare(x: np.ndarray, y: np.ndarray | None, arm: np.ndarray, unit: np.ndarray | None,
            alpha: float) -> TestResult | None:
    """Treatment (arm 1) minus control (arm 0) per eligible user. `unit` None: users are the
    units (Welch t, or the delta method for a ratio); else the delta method on unit totals."""
    try:
        if unit is None:
            c, t = arm == 0, arm == 1
            if y is None:
                return welch_ttest(SampleMeanStatistic.from_values(x[c]),
                                   SampleMeanStatistic.from_values(x[t]), alpha)
            return ratio_ztest(RatioStatistic.from_values(x[c], y[c]),
                               RatioStatistic.from_values(x[t], y[t]), alpha)
        denominator = np.ones_like(x) if y is None else y
        sx, sy, sa, sn = _unit_sums(unit, x, denominator, arm.astype(float), np.ones_like(x))
        unit_arm = np.rint(sa / sn)
        keep = sy > 0
        c, t = keep & (unit_arm == 0), keep & (unit_arm == 1)
        return ratio_ztest(RatioStatistic.from_values(sx[c], sy[c]),
                           RatioStatistic.from_values(sx[t], sy[t]), alpha)
    except (ZeroDivisionError, ValueError, FloatingPointError):
        return None


def icc_anova(values: np.ndarray, unit: np.ndarray) -> tuple[float, float, float]:
    """One-way ANOVA intra-cluster correlation (unequal sizes), mean and CV of cluster sizes."""
    n_i, s_i, q_i = _unit_sums(unit, np.ones_like(values), values, values * values)
    k, n = len(n_i), float(n_i.sum())
    if k < 2 or n <= k:
        return 0.0, float(n / max(k, 1)), 0.0
    grand = s_i.sum() / n
    msb = float(((s_i / n_i - grand) ** 2 * n_i).sum() / (k - 1))
    msw = float((q_i - s_i**2 / n_i).sum() / (n - k))
    n0 = (n - (n_i**2).sum() / n) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    icc = (msb - msw) / denominator if denominator > 0 else 0.0
    return float(min(max(icc, 0.0), 1.0)), float(n_i.mean()), float(n_i.std() / n_i.mean())


def _mean(x: np.ndarray, y: np.ndarray | None) -> float:
    if y is None:
        return float(x.mean()) if len(x) else math.nan
    return float(x.sum() / y.sum()) if y.sum() else math.nan


def run_ab_task(task: AbTask) -> list[dict[str, Any]]:
    """Simulate the three markets of one (design, replicate) and analyse every duration and
    metric: one row each with the estimate, its test, the true effect and the A/A test."""
    started = time.perf_counter()
    exp = task.mixed.experiment
    assert exp is not None
    events = sorted({c.removesuffix("_amount") for m in task.metrics
                     for c in counter_columns(m)} & set(user_events(task.mixed)))
    checkpoints = tuple(exp.start_day + d - 1 for d in task.durations)
    tally = UserTally(tuple(events), exp.start_day, checkpoints)
    runs = {name: simulate(s, task.replicate, tally=tally).extras for name, s in
            (("mixed", task.mixed), ("treatment", task.all_treatment),
             ("control", task.all_control))}
    arm = runs["mixed"]["user.arm"]
    unit = None if task.unit == "user" else runs["mixed"]["user.unit"]
    rows = []
    for duration, last in zip(task.durations, checkpoints, strict=True):
        eligible = {}
        for name, extras in runs.items():
            joined = extras["user.acquired_day"]
            eligible[name] = np.ones(len(joined), bool) if exp.eligibility == "all" else (
                (joined >= exp.start_day) & (joined <= last))
        frames = {name: _frame(extras, events, last) for name, extras in runs.items()}
        for metric in task.metrics:
            row: dict[str, Any] = {"design": task.design, "unit": task.unit, "size": task.size,
                                   "replicate": task.replicate, "duration": duration,
                                   "metric": metric}
            values = {}
            for name in runs:
                x, y = metric_values(frames[name], metric)
                e = eligible[name]
                values[name] = (x[e], None if y is None else y[e])
            e = eligible["mixed"]
            test = compare(*values["mixed"], arm[e], None if unit is None else unit[e],
                           task.alpha)
            ec = eligible["control"]
            aa = compare(*values["control"], arm[ec], None if unit is None else unit[ec],
                         task.alpha)
            true_t, true_c = _mean(*values["treatment"]), _mean(*values["control"])
            row.update(
                n_control=int((arm[e] == 0).sum()), n_treatment=int((arm[e] == 1).sum()),
                estimate=test.absolute_effect if test else math.nan,
                se=test.se if test else math.nan,
                ci_lower=test.ci_lower if test else math.nan,
                ci_upper=test.ci_upper if test else math.nan,
                p_value=test.p_value if test else math.nan,
                reject=bool(test is not None and test.p_value < task.alpha),
                aa_estimate=aa.absolute_effect if aa else math.nan,
                aa_p_value=aa.p_value if aa else math.nan,
                aa_reject=bool(aa is not None and aa.p_value < task.alpha),
                true_treatment=true_t, true_control=true_c, true_effect=true_t - true_c,
                **_moments(values["control"], values["treatment"], arm[ec],
                           None if unit is None else unit[ec]))
            rows.append(row)
    for row in rows:
        row["seconds"] = time.perf_counter() - started
    return rows


def _moments(control: tuple[np.ndarray, np.ndarray | None],
             treatment: tuple[np.ndarray, np.ndarray | None], arm: np.ndarray,
             unit: np.ndarray | None) -> dict[str, float]:
    """What the analytic power needs, measured in the all-control and all-treatment markets."""
    x, y = control
    out = {"var_control": float(x.var(ddof=1)) if len(x) > 1 else math.nan,
           "var_treatment": float(treatment[0].var(ddof=1)) if len(treatment[0]) > 1
           else math.nan}
    if y is not None:
        cov = np.cov(x, y) if len(x) > 1 else np.full((2, 2), math.nan)
        out.update(num_mean=float(x.mean()), den_mean=float(y.mean()), num_var=float(cov[0, 0]),
                   den_var=float(cov[1, 1]), cov=float(cov[0, 1]))
    if unit is not None:
        icc, size, cv = icc_anova(x, unit)
        out.update(icc=icc, cluster_size=size, cluster_cv=cv)
    return out


# --- many tasks through an executor ------------------------------------------------------------


def map_ab(executor: Executor, tasks: Iterable[AbTask],
           on_done: Callable[[AbTask, list[dict[str, Any]]], None]) -> None:
    """Run A/B tasks a bounded window at a time (every worker busy, few scenarios in flight)."""
    map_bounded(executor, run_ab_task, tasks,
                lambda task, future: on_done(task, future.result()))


def plan_tasks(scenario: Scenario, units: Iterable[str], sizes: Iterable[int],
               durations: tuple[int, ...], replicates: int, alpha: float) -> list[AbTask]:
    metrics = tuple(check_ab(scenario))
    exp = scenario.experiment
    assert exp is not None
    days = exp.start_day + max(durations)
    tasks = []
    for d, (unit, size) in enumerate((u, s) for u in units for s in sizes):
        mixed, treated, control = markets(scenario, unit, size, days)
        tasks += [AbTask(d, unit, size, r, mixed, treated, control, metrics, durations, alpha)
                  for r in range(replicates)]
    return tasks


def simulate_ab(scenario: Scenario, executor: Executor, *, units: Iterable[str] = ("user",),
                sizes: Iterable[int] | None = None, durations: Iterable[int] | None = None,
                replicates: int = 100, alpha: float = 0.05,
                progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Every (design, replicate) row; see `summarise` for the figures over replicates."""
    check_ab(scenario)
    units = list(units)
    for unit in units:
        if unit not in UNITS:
            raise InputError([scenario.problem(("experiment", "unit"), f"unknown unit "
                                               f"{unit!r}; expected one of: {', '.join(UNITS)}")])
    chosen = check_durations(scenario, durations or default_durations(scenario))
    tasks = plan_tasks(scenario, units, list(sizes or [scenario.market.size]), chosen,
                       replicates, alpha)
    rows: list[dict[str, Any]] = []

    def keep(_: AbTask, result: list[dict[str, Any]]) -> None:
        rows.extend(result)
        if progress is not None:
            progress(1)

    map_ab(executor, tasks, keep)
    return pd.DataFrame(rows).sort_values(["design", "duration", "metric", "replicate"],
                                          ignore_index=True)


# --- figures over replicates -------------------------------------------------------------------


def _rate(flags: pd.Series) -> tuple[float, float]:
    p, r = float(flags.mean()), len(flags)
    return p, math.sqrt(max(p * (1 - p), 1e-12) / r)


def analytic_power(group: pd.DataFrame, alpha: float) -> float:
    """Power from `power.solve` for the measured baseline, variances, arm sizes and the mean
    true effect (design effect from the measured ICC for cluster and ego units)."""
    delta = float(group["true_effect"].mean())
    n_c, n_t = float(group["n_control"].mean()), float(group["n_treatment"].mean())
    if not (delta and n_c > 1 and n_t > 1) or not math.isfinite(delta):
        return math.nan
    design = Design(alpha=alpha, treatment_ratio=n_t / n_c)
    if "icc" in group and group["icc"].notna().all():
        design = Design(alpha=alpha, treatment_ratio=n_t / n_c,
                        icc=float(group["icc"].mean()),
                        cluster_size=float(group["cluster_size"].mean()),
                        cluster_cv=float(group["cluster_cv"].mean()))
    try:
        if "num_mean" in group and group["num_mean"].notna().all():
            metric: Any = RatioMetric(float(group["num_mean"].mean()),
                                      float(group["den_mean"].mean()),
                                      float(group["num_var"].mean()),
                                      float(group["den_var"].mean()), float(group["cov"].mean()))
        else:
            metric = MeanMetric(sd=math.sqrt(float(group["var_control"].mean())),
                                sd_treatment=math.sqrt(float(group["var_treatment"].mean())),
                                test="t")
        return float(solve(metric, design, n=n_c, mde=delta).power)
    except (PowerInputError, ValueError, ZeroDivisionError):
        return math.nan


def summarise(rows: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per (design, duration, metric): estimate, true effect, bias, power (simulated
    and analytic), A/A rate and coverage, each with its Monte Carlo standard error."""
    out = []
    for (design, duration, metric), g in rows.groupby(["design", "duration", "metric"],
                                                      sort=True):
        r = len(g)
        true = float(g["true_effect"].mean())
        diff = g["estimate"] - g["true_effect"]
        power, power_se = _rate(g["reject"])
        aa, _ = _rate(g["aa_reject"])
        covered = (g["ci_lower"] <= true) & (true <= g["ci_upper"])
        coverage, coverage_se = _rate(covered)
        bias = float(diff.mean())
        out.append({
            "design": int(design), "unit": g["unit"].iloc[0], "size": int(g["size"].iloc[0]),
            "duration": int(duration), "metric": metric, "replicates": r,
            "users": float((g["n_control"] + g["n_treatment"]).mean()),
            "control_mean": float(g["true_control"].mean()),
            "estimate": float(g["estimate"].mean()),
            "estimate_se": float(g["estimate"].std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "true_effect": true,
            "true_effect_se": float(g["true_effect"].std(ddof=1) / math.sqrt(r))
            if r > 1 else math.nan,
            "bias": bias,
            "bias_se": float(diff.std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "relative_bias": bias / true if true else math.nan,
            "power": power, "power_se": power_se,
            "analytic_power": analytic_power(g, alpha),
            "aa_rate": aa, "aa_se": math.sqrt(alpha * (1 - alpha) / r),
            "coverage": coverage, "coverage_se": coverage_se,
            "mean_se": float(g["se"].mean()),
        })
    return pd.DataFrame(out)


def recommend(table: pd.DataFrame, primary: str, target_power: float = 0.8,
              bias_tolerance: float = 0.1) -> dict[str, Any]:
    """The cheapest design (fewest user-days, then shortest) whose simulated power on the
    primary metric reaches the target and whose |bias| is at most `bias_tolerance` times the
    true effect; when none does, say which came closest and why."""
    rows = table[table["metric"] == primary].copy()
    rows["cost"] = rows["users"] * rows["duration"]
    rows["bias_ok"] = rows["relative_bias"].abs() <= bias_tolerance
    rows["power_ok"] = rows["power"] >= target_power
    rule = (f"simulated power >= {target_power:g} on {primary} and |bias| <= "
            f"{bias_tolerance:g} x the true effect; cheapest = fewest enrolled user-days")
    fits = rows[rows["bias_ok"] & rows["power_ok"]].sort_values(["cost", "duration"])
    if len(fits):
        best = fits.iloc[0]
        return {"found": True, "rule": rule, **_design(best),
                "text": f"{best['unit']} randomisation, {int(best['duration'])} days, "
                        f"{best['users']:,.0f} users (market {int(best['size']):,}): power "
                        f"{best['power']:.2f}, bias {best['relative_bias']:+.1%} of the true "
                        "effect"}
    if not len(rows):
        return {"found": False, "rule": rule, "text": "no design was simulated"}
    rows["gap"] = (target_power - rows["power"]).clip(lower=0) + (
        rows["relative_bias"].abs() - bias_tolerance).clip(lower=0).fillna(1.0)
    best = rows.sort_values(["gap", "cost"]).iloc[0]
    why = [] if best["power_ok"] else [f"power {best['power']:.2f} < {target_power:g}"]
    if not best["bias_ok"]:
        why.append(f"bias {best['relative_bias']:+.1%} beyond ±{bias_tolerance:.0%}")
    return {"found": False, "rule": rule, **_design(best),
            "text": f"no design qualifies; closest: {best['unit']}, {int(best['duration'])} "
                    f"days, {best['users']:,.0f} users ({'; '.join(why)}); simulate longer "
                    "durations or a larger market"}


def _design(row: pd.Series) -> dict[str, Any]:
    return {"unit": str(row["unit"]), "duration": int(row["duration"]),
            "users": float(row["users"]), "size": int(row["size"]),
            "power": float(row["power"]), "relative_bias": float(row["relative_bias"])}
