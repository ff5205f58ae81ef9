"""The plan an experiment is read against, so that α, sides, the control, the allocation, the
correction and the metrics are not typed twice: `simctl power ... --json` output, or a
scenario whose `experiment:` block ran the test (arm names and shares, primary and guardrail
metrics). Options typed on the command line win over the plan."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from experiments.report.language import t
from sim.errors import InputError, Problem

CORRECTIONS = ("none", "bonferroni", "holm", "sidak", "bh", "dunnett")


@dataclass(frozen=True)
class Plan:
    alpha: float = 0.05
    sides: int = 2
    correction: str = "holm"
    control: str | None = None
    shares: dict[str, float] | None = None  # intended allocation, by arm (or control/other)
    primary: tuple[str, ...] = ()
    guardrails: tuple[str, ...] = ()
    source: str = "defaults"
    notes: tuple[str, ...] = field(default_factory=tuple)
    planned_n: float | None = None  # units in all at the end (tunes always-valid intervals)
    always_valid: bool = False
    sequential: str | None = None  # group-sequential method of the plan
    critical_values: tuple[float, ...] = ()  # |z| boundary per look
    look: int | None = None  # which look this reading is (1-based)
    cluster: str | None = None  # column of the randomisation unit when it is not the user

    def boundary(self) -> float | None:
        """The |z| a primary comparison must reach at this look, when reading a look."""
        return None if self.look is None else self.critical_values[self.look - 1]


def check_peeking(plan: Plan) -> None:
    """--look needs a group-sequential plan and a look inside it; always-valid intervals and
    planned looks are two answers to the same question, so one at a time."""
    if plan.look is None:
        return
    if plan.always_valid:
        raise InputError([Problem("--look", None, "", "give --look (a planned group-sequential "
                                  "look) or --always-valid (peek at will), not both")])
    if not plan.critical_values:
        raise InputError([Problem("--look", None, "", "the plan has no group-sequential "
                                  "boundaries; give --plan with the JSON of `simctl power "
                                  "--sequential obrien-fleming --looks K --json`")])
    if not 1 <= plan.look <= len(plan.critical_values):
        raise InputError([Problem("--look", None, "", f"{plan.look}; the plan has looks 1.."
                                  f"{len(plan.critical_values)}")])


def load_plan(path: Path) -> Plan:
    """A power calculator JSON (`.json`) or a scenario (`.yaml`/`.yml`)."""
    if not path.is_file():
        raise InputError([Problem(str(path), None, "", "no such file; --plan takes the JSON of "
                                  "`simctl power --json` or a scenario with an experiment")])
    if path.suffix.lower() == ".json":
        return _from_power(path)
    return _from_scenario(path)


def _from_power(path: Path) -> Plan:
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), getattr(exc, "lineno", None), "",
                                  f"not JSON: {str(exc).splitlines()[0]}")]) from None
    needed = ("alpha", "sides", "arms", "correction", "treatment_ratio")
    missing = [k for k in needed if k not in doc] if isinstance(doc, dict) else list(needed)
    if missing:
        raise InputError([Problem(str(path), None, missing[0], "missing; expected the output "
                                  "of `simctl power ... --json`")])
    ratio = doc["treatment_ratio"]
    if not isinstance(ratio, int | float):  # "optimal" allocations are stated in n_* fields
        ratio = doc["n_treatment"] / doc["n_control"]
    treatments = int(doc["arms"]) - 1
    shares = {"control": 1.0, **{f"treatment {i + 1}": float(ratio) for i in range(treatments)}}
    sequential = doc.get("sequential") or {}
    return Plan(alpha=float(doc["alpha"]), sides=int(doc["sides"]),
                correction=str(doc["correction"]) if treatments > 1 else "none",
                shares=shares, source=str(path), planned_n=_planned_n(doc),
                sequential=sequential.get("method"),
                critical_values=tuple(sequential.get("critical_values", ())),
                notes=(t(f"allocation from the power plan: control 1 : treatment "
                         f"{float(ratio):g} each",
                         f"分组比例来自功效计划：对照组 1 : 每个实验组 {float(ratio):g}"),))


def _planned_n(doc: dict[str, Any]) -> float | None:
    """The units the test runs to: the always-valid size where the plan made one (a team that
    peeks at will runs longer for the same power), else the fixed-sample size."""
    always = doc.get("always_valid")
    if isinstance(always, dict) and always.get("n_total_units"):
        return always["n_total_units"]
    return doc.get("n_total_units")


def _from_scenario(path: Path) -> Plan:
    from sim.scenario import load_scenario  # the simulation stack only when a scenario is read

    scenario = load_scenario(path)
    exp = scenario.experiment
    if exp is None:
        raise InputError([Problem(str(path), None, "experiment", "the scenario has no "
                                  "experiment block; add one or give the arms' split with "
                                  "--shares")])
    primary = (exp.primary_metric,) if exp.primary_metric else ()
    clustered = exp.unit != "user"  # arms' shares are shares of clusters or egos, not users
    return Plan(control=exp.arms[0].name, shares={a.name: a.share for a in exp.arms},
                primary=primary, guardrails=tuple(exp.guardrail_metrics),
                correction="holm" if len(exp.arms) > 2 else "none", source=str(path),
                cluster="cluster" if clustered else None,
                notes=(t(f"the plan randomised by {exp.unit}: errors robust to clusters over "
                         "the `cluster` column (as `simctl units` writes it)",
                         f"随机单位为 {exp.unit}：按 `cluster` 列（`simctl units` 写出的列）"
                         "计算聚类稳健标准误"),) if clustered else ())


def with_options(plan: Plan, **typed: Any) -> Plan:
    """The plan with every option the user typed (not None) put over it."""
    return replace(plan, **{k: v for k, v in typed.items() if v is not None})


def parse_shares(text: str, option: str = "--shares") -> dict[str, float]:
    """`control=50,treatment=50` (any positive weights), given as `option`."""
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not name.strip() or not value > 0 or value == float("inf"):
            raise InputError([Problem(option, None, "", f"{part.strip()!r}: expected "
                                      "ARM=WEIGHT with a positive weight, e.g. "
                                      "control=50,treatment=50 (arms by name here; srm's "
                                      "--shares lists weights in the order of its counts)")])
        shares[name.strip()] = value
    return shares
