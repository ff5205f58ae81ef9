"""One point of a design, one replicate: the horizon metrics a sweep, a sensitivity analysis and
an optimisation read from a simulation.

A task is pure and idempotent: the point's scenario and the replicate number fix every random
draw, so an executor may run it twice (a lost worker) and the numbers do not change. Common
random numbers: every point keeps the scenario seed and replicate r uses stream r, so two points
differ by their parameters, not by luck.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np

from experiments.runs.evaluator import Progress, Task, TaskOutcome, evaluate
from sim.aggregation import collect
from sim.engine import simulate
from sim.recorder import Counters
from sim.scenario import Scenario


def horizon_metrics(scenario: Scenario, replicate: int) -> dict[str, float]:
    """Every horizon metric of one replicate, with the market's LTV, LTV/CAC and payback."""
    return market_metrics(scenario, replicate, simulate(scenario, replicate))


def market_metrics(scenario: Scenario, replicate: int, counters: Counters) -> dict[str, float]:
    """`horizon_metrics` of a simulated replicate: the whole market's tables only (a point
    never reads the arm and channel breakdowns, which cost more than the market's)."""
    result = collect(scenario, {replicate: counters}, breakdowns=False)
    row = result.horizon().iloc[0]
    metrics = {k: float(v) for k, v in row.items() if k != "replicate"}
    economics = result.unit_economics()
    whole = economics[economics["channel"] == "all"].iloc[0]
    metrics.update({k: float(v) for k, v in whole.items()
                    if k not in ("replicate", "channel") and k not in metrics})
    return metrics


def point_task(point: int, replicate: int, scenario: Scenario) -> Task:
    return Task(point, replicate, horizon_metrics, (scenario, replicate))


def mean_metrics(executor: Executor, scenarios: list[Scenario], replicates: int,
                 metrics: list[str], progress: Progress | None = None,
                 ) -> tuple[np.ndarray, list[str]]:
    """Mean over replicates (common random numbers) of each metric at each scenario, without a
    run folder: for sensitivity and optimisation. A failed replicate is left out of its point's
    mean (a point whose every replicate failed is NaN) and gives an error text; a metric with
    no value in a replicate that ran (payback never reached) leaves the point's mean without
    one too, rather than averaging the replicates that happened to have one."""
    values, ran, errors = replicate_metrics(executor, scenarios, replicates, metrics, progress)
    return replicate_mean(values, ran), errors


def replicate_metrics(executor: Executor, scenarios: list[Scenario], replicates: int,
                      metrics: list[str], progress: Progress | None = None,
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each metric of each replicate at each scenario, (points, replicates, metrics), NaN where
    it has no value; which replicates ran, (points, replicates, 1); the failures' texts."""
    values = np.full((len(scenarios), replicates, len(metrics)), np.nan)
    ran = np.zeros((len(scenarios), replicates, 1), dtype=bool)
    errors: list[str] = []

    def keep(outcome: TaskOutcome) -> None:
        task = outcome.task
        if outcome.ok:
            values[task.point, task.replicate] = [outcome.value.get(m, np.nan) for m in metrics]
            ran[task.point, task.replicate] = True
        else:
            errors.append(outcome.describe())

    tasks = [point_task(i, r, s) for i, s in enumerate(scenarios) for r in range(replicates)]
    evaluate(executor, tasks, on_outcome=keep, progress=progress)
    return values, ran, errors


def replicate_mean(values: np.ndarray, ran: np.ndarray) -> np.ndarray:
    """The mean over the replicates that ran (`replicate_metrics`); NaN where one of them has
    no value or none ran."""
    with np.errstate(invalid="ignore", divide="ignore"):  # no replicate ran: NaN
        return np.where(ran, values, 0.0).sum(axis=1) / ran.sum(axis=1)
