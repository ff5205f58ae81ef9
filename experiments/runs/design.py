"""Designs over dotted parameter paths: grid of lists / ranges, Latin hypercube and Sobol in bounds.

A parameter is given as `dotted.path=VALUES` (experiments.runs.params parses it): a grid takes
lists `5,10,20` and ranges `5:30:5`, the sampled designs (`lhs`, `sobol`) bounds `lo..hi`.

Every point is applied to the base scenario and validated before anything runs, so a typo in a
path or a value out of range is the usual located error (exit 2), never a failed sweep.
Sampling uses scipy.stats.qmc with a seed derived from the scenario seed, so a design is
reproducible.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from experiments.runs.params import (
    ParamSpec,
    Value,
    bounds_hint,
    numeric_field,
    param_error,
    parse_param,
    range_hint,
)
from sim.errors import InputError, Problem
from sim.overrides import no_such_mechanic
from sim.scaling import Scaled, rescale
from sim.scenario import Scenario, validate_scenario
from sim.yaml_lines import dotted, line_for

if TYPE_CHECKING:
    from scipy.stats import qmc

__all__ = ["DESIGNS", "RESULT_COLUMNS", "Design", "ParamSpec", "Value", "build_design",
           "check_design", "check_once", "current_value", "make_design", "parse_param",
           "point_scenario", "set_path", "validate_design", "with_field_types"]

DESIGNS = ("grid", "lhs", "sobol")


@dataclass
class Design:
    """The points of a sweep, in a stable order; `warnings` are for people, not errors."""

    kind: str
    params: list[ParamSpec]
    points: list[dict[str, Value]]
    warnings: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [p.path for p in self.params]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": [p.text for p in self.params],
                "points": self.points}


# the long results table's own columns (sweep.results_frame): a parameter cannot share one
RESULT_COLUMNS = frozenset({"point", "replicate", "seed", "metric", "value"})


def _current(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    node: Any = data
    for key in keys:
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return None
    return node


def current_value(base: Scenario, spec: ParamSpec) -> Any:
    """The scenario's value of a parameter's (first) field; None where unset or absent."""
    return _current(base.model_dump(mode="python"), spec.keys)


def with_field_types(specs: list[ParamSpec], base: Scenario) -> list[ParamSpec]:
    """Integer fields of the scenario get integer values (sampled values are rounded; a value
    given in a list or range must be whole), and no value is given twice."""
    data = base.model_dump(mode="python")
    out = []
    for spec in specs:
        current = _current(data, spec.keys)
        integer = (isinstance(current, int) and not isinstance(current, bool)) or (
            current is None and spec.integer)
        values = spec.values
        if integer and spec.kind != "bounds":
            values = tuple(_whole(v, spec) for v in values)
        _check_distinct(spec, values)
        out.append(ParamSpec(spec.path, spec.kind, values, spec.low, spec.high, integer,
                             spec.text))
    return out


def _whole(value: Value, spec: ParamSpec) -> Value:
    """A listed value of an integer field: 3.0 is 3; 2.4 is refused (it would run as 2)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        raise param_error(spec.text, f"{value:g} is not a whole number, and {spec.path} takes "
                          "whole numbers")
    return value


def _check_distinct(spec: ParamSpec, values: tuple[Value, ...]) -> None:
    """A value listed twice would run (or weigh, as an optimisation's choice) twice."""
    for i, value in enumerate(values):
        if any(type(value) is type(other) and value == other for other in values[:i]):
            raise param_error(spec.text, f"{value!r} is given twice; list each value once")


def check_once(specs: list[ParamSpec], option: str = "--param") -> None:
    """Each parameter once: a second --param for the same field would silently win."""
    for spec in specs:
        first = next(s for s in specs if s.path == spec.path)
        if first is not spec:
            raise param_error(spec.text, f"{spec.path} is given twice (also {option} "
                              f"{first.text}); give each parameter once", option)


def _check_names(specs: list[ParamSpec]) -> None:
    """Each parameter once, and none named like a column of the results table."""
    check_once(specs)
    for spec in specs:
        if spec.path in RESULT_COLUMNS:
            raise param_error(spec.text, f"{spec.path} names a column of the sweep's results "
                              "(each replicate's own seed is in `seed`); for more random "
                              "streams per point give --replicates N")


def check_design(specs: list[ParamSpec], kind: str, points: int | None) -> None:
    """The design and its parameters agree (a grid takes lists and ranges, a sampled design
    bounds and --points), checked before any point is validated, so that a command refused for
    its options says so in one line and nothing else."""
    if not specs:
        raise InputError([Problem("--param", None, "", "give at least one --param dotted.path="
                                  "VALUES, e.g. mechanics.acquisition.q=0.1:0.5:0.1")])
    _check_names(specs)
    if kind not in DESIGNS:
        raise InputError([Problem(f"--design {kind}", None, "", "unknown design; expected one "
                                  f"of: {', '.join(DESIGNS)}")])
    for s in specs:
        if kind == "grid" and s.kind == "bounds":
            raise param_error(s.text, f"a grid takes a list or a range, not bounds; e.g. "
                              f"{s.path}={range_hint(s)}, or sample the bounds with --design "
                              "lhs --points N")
        if kind != "grid" and s.kind != "bounds":
            hint = (f"e.g. {s.path}={bounds_hint(s)}" if numeric_field(s) else
                    "a field of words or true/false takes a grid: leave out --design")
            raise param_error(s.text, f"--design {kind} samples numbers within bounds lo..hi; "
                              f"{hint}")
    if kind != "grid" and (points is None or points < 1):
        raise InputError([Problem("--points", None, "", f"--design {kind} needs --points N "
                                  "(N >= 1), e.g. --points 64")])


