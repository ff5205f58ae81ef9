"""Overrides from Python: one string is one override (a notebook's `load_scenario(path,
"market.size=2000")`), not one override per character; other types are one clear error."""

from __future__ import annotations

from typing import Any

import pytest

import sim
from tests.conftest import ROOT

REFERENCE = ROOT / "scenarios" / "reference.yaml"


def test_a_single_string_is_one_override() -> None:
    assert sim.load_scenario(REFERENCE, "market.size=2000").market.size == 2000
    assert sim.load_scenario(REFERENCE, ["market.size=2000"]).market.size == 2000
    text = REFERENCE.read_text("utf-8")
    assert sim.parse_scenario(text, "r.yaml", "market.size=3000").market.size == 3000


def test_a_single_bad_string_is_one_problem() -> None:
    with pytest.raises(sim.InputError) as caught:
        sim.load_scenario(REFERENCE, "nonsense")
    assert [p.message for p in caught.value.problems] == [
        "override 'nonsense': expected dotted.path=value, e.g. mechanics.acquisition.p=0.02"]


@pytest.mark.parametrize(("overrides", "got"), [
    (5, "got 5 (int)"),
    ({"market.size": 2000}, "got {'market.size': 2000} (dict)"),
    (b"market.size=2000", "got b'market.size=2000' (bytes)"),
    ([2000], "got a list holding 2000 (int)"),
])
def test_other_types_are_one_clear_input_error(overrides: Any, got: str) -> None:
    with pytest.raises(sim.InputError) as caught:
        sim.load_scenario(REFERENCE, overrides)
    assert [str(p) for p in caught.value.problems] == [
        f"{REFERENCE}: overrides: {got}; give a list of 'dotted.path=value' strings, "
        "e.g. ['market.size=2000']"]
