"""Designs over dotted parameter paths: grid of lists / ranges, Latin hypercube and Sobol in bounds.

A parameter is given as `dotted.path=VALUES`:

- a list `5,10,20` (each item a YAML scalar, so `clip,poisson` works too),
- a range `5:30:5` (start:stop:step, stop included when the steps land on it),
- bounds `lo..hi` for sampled designs (`lhs`, `sobol`, and sensitivity / optimisation).

Every point is applied to the base scenario and validated before anything runs, so a typo in a
path or a value out of range is the usual located error (exit 2), never a failed sweep.
Sampling uses scipy.stats.qmc with a seed derived from the scenario seed, so a design is
reproducible.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import yaml

from sim.errors import InputError, Problem
from sim.scaling import rescale
from sim.scenario import Scenario, validate_scenario

if TYPE_CHECKING:
    from scipy.stats import qmc
from sim.yaml_lines import dotted, line_for

Value = int | float | str | bool
DESIGNS = ("grid", "lhs", "sobol")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass(frozen=True)
class ParamSpec:
    """One swept parameter: explicit values (list / range) or bounds for sampling."""

    path: str
    kind: Literal["list", "range", "bounds"]
    values: tuple[Value, ...] = ()
    low: float | None = None
    high: float | None = None
    integer: bool = False
    text: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """The first field's keys (linked fields `a+b` move together and share its type)."""
        return tuple(self.path.split("+")[0].split("."))


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


def _problem(path: str, message: str) -> Problem:
    return Problem("--param", None, path, message)


def _number(raw: str, path: str, text: str) -> float | int:
    raw = raw.strip()
    if not re.fullmatch(_NUMBER, raw):
        raise InputError([_problem(path, f"{raw!r} in {text!r} is not a number")])
    value = float(raw)
    return int(value) if re.fullmatch(r"[-+]?\d+", raw) else value


def parse_param(text: str) -> ParamSpec:
    """`path=5,10,20` | `path=5:30:5` | `path=lo..hi` -> ParamSpec (InputError when malformed);
    `path1+path2=...` links fields that move together (both referral rewards)."""
    path, sep, raw = text.partition("=")
    path, raw = path.strip(), raw.strip()
    if not sep or not path or not raw:
        raise InputError([_problem("", f"{text!r}: expected dotted.path=VALUES, e.g. "
                                   "mechanics.acquisition.q=0.1,0.2,0.3 or 0.1:0.5:0.1 "
                                   "or 0.1..0.5")])
    if any(not re.fullmatch(r"[A-Za-z0-9_]+", p) for one in path.split("+")
           for p in one.split(".")):
        raise InputError([_problem("", f"{path!r} is not a dotted path of field names (or "
                                   "several joined by +)")])
    if ".." in raw:
        lo_raw, _, hi_raw = raw.partition("..")
        lo, hi = _number(lo_raw, path, text), _number(hi_raw, path, text)
        if not lo < hi:
            raise InputError([_problem(path, f"bounds {raw!r}: the low end must be below the "
                                       "high end, e.g. 0.001..0.05")])
        integer = isinstance(lo, int) and isinstance(hi, int)
        return ParamSpec(path, "bounds", (), float(lo), float(hi), integer, text)
    if ":" in raw:
        parts = raw.split(":")
        if len(parts) != 3:
            raise InputError([_problem(path, f"range {raw!r}: expected start:stop:step, "
                                       "e.g. 5:30:5")])
        start, stop, step = (_number(p, path, text) for p in parts)
        if step == 0:
            raise InputError([_problem(path, f"range {raw!r}: step must not be 0, "
                                       "e.g. 5:30:5")])
        if (stop - start) * step < 0:
            raise InputError([_problem(path, f"range {raw!r}: step {step} goes away from "
                                       f"{stop}; use step {-step}")])
        count = math.floor((stop - start) / step + 1e-9) + 1
        integer = all(isinstance(v, int) for v in (start, stop, step))
        values: list[Value] = [start + i * step if integer else round(start + i * step, 12)
                               for i in range(count)]
        return ParamSpec(path, "range", tuple(values), integer=integer, text=text)
    items = [i.strip() for i in raw.split(",")]
    values = []
    for item in items:
        try:
            value = yaml.safe_load(item) if item else None
        except yaml.YAMLError:
            value = None
        if value is None or isinstance(value, list | dict):
            raise InputError([_problem(path, f"{item!r} in {raw!r} is not a value; give a list "
                                       "like 5,10,20")])
        values.append(value)
    integer = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return ParamSpec(path, "list", tuple(values), integer=integer, text=text)


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


