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
from sim.graph import CommunityGraphParams, EdgeListGraphParams
from sim.growth_accounting import GrowthAccountingParams
from sim.mechanics import REGISTRY
from sim.overrides import apply_overrides, shorten_horizon
from sim.params import StrictModel
from sim.scaling import Scaled, rescale, said_scaled
from sim.scenario_checks import check_scenario, graph_file_problems, inert_settings
from sim.scenario_locate import explain, unique_problems
from sim.variants import NOT_ENROLLED, NOT_SAMPLED
from sim.yaml_lines import (
    MAX_FILE_BYTES,
    Path,
    dotted,
    likely_cause,
    line_for,
    load_yaml_with_lines,
    not_utf8,
    too_big,
)

# libyaml's safe dumper when PyYAML has it: 4x faster (a `simctl run` dumps the resolved
# scenario three times, for the folder name, the file and the report: 7.4 -> 1.8 ms each for
# scale.yaml). The same text but for characters beyond the BMP (emoji), which it escapes
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# A scenario's name is its run folder's name: letters (CJK ideographs too), digits, _, . and -,
# never starting with "." (so neither "." nor ".." climbs out of the runs folder). Written
# with \u escapes that Python, pydantic (Rust) and JSON Schema (ECMA 262) read alike.
_NAME_CHAR = r"A-Za-z0-9_\u3400-\u4dbf\u4e00-\u9fff"
SCENARIO_NAME = rf"^[{_NAME_CHAR}][{_NAME_CHAR}.-]*$"


def scenario_name_from(text: str) -> str:
    """A valid scenario name made from a file name (`init --out 冷启动.yaml` -> 冷启动): other
    characters become _, and a leading . or - goes."""
    name = re.sub(rf"[^{_NAME_CHAR}.-]", "_", text).lstrip(".-")
    return name or "scenario"

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
    reference_size: int | None = Field(
        None, ge=1, description="The market size the scenario's absolute quantities (seed "
        "users, budgets, a post's reach and cost, stock) were written for; with another size "
        "they are rescaled in proportion (a note says so). Omit to take them as written.")
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




class CalibrationDefaults(StrictModel):
    """What `simctl calibrate` fits for this scenario when the command line does not say:
    the question the scenario was written to answer, so the documented command gives the
    documented figures."""

    targets: dict[str, Annotated[float, Field(gt=0.0)]] = Field(
        default_factory=dict, description="Metrics to fit and their weights, e.g. "
        "{repeat_purchases: 1} (default for --targets).")
    fit: list[str] = Field(
        default_factory=list, description="Parameters and bounds, dotted.path=lo..hi "
        "(default for --fit), e.g. mechanics.purchase.dropout.a=0.05..5.")
    method: Literal["msm", "likelihood"] = Field(
        "msm", description="How to fit (default for --method): msm, simulated moments of "
        "the weekly targets (any parameter); likelihood, the exact per-customer likelihood "
        "of a purchase_dropout mechanic from an event log (its r, alpha, a, b only; the "
        "same answer for every seed).")


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
    enrolment: float = Field(
        1.0, gt=0.0, le=1.0, description="Share of the eligible units enrolled in the test "
        "(partial enrolment, e.g. 0.2); the rest are counted under the arm "
        f"{NOT_SAMPLED!r}, keep the control's values and stay in the market (friends, "
        "referrals), as in a test that exposes only part of the users.")
    launch: str | None = Field(
        None, description="Run the market as if this arm were launched: from start_day every "
        "enrolled user gets its settings, whatever arm they were assigned (the labels stay, so "
        "an A/A comparison can still be read). `simctl ab` sets it for its all-control and "
        "all-treatment markets; omit for an ordinary test.")
    primary_metric: str | None = Field(
        None, description="Metric the test decides on, a name from docs/metrics.md, "
        "e.g. purchases (per user).")
    guardrail_metrics: list[str] = Field(
        default_factory=list, description="Metrics that must not get worse, e.g. [gmv].")

    def last_day(self, days: int) -> int:
        """Last day (inclusive) the test is read over, for a horizon of `days`."""
        if self.duration_days is None:
            return days - 1
        return self.start_day + self.duration_days - 1


