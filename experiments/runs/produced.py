"""Which output metrics a scenario can produce, and which mechanic types record the others.

Why: a metric whose counters no mechanic of the scenario records has no value in any run, so a
sensitivity analysis or an optimisation of it would spend every simulation and then blame the
data ("a ratio with nothing to divide by") or print an empty table. The commands refuse such a
metric before any work, naming the mechanic types that would record it and offering only the
metrics this scenario has. A ratio that exists but may have a zero denominator in some run (ROI
without spend) is still accepted: that is a fact of the run, said after it.

The metrics a scenario produces are those whose counters (`Metric.needs`) a run of it records
(`sim.planning.recorded_counters`); calibration chooses its targets among the same.
"""

from __future__ import annotations

from sim.errors import InputError, Problem, did_you_mean
from sim.mechanics import REGISTRY
from sim.metrics import COHORT_METRICS, METRICS, available
from sim.metrics.cohorts import cohort_event, cohort_window, days_needed
from sim.planning import recorded_counters, with_amounts
from sim.scenario import Scenario


def _needs(metric: str) -> tuple[str, ...]:
    """The counters a metric is computed from (a cohort metric: the event it counts)."""
    if metric in METRICS:
        return METRICS[metric].needs
    event = cohort_event(metric)
    return () if event is None else (event,)


def _declared(mechanic_type: str) -> list[str]:
    cls = REGISTRY[mechanic_type][1]
    return with_amounts([*cls.events, *cls.channel_events, *cls.stocks])


def produced_metrics(scenario: Scenario) -> list[str]:
    """Metrics this scenario's mechanics produce, in catalogue order."""
    return [m.name for m in available(recorded_counters(scenario))]


def point_outputs(scenario: Scenario) -> list[str]:
    """What a sweep point of this scenario has a value for: the metrics it produces, then the
    cohort metrics (`experiments.runs.point.market_metrics`; cac is a catalogue metric too)
    whose event it records."""
    produced = produced_metrics(scenario)
    counters = set(recorded_counters(scenario))
    return produced + [name for name in COHORT_METRICS if name not in produced
                       and cohort_event(name) in counters]


def providers(metric: str, scenario: Scenario) -> str:
    """The mechanic types a scenario lacks for a metric, in words: 'a live_stream mechanic', or
    for counters that several types record 'a purchase_dropout, group_buy or live_stream
    mechanic', joined by 'and' when two kinds are missing."""
    missing = sorted(set(_needs(metric)) - set(recorded_counters(scenario)))
    kinds = dict.fromkeys(tuple(t for t in REGISTRY if counter in _declared(t))
                          for counter in missing)
    words = []
    for types in kinds:
        if not types:
            continue
        listed = types[0] if len(types) == 1 else f"{', '.join(types[:-1])} or {types[-1]}"
        words.append(f"a {listed} mechanic")
    return " and ".join(words) or "no mechanic type"


def metric_problem(metric: str, where: str, scenario: Scenario) -> Problem | None:
    """Why this scenario cannot give `metric` (unknown, or not recorded by its mechanics), as a
    problem of the option `where` (`--maximize live_gmv`), or None if it can."""
    produced = point_outputs(scenario)
    needed = days_needed(metric)
    if metric in produced and needed is not None and scenario.days < needed:
        return Problem(where, None, "", f"{metric} counts cohorts at least "
                       f"{cohort_window(metric)} days old "
                       f"by the horizon, so it needs days >= {needed} ({scenario.name} runs "
                       f"{scenario.days}); raise --days or take a shorter window")
    if metric in produced:
        return None
    offer = f"this scenario produces: {', '.join(produced)}"
    if metric not in METRICS and metric not in COHORT_METRICS:
        return Problem(where, None, "", f"unknown metric {metric!r}"
                       f"{did_you_mean(metric, produced)}; {offer}")
    return Problem(where, None, "", f"no mechanic of {scenario.name} records {metric} (it "
                   f"comes from {providers(metric, scenario)}), so it would have no value in "
                   f"any run; {offer}")


def why_undefined(metric: str) -> tuple[str, str]:
    """Why a metric may have no value in a run, in English and Chinese, for the answers."""
    if metric == "payback_days":
        return ("the margin per new buyer never reached CAC within the horizon",
                "在时间范围内每个新购买用户的毛利从未达到获客成本")
    if metric.startswith("ltv_cac_"):
        return ("no acquisition spend (CAC 0), or no buyer in a cohort old enough",
                "没有获客花费（获客成本为 0），或足够老的 cohort 中没有购买者")
    if metric == "viral_cycle_days":
        return "no referred user joined", "没有被推荐用户加入"
    if days_needed(metric) is not None:
        return "no buyer in a cohort old enough", "足够老的 cohort 中没有购买者"
    return ("a ratio with nothing to divide by, e.g. ROI without spend, or a failed run",
            "分母为 0，如没有投放花费时的 ROI，或运行失败")


def check_metrics(metrics: list[str], option: str, scenario: Scenario) -> None:
    """Refuse, before any simulation, no metric at all or one the scenario cannot produce."""
    if not metrics:
        raise InputError([Problem(option, None, "", "give at least one metric this scenario "
                                  f"produces: {', '.join(point_outputs(scenario))}")])
    for metric in metrics:
        problem = metric_problem(metric, f"{option} {metric}", scenario)
        if problem is not None:
            raise InputError([problem])
