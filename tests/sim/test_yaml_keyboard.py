"""Syntax mistakes a Chinese keyboard makes, said for what they are on their own line: PyYAML
named the next line ("could not find expected ':'") or "mapping values are not allowed here",
with no word of the full-width colon, the full-width space or the tab."""

from __future__ import annotations

import pytest

from sim.errors import InputError
from sim.scenario import parse_scenario

GOOD = "name: t\ndays: 30\nmarket:\n  size: 100\nmechanics: {}\ndescription: '说明：可以'\n"


@pytest.mark.parametrize("text, line, message", [
    (GOOD.replace("days: 30", "days：30"), 2,
     "a full-width colon '：' after 'days'; YAML needs the ASCII ':' and a space, e.g. "
     "days: value"),
    (GOOD.replace("  size: 100", "  size：100"), 4,
     "a full-width colon '：' after 'size'; YAML needs the ASCII ':' and a space, e.g. "
     "size: value"),
    (GOOD.replace("  size", "\u3000 size"), 4,
     "a full-width space (U+3000) in the indentation; indent with ASCII spaces (2 per level, as "
     "the shipped scenarios do)"),
    (GOOD.replace("  size", "\tsize"), 4,
     "a tab in the indentation; YAML indents with spaces (2 per level)"),
    (GOOD.replace("  size: 100", "  size:\u3000100\n  reference_size: 10"), 4,
     "a full-width space (U+3000) after 'size:'; YAML needs an ASCII space, e.g. size: value"),
    (GOOD.replace("mechanics: {}", "mechanics: {a: 1，b: 2}"), 5,
     "a full-width comma '，' in a list or mapping; separate items with the ASCII ','"),
    (GOOD.replace("  size: 100", "  size: １００"), 4,
     "full-width digits '１００'; type ASCII digits (100)"),
])
def test_a_keyboard_slip_is_named_on_its_line(text: str, line: int, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    # said first; where the slip still parses (`size：100` is a string), what follows from it
    assert str(caught.value.problems[0]) == f"s.yaml:{line}: {message}"


def test_a_full_width_colon_inside_a_value_is_text() -> None:
    assert parse_scenario(GOOD, "s.yaml").description == "说明：可以"
