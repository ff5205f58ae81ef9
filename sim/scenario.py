"""Scenarios: YAML files validated by strict pydantic models, with FILE:LINE error messages.

Flow: read YAML (remembering lines) -> apply `dotted.path=value` overrides -> validate the shape
with pydantic -> check what crosses fields (horizon, shares, arm settings) -> a `Scenario`.
Every problem found on the way is reported at once as `FILE:LINE: dotted.path: message`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from sim.errors import InputError, Problem
from sim.graph import CommunityGraphParams, EdgeListGraphParams, edge_list_problems
from sim.growth_accounting import GrowthAccountingParams
from sim.mechanics import REGISTRY
from sim.params import StrictModel
from sim.variants import numeric_paths
from sim.yaml_lines import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    Path,
    dotted,
    line_for,
    load_yaml_with_lines,
    too_big,
)

MechanicConfig = Annotated[
    Union[tuple(params for params, _ in REGISTRY.values())],  # noqa: UP007  (built from the registry)
    Field(discriminator="type"),
]


class Persona(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Persona name.")
    share: float = Field(gt=0.0, le=1.0, description="Share of the market in this persona.")
    description: str = Field("", description="Who they are, for people reading the scenario.")
    set: dict[str, float] = Field(
        default_factory=dict,
        description="Numeric mechanic parameters that differ for this persona, by dotted path "
        "from the scenario root, e.g. mechanics.purchase.purchase_rate.alpha: 20.",
    )


class Market(StrictModel):
    size: int = Field(ge=1, description="Potential users in the market (N), one row each.")
    personas: list[Persona] = Field(
        default_factory=list,
        description="Who the potential users are; omit for one persona, `everyone`.",
    )
    graph: Annotated[CommunityGraphParams | EdgeListGraphParams,
                     Field(discriminator="model")] | None = Field(
        None, description="Friendship graph shares travel on; mechanics that need one get "
        "the default community graph when this is omitted.")


class Arm(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Arm name, e.g. control.")
    share: float = Field(gt=0.0, le=1.0, description="Share of the market assigned to the arm.")
    set: dict[str, float] = Field(
        default_factory=dict,
        description="Numeric mechanic parameters this arm sets differently, by dotted path "
        "from the scenario root, e.g. mechanics.purchase.purchase_rate.r: 0.6.",
    )


NOT_ENROLLED = "not_enrolled"  # the counter arm of users outside the test (eligibility)


class Experiment(StrictModel):
    arms: list[Arm] = Field(min_length=2, description="Arms; the first is the control.")
    unit: Literal["user", "cluster", "ego"] = Field(
        "user", description="Randomisation unit: each user; whole graph communities "
        "(cluster); or ego clusters, a sampled user with all its friends (ego). With cluster "
        "or ego, arm shares are shares of units, not of users.")
    ego_share: float = Field(
        0.05, gt=0.0, le=1.0, description="ego unit only: share of users sampled as ego "
        "candidates; overlapping candidates are dropped, everyone left is randomised alone.")
    start_day: int = Field(0, ge=0, description="First day the arms' settings apply (before "
                           "it every arm runs with the control's values).")
    duration_days: int | None = Field(
        None, ge=1, description="Days the test is read over, from start_day; omit for the "
        "rest of the horizon.")
    eligibility: Literal["all", "new_users"] = Field(
        "all", description="Who is in the test: every potential user (all), or only users "
        "acquired on or after start_day (new_users); from start_day the others are counted "
        f"under the arm {NOT_ENROLLED!r} and keep the control's values.")
    launch: str | None = Field(
        None, description="Run the market as if this arm were launched: from start_day every "
        "enrolled user gets its settings, whatever arm they were assigned (the labels stay, so "
        "an A/A comparison can still be read). `simctl ab` sets it for its all-control and "
        "all-treatment markets; omit for an ordinary test.")
    primary_metric: str | None = Field(
        None, description="Metric the test decides on, a name from `simctl metrics`, "
        "e.g. purchases (per user).")
    guardrail_metrics: list[str] = Field(
        default_factory=list, description="Metrics that must not get worse, e.g. [gmv].")

    def last_day(self, days: int) -> int:
        """Last day (inclusive) the test is read over, for a horizon of `days`."""
        if self.duration_days is None:
            return days - 1
        return self.start_day + self.duration_days - 1


class Scenario(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Names the run folder.")
    description: str = Field("", description="Free text shown in reports.")
    seed: int = Field(0, ge=0, description="Root of every random stream.")
    days: int = Field(ge=1, le=3650, description="Horizon in days.")
    replicates: int = Field(1, ge=1, le=10000, description="Independent runs of the market.")
    market: Market = Field(description="The market of potential users.")
    mechanics: dict[str, MechanicConfig] = Field(
        description="Mechanics by name; each has a `type:` from the registry."
    )
    experiment: Experiment | None = Field(
        None, description="A/B arms inside the one market; omit for no experiment."
    )
    growth_accounting: GrowthAccountingParams = Field(
        default_factory=GrowthAccountingParams,
        description="Growth accounting (new, retained, resurrected, churned users and "
        "revenue per period): always on; this sets the period.")

    _source: str = PrivateAttr("<scenario>")
    _lines: dict = PrivateAttr(default_factory=dict)

    def problem(self, path: Path, message: str) -> Problem:
        """A problem located in the file this scenario came from (for checks done later)."""
        return Problem(self._source, line_for(path, self._lines), dotted(path), message)

    @model_validator(mode="after")
    def _names_are_slugs(self) -> Scenario:
        for key in self.mechanics:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"mechanic name {key!r} must be an identifier")
        return self

    @property
    def arm_names(self) -> list[str]:
        """The counter arms: the experiment's arms, plus `not_enrolled` (drawn by nobody, filled
        at start_day) when only new users are in the test; ["all"] without an experiment."""
        exp = self.experiment
        if exp is None:
            return ["all"]
        outside = [NOT_ENROLLED] if exp.eligibility == "new_users" else []
        return [a.name for a in exp.arms] + outside

    @property
    def arm_shares(self) -> list[float]:
        """Assignment shares of `arm_names` (0 for `not_enrolled`: nobody is assigned to it;
        a zero share at the end leaves every other user's draw unchanged)."""
        exp = self.experiment
        if exp is None:
            return [1.0]
        return [a.share for a in exp.arms] + [0.0] * (len(self.arm_names) - len(exp.arms))

    @property
    def mechanic_types(self) -> set[str]:
        """The `type:` of every mechanic in the scenario (what a mechanic may depend on)."""
        return {p.type for p in self.mechanics.values()}

    @property
    def persona_names(self) -> list[str]:
        return [p.name for p in self.market.personas] or ["everyone"]

    @property
    def persona_shares(self) -> list[float]:
        return [p.share for p in self.market.personas] or [1.0]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# --- loading ---------------------------------------------------------------------------------


def load_scenario(path: str | FilePath, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file; raise InputError with every problem."""
    source = str(path)
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # a bigger file is refused before parsing
        if len(raw) > MAX_FILE_BYTES:
            raise InputError([too_big(source, max(len(raw), FilePath(path).stat().st_size))])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError([Problem(source, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(source, None, "", f"cannot read: {exc}")]) from None
    return parse_scenario(text, source, overrides)


def parse_scenario(text: str, source: str, overrides: list[str] | None = None) -> Scenario:
    data, lines = load_yaml_with_lines(text, source)
    if not isinstance(data, dict):
        raise InputError([Problem(source, 1, "", "a scenario must be a mapping of fields")])
    data, overridden = apply_overrides(data, overrides or [], source)
    return validate_scenario(data, source, lines, overridden)


def validate_scenario(
    data: dict[str, Any],
    source: str = "<scenario>",
    lines: dict[Path, int] | None = None,
    overridden: dict[Path, str] | None = None,
) -> Scenario:
    lines, overridden = lines or {}, overridden or {}

    def locate(path: Path, message: str, severity: str = "error") -> Problem:
        for cut in range(len(path), 0, -1):
            if path[:cut] in overridden:
                return Problem(source, None, dotted(path),
                               f"{message} (from override {overridden[path[:cut]]})", severity)
        below = [text for key, text in overridden.items() if key[: len(path)] == path]
        if below and path not in lines:  # a section the overrides created
            return Problem(source, None, dotted(path),
                           f"{message} (from override {', '.join(below)})", severity)
        return Problem(source, line_for(path, lines), dotted(path), message, severity)

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [locate(*_explain(err, data)) for err in exc.errors()]
        raise InputError(_unique(problems)) from None
    problems = [locate(path, msg) for path, msg in check_scenario(scenario)]
    problems += [locate(path, msg) for path, msg in _graph_file_problems(scenario, source)]
    if problems:
        raise InputError(problems)
    scenario._source, scenario._lines = source, lines
    return scenario


def _graph_file_problems(scenario: Scenario, source: str) -> list[tuple[Path, str]]:
    """An edge-list file is read at validation (relative to the scenario file, as the engine
    reads it), so a wrong file is reported at the line of the field that names it."""
    graph = scenario.market.graph
    if not isinstance(graph, EdgeListGraphParams):
        return []
    problems = edge_list_problems(scenario.market.size, graph, FilePath(source).parent)
    return [(("market", "graph", field), message) for field, message in problems]


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _explain(err: Any, data: Any) -> tuple[Path, str]:
    """Turn a pydantic error into (path in the user's data, message that says what is right)."""
    path: list[str | int] = []
    node = data
    for part in err["loc"]:  # drop union tags that pydantic inserts into the location
        if _has(node, part):
            path.append(part)
            node = node[part]
        elif err["type"] in ("missing", "extra_forbidden") and part == err["loc"][-1]:
            path.append(part)
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        parent = _model_at(err["loc"][:-1])
        known = ", ".join(sorted(parent.model_fields)) if parent else ""
        msg = f"unknown field; expected one of: {known}" if known else "unknown field"
    elif kind == "missing":
        msg = "required field is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        if "mechanics" in err["loc"][:1]:
            msg = f"unknown or missing mechanic type; expected one of: {', '.join(REGISTRY)}"
            if isinstance(node, dict) and "type" in node:
                path.append("type")
    elif kind == "model_type" or kind == "dict_type":
        msg = "expected a mapping of fields"
    elif kind == "finite_number":
        msg = (f"{err['input']} is not a finite number; expected a finite number "
               "(.inf, -.inf and .nan are refused)")
    return tuple(path), msg


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _model_at(loc: tuple) -> type | None:
    """The pydantic model class at a validation location (for listing allowed fields)."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        if model is Scenario and part == "mechanics":
            model = "mechanics"
            continue
        if model == "mechanics":
            model = "mechanic"
            continue
        if model == "mechanic":
            if part in REGISTRY:
                model = REGISTRY[part][0]
                continue
            return None
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = _first_model(field.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) else None


def _first_model(annotation: Any) -> type | None:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


# --- overrides -------------------------------------------------------------------------------


def apply_overrides(
    data: dict[str, Any], overrides: list[str], source: str
) -> tuple[dict[str, Any], dict[Path, str]]:
    """Apply `dotted.path=value` (value parsed as a YAML scalar) before validation."""
    data = copy.deepcopy(data)
    done: dict[Path, str] = {}
    problems: list[Problem] = []
    for text in overrides:
        path, value, problem = parse_override(text)
        if problem:
            problems.append(Problem(source, None, "", f"override {_shown(text)}: {problem}"))
            continue
        node: Any = data
        keys: list[str | int] = []  # the path, with list positions as numbers (tiers.2.x)
        for key in path:
            if isinstance(node, list):
                if not (key.isdigit() and int(key) < len(node)):
                    problems.append(Problem(source, None, dotted(tuple(keys)),
                                            f"override {_shown(text)}: no item {key} in this list "
                                            f"of {len(node)} (items count from 0)"))
                    break
                keys.append(int(key))
            elif isinstance(node, dict):
                keys.append(key)
            else:
                problems.append(Problem(source, None, dotted(tuple(keys)),
                                        f"override {_shown(text)}: this field is a value, "
                                        "not a section"))
                break
            if len(keys) == len(path):
                node[keys[-1]] = value
                done[tuple(keys)] = _shown(text)
                break
            child = node[keys[-1]] if isinstance(node, list) else node.get(keys[-1])
            if child is None:
                node[keys[-1]] = child = {}
            node = child
    if problems:
        raise InputError(problems)
    return data, done


def _shown(text: str) -> str:
    """An override as messages quote it: cut when long (a pasted document, a bracket bomb)."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def parse_override(text: str) -> tuple[Path, Any, str | None]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        return (), None, "expected dotted.path=value, e.g. mechanics.acquisition.p=0.02"
    parts = key.split(".")
    if any(not re.fullmatch(r"[A-Za-z0-9_]+", p) for p in parts):
        return (), None, f"{_shown(key)} is not a dotted path of field names"
    if len(parts) > MAX_DEPTH:
        return (), None, f"the path has {len(parts)} parts; at most {MAX_DEPTH} are allowed"
    try:  # the scenario's loader, so an override has the same limits (nesting, aliases)
        value = load_yaml_with_lines(raw, "override")[0] if raw.strip() else None
    except InputError as exc:
        reason = exc.problems[0].message.removeprefix("YAML: ")
        if reason.startswith("the file is empty"):  # only a comment
            return (), None, "the value is empty; give e.g. key=0.5"
        return (), None, f"cannot read value as YAML ({reason})"
    if value is None:
        return (), None, "the value is empty; give e.g. key=0.5"
    return tuple(parts), value, None


# --- checks across fields --------------------------------------------------------------------


def check_scenario(scenario: Scenario) -> list[tuple[Path, str]]:
    """Rules pydantic cannot see field by field: dates inside the horizon, shares, arm settings."""
    problems: list[tuple[Path, str]] = []
    for name, mech in scenario.mechanics.items():
        window = mech.window
        if window is None:
            continue
        where: Path = ("mechanics", name, "window")
        if window.first_day >= scenario.days:
            problems.append(((*where, "first_day"), f"day {window.first_day} is outside the "
                             f"horizon 0..{scenario.days - 1}"))
        if window.last_day is not None:
            if window.last_day >= scenario.days:
                problems.append(((*where, "last_day"),
                                 f"day {window.last_day} is outside the horizon "
                                 f"0..{scenario.days - 1}"))
            if window.last_day < window.first_day:
                problems.append(((*where, "last_day"),
                                 f"must be >= first_day ({window.first_day})"))
    if scenario.experiment is not None:
        problems += _check_arms(scenario)
    if scenario.market.personas:
        problems += _check_personas(scenario)
    problems += _check_references(scenario)
    problems += _check_wiring(scenario)
    return problems


def _check_wiring(scenario: Scenario) -> list[tuple[Path, str]]:
    """Every signal and column a mechanic needs (`reads`, `uses`) is published or owned by a
    mechanic of this scenario (or by the engine): otherwise the mechanic would hear nothing."""
    from sim.growth_accounting import COLUMNS as ACCOUNTING
    from sim.mechanics import REGISTRY
    from sim.mechanics.base import CORE_SIGNALS
    from sim.population import CORE_COLUMNS

    classes = {name: REGISTRY[p.type][1] for name, p in scenario.mechanics.items()}
    signals = {*CORE_SIGNALS, *(s for cls in classes.values() for s in cls.published())}
    columns = {*CORE_COLUMNS, *ACCOUNTING, *(c for name, cls in classes.items()
                                            for c in cls.owned_columns(scenario.mechanics[name]))}
    problems: list[tuple[Path, str]] = []
    for name, cls in classes.items():
        kind = scenario.mechanics[name].type
        for signal in cls.reads:
            if signal not in signals:
                problems.append((("mechanics", name), f"{kind} reads the signal {signal!r}, "
                                 "which no mechanic of this scenario publishes; add one that "
                                 f"does ({', '.join(_publishers(signal)) or 'none exists'})"))
        for column in cls.uses:
            if column not in columns:
                problems.append((("mechanics", name), f"{kind} reads the column {column!r}, "
                                 "which no mechanic of this scenario keeps"))
    return problems


def _publishers(signal: str) -> list[str]:
    """Mechanic types that publish a signal (for the message that asks for one)."""
    from sim.mechanics import REGISTRY

    return [kind for kind, (_, cls) in REGISTRY.items() if signal in cls.published()]


def _check_references(scenario: Scenario) -> list[tuple[Path, str]]:
    """Personas and channels named by mechanics exist; dated things fall inside the horizon;
    options that contradict each other are refused."""
    from sim.mechanics import REGISTRY

    problems: list[tuple[Path, str]] = []
    personas = set(scenario.persona_names)
    channels = {c for p in scenario.mechanics.values()
                for c in REGISTRY[p.type][1].channels(p)}
    last = scenario.days - 1
    for name, params in scenario.mechanics.items():
        for path, value in _walk(params, ("mechanics", name)):
            key = path[-1] if not isinstance(path[-1], int) else path[-2]
            if key == "personas":
                if value not in personas:
                    problems.append((path, f"persona {value!r} is not defined in "
                                     f"market.personas ({', '.join(sorted(personas))})"))
            elif key == "channels" and value not in channels:
                problems.append((path, f"channel {value!r} is not a channel of this scenario "
                                 f"({', '.join(sorted(channels)) or 'none'})"))
            elif key == "day" and isinstance(value, int) and value > last:
                problems.append((path, f"day {value} is outside the horizon 0..{last}"))
        problems += params.cross_problems(name, scenario)
    return problems


def _walk(model: Any, path: Path) -> list[tuple[Path, Any]]:
    """Every leaf value of a parameter model with its path (list items get their index)."""
    from pydantic import BaseModel

    out: list[tuple[Path, Any]] = []
    if isinstance(model, BaseModel):
        for field in type(model).model_fields:
            out += _walk(getattr(model, field), (*path, field))
    elif isinstance(model, list):
        for i, item in enumerate(model):
            out += _walk(item, (*path, i))
    else:
        out.append((path, model))
    return out


def _check_arms(scenario: Scenario) -> list[tuple[Path, str]]:
    """Arm settings, and the experiment's dates and metric names."""
    from sim.metrics import METRICS

    exp = scenario.experiment
    problems = _check_settings(scenario, exp.arms, ("experiment", "arms"), "arm")
    last = scenario.days - 1
    if exp.start_day > last:
        problems.append((("experiment", "start_day"),
                         f"day {exp.start_day} is outside the horizon 0..{last}"))
    elif exp.duration_days is not None and exp.last_day(scenario.days) > last:
        problems.append((("experiment", "duration_days"),
                         f"{exp.duration_days} days from start_day {exp.start_day} end on day "
                         f"{exp.last_day(scenario.days)}, outside the horizon 0..{last}"))
    arm_names = [a.name for a in exp.arms]
    if exp.launch is not None and exp.launch not in arm_names:
        problems.append((("experiment", "launch"), f"unknown arm {exp.launch!r}; expected one "
                         f"of: {', '.join(arm_names)}"))
    if NOT_ENROLLED in arm_names:
        problems.append((("experiment", "arms", arm_names.index(NOT_ENROLLED), "name"),
                         f"{NOT_ENROLLED!r} is the arm of users outside the test; choose "
                         "another name"))
    known = ", ".join(sorted(METRICS))
    names = [(("experiment", "primary_metric"), exp.primary_metric)] + [
        (("experiment", "guardrail_metrics", i), m) for i, m in enumerate(exp.guardrail_metrics)]
    for where, name in names:
        if name is not None and name not in METRICS:
            problems.append((where, f"unknown metric {name!r}; expected one of: {known}"))
    return problems


def _check_personas(scenario: Scenario) -> list[tuple[Path, str]]:
    return _check_settings(scenario, scenario.market.personas, ("market", "personas"), "persona")


def _check_settings(scenario: Scenario, items: list, where_list: Path,
                    what: str) -> list[tuple[Path, str]]:
    """Shares sum to 1, names are unique, each `set` names a numeric parameter that may vary,
    and the item's settings together give a valid scenario (checked as a whole, since fields
    constrain each other, e.g. cold_lift <= max_lift; errors go to the key that caused them)."""
    problems: list[tuple[Path, str]] = []
    total = sum(a.share for a in items)
    if abs(total - 1.0) > 1e-9:
        problems.append((where_list, f"{what} shares sum to {total:g}; they must sum to 1"))
    names = [a.name for a in items]
    for i, item in enumerate(items):
        if names.count(item.name) > 1:
            problems.append(((*where_list, i, "name"), f"{what} name {item.name!r} repeats"))
        valid: list[str] = []
        for key in item.set:
            problem = _setting_problem(scenario, key, what)
            if problem:
                problems.append(((*where_list, i, "set", key), problem))
            else:
                valid.append(key)
        if not valid:
            continue
        try:
            _arm_variant(scenario, {key: item.set[key] for key in valid})
        except ValidationError as exc:
            for err in exc.errors():
                key = _key_of_error(err["loc"], valid)
                problems.append(((*where_list, i, "set", key), err["msg"]))
    return problems


def _setting_problem(scenario: Scenario, key: str, what: str) -> str | None:
    """Why one `set` key cannot be an arm's or persona's setting (None if it can)."""
    parts = key.split(".")
    if len(parts) < 3 or parts[0] != "mechanics" or parts[1] not in scenario.mechanics:
        return ("expected mechanics.<name>.<parameter>, with a mechanic of this scenario "
                f"({', '.join(scenario.mechanics)})")
    params = scenario.mechanics[parts[1]]
    field = ".".join(parts[2:])
    allowed = numeric_paths(params)
    if field not in allowed:
        return (f"not a numeric parameter of mechanic {parts[1]!r}; expected one of: "
                f"{', '.join(sorted(allowed))}")
    if any(field == f or field.startswith(f + ".") for f in type(params).fixed_fields):
        return (f"{field} applies to the whole market ({params.type} reads one value for "
                f"everyone); it cannot differ by {what}: set it under mechanics.{parts[1]}")
    exp = scenario.experiment
    late = what == "arm" and exp is not None and exp.start_day > 0
    if late and any(field == f or field.startswith(f + ".") for f in type(params).trait_fields):
        return (f"{field} is drawn once per user before day 0 ({params.type}); an arm can "
                f"set it only when the test starts on day 0, not on start_day "
                f"{exp.start_day}: set experiment.start_day: 0, or test a lever that acts "
                "when it is used")
    return None


def _key_of_error(loc: tuple, keys: list[str]) -> str:
    """The `set` key a validation error of a variant comes from: the key at or below the
    error's location (a model's own check sits on the model), else the first key."""
    path = [str(part) for part in loc]
    if len(path) > 2 and path[0] == "mechanics":  # drop the union tag pydantic inserts
        path = path[:2] + path[3:]
    where = ".".join(path)
    for key in keys:
        if key == where or key.startswith(where + "."):
            return key
    for key in keys:
        if where.startswith(key + "."):
            return key
    return keys[0]


def _arm_variant(scenario: Scenario, settings: dict[str, float]) -> Scenario:
    data = scenario.model_dump(mode="python")
    for key, value in settings.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[part]
        old = node[parts[-1]]
        integral = isinstance(old, int) and float(value).is_integer()
        node[parts[-1]] = int(value) if integral else value
    return Scenario.model_validate(data)


def arm_settings(scenario: Scenario, with_arms: bool = True) -> list[dict[str, float]]:
    """The `set` each counter arm (`Scenario.arm_names`) runs with. Before an experiment's
    start day (`with_arms=False`) every arm runs with the control's; from it, each arm with its
    own, or every arm with the launched arm's (`launch`); users outside the test
    (`not_enrolled`) keep the control's throughout. So the markets `simctl ab` compares are
    the same market, draw for draw, until start_day."""
    exp = scenario.experiment
    if exp is None:
        return [{}]
    control = exp.arms[0].set
    launched = next((a.set for a in exp.arms if a.name == exp.launch), None)
    out = []
    for i in range(len(scenario.arm_names)):
        if not with_arms or i >= len(exp.arms):
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
            out.append(_arm_variant(scenario, settings) if settings else scenario)
    return out


def scenario_schema() -> dict[str, Any]:
    """JSON Schema of scenario files, for editors."""
    schema = Scenario.model_json_schema()
    schema["title"] = "growthsim scenario"
    return schema
