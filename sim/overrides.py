"""`dotted.path=value` overrides from the command line: parsed as YAML scalars and applied
to the scenario's data before validation, so a wrong override is reported like a wrong line
(naming the override instead of a line)."""

from __future__ import annotations

import copy
import re
from typing import Any

from sim.errors import InputError, Problem
from sim.yaml_lines import (
    MAX_DEPTH,
    Path,
    dotted,
    load_yaml_with_lines,
)


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
