"""What a calibration fits and how far a simulation is from the data: the fitted parameters
(`--fit path=lo..hi`, searched on a log scale when wide), the target metrics and their weights,
the scenario replaying the observed arrivals, and the distance between weekly summaries
(module docstring of `experiments.calibration.calibrate`)."""

from __future__ import annotations

import math
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import optuna

from experiments.calibration.observed import Note, Observed, default_targets
from experiments.runs.design import ParamSpec, point_scenario
from experiments.runs.evaluator import Progress, Task, all_values, evaluate, stop_at_failure
from experiments.runs.sensitivity import bounds_specs
from sim.aggregation import daily_table
from sim.engine import simulate
from sim.errors import InputError, Problem
from sim.mechanics.observed_arrivals import arrival_problems
from sim.metrics import METRICS, daily_metrics
from sim.overrides import shorten_horizon
from sim.scenario import Scenario

WEEK = 7
EXP_MAX = 709.0  # math.exp overflows past 709.78; any u that large is clamped to `high` anyway


@dataclass(frozen=True)
class FitParam:
    """A fitted parameter: bounds, and whether it is searched on a log scale (wide positive
    ranges: a ratio hi/lo of 10 or more)."""

    path: str
    low: float
    high: float
    log: bool
    integer: bool = False

    def to_u(self, value: float) -> float:
        return math.log(value) if self.log else value

    def from_u(self, u: float) -> float:
        value = math.exp(min(u, EXP_MAX)) if self.log else u
        value = min(max(value, self.low), self.high)
        return round(value) if self.integer else float(value)

    @property
    def u_low(self) -> float:
        return self.to_u(self.low)

    @property
    def u_high(self) -> float:
        return self.to_u(self.high)

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.integer:
            return optuna.distributions.IntDistribution(int(self.low), int(self.high),
                                                        log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)


def parse_fit(base: Scenario, texts: list[str]) -> list[FitParam]:
    """`--fit dotted.path=lo..hi` -> FitParam (validated against the scenario at both ends)."""
    if not texts:
        raise InputError([Problem("--fit", None, "", "give at least one --fit dotted.path="
                                  "lo..hi, e.g. mechanics.purchase.dropout.a=0.1..5")])
    try:
        specs: list[ParamSpec] = bounds_specs(base, texts, "calibrate")
    except InputError as exc:  # the shared parser speaks of --param; here the option is --fit
        raise InputError([replace(p, source="--fit" if p.source == "--param" else p.source,
                                  message=p.message.replace("--param", "--fit"))
                          for p in exc.problems]) from None
    return [FitParam(s.path, float(s.low), float(s.high),
                     bool(s.low > 0 and s.high / s.low >= 10), s.integer) for s in specs]


def parse_targets(text: str | None, observed: Observed, simulated: list[str],
                  fitted: list[FitParam] | None = None,
                  declared: dict[str, float] | None = None) -> dict[str, float]:
    """`metric:weight,...` (weight 1 if left out) -> {metric: weight}; default: what the
    scenario declares (`calibration.targets`), else every flow both observed and simulated
    (experiments.calibration.observed.default_targets) but money, unless order value is fitted.
    A money target needs its driver, order value, among the fitted parameters."""
    if not text and declared:
        text = ",".join(f"{name}:{weight:g}" for name, weight in declared.items())
    prices = any("order_value" in p.path for p in fitted or [])
    if not text:
        targets = default_targets(observed, simulated)
        money = [m for m in targets if METRICS[m].unit.startswith("yuan")]
        if money and not prices and len(money) < len(targets):
            observed.notes.append(Note(
                f"left out of the default targets: {', '.join(money)} (money, driven by order "
                "value, which is not fitted)",
                f"未纳入默认拟合目标：{', '.join(money)}（金额由客单价决定，而客单价未拟合）"))
            targets = {m: w for m, w in targets.items() if m not in money}
        if not targets:
            raise InputError([Problem("--targets", None, "", "the observed data and the scenario "
                                      "share no flow metric to fit; give --targets metric:weight")])
        return targets
    targets: dict[str, float] = {}
    for item in text.split(","):
        name, _, raw = item.strip().partition(":")
        name = name.strip()
        if name not in METRICS:
            raise InputError([Problem("--targets", None, name, "unknown metric name; see "
                                      "docs/metrics.md")])
        if name not in observed.metrics:
            raise InputError([Problem("--targets", None, name, f"not in the observed data "
                                      f"{observed.source} (it has {', '.join(observed.metrics)})")])
        if name not in simulated:
            raise InputError([Problem("--targets", None, name, "the scenario's mechanics do not "
                                      "produce this metric")])
        try:
            weight = float(raw) if raw.strip() else 1.0
        except ValueError:
            weight = -1.0
        if not weight > 0 or not math.isfinite(weight):
            raise InputError([Problem("--targets", None, name, f"weight {raw!r} must be a "
                                      "number > 0, e.g. repeat_purchases:1")])
        if METRICS[name].unit.startswith("yuan") and fitted is not None and not prices:
            raise InputError([Problem("--targets", None, name, "is money, driven by order "
                                      "value, which is not fitted: add --fit mechanics.<purchase"
                                      ">.order_value.scale=lo..hi, or target counts such as "
                                      "repeat_purchases")])
        targets[name] = weight
    return targets