class Scenario(StrictModel):
    name: str = Field(pattern=SCENARIO_NAME, description="Names the run folder: letters "
                      "(中文 too), digits, _, . and -, starting with a letter, digit or _.")
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
    calibration: CalibrationDefaults | None = Field(
        None, description="What `simctl calibrate` fits by default (targets, parameters)."
    )
    growth_accounting: GrowthAccountingParams = Field(
        default_factory=GrowthAccountingParams,
        description="Growth accounting (new, retained, resurrected, churned users and "
        "revenue per period): always on; this sets the period.")

    _source: str = PrivateAttr("<scenario>")
    _lines: dict = PrivateAttr(default_factory=dict)
    _notes: list = PrivateAttr(default_factory=list)  # what loading changed, to be said
    # the data as written and overridden, before scaling to market.size (and the overridden
    # paths, which never scale): a sweep point with its own market.size scales from it
    _unscaled: tuple[dict, dict] | None = PrivateAttr(None)

    @property
    def notes(self) -> list[Problem]:
        """Located notes on what loading left out (dated things past a shortened horizon)."""
        return list(self._notes)

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
        at start_day) when only new users are in the test, and `not_sampled` (drawn with share
        1 - enrolment) under partial enrolment; ["all"] without an experiment."""
        exp = self.experiment
        if exp is None:
            return ["all"]
        outside = [NOT_ENROLLED] if exp.eligibility == "new_users" else []
        sampled = [NOT_SAMPLED] if exp.enrolment < 1.0 else []
        return [a.name for a in exp.arms] + outside + sampled

    @property
    def arm_shares(self) -> list[float]:
        """Assignment shares of `arm_names` (0 for `not_enrolled`: nobody is assigned to it;
        a zero share at the end leaves every other user's draw unchanged; the arms share the
        enrolment and `not_sampled` takes the rest)."""
        exp = self.experiment
        if exp is None:
            return [1.0]
        shares = [a.share * exp.enrolment for a in exp.arms]
        if exp.eligibility == "new_users":
            shares.append(0.0)
        if exp.enrolment < 1.0:
            shares.append(1.0 - exp.enrolment)
        return shares

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
        """The resolved scenario as YAML (what `load_scenario` reads back to an equal one)."""
        return yaml.dump(self.model_dump(mode="json"), Dumper=_SAFE_DUMPER, sort_keys=False,
                         allow_unicode=True)


def load_scenario(path: str | FilePath, overrides: str | list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file; raise InputError with every problem.
    `overrides` is a list of `dotted.path=value` strings, or one such string."""
    source = str(path)
    overrides = override_list(overrides, source)  # a wrong type before reading anything
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # a bigger file is refused before parsing
        if len(raw) > MAX_FILE_BYTES:
            raise InputError([too_big(source, max(len(raw), FilePath(path).stat().st_size))])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError([Problem(source, None, "", "no such file")]) from None
    except IsADirectoryError:
        raise InputError([Problem(source, None, "", "is a folder; give a scenario file "
                                  "(.yaml), e.g. scenarios/cold_start.yaml")]) from None
    except UnicodeDecodeError as exc:
        raise InputError([not_utf8(source, raw, exc)]) from None
    except OSError as exc:
        raise InputError([Problem(source, None, "", f"cannot read: {exc}")]) from None
    return parse_scenario(text, source, overrides)


