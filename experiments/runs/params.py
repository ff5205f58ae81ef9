"""`--param dotted.path=VALUES` as typed on the command line -> a ParamSpec, and hints that fit
a refused parameter.

VALUES is one of:

- a list `5,10,20` (each item a YAML scalar, so `clip,poisson` works too),
- a range `5:30:5` (start:stop:step, stop included when the steps land on it),
- bounds `lo..hi` (sampled designs `lhs` and `sobol`, sensitivity, optimisation, calibration).

Which forms a command takes is its own business (experiments.runs.design for sweeps,
experiments.runs.sensitivity.bounds_specs for the others). Why the errors name the option and the
text as typed (`--param mechanics.gift.value=0:30:0: the step must not be 0; e.g. 0:30:5`): a
command may have several --param options, and the user must see at once which one to fix.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from sim.errors import InputError, Problem

Value = int | float | str | bool
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


def param_error(text: str, message: str, option: str = "--param") -> InputError:
    """A refused parameter, named by the option and the text as typed (`--param
    mechanics.gift.value=0:30:0: the step must not be 0; e.g. 0:30:6`), so the user sees at
    once which of several --param options to fix."""
    return InputError([Problem(f"{option} {text.strip()}".strip(), None, "", message)])


def _fmt(value: float) -> str:
    return f"{value:g}"


def step_hint(start: float, stop: float, integer: bool) -> str:
    """A round step (1, 2 or 5 times a power of ten) that walks from start to stop in about
    five steps or more: the hint of a range with step 0."""
    span = abs(stop - start) / 5
    if not span:
        return "1"
    power = 10.0 ** math.floor(math.log10(span))
    step = max(m * power for m in (1, 2, 5) if m * power <= span)
    if integer:
        step = max(1, round(step))
    return _fmt(math.copysign(step, stop - start))


def _number(raw: str, text: str, option: str) -> float | int:
    raw = raw.strip()
    if not re.fullmatch(_NUMBER, raw):
        raise param_error(text, f"{raw!r} is not a number", option)
    value = float(raw)
    return int(value) if re.fullmatch(r"[-+]?\d+", raw) else value


def _bounds(raw: str, text: str, option: str) -> tuple[float | int, float | int]:
    lo_raw, _, hi_raw = raw.partition("..")
    lo, hi = _number(lo_raw, text, option), _number(hi_raw, text, option)
    if not lo < hi:
        example = f"{_fmt(hi)}..{_fmt(lo)}" if hi < lo else "0.001..0.05"
        raise param_error(text, f"the low end must be below the high end; e.g. {example}", option)
    return lo, hi


def _range(raw: str, text: str, option: str) -> tuple[list[Value], bool]:
    """`start:stop:step` -> its values (stop included when the steps land on it)."""
    parts = raw.split(":")
    if len(parts) != 3:
        raise param_error(text, "a range is start:stop:step, e.g. 5:30:5", option)
    start, stop, step = (_number(p, text, option) for p in parts)
    integer = all(isinstance(v, int) for v in (start, stop, step))
    if step == 0:
        hint = f"{_fmt(start)}:{_fmt(stop)}:{step_hint(start, stop, integer)}"
        raise param_error(text, f"the step must not be 0; e.g. {hint}", option)
    if (stop - start) * step < 0:
        raise param_error(text, f"the step {_fmt(step)} goes away from {_fmt(stop)}; use step "
                          f"{_fmt(-step)}, e.g. {_fmt(start)}:{_fmt(stop)}:{_fmt(-step)}",
                          option)
    count = math.floor((stop - start) / step + 1e-9) + 1
    return [start + i * step if integer else round(start + i * step, 12)
            for i in range(count)], integer


def _items(raw: str, text: str, option: str) -> list[Value]:
    values: list[Value] = []
    for item in (i.strip() for i in raw.split(",")):
        if re.fullmatch(_NUMBER, item):  # 1e-2 is a number here as in bounds (YAML: a word)
            values.append(_number(item, text, option))
            continue
        try:
            value = yaml.safe_load(item) if item else None
        except yaml.YAMLError:
            value = None
        if value is None or isinstance(value, list | dict):
            raise param_error(text, f"{item!r} is not a value; give a list like 5,10,20", option)
        values.append(value)
    return values


def parse_param(text: str, option: str = "--param") -> ParamSpec:
    """`path=5,10,20` | `path=5:30:5` | `path=lo..hi` -> ParamSpec (InputError when malformed,
    named by `option` and the text); `path1+path2=...` links fields that move together (both
    referral rewards)."""
    path, sep, raw = text.partition("=")
    path, raw = path.strip(), raw.strip()
    if not sep or not path or not raw:
        raise param_error(text, "expected dotted.path=VALUES, e.g. "
                          "mechanics.acquisition.q=0.1:0.5:0.1 or 0.1..0.5", option)
    if any(not re.fullmatch(r"[A-Za-z0-9_]+", p) for one in path.split("+")
           for p in one.split(".")):
        raise param_error(text, f"{path!r} is not a dotted path of field names (or several "
                          "joined by +)", option)
    if ".." in raw:
        lo, hi = _bounds(raw, text, option)
        integer = isinstance(lo, int) and isinstance(hi, int)
        return ParamSpec(path, "bounds", (), float(lo), float(hi), integer, text)
    if ":" in raw:
        values, integer = _range(raw, text, option)
        return ParamSpec(path, "range", tuple(values), integer=integer, text=text)
    values = _items(raw, text, option)
    integer = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    return ParamSpec(path, "list", tuple(values), integer=integer, text=text)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def numeric_field(spec: ParamSpec, current: Any = None) -> bool:
    """Whether a parameter is a number: its field's value in the scenario says, else (a field
    left unset) the values given."""
    if current is not None:
        return _numeric(current)
    return all(_numeric(v) for v in spec.values)


def bounds_hint(spec: ParamSpec, current: Any = None) -> str:
    """Bounds that fit a parameter, for a hint: those of the numbers given (`5..20` for
    5,10,20), else around the field's value in the scenario, else lo..hi."""
    numbers = [v for v in spec.values if _numeric(v)]
    if len(numbers) == len(spec.values) and min(numbers, default=0) < max(numbers, default=0):
        return f"{_fmt(min(numbers))}..{_fmt(max(numbers))}"
    if _numeric(current) and current > 0:
        return f"{_fmt(current / 2)}..{_fmt(current * 2)}"
    return "0..1" if _numeric(current) else "lo..hi"


def range_hint(spec: ParamSpec) -> str:
    """A range over bounds (`0:30:5` for 0..30), for a hint."""
    low, high = spec.low or 0.0, spec.high or 0.0
    return f"{_fmt(low)}:{_fmt(high)}:{step_hint(low, high, spec.integer)}"
