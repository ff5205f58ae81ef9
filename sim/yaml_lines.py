"""Safe YAML loading that remembers the line of every key, so errors can say FILE:LINE."""

from __future__ import annotations

from typing import Any

import yaml

from sim.errors import InputError, Problem

Path = tuple[str | int, ...]


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML with the safe loader; return the data and a map from key path to 1-based line.

    `!!python/...` tags, syntax errors and duplicate keys become located problems.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError([Problem(source, 1, "", "the file is empty; expected a scenario")])
        lines: dict[Path, int] = {}
        duplicates = _index_lines(node, (), lines, source)
        if duplicates:
            raise InputError(duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = exc.problem or str(exc)
        if (exc.problem and "python/" in str(exc.problem)) or "python/" in str(exc):
            message = f"{message.strip()} (python tags are not allowed in scenarios)"
        raise InputError([Problem(source, line, "", f"YAML: {message.strip()}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(source, None, "", f"YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return data, lines


def _index_lines(node: yaml.Node, path: Path, lines: dict[Path, int], source: str) -> list[Problem]:
    lines.setdefault(path, node.start_mark.line + 1)
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            if key in seen:
                problems.append(
                    Problem(source, key_node.start_mark.line + 1, dotted(child),
                            "duplicate key; each key may appear once")
                )
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            problems += _index_lines(value_node, child, lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _index_lines(item, (*path, index), lines, source)
    return problems


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def line_for(path: Path, lines: dict[Path, int]) -> int | None:
    """The line of the deepest existing ancestor of `path` (a missing key points at its parent)."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None
