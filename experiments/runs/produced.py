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
from sim.metrics import METRICS, available
from sim.planning import recorded_counters, with_amounts
from sim.scenario import Scenario


def _declared(mechanic_type: str) -> list[str]:
    cls = REGISTRY[mechanic_type][1]
    return with_amounts([*cls.events, *cls.channel_events, *cls.stocks])


def produced_metrics(scenario: Scenario) -> list[str]:
    """Metrics this scenario's mechanics produce, in catalogue order."""
    return [m.name for m in available(recorded_counters(scenario))]


def providers(metric: str, scenario: Scenario) -> str:
    """The mechanic types a scenario lacks for a metric, in words: 'a live_stream mechanic', or
    for counters that several types record 'a purchase_dropout, group_buy or live_stream
    mechanic', joined by 'and' when two kinds are missing."""
    missing = sorted(set(METRICS[metric].needs) - set(recorded_counters(scenario)))
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
    produced = produced_metrics(scenario)
    if metric in produced:
        return None
    offer = f"this scenario produces: {', '.join(produced)}"
    if metric not in METRICS:
        return Problem(where, None, "", f"unknown metric {metric!r}"
                       f"{did_you_mean(metric, produced)}; {offer}")
    return Problem(where, None, "", f"no mechanic of {scenario.name} records {metric} (it "
                   f"comes from {providers(metric, scenario)}), so it would have no value in "
                   f"any run; {offer}")


def check_metrics(metrics: list[str], option: str, scenario: Scenario) -> None:
    """Refuse, before any simulation, no metric at all or one the scenario cannot produce."""
    if not metrics:
        raise InputError([Problem(option, None, "", "give at least one metric this scenario "
                                  f"produces: {', '.join(produced_metrics(scenario))}")])
    for metric in metrics:
        problem = metric_problem(metric, f"{option} {metric}", scenario)
        if problem is not None:
            raise InputError([problem])
