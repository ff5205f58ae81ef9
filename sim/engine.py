"""The engine: a pure function from (scenario, replicate) to daily counters, and `run`.

A SimPy environment is the clock. One daily process runs the enabled mechanics in stage order
(acquisition, funnel, purchase, virality, loyalty, churn) and then records the day. Dated
things are SimPy processes: a mechanic's window switches it on and off with timeouts created
before day 0, so they fire before the daily step of the same day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from sim.arms import ArmParams
from sim.errors import InputError
from sim.mechanics import REGISTRY
from sim.mechanics.base import Context, Mechanic
from sim.memory import available_bytes, bytes_per_user, estimate_bytes, human
from sim.metrics import daily_metrics, horizon_values
from sim.population import Population, Stage
from sim.recorder import Recorder
from sim.rng import stream
from sim.scenario import Scenario, arm_scenarios
from sim.stats import mean_ci

CORE_COUNTERS = ("new_users", "churned_users", "alive_users")
Progress = Callable[[int], None]


# --- planning: what the scenario needs before anything is allocated ---------------------------


def _columns_and_scratch(scenario: Scenario) -> tuple[dict[str, np.dtype], int]:
    columns: dict[str, np.dtype] = {}
    scratch = 0
    for name, params in scenario.mechanics.items():
        cls = REGISTRY[params.type][1]
        for col, dtype in cls.columns(params).items():
            if col in columns and columns[col] != dtype:
                raise InputError([scenario.problem(("mechanics", name),
                                                   f"column {col!r} is {dtype} here but "
                                                   f"{columns[col]} in another mechanic")])
            columns[col] = dtype
        scratch = max(scratch, cls.scratch_bytes_per_user(params))
    return columns, scratch


def counter_names(scenario: Scenario) -> list[str]:
    names = list(CORE_COUNTERS)
    for params in scenario.mechanics.values():
        names += [c for c in REGISTRY[params.type][1].counters if c not in names]
    return names


def memory_estimate(scenario: Scenario) -> int:
    """Peak bytes one replicate of this scenario is expected to need."""
    columns, scratch = _columns_and_scratch(scenario)
    return estimate_bytes(scenario.market.size, columns, scratch, scenario.days,
                          len(counter_names(scenario)), len(scenario.arm_names))


def check_memory(scenario: Scenario) -> None:
    """Refuse, with the estimate, a scenario that will not fit in the memory available now."""
    need, have = memory_estimate(scenario), available_bytes()
    if need > have:
        columns, scratch = _columns_and_scratch(scenario)
        per_user = bytes_per_user(columns, scratch)
        raise InputError([scenario.problem(
            ("market", "size"),
            f"{scenario.market.size:,} users need about {human(need)} "
            f"({per_user} bytes per user) but only {human(have)} is available; "
            "lower market.size or switch off mechanics")])


# --- one replicate -----------------------------------------------------------------------------


def simulate(scenario: Scenario, replicate: int = 0,
             progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Run one replicate; return each counter as an array of shape (days, arms).

    A pure function of picklable inputs: the same (scenario, replicate) gives the same numbers
    in any process.
    """
    check_memory(scenario)
    seed, days, size = scenario.seed, scenario.days, scenario.market.size
    n_arms = len(scenario.arm_names)
    if n_arms > 1:
        shares = np.asarray(scenario.arm_shares)
        arm = stream(seed, replicate, "arms").choice(n_arms, size=size, p=shares / shares.sum())
        arm = arm.astype(np.int8)
    else:
        arm = np.zeros(size, dtype=np.int8)
    columns, _ = _columns_and_scratch(scenario)
    pop = Population(size, arm, n_arms, columns, stream(seed, replicate, "population"))
    recorder = Recorder(counter_names(scenario), days, n_arms)
    env = simpy.Environment()

    variants = arm_scenarios(scenario)
    mechanics: list[Mechanic] = []
    for name, params in scenario.mechanics.items():
        cls = REGISTRY[params.type][1]
        ctx = Context(pop, recorder, stream(seed, replicate, f"mechanic:{name}"), env, days, size)
        mechanics.append(cls(name, ArmParams([v.mechanics[name] for v in variants]), ctx))
    mechanics.sort(key=lambda m: m.stage)  # stable: file order within a stage
    for mech in mechanics:
        mech.setup()
        window = scenario.mechanics[mech.name].window
        if window is not None:
            mech.active = window.first_day == 0
            env.process(_window(env, mech, window.first_day, window.last_day))

    env.process(_days(env, mechanics, pop, recorder, days, progress))
    env.run(until=days)
    return recorder.values


