"""Safe YAML loading that remembers the line of every key, so errors can say FILE:LINE.

It also bounds what a document may cost before anything is built from it: a scenario is a few
kilobytes, so a bigger file, deeper nesting or an alias "bomb" (a few hundred bytes whose
aliases expand to billions of values) is refused with a located message, never a hang, a
RecursionError or gigabytes of memory. The limits are stated in docs/scenarios.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from sim.errors import InputError, Problem

Path = tuple[str | int, ...]

MAX_FILE_BYTES = 1_048_576  # 1 MiB: the largest shipped scenario is 15 KB
MAX_DEPTH = 64  # lists and mappings inside each other; shipped scenarios use at most 7
MAX_EXPANDED_VALUES = 1_000_000  # values with every alias expanded (more than 1 MiB can spell)


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML with the safe loader; return the data and a map from key path to 1-based line.

    `!!python/...` tags, syntax errors, duplicate keys, values a tag cannot convert and documents
    over the limits (size, nesting, alias expansion) become located problems.
    """
    size = len(text) if len(text) > MAX_FILE_BYTES else len(text.encode("utf-8", "replace"))
    if size > MAX_FILE_BYTES:
        raise InputError([too_big(source, size)])
    loader: _LimitedLoader | None = None
    try:
        loader = _LimitedLoader(text, source)  # refuses control characters at once
        return _load(loader, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = exc.problem or str(exc)
        if (exc.problem and "python/" in str(exc.problem)) or "python/" in str(exc):
            message = f"{message.strip()} (python tags are not allowed in scenarios)"
        cause = likely_cause(text, line)  # PyYAML names the line after a full-width colon
        if cause is not None:
            raise InputError([Problem(source, cause[0], "", cause[1])]) from None
        raise InputError([Problem(source, line, "", f"YAML: {message.strip()}")]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise InputError([Problem(source, line, "", f"YAML: unacceptable character "
                                  f"#x{exc.character:04x} (control characters are not "
                                  "allowed; expected printable text)")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(source, None, "", f"YAML: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def likely_cause(text: str, line: int | None) -> tuple[int, str] | None:
    """The line and plain words for the syntax mistakes a Chinese keyboard makes, which PyYAML
    reports as "could not find expected ':'" on the next line or "mapping values are not
    allowed": a full-width colon after a key, a full-width space or a tab in the indentation,
    a full-width space after a colon, a full-width comma in a [list] or {mapping}, full-width
    digits in a number. Looked for up to the line PyYAML names (None when no such line)."""
    lines = text.splitlines()
    last = len(lines) if line is None else min(line, len(lines))
    for number, raw in enumerate(lines[:last], start=1):
        code = raw.split("#", 1)[0]
        indent = code[:len(code) - len(code.lstrip(" \t\u3000"))]
        if "\u3000" in indent:
            return number, ("a full-width space (U+3000) in the indentation; indent with "
                            "ASCII spaces (2 per level, as the shipped scenarios do)")
        if "\t" in indent:
            return number, "a tab in the indentation; YAML indents with spaces (2 per level)"
        key, colon, _ = code.strip().partition("：")
        if colon and ":" not in key and key and not key.startswith(("-", "'", '"')):
            return number, (f"a full-width colon '：' after {key.strip()!r}; YAML needs the "
                            f"ASCII ':' and a space, e.g. {key.strip()}: value")
        found = _full_width_slip(code)
        if found:
            return number, found
    return None


FULL_WIDTH_DIGITS = "０１２３４５６７８９"


def _full_width_slip(code: str) -> str | None:
    """A full-width space after a colon, a full-width comma inside [ ] or { }, or full-width
    digits: the other keys a Chinese input method swaps in (each parsed as part of a string)."""
    key, colon, rest = code.partition(":")
    if colon and rest.startswith("\u3000"):
        return (f"a full-width space (U+3000) after '{key.strip()}:'; YAML needs an ASCII "
                f"space, e.g. {key.strip()}: value")
    if "，" in code and any(c in code for c in "[{"):
        return "a full-width comma '，' in a list or mapping; separate items with the ASCII ','"
    digits = "".join(c for c in code if c in FULL_WIDTH_DIGITS)
    if digits:
        ascii_digits = digits.translate(str.maketrans(FULL_WIDTH_DIGITS, "0123456789"))
        return f"full-width digits '{digits}'; type ASCII digits ({ascii_digits})"
    return None


def _load(loader: _LimitedLoader, source: str) -> tuple[Any, dict[Path, int]]:
    node = loader.get_single_node()
    if node is None:
        raise InputError([Problem(source, 1, "", "the file is empty; expected a scenario")])
    index = _index_lines(node, source)
    if index.problems:
        raise InputError(index.problems)
    _check_expansion(node, index, source)
    loader.paths = index.paths
    return loader.construct_document(node), index.lines


def too_big(source: str, size: int) -> Problem:
    """The problem of a file over MAX_FILE_BYTES (checked before anything is parsed)."""
    return Problem(source, None, "", f"the file is {size:,} bytes; a scenario may be at most "
                   f"{MAX_FILE_BYTES:,} bytes (1 MiB): scenarios are small, keep data in "
                   "data files")


def not_utf8(source: str, raw: bytes, exc: UnicodeDecodeError) -> Problem:
    """A file that is not UTF-8, located at its first bad byte (an editor on Chinese Windows
    saves GBK by default: "'utf-8' codec can't decode byte 0xc0 in position 115" named no
    line and no remedy)."""
    try:
        raw.decode("gbk")
        guess = " (it reads as GBK, which Chinese Windows editors save by default)"
    except UnicodeDecodeError:
        guess = ""
    line = raw[:exc.start].count(b"\n") + 1
    return Problem(source, line, "", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} on this "
                   f"line{guess}; save the file as UTF-8",
                   zh=f"不是 UTF-8 文本：本行有字节 0x{raw[exc.start]:02x}"
                   f"{'（按 GBK 可读，中文 Windows 编辑器默认保存为 GBK）' if guess else ''}；"
                   "请将文件另存为 UTF-8")


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than MAX_DEPTH while it composes (PyYAML's
    composer recurses once per level, so 20,000 nested lists would hit Python's recursion
    limit) and locating a value its tag cannot convert (`!!int abc`, a 5,000-digit number)."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.trail: list[str | int | None] = []  # keys and indices from the root (None: a key)
        self.depth = 0
        self.paths: dict[int, Path] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        opens = int(self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent))
        step = index.value if isinstance(index, yaml.ScalarNode) else index
        self.trail.append(step if isinstance(step, str | int) else None)
        self.depth += opens
        try:
            if self.depth > MAX_DEPTH:
                path = tuple(s for s in self.trail if s is not None)
                raise InputError([_too_deep(self.source, self.peek_event().start_mark.line + 1,
                                            path)])
            return super().compose_node(parent, index)
        finally:
            self.trail.pop()
            self.depth -= opens

    def fetch_flow_collection_start(self, token_class: type) -> None:
        # the scanner reads ahead of the composer, and slowly (quadratic) over deep brackets
        if self.flow_level >= MAX_DEPTH:
            path = tuple(s for s in self.trail if s is not None)
            raise InputError([_too_deep(self.source, self.get_mark().line + 1, path)])
        super().fetch_flow_collection_start(token_class)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            reason = str(exc).split(";")[0]
            path = self.paths.get(id(node), ())
            raise InputError([Problem(self.source, node.start_mark.line + 1, dotted(path),
                                      f"YAML: cannot read {_preview(node)} as {_tag(node)} "
                                      f"({reason})")]) from None


def _preview(node: yaml.Node) -> str:
    text = str(node.value)
    return repr(text if len(text) <= 20 else text[:20] + "...")


def _tag(node: yaml.Node) -> str:
    return str(node.tag).rsplit(":", 1)[-1]


def _too_deep(source: str, line: int, path: Path) -> Problem:
    return Problem(source, line, _short(path), f"lists and mappings nested more than "
                   f"{MAX_DEPTH} levels deep (aliases expanded); at most {MAX_DEPTH} are "
                   "allowed: a scenario needs a few (check the brackets)")


def _short(path: Path) -> str:
    """A dotted path, cut after a few parts (a too-deep path has dozens)."""
    if len(path) <= 6:
        return dotted(path)
    return f"{dotted(path[:5])}..."


@dataclass
class _Index:
    lines: dict[Path, int] = field(default_factory=dict)  # key path -> 1-based line
    paths: dict[int, Path] = field(default_factory=dict)  # id(node) -> where it was first met
    problems: list[Problem] = field(default_factory=list)


def _index_lines(root: yaml.Node, source: str) -> _Index:
    """Lines of every key path, visiting each node once (an alias points to a node already
    indexed at its anchor, so an alias bomb costs its size in the file, not its expansion).
    Without recursion, in document order; duplicate and non-name keys become problems."""
    index = _Index()
    stack: list[tuple[yaml.Node, Path]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in index.paths:
            continue
        index.paths[id(node)] = path
        index.lines.setdefault(path, node.start_mark.line + 1)
        children: list[tuple[yaml.Node, Path]] = []
        if isinstance(node, yaml.MappingNode):
            children = _mapping_children(node, path, index, source)
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, i)) for i, item in enumerate(node.value)]
        stack.extend(reversed(children))
    return index


def _mapping_children(node: yaml.MappingNode, path: Path, index: _Index,
                      source: str) -> list[tuple[yaml.Node, Path]]:
    children: list[tuple[yaml.Node, Path]] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            index.problems.append(Problem(source, line, dotted(path), "a key must be a name, "
                                          "not a list or mapping"))
            continue
        child = (*path, key_node.value)
        if key_node.value in seen:
            index.problems.append(Problem(source, line, dotted(child),
                                          "duplicate key; each key may appear once"))
        seen.add(key_node.value)
        index.lines[child] = line
        children.append((value_node, child))
    return children


def _child_nodes(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield key_node
            yield value_node
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _check_expansion(root: yaml.Node, index: _Index, source: str) -> None:
    """Refuse loops, and documents whose aliases expand past MAX_EXPANDED_VALUES values or
    MAX_DEPTH levels: both are counted per node (each once, without building anything)."""
    size, height = _measure(root, index, source)
    if size[id(root)] > MAX_EXPANDED_VALUES:
        path = _worst_path(root, size, index, MAX_EXPANDED_VALUES)
        raise InputError([Problem(source, line_for(path, index.lines), _short(path),
                                  f"aliases expand this document to more than "
                                  f"{MAX_EXPANDED_VALUES:,} values, the limit: write the "
                                  "values out, or nest fewer aliases")])
    if height[id(root)] > MAX_DEPTH:
        path = _worst_path(root, height, index, 0)
        raise InputError([_too_deep(source, line_for(path, index.lines) or 1, path)])


def _measure(root: yaml.Node, index: _Index,
             source: str) -> tuple[dict[int, int], dict[int, int]]:
    """Expanded size (values, keys included) and nesting height of every node, post-order
    without recursion; an alias inside its own anchor (a loop) is a problem."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = list(_child_nodes(node))
            size[key] = 1 + sum(size[id(k)] for k in kids)
            nested = isinstance(node, yaml.MappingNode | yaml.SequenceNode)
            height[key] = int(nested) + max((height[id(k)] for k in kids), default=0)
            open_nodes.discard(key)
        elif key in open_nodes:
            path = index.paths.get(key, ())
            raise InputError([Problem(source, node.start_mark.line + 1, _short(path),
                                      "an alias is used inside its own anchor, a loop; "
                                      "expected plain values")])
        elif key not in size:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((kid, False) for kid in _child_nodes(node) if id(kid) not in size)
    return size, height


def _worst_path(root: yaml.Node, metric: dict[int, int], index: _Index, floor: int) -> Path:
    """Where a document blows up: follow the child with the largest metric while it exceeds
    `floor`, stopping at the first alias (the path it is used at, not its anchor)."""
    node, path = root, ()
    while True:
        steps = _child_steps(node, path)
        if not steps:
            return path
        child, child_path = max(steps, key=lambda step: metric[id(step[0])])
        if metric[id(child)] <= floor:
            return path
        if index.paths.get(id(child)) != child_path:  # an alias: where it is used
            return child_path if isinstance(node, yaml.MappingNode) else path
        node, path = child, child_path


def _child_steps(node: yaml.Node, path: Path) -> list[tuple[yaml.Node, Path]]:
    if isinstance(node, yaml.MappingNode):
        return [(v, (*path, k.value)) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
    if isinstance(node, yaml.SequenceNode):
        return [(item, (*path, i)) for i, item in enumerate(node.value)]
    return []


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def line_for(path: Path, lines: dict[Path, int]) -> int | None:
    """The line of the deepest existing ancestor of `path` (a missing key points at its parent)."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None
