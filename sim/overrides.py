"""`dotted.path=value` overrides from the command line: parsed as YAML scalars and applied
to the scenario's data before validation, so a wrong override is reported like a wrong line
(naming the override instead of a line)."""

from __future__ import annotations

import copy
import re
from typing import Any

from sim.errors import InputError, Problem, did_you_mean
from sim.yaml_lines import (
    MAX_DEPTH,
    Path,
    dotted,
    line_for,
    load_yaml_with_lines,
)


class OptionOverride(str):
    """An override that stands for a command-line option (`--days 60` is `days=60`): messages
    name the option the user typed, not an override they never wrote."""

    option: str

    def __new__(cls, key: str, value: object, option: str) -> OptionOverride:
        made = super().__new__(cls, f"{key}={value}")
        made.option = f"{option} {value}"
        return made


def apply_overrides(
    data: dict[str, Any], overrides: list[str], source: str
) -> tuple[dict[str, Any], dict[Path, str]]:
    """Apply `dotted.path=value` (value parsed as a YAML scalar) before validation; a field
    given twice takes the last value (Python composes defaults and extras that way; the command
    line refuses it first, `refuse_twice`)."""
    data = copy.deepcopy(data)
    done: dict[Path, str] = {}
    created: dict[str, str] = {}  # mechanics an override made up, by the override
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
                done[tuple(keys)] = _said(text)
                break
            child = node[keys[-1]] if isinstance(node, list) else node.get(keys[-1])
            if child is None:
                node[keys[-1]] = child = {}
                if keys[0] == "mechanics" and len(keys) == 2:
                    created.setdefault(str(keys[1]), text)
            node = child
    problems += _unknown_mechanics(data, created, source)
    if problems:
        raise InputError(problems)
    return data, done


def _unknown_mechanics(data: dict[str, Any], created: dict[str, str],
                       source: str) -> list[Problem]:
    """A mechanic an override made up without a type is a misspelt name (mechanics.gfit.value):
    said as such, with the scenario's names, rather than as a missing mechanic type."""
    mechanics = data.get("mechanics")
    if not isinstance(mechanics, dict):
        return []
    known = [n for n in mechanics if n not in created]
    return [Problem(source, None, f"mechanics.{name}",
                    f"override {_said(text)}: {no_such_mechanic(name, known)}")
            for name, text in created.items()
            if isinstance(mechanics.get(name), dict) and "type" not in mechanics[name]]


def no_such_mechanic(name: str, known: list[str]) -> str:
    """What to say of a mechanic name a scenario lacks (overrides and --param both): the
    nearest name, the scenario's names, and how one would add a mechanic instead."""
    return (f"no mechanic {name!r} in this scenario{did_you_mean(name, known)}; its "
            f"mechanics: {', '.join(known)} (to add one, give its type too: "
            f"mechanics.{name}.type=...)")


def refuse_twice(overrides: list[str], source: str) -> None:
    """A field typed twice on one command line (which one was meant?), by two overrides or by
    an override and the option standing for it (days=0 --days 60): one located error."""
    seen: dict[str, str] = {}
    for text in overrides:
        key = text.partition("=")[0].strip()
        if key in seen and "=" in text:
            raise InputError([Problem(source, None, key, f"given twice, as {seen[key]} and as "
                                      f"{_said(text)}; give it once")])
        seen[key] = _said(text)


def _said(text: str) -> str:
    """An override as messages name it: the option it stands for, or the override quoted."""
    return text.option if isinstance(text, OptionOverride) else _shown(text)


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


def shorten_horizon(data: dict[str, Any], written_days: Any, source: str,
                    lines: dict[Path, int], set_by: tuple[str, str] = ("the command line",
                                                                      "命令行")
                    ) -> tuple[dict[str, Any], list[Problem]]:
    """When the command line (or, for `calibrate`, the observed data: `set_by`, in English and
    Chinese) shortens the horizon (`--days 30`, `days=30`, `--until`), dated things the file
    placed after it are left out with a note instead of refused: list items whose `day` is
    past the horizon, mechanics whose window opens after it; a window closing after it is
    closed on the last day. Written in the file, the same dates stay errors."""
    days = data.get("days")
    if not (isinstance(days, int) and isinstance(written_days, int) and 0 < days < written_days):
        return data, []
    last, notes = days - 1, []
    why = f"past the horizon 0..{last} {set_by[0]} set"
    why_zh = f"在{set_by[1]}设定的时长 0..{last} 之外"

    def note(path: Path, message: str, zh: str) -> None:
        notes.append(Problem(source, line_for(path, lines), dotted(path), message, "note", zh))

    experiment = data.get("experiment")
    if isinstance(experiment, dict) and 0 <= _int(experiment.get("start_day", 0)) <= last:
        start, duration = _int(experiment.get("start_day", 0)), _int(experiment.get(
            "duration_days"))
        if start + duration - 1 > last:
            note(("experiment", "duration_days"), f"{last - start + 1} days: the test is read "
                 f"up to day {last}; {duration} days from day {start} would end {why}",
                 f"{last - start + 1} 天：实验读到第 {last} 天；从第 {start} 天起的 {duration} "
                 f"天将结束于{why_zh}")
            experiment["duration_days"] = last - start + 1
    mechanics = data.get("mechanics")
    for name, mech in list(mechanics.items()) if isinstance(mechanics, dict) else []:
        window = mech.get("window") if isinstance(mech, dict) else None
        if isinstance(window, dict) and _int(window.get("first_day")) > last:
            note(("mechanics", name), f"left out: its window opens on day "
                 f"{window['first_day']}, {why}",
                 f"已略去：其时间窗从第 {window['first_day']} 天开始，{why_zh}")
            del mechanics[name]
            continue
        if isinstance(window, dict) and _int(window.get("last_day")) > last:
            note(("mechanics", name, "window", "last_day"), f"closed on day {last}: day "
                 f"{window['last_day']} is {why}",
                 f"于第 {last} 天关闭：第 {window['last_day']} 天{why_zh}")
            window["last_day"] = last
        for path, items in _dated_lists(mech, ("mechanics", name)):
            past = [i for i, item in enumerate(items) if _int(item.get("day")) > last]
            for i in past:
                note((*path, i), f"left out: day {items[i]['day']} is {why}",
                     f"已略去：第 {items[i]['day']} 天{why_zh}")
            items[:] = [item for i, item in enumerate(items) if i not in past]
    return data, notes


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _dated_lists(node: Any, path: Path) -> list[tuple[Path, list[dict[str, Any]]]]:
    """Lists of mappings with a `day` (KOL posts, store openings, product drops)."""
    found: list[tuple[Path, list[dict[str, Any]]]] = []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _dated_lists(child, (*path, key))
    elif isinstance(node, list):
        if any(isinstance(item, dict) and "day" in item for item in node):
            found.append((path, node))
        for i, item in enumerate(node):
            if isinstance(item, dict):
                found += _dated_lists({k: v for k, v in item.items() if k != "day"}, (*path, i))
    return found