def _window(env: simpy.Environment, mech: Mechanic, first: int, last: int | None) -> Iterator:
    if first > 0:
        yield env.timeout(first)
        mech.active = True
    if last is not None:
        yield env.timeout(last + 1 - first)
        mech.active = False


def _days(env: simpy.Environment, mechanics: list[Mechanic], pop: Population,
          recorder: Recorder, days: int, progress: Progress | None) -> Iterator:
    for day in range(days):
        pop.begin_day()
        for mech in mechanics:
            if mech.active:
                mech.step(day)
            else:
                mech.idle(day)
        recorder.set("new_users", day, pop.per_arm(pop.rows_today("acquired")))
        recorder.set("churned_users", day, pop.per_arm(pop.rows_today("churned")))
        recorder.set("alive_users", day, pop.count(Stage.ALIVE))
        if progress is not None:
            progress(1)
        yield env.timeout(1)


# --- many replicates ----------------------------------------------------------------------------


@dataclass
class Result:
    """Daily metrics of every replicate, for the whole market and for each experiment arm."""

    scenario: Scenario
    metrics: pd.DataFrame  # replicate, day, one column per metric (whole market)
    arm_metrics: pd.DataFrame  # replicate, arm, day, one column per metric
    counters: dict[int, dict[str, np.ndarray]] = field(repr=False, default_factory=dict)

    @property
    def metric_names(self) -> list[str]:
        return [c for c in self.metrics.columns if c not in ("replicate", "day")]

    def horizon(self) -> pd.DataFrame:
        """One row per replicate: each metric over the whole horizon."""
        rows = [{"replicate": r, **horizon_values(g.drop(columns=["replicate", "day"]))}
                for r, g in self.metrics.groupby("replicate", sort=True)]
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and 95% confidence interval across replicates of each metric over the horizon."""
        table = self.horizon()
        return {name: mean_ci(table[name].to_numpy()) for name in self.metric_names}

    def arm_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for arm, frame in self.arm_metrics.groupby("arm", sort=False):
            rows = [horizon_values(g.drop(columns=["replicate", "arm", "day"]))
                    for _, g in frame.groupby("replicate", sort=True)]
            table = pd.DataFrame(rows)
            out[str(arm)] = {name: mean_ci(table[name].to_numpy()) for name in table.columns}
        return out


def run(scenario: Scenario, progress: Progress | None = None) -> Result:
    """Run every replicate of a scenario in this process and collect the metrics."""
    check_memory(scenario)
    counters = {r: simulate(scenario, r, progress) for r in range(scenario.replicates)}
    return collect(scenario, counters)


def collect(scenario: Scenario, counters: dict[int, dict[str, np.ndarray]]) -> Result:
    """Turn per-replicate counters into metric tables (shared by every executor)."""
    whole, by_arm = [], []
    days = np.arange(scenario.days)
    for replicate in sorted(counters):
        values = counters[replicate]
        total = pd.DataFrame({k: v.sum(axis=1) for k, v in values.items()})
        whole.append(daily_metrics(total).assign(replicate=replicate, day=days))
        for a, arm in enumerate(scenario.arm_names):
            one = pd.DataFrame({k: v[:, a] for k, v in values.items()})
            by_arm.append(daily_metrics(one).assign(replicate=replicate, arm=arm, day=days))
    metrics = _front(pd.concat(whole, ignore_index=True), ["replicate", "day"])
    arm_metrics = _front(pd.concat(by_arm, ignore_index=True), ["replicate", "arm", "day"])
    return Result(scenario, metrics, arm_metrics, counters)


def _front(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]