def parse_scenario(text: str, source: str,
                   overrides: str | list[str] | None = None) -> Scenario:
    overrides = override_list(overrides, source)
    data, lines = load_yaml_with_lines(text, source)
    if not isinstance(data, dict):
        raise InputError([Problem(source, 1, "", "a scenario must be a mapping of fields")])
    written_days = data.get("days")
    data, overridden = apply_overrides(data, overrides, source)
    shortened: list[Problem] = []
    if ("days",) in overridden:
        data, shortened = shorten_horizon(data, written_days, source, lines)
    market = data.get("market")
    unscaled = copy.deepcopy(data) if isinstance(market, dict) and "reference_size" in market \
        else None
    scaled: Scaled = {}
    data, notes = rescale(data, source, lines, overridden, scaled)
    try:
        scenario = validate_scenario(data, source, lines, overridden, scaled)
    except InputError as exc:  # `size：100` is valid YAML (a string): say the slip first
        cause = likely_cause(text, None)
        if cause is None:
            raise
        raise InputError([Problem(source, cause[0], "", cause[1]), *exc.problems]) from None
    scenario._notes = notes + shortened + scenario._notes
    scenario._unscaled = None if unscaled is None else (unscaled, overridden)
    return scenario


def override_list(overrides: Any, source: str) -> list[str]:
    """From Python one string is one override (what `load_scenario(path, "market.size=2000")`
    means), not one override per character; any other non-list is one clear InputError."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        return [overrides]
    if isinstance(overrides, list | tuple):
        wrong = [o for o in overrides if not isinstance(o, str)]
        if not wrong:
            return list(overrides)
        got = f"a list holding {wrong[0]!r:.40} ({type(wrong[0]).__name__})"
    else:
        got = f"{overrides!r:.40} ({type(overrides).__name__})"
    raise InputError([Problem(source, None, "", f"overrides: got {got}; give a list of "
                              "'dotted.path=value' strings, e.g. ['market.size=2000']")])


def _origin(said: str, zh: bool = False) -> str:
    """Where a value came from, as messages say it: `--days 60` (an option), else an override
    (覆盖参数 in Chinese)."""
    if said.startswith("--"):
        return f" {said}" if zh else said
    return f"覆盖参数 {said}" if zh else f"override {said}"


def validate_scenario(
    data: dict[str, Any],
    source: str = "<scenario>",
    lines: dict[Path, int] | None = None,
    overridden: dict[Path, str] | None = None,
    scaled: Scaled | None = None,
) -> Scenario:
    """`scaled`: the values `rescale` changed (a warning about one says so)."""
    lines, overridden = lines or {}, overridden or {}

    def locate(path: Path, message: str, severity: str = "error", zh: str = "") -> Problem:
        for cut in range(len(path), 0, -1):
            if path[:cut] in overridden:
                said = overridden[path[:cut]]
                return Problem(source, None, dotted(path), f"{message} (from {_origin(said)})",
                               severity, zh and f"{zh}（来自{_origin(said, zh=True)}）")
        below = [text for key, text in overridden.items() if key[: len(path)] == path]
        if below and path not in lines:  # a section the overrides created
            origins = ", ".join(map(_origin, below))
            origins_zh = "、".join(_origin(said, zh=True) for said in below)
            return Problem(source, None, dotted(path), f"{message} (from {origins})", severity,
                           zh and f"{zh}（来自{origins_zh}）")
        return Problem(source, line_for(path, lines), dotted(path), message, severity, zh)

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [locate(*explain(err, data, Scenario)) for err in exc.errors()]
        raise InputError(unique_problems(problems)) from None
    problems = [locate(path, msg) for path, msg in check_scenario(scenario)]
    problems += [locate(path, msg) for path, msg in graph_file_problems(scenario, source)]
    if problems:
        raise InputError(problems)
    scenario._source, scenario._lines = source, lines
    scenario._notes = []
    for path, en, zh in inert_settings(scenario):
        en, zh = said_scaled(path, en, zh, scaled or {})
        scenario._notes.append(locate(path, en, "warning", zh))
    return scenario


def scenario_schema() -> dict[str, Any]:
    """JSON Schema of scenario files, for editors."""
    schema = Scenario.model_json_schema()
    schema["title"] = "growthsim scenario"
    return schema
