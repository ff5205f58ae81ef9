"""Platform rules and law a scenario's plan would break, found before anything is simulated.

Each mechanic states the rules it must keep (its class's `compliance`: functions
`rule(scenario, name, params) -> list[Problem]`, written in its own module); `check_compliance`
runs those of every mechanic in the scenario. A finding names its rule id (domain-facts §3) in
the message, e.g. `[LAW-MLM] ...`, carries the same message in Chinese (`zh`, for --lang zh),
is located at the scenario line that causes it, and is an "error" (illegal, or banned
outright) or a "warning" (a risk to review). Numbers an experiment arm or a persona sets
(`set: {mechanics.x.field: v}`) are checked too, located at that `set` line (`settings`).

`simctl validate` and `simctl run` report the findings; `--strict` turns warnings into errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sim.errors import Problem
from sim.yaml_lines import Path

if TYPE_CHECKING:
    from sim.scenario import Scenario

Rule = Callable[[Any, str, Any], list[Problem]]  # (scenario, mechanic name, its parameters)


def check_compliance(scenario: Scenario) -> list[Problem]:
    """Every finding of every mechanic's rules, errors first, each once."""
    from sim.mechanics import REGISTRY

    found: list[Problem] = []
    for name, params in scenario.mechanics.items():
        for rule in REGISTRY[params.type][1].compliance:
            found += rule(scenario, name, params)
    unique = list({str(p): p for p in found}.values())
    return sorted(unique, key=lambda p: p.severity != "error")


def finding(scenario: Scenario, path: Path, rule: str, message: str,
            severity: str = "warning", zh: str = "") -> Problem:
    """A problem located at `path` in the scenario file, tagged with its rule id, in English
    and (`zh`, shown under --lang zh) in Chinese; every rule writes both."""
    return replace(scenario.problem(path, f"[{rule}] {message}"), severity=severity,
                   zh=f"[{rule}] {zh}" if zh else "")


def settings(scenario: Scenario, name: str, fields: tuple[str, ...]
             ) -> Iterator[tuple[Callable[[str], Path], dict[str, Any], set[str]]]:
    """The fields' values as the mechanic sets them, then as each arm or persona that sets any
    of them changes them: (where a field's value comes from, the values, the fields that view
    changes; empty for the mechanic's own values)."""
    base = {f: getattr(scenario.mechanics[name], f) for f in fields}

    def in_mechanic(field: str) -> Path:
        return ("mechanics", name, field)

    yield in_mechanic, base, set()
    groups: list[tuple[Path, list]] = [(("market", "personas"), scenario.market.personas)]
    if scenario.experiment is not None:
        groups.append((("experiment", "arms"), scenario.experiment.arms))
    for where, items in groups:
        for i, item in enumerate(items):
            keys = {f: f"mechanics.{name}.{f}" for f in fields}
            changed = {f: item.set[k] for f, k in keys.items() if k in item.set}
            if not changed:
                continue

            def located(field: str, i: int = i, where: Path = where,
                        changed: dict = changed, keys: dict = keys) -> Path:
                return (*where, i, "set", keys[field]) if field in changed \
                    else ("mechanics", name, field)

            yield located, {**base, **changed}, set(changed)
