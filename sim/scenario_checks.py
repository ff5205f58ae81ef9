"""The rules pydantic cannot see field by field: dates inside the horizon, shares, arm and
persona settings (each must validate as a scenario), references to personas and channels,
the wiring of mechanics (every signal or column read is published or owned by a mechanic of
this scenario), and edge-list files read where they are named."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sim.errors import did_you_mean
from sim.graph import EdgeListGraphParams, edge_list_problems
from sim.mechanics import REGISTRY
from sim.variants import NOT_ENROLLED, NOT_SAMPLED, arm_variant, numeric_paths
from sim.yaml_lines import (
    Path,
)

if TYPE_CHECKING:
    from sim.scenario import Scenario


def graph_file_problems(scenario: Scenario, source: str) -> list[tuple[Path, str]]:
    """An edge-list file is read at validation (relative to the scenario file, as the engine
    reads it), so a wrong file is reported at the line of the field that names it."""
    graph = scenario.market.graph
    if not isinstance(graph, EdgeListGraphParams):
        return []
    problems = edge_list_problems(scenario.market.size, graph, FilePath(source).parent)
    return [(("market", "graph", field), message) for field, message in problems]


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
    problems += _check_base_channels(scenario)
    problems += _check_wiring(scenario)
    if scenario.calibration is not None:
        from sim.metrics import METRICS

        problems += [(("calibration", "targets", name), f"unknown metric {name!r}"
                      f"{did_you_mean(name, METRICS)}; see docs/metrics.md")
                     for name in scenario.calibration.targets if name not in METRICS]
    return problems


def _check_wiring(scenario: Scenario) -> list[tuple[Path, str]]:
    """Every signal and column a mechanic needs (`reads`, `uses`) is published or owned by a
    mechanic of this scenario (or by the engine): otherwise the mechanic would hear nothing."""
    from sim.growth_accounting import COLUMNS as ACCOUNTING
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


def _check_base_channels(scenario: Scenario) -> list[tuple[Path, str]]:
    """An existing base's channel holds only that base: new users credited to it would be
    left out of CAC and the market's unit economics with the base."""
    base = {c: name for name, p in scenario.mechanics.items()
            for c in REGISTRY[p.type][1].base_channels(p)}
    problems: list[tuple[Path, str]] = []
    for name, params in scenario.mechanics.items():
        cls = REGISTRY[params.type][1]
        for channel in sorted(set(cls.channels(params)) & set(base)
                              - set(cls.base_channels(params))):
            where = ("mechanics", name, "channel") if hasattr(params, "channel") else \
                ("mechanics", name)
            problems.append((where, f"credits new users to channel {channel!r}, which the "
                             f"existing base mechanics.{base[channel]} (seed_users with "
                             "existing: true) uses; give one of them another channel"))
    return problems


def _publishers(signal: str) -> list[str]:
    """Mechanic types that publish a signal (for the message that asks for one)."""

    return [kind for kind, (_, cls) in REGISTRY.items() if signal in cls.published()]


def _check_references(scenario: Scenario) -> list[tuple[Path, str]]:
    """Personas and channels named by mechanics exist; dated things fall inside the horizon;
    options that contradict each other are refused."""

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
    for reserved in (NOT_ENROLLED, NOT_SAMPLED):
        if reserved in arm_names:
            problems.append((("experiment", "arms", arm_names.index(reserved), "name"),
                             f"{reserved!r} is the arm of users outside the test; choose "
                             "another name"))
    known = ", ".join(sorted(METRICS))
    names = [(("experiment", "primary_metric"), exp.primary_metric)] + [
        (("experiment", "guardrail_metrics", i), m) for i, m in enumerate(exp.guardrail_metrics)]
    for where, name in names:
        if name is not None and name not in METRICS:
            problems.append((where, f"unknown metric {name!r}{did_you_mean(name, METRICS)}; "
                                    f"expected one of: {known}"))
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
            arm_variant(scenario, {key: item.set[key] for key in valid})
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


FEW_VISITS = 1.0  # fewer expected visits than this over the horizon: the channel stays empty


Warning = tuple[Path, str, str]  # (path, English, Chinese)


def inert_settings(scenario: Scenario) -> list[Warning]:
    """Valid settings that leave a mechanic with nothing to do, said as warnings: seed users
    that fill the whole market leave acquisition, ads and referral nobody to win; an ads budget
    or a KOL post that buys less than one visit (impressions x click rate) wins nobody either."""
    size = scenario.market.size
    rescalable = scenario.market.reference_size is None  # set: the counts scale already
    winners = [n for n, p in scenario.mechanics.items() if p.type in (
        "bass_acquisition", "paid_ads", "kol_posts", "referral")]
    out: list[Warning] = []
    for name, params in scenario.mechanics.items():
        if params.type == "seed_users" and params.count >= size and winners:  # type: ignore
            count = params.count  # type: ignore[attr-defined]
            out.append((("mechanics", name, "count"),
                        f"{count:,} seed users fill the whole market ({size:,}): "
                        f"{', '.join(winners)} have nobody left to win; give fewer seeds" + (
                            ", or market.reference_size to rescale a scenario written for "
                            "another size" if rescalable else ""),
                        f"{count:,} 名种子用户占满整个市场（{size:,}）：{'、'.join(winners)} "
                        "已无人可获取；减少种子用户" + ("，或用 market.reference_size 按比例缩放"
                                                "为其他规模编写的场景" if rescalable else "")))
        out += _visits_bought(name, params, scenario.days)
    return out


def _visits_bought(name: str, params: Any, days: int) -> list[Warning]:
    """A budget or post whose expected visits over the horizon are under FEW_VISITS (an upper
    bound: every impression on a potential user)."""
    if params.type == "paid_ads" and params.daily_budget > 0:
        per_day = params.daily_budget / params.cpm * 1000 * params.ctr * params.landing_rate
        if per_day * days < FEW_VISITS:
            return [(("mechanics", name, "daily_budget"),
                     f"{params.daily_budget:g} yuan a day at CPM {params.cpm:g} and click rate "
                     f"{params.ctr:g} buys about {per_day * days:.2g} visits in {days} days: the "
                     "channel stays empty; raise daily_budget or ctr",
                     f"每天 {params.daily_budget:g} 元、CPM {params.cpm:g}、点击率 "
                     f"{params.ctr:g}，{days} 天约带来 {per_day * days:.2g} 次访问：该渠道不会有"
                     "用户；提高 daily_budget 或 ctr")]
    if params.type == "kol_posts":
        return [(("mechanics", name, "posts", i, "reach"),
                 f"a post reaching {post.reach:g} people at click rate {post.click_rate:g} brings "
                 f"about {post.reach * post.click_rate:.2g} visits: raise reach or click_rate",
                 f"触达 {post.reach:g} 人、点击率 {post.click_rate:g} 的帖子约带来 "
                 f"{post.reach * post.click_rate:.2g} 次访问：提高 reach 或 click_rate")
                for i, post in enumerate(params.posts)
                if post.reach * post.click_rate < FEW_VISITS]
    return []
