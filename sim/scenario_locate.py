"""Where a pydantic error is in the user's file, and what it should say: the path in the
user's data (union tags pydantic inserts dropped) and a message that names what is right
(the allowed fields, the mechanic types, a finite number)."""

from __future__ import annotations

from typing import Any

from sim.errors import Problem, did_you_mean
from sim.mechanics import REGISTRY
from sim.yaml_lines import Path


def unique_problems(problems: list[Problem]) -> list[Problem]:
    """Each problem once (a union reports one mistake once per member)."""
    seen, out = set(), []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def explain(err: Any, data: Any, root: type) -> tuple[Path, str]:
    """Turn a pydantic error into (path in the user's data, message that says what is right);
    `root` is the scenario model the error's location starts from."""
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
        parent = _model_at(err["loc"][:-1], root)
        fields = sorted(parent.model_fields) if parent else []
        msg = "unknown field" + did_you_mean(err["loc"][-1], fields) + (
            f"; expected one of: {', '.join(fields)}" if fields else "")
    elif kind == "missing":
        msg = "required field is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        if "mechanics" in err["loc"][:1]:
            given = node.get("type") if isinstance(node, dict) else None
            msg = ("unknown or missing mechanic type" + did_you_mean(given, REGISTRY)
                   + f"; expected one of: {', '.join(REGISTRY)}")
            if isinstance(node, dict) and "type" in node:
                path.append("type")
    elif kind == "model_type" or kind == "dict_type":
        msg = "expected a mapping of fields"
    elif kind == "string_pattern_mismatch" and tuple(err["loc"]) == ("name",):
        msg = (f"{err['input']!r}: a name is the run folder's name: letters (中文 too), "
               "digits, _, . and -, starting with a letter, digit or _")
    elif kind == "finite_number":
        msg = (f"{err['input']} is not a finite number; expected a finite number "
               "(.inf, -.inf and .nan are refused)")
    return tuple(path), msg


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _model_at(loc: tuple, root: type) -> type | None:
    """The pydantic model class at a validation location (for listing allowed fields)."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if model is root and part == "mechanics":
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
