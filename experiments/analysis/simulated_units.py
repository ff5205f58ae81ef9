"""A units file from a simulated market: what the mini-program's warehouse would export after
the scenario's experiment, one row per user in the test, so that `simctl analyze` can be tried
(and checked) on data whose truth is known before it reads a real export."""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from experiments.planning.ab_reading import metric_values, user_frame
from sim.engine import UserTally, simulate
from sim.errors import InputError, Problem
from sim.metrics import METRICS, counter_columns
from sim.planning import user_events
from sim.scenario import Scenario


def default_metrics(scenario: Scenario) -> list[str]:
    """The experiment's primary and guardrail metrics, else purchases and gmv."""
    exp = scenario.experiment
    assert exp is not None
    named = [m for m in [exp.primary_metric, *exp.guardrail_metrics] if m]
    return list(dict.fromkeys(named)) or ["purchases", "gmv"]


def simulated_units(scenario: Scenario, replicate: int = 0,
                    metrics: list[str] | None = None) -> pd.DataFrame:
    """Columns: user, arm (by name), cluster (the randomisation unit), acquired_day, then one
    column per metric (a ratio as its numerator and denominator), totals over the test
    window from `start_day` to its last day. Users in the test as `simctl ab` counts them:
    everyone with eligibility `all`, users acquired in the window with `new_users`, and of
    those only the ones enrolled in an arm (not `not_sampled` under partial enrolment)."""
    exp = scenario.experiment
    if exp is None:
        raise InputError([scenario.problem(("experiment",), "the scenario has no experiment "
                                           "block; add arms to simulate a test's export")])
    names = metrics or default_metrics(scenario)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], METRICS, n=3)
        raise InputError([Problem("--metric", None, "", f"{unknown[0]!r} is not a metric; "
                                  + (f"did you mean {', '.join(close)}? " if close else "")
                                  + "every metric is in docs/metrics.md")])
    last = exp.last_day(scenario.days)
    events = sorted({c.removesuffix("_amount") for m in names for c in counter_columns(m)}
                    & set(user_events(scenario)))
    extras = simulate(scenario, replicate,
                      tally=UserTally(tuple(events), exp.start_day, (last,), cohorts=False),
                      ).extras
    joined = extras["user.acquired_day"]
    enrolled = np.ones(len(joined), bool) if exp.eligibility == "all" else (
        (joined >= exp.start_day) & (joined <= last))
    enrolled &= extras["user.arm"] < len(exp.arms)
    frame = user_frame(extras, events, last)
    arm_names = np.array(scenario.arm_names)
    columns: dict[str, np.ndarray] = {
        "user": np.flatnonzero(enrolled), "arm": arm_names[extras["user.arm"][enrolled]],
        "cluster": extras["user.unit"][enrolled], "acquired_day": joined[enrolled]}
    for name in names:
        x, y = metric_values(frame, name)
        metric = METRICS[name]
        if y is None:
            columns[name] = x[enrolled]
        else:
            columns[str(metric.numerator)] = x[enrolled]
            columns[str(metric.denominator)] = y[enrolled]
    return pd.DataFrame(columns)
