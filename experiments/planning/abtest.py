"""In-market A/B tests: what an analyst would estimate, what is true, and the bias between.

All arms live in one simulated market, so a treated user's shares reach control users as they
would in reality (interference). For each design (randomisation unit, market size) and
replicate, one task simulates the markets of the design with common random numbers (same seed,
same replicate, same arm labels, so the same graph, assignment and streams):

* mixed: the experiment as written. The **estimated effect** of each treatment arm is the
  user-level comparison with the control: per enrolled user, the primary metric summed over
  the test window. Unit user: a Welch t test on per-user values (a ratio metric: the delta
  method on per-user numerator and denominator). Unit cluster or ego: the same per-user mean,
  tested with the delta method on unit totals (sum of the metric / users per unit), i.e.
  cluster-robust. With several treatments each is tested at alpha / (treatments)
  (Bonferroni), so the family of comparisons keeps alpha.
* one launch market per treatment, and an all-control market: every user of the market
  (enrolled or left out by a partial `enrolment`) gets that arm's values from the start day.
  The **true global effect** is the per-eligible-user difference between a treatment's launch
  market and the all-control market; the **bias** is estimated minus true, so it holds what
  interference and partial enrolment cost. The all-control market, which still carries the
  arm labels, is also an **A/A test**: the same analysis must reject at the same alpha.

Over R replicates: empirical power (rejections in the mixed market), the A/A rejection rate and
CI coverage of the true effect (mean over replicates), each with its Monte Carlo standard
error, next to the analytic power of `experiments.planning.solver.solve` for the same baseline,
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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from experiments.planning.ab_reading import compare, metric_values, moments, pooled_mean, user_frame
from experiments.runs.design import point_scenario
from experiments.runs.evaluator import Task, all_values, evaluate, stop_at_failure
from sim.engine import UserTally, simulate
from sim.errors import InputError, did_you_mean
from sim.graph_cache import GraphCache
from sim.metrics import METRICS, counter_columns
from sim.planning import user_events
from sim.scenario import Scenario, validate_scenario

UNITS = ("user", "cluster", "ego")


# --- inputs ------------------------------------------------------------------------------------


def per_user_problem(scenario: Scenario, name: str) -> str | None:
    """Why a metric cannot be compared per user in this scenario (None if it can)."""
    if name not in METRICS:
        return (f"unknown metric {name!r}{did_you_mean(name, METRICS)}; expected one of: "
                f"{', '.join(sorted(METRICS))}")
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
    """A design's market, validated like a scenario file (so an arm that no longer fits is
    refused with the field that conflicts, not clipped at the run)."""
    try:
        return validate_scenario(data, scenario._source, scenario._lines)
    except InputError as exc:
        size = data["market"]["size"]
        note = f" (with --sizes {size})" if size != scenario.market.size else ""
        raise InputError([replace(p, message=p.message + note) for p in exc.problems]) \
            from None


def at_size(scenario: Scenario, size: int) -> Scenario:
    """The scenario at market size `size`, as `market.size=N` on the command line would load
    it (`point_scenario`, the path of a sweep point's market.size: seed users and budgets
    scaled from the values as written, overridden ones kept). Its notes say what scaling
    changed there (the loaded scenario's own notes left out: said already); at the loaded
    size, the loaded scenario itself."""
    if size == scenario.market.size:
        return scenario
    sized = point_scenario(scenario, {"market.size": size}, option="--sizes")
    sized._notes = [n for n in sized._notes if n not in scenario.notes]
    return sized


def comparison_alpha(alpha: float, treatments: int) -> float:
    """The level each treatment-vs-control comparison is tested at (Bonferroni over the
    treatments, so the family keeps alpha)."""
    return alpha / max(treatments, 1)


@dataclass(frozen=True)
class Markets:
    """The markets of one design: the experiment as written, all-control, and one launch
    market per treatment arm (in the order of the arms)."""

    mixed: Scenario
    control: Scenario
    launches: tuple[Scenario, ...]


def markets(scenario: Scenario, unit: str, size: int, days: int) -> Markets:
    """The markets of a design: the same arms, shares and unit (so the same labels and
    streams), the market at `size` (scaled as `at_size` says), the horizon cut to `days`. The
    counterfactual markets launch one arm (`experiment.launch`): they are the mixed market,
    draw for draw, until start_day, and differ only by the arms' settings from it."""
    data = at_size(scenario, size).model_dump(mode="python")
    data["experiment"]["unit"] = unit
    data["experiment"]["duration_days"] = None
    data["days"] = days
    arms = data["experiment"]["arms"]

    def launched(name: str | None) -> Scenario:
        return _rebuild(scenario, {**data, "experiment": {**data["experiment"],
                                                          "launch": name}})

    return Markets(launched(None), launched(arms[0]["name"]),
                   tuple(launched(a["name"]) for a in arms[1:]))


@dataclass(frozen=True)
class AbTask:
    """One (design, replicate): picklable, run anywhere by `run_ab_task`."""

    design: int
    unit: str
    size: int
    replicate: int
    markets: Markets
    metrics: tuple[str, ...]
    durations: tuple[int, ...]
    alpha: float = 0.05



def run_ab_tasks(tasks: tuple[AbTask, ...]) -> list[dict[str, Any]]:
    """The designs of one market size and replicate, in turn, on one friendship graph (a
    graph depends on the size, the seed and the replicate, not on the unit of the design:
    built once here instead of once per design)."""
    graphs = GraphCache(capacity=1)
    return [row for task in tasks for row in run_ab_task(task, graphs)]


def run_ab_task(task: AbTask, graphs: GraphCache | None = None) -> list[dict[str, Any]]:
    """Simulate the markets of one (design, replicate) and analyse every duration, metric and
    treatment: one row each with the estimate, its test, the true effect and the A/A test."""
    started = time.perf_counter()
    mixed = task.markets.mixed
    exp = mixed.experiment
    assert exp is not None
    events = sorted({c.removesuffix("_amount") for m in task.metrics
                     for c in counter_columns(m)} & set(user_events(mixed)))
    checkpoints = tuple(exp.start_day + d - 1 for d in task.durations)
    tally = UserTally(tuple(events), exp.start_day, checkpoints, cohorts=False)
    if graphs is None:  # every market of a design is the same users: one graph
        graphs = GraphCache(capacity=1)
    markets = [("mixed", mixed), ("control", task.markets.control)] + [
        (f"launch:{arm}", s) for arm, s in zip(_treatments(mixed), task.markets.launches,
                                              strict=True)]
    runs = {name: simulate(s, task.replicate, tally=tally, graphs=graphs).extras
            for name, s in markets}
    rows = [row for duration, last in zip(task.durations, checkpoints, strict=True)
            for row in _duration_rows(task, runs, events, duration, last)]
    for row in rows:
        row["seconds"] = time.perf_counter() - started
    return rows


def _treatments(scenario: Scenario) -> list[str]:
    exp = scenario.experiment
    assert exp is not None
    return [a.name for a in exp.arms[1:]]


def _duration_rows(task: AbTask, runs: dict[str, dict[str, np.ndarray]], events: list[str],
                   duration: int, last: int) -> list[dict[str, Any]]:
    """One row per metric and treatment for a test read on day `last`: who is eligible in
    each market, then the comparison of the arms, the A/A test and the true effect."""
    exp = task.markets.mixed.experiment
    assert exp is not None
    eligible = {}
    for name, extras in runs.items():
        joined = extras["user.acquired_day"]
        eligible[name] = np.ones(len(joined), bool) if exp.eligibility == "all" else (
            (joined >= exp.start_day) & (joined <= last))
    frames = {name: user_frame(extras, events, last) for name, extras in runs.items()}
    labels = {name: runs[name]["user.arm"][eligible[name]] for name in ("mixed", "control")}
    units = {name: None if task.unit == "user" else runs[name]["user.unit"][eligible[name]]
             for name in ("mixed", "control")}
    enrolled = int((labels["mixed"] < len(exp.arms)).sum())
    rows = []
    for metric in task.metrics:  # each market's per-user values once, for every treatment
        values = {name: _subset(metric_values(frames[name], metric), eligible[name])
                  for name in runs}
        rows += [{"design": task.design, "unit": task.unit, "size": task.size,
                  "replicate": task.replicate, "duration": duration, "metric": metric,
                  "arm": name, "n_enrolled": enrolled,
                  **_comparison(task, k, values, labels, units, f"launch:{name}")}
                 for k, name in enumerate(_treatments(task.markets.mixed), start=1)]
    return rows


def _comparison(task: AbTask, k: int, values: dict[str, tuple[np.ndarray, np.ndarray | None]],
                labels: dict[str, np.ndarray], units: dict[str, np.ndarray | None],
                launch: str) -> dict[str, Any]:
    """Treatment arm `k` against the control: the test in the mixed market, the A/A test in
    the all-control market (same labels), the truth from the treatment's launch market."""
    alpha = comparison_alpha(task.alpha, len(task.markets.launches))
    test = _pair_test(values["mixed"], labels["mixed"], units["mixed"], k, alpha)
    aa = _pair_test(values["control"], labels["control"], units["control"], k, alpha)
    true_t, true_c = pooled_mean(*values[launch]), pooled_mean(*values["control"])
    return dict(
        n_control=int((labels["mixed"] == 0).sum()),
        n_treatment=int((labels["mixed"] == k).sum()),
        estimate=test.absolute_effect if test else math.nan,
        se=test.se if test else math.nan,
        ci_lower=test.ci_lower if test else math.nan,
        ci_upper=test.ci_upper if test else math.nan,
        p_value=test.p_value if test else math.nan,
        reject=bool(test is not None and test.p_value < alpha),
        aa_estimate=aa.absolute_effect if aa else math.nan,
        aa_p_value=aa.p_value if aa else math.nan,
        aa_reject=bool(aa is not None and aa.p_value < alpha),
        true_treatment=true_t, true_control=true_c, true_effect=true_t - true_c,
        **moments(values["control"], values[launch], units["control"]))


def _subset(values: tuple[np.ndarray, np.ndarray | None],
            keep: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The numerator (and denominator, for a ratio) of the users in `keep`."""
    x, y = values
    return x[keep], None if y is None else y[keep]


def _pair_test(values: tuple[np.ndarray, np.ndarray | None], arm: np.ndarray,
               unit: np.ndarray | None, k: int, alpha: float) -> Any:
    """Arm k against the control (arm 0), everyone else left out."""
    keep = np.isin(arm, (0, k))
    x, y = _subset(values, keep)
    return compare(x, y, (arm[keep] == k).astype(np.int8),
                   None if unit is None else unit[keep], alpha)


# --- many tasks through the evaluator ----------------------------------------------------------


def plan_tasks(scenario: Scenario, units: Iterable[str], sizes: Iterable[int],
               durations: tuple[int, ...], replicates: int, alpha: float) -> list[Task]:
    """One evaluator task per (market size, replicate), holding every design of that size: its
    point is the size's position, and `run_ab_tasks` shares the graph among the designs."""
    metrics = tuple(check_ab(scenario))
    exp = scenario.experiment
    assert exp is not None
    days = exp.start_day + max(durations)
    units, sizes = list(units), list(sizes)
    designs = {(unit, size): markets(scenario, unit, size, days) for unit in units
               for size in sizes}
    number = {key: d for d, key in enumerate((u, s) for u in units for s in sizes)}
    return [Task(k, r, run_ab_tasks, (tuple(
                AbTask(number[unit, size], unit, size, r, designs[unit, size], metrics,
                       durations, alpha) for unit in units),))
            for r in range(replicates) for k, size in enumerate(sizes)]


def simulate_ab(scenario: Scenario, executor: Executor, *, units: Iterable[str] = ("user",),
                sizes: Iterable[int] | None = None, durations: Iterable[int] | None = None,
                replicates: int = 100, alpha: float = 0.05,
                progress: Callable[[int], None] | None = None,
                say: Callable[[Scenario], object] | None = None) -> pd.DataFrame:
    """Every (design, replicate) row; see `summarise` for the figures over replicates. Every
    replicate counts, so the first task that fails stops the rest (TaskError names it).
    `say` gets the scenario at each of `sizes` other than its own, before anything runs: its
    notes tell what scaling changed there, to be said as the loaded scenario's are."""
    check_ab(scenario)
    units = list(units)
    for unit in units:
        if unit not in UNITS:
            raise InputError([scenario.problem(("experiment", "unit"), f"unknown unit "
                                               f"{unit!r}; expected one of: {', '.join(UNITS)}")])
    chosen = check_durations(scenario, durations or default_durations(scenario))
    sizes = list(sizes or [scenario.market.size])
    for size in dict.fromkeys(sizes) if say is not None else ():
        if size != scenario.market.size:
            say(at_size(scenario, size))
    tasks = plan_tasks(scenario, units, sizes, chosen, replicates, alpha)
    per_task = len(units)  # a task holds every design of its size
    tick = None if progress is None else (lambda done, total, failed: progress(per_task))
    outcomes = evaluate(executor, tasks, on_outcome=stop_at_failure, progress=tick)
    rows = [row for result in all_values(outcomes) for row in result]
    return pd.DataFrame(rows).sort_values(["design", "duration", "metric", "arm",
                                           "replicate"], ignore_index=True)
