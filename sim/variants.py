"""Per-variant parameter values: arms and personas are data, never branches in a mechanic.

A variant is one (experiment arm, persona) pair: the scenario with the persona's `set` and then
the arm's `set` applied. The engine validates one scenario per variant, then gives each mechanic
a `VariantParams`: the first variant's parameter model plus, for every numeric field that
differs, an array of its value per variant. A mechanic reads numbers through
`VariantParams.get` / `for_rows`, which return a plain float when all variants agree (the fast
path) or per-variant / per-user arrays (through the user's `group` column) when they do not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel

if TYPE_CHECKING:
    from sim.scenario import Scenario

NOT_ENROLLED = "not_enrolled"  # the counter arm of users outside the test (eligibility)
NOT_SAMPLED = "not_sampled"  # eligible users left out of a partial enrolment (enrolment < 1)

P = TypeVar("P", bound=BaseModel)


class VariantParams(Generic[P]):
    def __init__(self, per_variant: list[P]) -> None:
        self.base: P = per_variant[0]
        self.n_variants = len(per_variant)
        self.varying: dict[str, np.ndarray] = {}
        flat = [_numeric_leaves(model) for model in per_variant]
        for path, value in flat[0].items():
            values = [f.get(path, value) for f in flat]
            if any(v != value for v in values):
                self.varying[path] = np.asarray(values, dtype=np.float64)
        self._shared: dict[str, float] = {}  # values all variants agree on (the models are frozen)

    def get(self, path: str) -> float | np.ndarray:
        """The value for all variants (a float), or an array indexed by variant (group)."""
        if path in self.varying:
            return self.varying[path]
        return self._value(path)

    def for_rows(self, path: str, group_of_rows: np.ndarray) -> float | np.ndarray:
        """The value for each given user, through the user's group (arm x persona)."""
        if path in self.varying:
            return self.varying[path][group_of_rows]
        return self._value(path)

    def _value(self, path: str) -> float:
        """A shared value, looked up once (mechanics ask for the same few every day)."""
        value = self._shared.get(path)
        if value is None:
            value = self._shared[path] = float(_lookup(self.base, path))
        return value

    def varies(self, path: str) -> bool:
        return path in self.varying

    def changed_groups(self, other: VariantParams[P], paths: tuple[str, ...] | None = None,
                       ) -> np.ndarray:
        """Per variant (group): whether any numeric parameter (or any of `paths`) differs
        between these values and `other`'s (same number of variants)."""
        changed = np.zeros(self.n_variants, dtype=bool)
        names = paths if paths is not None else set(self.varying) | set(other.varying) | set(
            _numeric_leaves(self.base))
        for path in names:
            changed |= np.broadcast_to(self.get(path), (self.n_variants,)) != np.broadcast_to(
                other.get(path), (self.n_variants,))
        return changed


def _lookup(model: Any, path: str) -> Any:
    value = model
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _numeric_leaves(model: BaseModel, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for name in type(model).model_fields:
        if name == "window":  # when a mechanic acts is the scenario's calendar, not a variant's
            continue
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            out.update(_numeric_leaves(value, path + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def numeric_paths(model: BaseModel) -> set[str]:
    """Dotted paths of every numeric parameter in a model (what an arm or persona may set)."""
    return set(_numeric_leaves(model))


def arm_variant(scenario: Scenario, settings: dict[str, float]) -> Scenario:
    data = scenario.model_dump(mode="python")
    for key, value in settings.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[part]
        old = node[parts[-1]]
        integral = isinstance(old, int) and float(value).is_integer()
        node[parts[-1]] = int(value) if integral else value
    return type(scenario).model_validate(data)  # no import circle: scenario imports us


def arm_settings(scenario: Scenario, with_arms: bool = True) -> list[dict[str, float]]:
    """The `set` each counter arm (`Scenario.arm_names`) runs with. Before an experiment's
    start day (`with_arms=False`) every arm runs with the control's; from it, each arm with its
    own, or every arm with the launched arm's (`launch`); users outside the test
    (`not_enrolled`) keep the control's throughout. Eligible users a partial enrolment left
    out (`not_sampled`) keep the control's in the test and get the launched arm's when one is
    launched: a launch reaches the whole market. So the markets `simctl ab` compares are
    the same market, draw for draw, until start_day."""
    exp = scenario.experiment
    if exp is None:
        return [{}]
    control = exp.arms[0].set
    launched = next((a.set for a in exp.arms if a.name == exp.launch), None)
    out = []
    for i, name in enumerate(scenario.arm_names):
        if with_arms and launched is not None and name == NOT_SAMPLED:
            out.append(launched)
        elif not with_arms or i >= len(exp.arms):
            out.append(control)
        else:
            out.append(exp.arms[i].set if launched is None else launched)
    return out


def variant_scenarios(scenario: Scenario, with_arms: bool = True) -> list[Scenario]:
    """One validated scenario per (arm, persona) variant, in group order arm * n_personas +
    persona: the persona's `set` applied first, then the arm's (`arm_settings`; the arm wins
    a conflict)."""
    personas = scenario.market.personas or [None]
    out = []
    for arm_set in arm_settings(scenario, with_arms):
        for persona in personas:
            settings = {**(persona.set if persona else {}), **arm_set}
            out.append(arm_variant(scenario, settings) if settings else scenario)
    return out