def with_field_types(specs: list[ParamSpec], base: Scenario) -> list[ParamSpec]:
    """Integer fields of the scenario get integer values (sampled values are rounded)."""
    data = base.model_dump(mode="python")
    out = []
    for spec in specs:
        current = _current(data, spec.keys)
        integer = (isinstance(current, int) and not isinstance(current, bool)) or (
            current is None and spec.integer)
        values = spec.values
        if integer and spec.kind != "bounds":
            values = tuple(int(np.rint(v)) if isinstance(v, float) else v for v in values)
        out.append(ParamSpec(spec.path, spec.kind, values, spec.low, spec.high, integer,
                             spec.text))
    return out


def _check_names(names: list[str]) -> None:
    """Each parameter once, and none named like a column of the results table."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError([_problem(repeated[0], "given twice; give each parameter once")])
    taken = [n for n in names if n in RESULT_COLUMNS]
    if taken:
        raise InputError([_problem(taken[0], "names a column of the sweep's results (each "
                                   "replicate's own seed is in `seed`); for more random "
                                   "streams per point give --replicates N")])


def make_design(specs: list[ParamSpec], kind: str = "grid", points: int | None = None,
                seed: int = 0) -> Design:
    """Points of a grid (cartesian product) or of an LHS / Sobol sample scaled to the bounds."""
    from scipy.stats import qmc  # here: scipy.stats is half a second of import
    if not specs:
        raise InputError([_problem("", "give at least one --param dotted.path=VALUES")])
    _check_names([s.path for s in specs])
    if kind not in DESIGNS:
        raise InputError([Problem("--design", None, "", f"unknown design {kind!r}; expected one "
                                  f"of: {', '.join(DESIGNS)}")])
    if kind == "grid":
        for s in specs:
            if s.kind == "bounds":
                raise InputError([_problem(s.path, f"a grid needs values, not bounds "
                                           f"{s.text.partition('=')[2]!r}: give a list 1,2,3 "
                                           "or a range 1:3:1, or use --design lhs|sobol")])
        grids = np.meshgrid(*[np.arange(len(s.values)) for s in specs], indexing="ij")
        index = np.stack([g.ravel() for g in grids], axis=1)
        rows = [{s.path: s.values[i] for s, i in zip(specs, row, strict=True)} for row in index]
        return Design(kind, specs, rows)
    for s in specs:
        if s.kind != "bounds":
            raise InputError([_problem(s.path, f"--design {kind} samples within bounds: give "
                                       "lo..hi, e.g. 0.001..0.05")])
    if points is None or points < 1:
        raise InputError([Problem("--points", None, "", f"--design {kind} needs --points N "
                                  "(N >= 1), e.g. --points 64")])
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
        if child is None:
            node[step] = child = {}
        node = child
    return tuple(done), None


def point_scenario(base: Scenario, point: dict[str, Value],
                   data: dict[str, Any] | None = None) -> Scenario:
    """The base scenario with a point's values applied and validated (located errors). A point
    with its own market.size starts from the data as written and scales it to that size, as
    `simctl run ... market.size=N` would."""
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
                                          dotted(keys), f"--param {path}: {message}")])
            overridden[keys] = f"--param {path}={value}"
    if sized:
        data, _ = rescale(data, base._source, base._lines, overridden)
    return validate_scenario(data, base._source, base._lines, overridden)


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