def with_observed(base: Scenario, observed: Observed) -> tuple[Scenario, list[Note]]:
    """The scenario over the observed days, with any observed_arrivals mechanic replaying the
    observed new users (by channel when the data name channels), and the notes on what the
    scenario dated past the observed days (left out, as a shorter `--days` leaves it out)."""
    data = base.model_dump(mode="python")
    data["days"] = observed.days
    data, shortened = shorten_horizon(data, base.days, base._source, base._lines,
                                      ("the observed data", "观测数据"))
    problems: list[Problem] = []
    for name, params in base.mechanics.items():
        if params.type != "observed_arrivals":
            continue
        if not observed.arrivals:
            problems.append(base.problem(("mechanics", name), f"{observed.source} has no "
                                         "new_users to replay; add a new_users column"))
            continue
        mech = data["mechanics"][name]
        if len(observed.arrivals) == 1:
            mech["counts"] = [int(v) for v in next(iter(observed.arrivals.values()))]
            mech["by_channel"] = {}
        else:
            mech["counts"] = []
            mech["by_channel"] = {ch: [int(v) for v in c] for ch, c in observed.arrivals.items()}
    if problems:
        raise InputError(problems)
    scenario = point_scenario(base, {}, data)
    for name, params in scenario.mechanics.items():
        if params.type == "observed_arrivals":
            problems += [base.problem(path, message) for path, message in arrival_problems(
                params, name, scenario.market.size, scenario.days)]
    if problems:
        raise InputError(problems)
    return scenario, [_horizon_note(p) for p in shortened]


def _horizon_note(problem: Problem) -> Note:
    """A note on what the observed days left out, saying that fitted.yaml leaves it out too."""
    line = "" if problem.line is None else f":{problem.line}"
    where = f"{problem.source}{line}: {problem.path}: "
    return Note(f"{where}{problem.message} (so is fitted.yaml, and a forecast from it)",
                f"{where}{problem.zh}（fitted.yaml 及据其所做的预测亦不含）")


# --- the distance -----------------------------------------------------------------------------


def weekly(values: np.ndarray, mask: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """(days, m) -> (weeks, m): sums of flows, means of the rest, over the masked days."""
    days = values.shape[0]
    starts = np.arange(0, days, WEEK)
    v = np.where(mask, values, 0.0)
    sums = np.add.reduceat(v, starts, axis=0)
    n = np.add.reduceat(mask.astype(float), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n
    out = np.where(flows[None, :], sums, means)
    return np.where(n > 0, out, np.nan)


@dataclass
class Distance:
    """Observed weekly summaries and how far a simulated series is from them."""

    targets: dict[str, float]
    observed: np.ndarray  # (days, m) observed daily values, NaN = gap
    mask: np.ndarray = field(init=False)
    flows: np.ndarray = field(init=False)
    obs_weekly: np.ndarray = field(init=False)
    scale: np.ndarray = field(init=False)
    weights: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        names = list(self.targets)
        self.mask = ~np.isnan(self.observed)
        self.flows = np.array([METRICS[m].kind == "flow" for m in names])
        self.obs_weekly = weekly(np.nan_to_num(self.observed), self.mask, self.flows)
        scale = np.nanmean(np.abs(self.obs_weekly), axis=0)
        self.scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.weights = np.array([self.targets[m] for m in names]) / sum(self.targets.values())

    @property
    def metrics(self) -> list[str]:
        return list(self.targets)

    def summaries(self, sim_daily: np.ndarray) -> np.ndarray:
        """Standardised weekly summaries of one simulated (days, m) series, flattened so that
        the distance is a plain sum of squares (the vector the posterior works with)."""
        sim = weekly(np.nan_to_num(sim_daily[: self.mask.shape[0]]), self.mask, self.flows)
        ok = ~np.isnan(self.obs_weekly)
        per_week = np.sqrt(self.weights / ok.sum(axis=0).clip(min=1))
        return ((np.nan_to_num(sim) / self.scale) * per_week)[ok]

    def observed_summaries(self) -> np.ndarray:
        ok = ~np.isnan(self.obs_weekly)
        per_week = np.sqrt(self.weights / ok.sum(axis=0).clip(min=1))
        return ((np.nan_to_num(self.obs_weekly) / self.scale) * per_week)[ok]

    def __call__(self, sims: list[np.ndarray]) -> float:
        mean = np.mean([self.summaries(s) for s in sims], axis=0)
        return float(np.sum((mean - self.observed_summaries()) ** 2))


def simulate_series(scenario: Scenario, replicate: int, metrics: list[str]) -> np.ndarray:
    """One replicate's daily values of `metrics` as a (days, m) array (a picklable task)."""
    frame = daily_metrics(daily_table(simulate(scenario, replicate)))
    return np.column_stack([frame[m].to_numpy(dtype=float) if m in frame
                            else np.full(len(frame), np.nan) for m in metrics])


def run_series(executor: Executor, jobs: list[tuple[Scenario, int]], metrics: list[str],
               progress: Progress | None = None) -> list[np.ndarray]:
    """Simulate (scenario, replicate) jobs through the evaluator, results in job order; every
    series is needed, so the first failure stops the rest (TaskError names the job)."""
    tasks = [Task(i, r, simulate_series, (s, r, metrics)) for i, (s, r) in enumerate(jobs)]
    return all_values(evaluate(executor, tasks, on_outcome=stop_at_failure, progress=progress))
