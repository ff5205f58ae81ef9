"""Bad input and faults: nothing gets past validation, and nothing crashes or hangs on the way.

Each refusal is one located problem (FILE:LINE: field: what is wrong and what would be right),
an InputError (the CLI's exit code 2), in well under a second, with nothing written.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sim.errors import InputError
from sim.scenario import load_scenario, parse_scenario
from sim.yaml_lines import MAX_DEPTH, MAX_EXPANDED_VALUES, MAX_FILE_BYTES

GOOD = """\
name: t
days: 30
market:
  size: 1000
mechanics:
  acquisition:
    type: bass_acquisition
    p: 0.01
    q: 0.3
"""

LAUGHS = 'lol0: &a0 "lol"\n' + "".join(
    f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))  # 9 x 9 aliases


def refusal(text: str, overrides: list[str] | None = None, seconds: float = 1.0) -> str:
    """The one problem a scenario text is refused with, checked to come quickly."""
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml", overrides)
    assert time.perf_counter() - start < seconds
    (problem,) = caught.value.problems
    return str(problem)


# --- 1. alias bombs ------------------------------------------------------------------------


def test_alias_bomb_in_an_unknown_key_is_refused_at_once() -> None:
    assert refusal(GOOD + LAUGHS) == (
        f"s.yaml:19: lol9: aliases expand this document to more than "
        f"{MAX_EXPANDED_VALUES:,} values, the limit: write the values out, or nest fewer aliases")


def test_alias_bomb_used_by_description_only() -> None:
    small = 'a0: &a0 "lol"\n' + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 6))
    text = "x:\n" + "".join(f"  {line}\n" for line in small.splitlines())
    text += GOOD + "description: [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5," \
        " *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]\n"  # 20 x 9^5 > the limit, x itself is not
    assert refusal(text).startswith("s.yaml:17: description: aliases expand this document")


def test_merge_key_bomb_is_refused() -> None:
    merges = "m0: &m0 {a: 1}\n" + "".join(
        f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}\n" for i in range(1, 10))
    assert refusal(GOOD + merges).startswith("s.yaml:19: m9.<<: aliases expand")


def test_aliases_within_the_limit_still_work() -> None:
    text = GOOD.replace("p: 0.01", "p: &rate 0.01").replace("q: 0.3", "q: *rate")
    assert parse_scenario(text, "s.yaml").mechanics["acquisition"].q == 0.01


def test_alias_loop_is_refused() -> None:
    assert refusal(GOOD + "x: &a [1, *a]\n") == (
        "s.yaml:10: x: an alias is used inside its own anchor, a loop; expected plain values")


def test_alias_bomb_in_an_override_is_refused() -> None:
    bomb = "[" + ", ".join(LAUGHS.splitlines()).replace("lol", "l") + "]"
    msg = refusal(GOOD, [f"description={bomb}"])
    assert msg.startswith("s.yaml: override 'description=[l0:")
    assert f"aliases expand this document to more than {MAX_EXPANDED_VALUES:,}" in msg
    assert len(msg) < 300  # the override is quoted shortened


# --- 2. file size --------------------------------------------------------------------------


def test_big_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(GOOD + "# " + "x" * 50_000_000 + "\n")
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        load_scenario(big)
    assert time.perf_counter() - start < 1.0
    assert str(caught.value) == (
        f"{big}: the file is {big.stat().st_size:,} bytes; a scenario may be at most "
        f"{MAX_FILE_BYTES:,} bytes (1 MiB): scenarios are small, keep data in data files")


def test_big_text_is_refused_too() -> None:
    assert "a scenario may be at most 1,048,576 bytes" in refusal(GOOD + "#" * MAX_FILE_BYTES)


def test_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD + "#" * (MAX_FILE_BYTES - len(GOOD) - 1) + "\n")
    assert load_scenario(path).days == 30


# --- 3. deep nesting -----------------------------------------------------------------------

TOO_DEEP = (f"lists and mappings nested more than {MAX_DEPTH} levels deep (aliases expanded); "
            f"at most {MAX_DEPTH} are allowed: a scenario needs a few (check the brackets)")


def test_twenty_thousand_nested_lists() -> None:
    assert refusal(GOOD + "x: " + "[" * 20_000 + "]" * 20_000 + "\n") == f"s.yaml:10: x: {TOO_DEEP}"


def test_five_thousand_nested_mappings() -> None:
    text = GOOD + "x: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n"
    assert refusal(text) == f"s.yaml:10: x.a.a.a.a...: {TOO_DEEP}"


def test_deep_block_mappings() -> None:
    text = GOOD + "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "1\n"
    assert refusal(text) == f"s.yaml:74: k0.k1.k2.k3.k4...: {TOO_DEEP}"


def test_depth_made_by_chained_aliases() -> None:
    """Each anchor is shallow, but expanded they nest 30 x 20 levels."""
    level = "[" * 20 + "{}" + "]" * 20
    text = GOOD + "a0: &a0 " + level + "\n" + "".join(
        f"a{i}: &a{i} " + level.replace("{}", f"*a{i - 1}") + "\n" for i in range(1, 30))
    assert refusal(text).endswith(f": {TOO_DEEP}")


def test_deep_override_value() -> None:
    msg = refusal(GOOD, ["x=" + "[" * 20_000 + "]" * 20_000])
    assert msg.startswith("s.yaml: override 'x=[[[[") and TOO_DEEP in msg


def test_nesting_at_the_limit_is_fine() -> None:
    text = GOOD + "x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert refusal(text).startswith("s.yaml:10: x: unknown field")  # parsed; x is unknown


# --- 4. non-finite numbers -----------------------------------------------------------------

NOT_FINITE = "is not a finite number; expected a finite number (.inf, -.inf and .nan are refused)"


@pytest.mark.parametrize(("written", "shown"), [(".inf", "inf"), ("-.inf", "-inf"),
                                                (".nan", "nan"), (".NaN", "nan")])
def test_non_finite_numbers_are_refused(written: str, shown: str) -> None:
    assert refusal(GOOD.replace("q: 0.3", f"q: {written}")) == (
        f"s.yaml:9: mechanics.acquisition.q: {shown} {NOT_FINITE}")


def test_non_finite_override() -> None:
    assert refusal(GOOD, ["mechanics.acquisition.q=.inf"]) == (
        f"s.yaml: mechanics.acquisition.q: inf {NOT_FINITE} "
        "(from override 'mechanics.acquisition.q=.inf')")


def test_non_finite_in_an_unbounded_field() -> None:
    """A float without a range (a gift's value) would pass .inf without the shared check."""
    text = GOOD + "  gift:\n    type: new_user_gift\n    value: .inf\n"
    assert refusal(text) == f"s.yaml:12: mechanics.gift.value: inf {NOT_FINITE}"


@pytest.mark.parametrize("where", ["arm", "persona"])
def test_non_finite_set_values(where: str) -> None:
    if where == "arm":
        text = GOOD + ("experiment:\n  arms:\n    - {name: a, share: 0.5}\n"
                       "    - name: b\n      share: 0.5\n      set:\n"
                       "        mechanics.acquisition.q: .nan\n")
        prefix = "s.yaml:16: experiment.arms.1.set.mechanics.acquisition.q"
    else:
        text = GOOD.replace("  size: 1000\n", "  size: 1000\n  personas:\n    - name: moms\n"
                            "      share: 1.0\n      set: {mechanics.acquisition.q: -.inf}\n")
        prefix = "s.yaml:8: market.personas.0.set.mechanics.acquisition.q"
    shown = "nan" if where == "arm" else "-inf"
    assert refusal(text) == f"{prefix}: {shown} {NOT_FINITE}"


# --- 5. seed users beyond the market -------------------------------------------------------


def test_seed_users_beyond_the_market_are_refused() -> None:
    text = GOOD + "  founders:\n    type: seed_users\n    count: 5000\n"
    assert refusal(text) == ("s.yaml:12: mechanics.founders.count: 5,000 seed users but "
                             "market.size is 1,000; give a count of at most 1,000, or raise "
                             "market.size")
    assert parse_scenario(text, "s.yaml", ["market.size=5000"]).market.size == 5000


# --- YAML values a tag cannot convert, keys that are not names ------------------------------


@pytest.mark.parametrize(("value", "line", "field", "fragment"), [
    ("q: !!int abc", 9, "mechanics.acquisition.q", "cannot read 'abc' as int"),
    ("q: !!float x", 9, "mechanics.acquisition.q", "cannot read 'x' as float"),
    ("q: " + "9" * 5000, 9, "mechanics.acquisition.q", "cannot read '99999999999999999999...'"),
])
def test_values_a_tag_cannot_read(value: str, line: int, field: str, fragment: str) -> None:
    msg = refusal(GOOD.replace("q: 0.3", value))
    assert msg.startswith(f"s.yaml:{line}: {field}: YAML: {fragment}")


def test_control_characters_are_located() -> None:
    assert refusal(GOOD.replace("days: 30", "days: 30\x16")) == (
        "s.yaml:2: YAML: unacceptable character #x0016 (control characters are not allowed; "
        "expected printable text)")


def test_a_list_as_a_key_is_refused() -> None:
    assert refusal(GOOD + "? [1, 2]\n: 3\n") == (
        "s.yaml:10: a key must be a name, not a list or mapping")


# --- 6. edge-list files that are not edge lists ----------------------------------------------

EXPECTED = ("expected an edge list: CSV or Parquet with whole-number columns source, target "
            "(row numbers 0..N-1, N = market.size)")


def graph_refusal(tmp_path: Path, name: str, content: str | None) -> str:
    if content is not None:
        (tmp_path / name).write_text(content)
    text = GOOD.replace("  size: 1000\n", f"  size: 4\n  graph:\n    model: edge_list\n"
                        f"    path: {name}\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    with pytest.raises(InputError) as caught:
        load_scenario(scenario)
    (problem,) = caught.value.problems
    prefix = f"{scenario}:7: market.graph.path: "
    assert str(problem).startswith(prefix) and str(problem).endswith(EXPECTED)
    return str(problem)[len(prefix):-len(EXPECTED)].replace(str(tmp_path), "DIR")


@pytest.mark.parametrize(("name", "content", "what"), [
    ("notes.txt", "hello world\nthis is no table\n",
     "DIR/notes.txt:1: source, target: missing column(s) (found: hello world); "),
    ("edges.csv", "from,to\n0,1\n",
     "DIR/edges.csv:1: source, target: missing column(s) (found: from, to); "),
    ("edges.csv", "source,target\n0,1\n1,9\n",
     "DIR/edges.csv:3: source/target: row numbers must be in 0..3 (market.size=4), found 9; "),
    ("edges.csv", "source,target\n-1,1\n",
     "DIR/edges.csv:2: source/target: row numbers must be in 0..3 (market.size=4), found -1; "),
    ("edges.csv", "source,target\n0,x\n",
     "DIR/edges.csv:2: target: expected a whole number, found 'x'; "),
    ("edges.csv", "", "cannot read DIR/edges.csv as a table (No columns to parse from file); "),
    ("missing.csv", None, "no such file DIR/missing.csv; "),
])
def test_edge_list_problems_name_the_scenario_line(tmp_path: Path, name: str,
                                                   content: str | None, what: str) -> None:
    assert graph_refusal(tmp_path, name, content) == what


def test_a_parquet_name_on_a_text_file(tmp_path: Path) -> None:
    what = graph_refusal(tmp_path, "edges.parquet", "source,target\n0,1\n")
    assert what.startswith("cannot read DIR/edges.parquet as a table (")


def test_edge_list_row_numbers_follow_an_overridden_market_size(tmp_path: Path) -> None:
    (tmp_path / "edges.csv").write_text("source,target\n0,1\n1,9\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(GOOD.replace("  size: 1000\n", "  size: 4\n  graph:\n    model: "
                                     "edge_list\n    path: edges.csv\n"))
    assert load_scenario(scenario, ["market.size=10"]).market.size == 10


def test_a_bad_communities_file_is_located_too(tmp_path: Path) -> None:
    (tmp_path / "edges.csv").write_text("source,target\n0,1\n")
    (tmp_path / "c.csv").write_text("user,community\n0,1\n7,2\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(GOOD.replace("  size: 1000\n", "  size: 4\n  graph:\n    model: "
                                     "edge_list\n    path: edges.csv\n    communities_path: "
                                     "c.csv\n"))
    with pytest.raises(InputError) as caught:
        load_scenario(scenario)
    assert str(caught.value).startswith(
        f"{scenario}:8: market.graph.communities_path: {tmp_path}/c.csv:3: user: row numbers "
        "must be in 0..3 (market.size=4), found 7; expected CSV or Parquet")


# --- nothing written -----------------------------------------------------------------------


def test_refusals_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cases = [GOOD + LAUGHS, GOOD + "x: " + "[" * 20_000 + "]" * 20_000 + "\n",
             GOOD.replace("q: 0.3", "q: .inf")]
    for text in cases:
        with pytest.raises(InputError):
            parse_scenario(text, "s.yaml")
    assert list(tmp_path.iterdir()) == []