def make_design(specs: list[ParamSpec], kind: str = "grid", points: int | None = None,
                seed: int = 0) -> Design:
    """Points of a grid (cartesian product) or of an LHS / Sobol sample scaled to the bounds."""
    from scipy.stats import qmc  # here: scipy.stats is half a second of import
    check_design(specs, kind, points)
    if kind == "grid":
        grids = np.meshgrid(*[np.arange(len(s.values)) for s in specs], indexing="ij")
        index = np.stack([g.ravel() for g in grids], axis=1)
        rows = [{s.path: s.values[i] for s, i in zip(specs, row, strict=True)} for row in index]
        return Design(kind, specs, rows)
    points = int(points or 0)  # checked >= 1 above
    warnings = []
    rng = np.random.default_rng(seed)
    if kind == "lhs":
        unit = qmc.LatinHypercube(d=len(specs), rng=rng).random(points)
    else:
        if points & (points - 1):
            warnings.append(f"--points {points} is not a power of 2; Sobol points are balanced "
                            f"only for powers of 2 (e.g. {1 << math.ceil(math.log2(points))})")
        engine = qmc.Sobol(d=len(specs), rng=rng)
        unit = engine.random_base2(int(math.log2(points))) if not warnings else _sobol(
            engine, points)
    scaled = qmc.scale(unit, [s.low for s in specs], [s.high for s in specs])
    rows = [{s.path: (int(np.rint(v)) if s.integer else float(v))
             for s, v in zip(specs, row, strict=True)} for row in scaled]
    return Design(kind, specs, rows, warnings)


def _sobol(engine: qmc.Sobol, points: int) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():  # we told the user ourselves, in one line
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(points)


def set_path(data: dict[str, Any], keys: tuple[str, ...],
             value: Value) -> tuple[tuple[str | int, ...], str | None]:
    """Set a dotted path in scenario data, list items by position (`tiers.2.threshold`), as
    scenario overrides do. Returns the path with list positions as numbers (how validation
    locates an overridden field) and a message when the path cannot be set: a value where a
    section should be, or a list position past the end."""
    node: Any = data
    done: list[str | int] = []
    for i, key in enumerate(keys):
        if isinstance(node, list):
            if not (key.isdigit() and int(key) < len(node)):
                return tuple(done), (f"no item {key} in this list of {len(node)} "
                                     "(items count from 0)")
            step: str | int = int(key)
        elif isinstance(node, dict):
            step = key
        else:
            return tuple(done), "this field is a value, not a section"
        done.append(step)
        if i == len(keys) - 1:
            node[step] = value
            break
        child = node[step] if isinstance(node, list) else node.get(step)
        if child is None and done == ["mechanics", key] and keys[2:] != ("type",):
            return tuple(done), no_such_mechanic(key, list(node))  # a new one needs its type
        if child is None:
            node[step] = child = {}
        node = child
    return tuple(done), None


def point_scenario(base: Scenario, point: dict[str, Value],
                   data: dict[str, Any] | None = None, option: str = "--param") -> Scenario:
    """The base scenario with a point's values applied and validated (errors located and
    named after the `option` that set them). A point with its own market.size starts from the
    data as written and scales it to that size, as `simctl run ... market.size=N` would; the
    scenario's notes then say what scaling changed, as a loaded scenario's do."""
    sized = any("market.size" in path.split("+") for path in point)
    if sized and base._unscaled is not None:
        written, overridden = base._unscaled
        data = copy.deepcopy(written)
        overridden = dict(overridden)
    else:
        data = copy.deepcopy(data if data is not None else base.model_dump(mode="python"))
        overridden = {}
    for path, value in point.items():
        for one in path.split("+"):  # linked fields take the same value
            keys, message = set_path(data, tuple(one.split(".")), value)
            if message:
                raise InputError([Problem(base._source, line_for(keys, base._lines),
                                          dotted(keys), f"{option} {path}: {message}")])
            overridden[keys] = f"{option} {path}={value}"
    notes: list[Problem] = []
    scaled: Scaled = {}
    if sized:
        data, notes = rescale(data, base._source, base._lines, overridden, scaled)
    scenario = validate_scenario(data, base._source, base._lines, overridden, scaled)
    scenario._notes = notes + scenario._notes
    return scenario


def validate_design(base: Scenario, design: Design) -> list[Scenario]:
    """Every point's scenario, validated; all problems at once (deduplicated) if any."""
    data = base.model_dump(mode="python")
    problems: list[Problem] = []
    for spec in design.params:  # the corners first: one clear message per bad parameter
        corners = [spec.low, spec.high] if spec.kind == "bounds" else list(spec.values)
        for value in corners:
            if spec.integer and isinstance(value, float):
                value = int(np.rint(value))
            try:
                point_scenario(base, {spec.path: value}, data)
            except InputError as exc:
                problems += exc.problems
                break
    if problems:
        raise InputError(_unique(problems))
    scenarios = []
    for point in design.points:
        try:
            scenarios.append(point_scenario(base, point, data))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(_unique(problems))
    return scenarios


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for p in problems:
        seen.setdefault(str(p), p)
    return list(seen.values())


def build_design(base: Scenario, params: list[str], kind: str = "grid",
                 points: int | None = None) -> tuple[Design, list[Scenario]]:
    """Parse `--param` texts, make the design and validate every point against the scenario."""
    specs = with_field_types([parse_param(p) for p in params], base)
    design = make_design(specs, kind, points, seed=base.seed)
    return design, validate_design(base, design)
