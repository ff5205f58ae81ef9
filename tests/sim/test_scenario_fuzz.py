"""Fuzzing at the scenario level: mutated shipped scenarios validate or are refused as input.

Lines deleted, repeated, swapped, re-indented, sprinkled with any characters or given odd
values (non-finite numbers, wrong types, aliases, tags, brackets) and random overrides must end
in a Scenario or an InputError whose problems all say where they are; never another exception
(a traceback is a bug, whatever the input).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import InputError
from sim.scenario import Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {path.name: path.read_text(encoding="utf-8")
           for path in sorted((ROOT / "scenarios").glob("*.yaml"))}

ODD_VALUES = [".inf", "-.inf", ".nan", "-1", "0", "1e9", "1.5", "99999999999999999999",
              "9" * 5000, "abc", '"0.5"', "[1, 2]", "{a: 1}", "~", "", "true", "*nowhere",
              "&a 3", "!!int x", "!!float y", "!!python/name:os.system", "[", "{", '"', "'",
              "[[[[[[[[[[]]]]]]]]]]", "- 1", "? [1]", ": x", "\t", "%TAG", "---", "2024-13-45",
              "!!binary abc", "<<: *a"]


def _keys(text: str) -> list[str]:
    """Dotted paths of the block-mapping keys of a scenario (for overrides)."""
    keys, stack = [], []  # stack of (indent, key)
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        indent, key = len(line) - len(stripped), stripped.split(":", 1)[0].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        keys.append(".".join(k for _, k in stack))
    return keys


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """A shipped scenario with a few line mutations and maybe an override or two."""
    name = draw(st.sampled_from(sorted(SHIPPED)))
    lines = SHIPPED[name].splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "replace", "value", "indent",
                                     "noise"]))
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "replace":
            lines[i] = lines[draw(st.integers(0, len(lines) - 1))]
        elif kind == "value":
            head, colon, _ = lines[i].partition(":")
            value = draw(st.sampled_from(ODD_VALUES))
            lines[i] = f"{head}: {value}" if colon else f"{lines[i]} {value}"
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
        elif kind == "noise":  # any characters, control characters included, anywhere
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(max_size=4)) + lines[i][at:]
    paths = _keys(SHIPPED[name])
    overrides = draw(st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(paths),
                                        st.sampled_from(ODD_VALUES)), max_size=2))
    return name, "\n".join(lines) + "\n", overrides


@settings(max_examples=80, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scenarios_validate_or_are_refused_with_located_problems(
        case: tuple[str, str, list[str]]) -> None:
    name, text, overrides = case
    source = f"scenarios/{name}"
    try:
        scenario = parse_scenario(text, source, overrides)
    except InputError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.source == source, problem
            assert problem.line is not None or problem.path or "override" in problem.message, \
                problem
            assert "\n" not in str(problem) and len(str(problem)) < 2000, problem
    else:
        assert isinstance(scenario, Scenario)


def test_the_key_paths_cover_the_scenarios() -> None:
    """The override paths the fuzzer draws are real fields (a guard on `_keys`)."""
    keys = _keys(SHIPPED["reference.yaml"])
    assert "market.size" in keys and "days" in keys
    assert any(k.startswith("mechanics.") and k.count(".") >= 2 for k in keys)
