"""Scenarios that scale: with market.reference_size, the absolute quantities each mechanic
declares are rescaled with the market, overrides are kept as typed, and the resolved scenario
is never rescaled twice."""

from __future__ import annotations

from sim.engine import run
from sim.errors import InputError
from sim.mechanics import REGISTRY
from sim.scenario import load_scenario, parse_scenario
from tests.conftest import ROOT

GROWTH = ROOT / "scenarios" / "growth.yaml"
SCALED = ["market.size=20000"]  # growth.yaml declares market.reference_size: 1000000


def test_declared_quantities_scale_with_the_market_and_say_so() -> None:
    full = load_scenario(GROWTH)
    small = load_scenario(GROWTH, SCALED)
    assert small.mechanics["seed"].count == full.mechanics["seed"].count // 50
    assert small.mechanics["ads"].daily_budget == full.mechanics["ads"].daily_budget / 50
    assert [p.reach for p in small.mechanics["kol"].posts] == \
        [p.reach / 50 for p in full.mechanics["kol"].posts]
    assert small.mechanics["purchase"] == full.mechanics["purchase"]  # rates untouched
    (note,) = map(str, small.notes)
    assert "market.size 20,000 is 0.02 x market.reference_size 1,000,000" in note
    assert "mechanics.seed.count 20,000 -> 400" in note


def test_an_override_is_the_users_word_and_the_resolved_file_is_final() -> None:
    typed = load_scenario(GROWTH, [*SCALED, "mechanics.seed.count=123"])
    assert typed.mechanics["seed"].count == 123
    small = load_scenario(GROWTH, SCALED)
    again = parse_scenario(small.to_yaml(), "resolved.yaml")
    assert again.market.reference_size == 20000 and again.notes == []
    assert again.mechanics["seed"].count == small.mechanics["seed"].count


def test_the_smaller_growth_market_keeps_its_referral_story() -> None:
    """Written for 1M users, growth.yaml at 20,000 (sized by hand it was all seeds, 0 referred
    users) still grows by referral once rescaled."""
    result = run(load_scenario(GROWTH, [*SCALED, "days=90"]))
    assert result.metrics["referred_users"].sum() > 0
    assert result.metrics["new_users"].sum() > load_scenario(GROWTH, SCALED).mechanics[
        "seed"].count


def test_every_scaled_field_is_a_field_of_its_mechanic() -> None:
    for kind, (params, _) in REGISTRY.items():
        for pattern in params.scaled_fields:
            assert pattern.split(".")[0] in params.model_fields, (kind, pattern)


def test_seeds_that_fill_the_market_are_warned() -> None:
    """growth.yaml as it was before it declared its reference size: sized down by hand."""
    text = "".join(line for line in GROWTH.read_text("utf-8").splitlines(keepends=True)
                   if not line.startswith("  reference_size:")
                   and not line.lstrip().startswith("# seeds, budgets, reach"))
    (warning,) = map(str, parse_scenario(text, "growth.yaml", ["market.size=20000"]).notes)
    assert warning.endswith("to rescale a scenario written for another size")
    assert ("growth.yaml:53: warning: mechanics.seed.count: 20,000 seed users fill the whole "
            "market") in warning
    assert load_scenario(GROWTH, SCALED).notes[0].severity == "note"


def test_a_budget_or_a_post_that_buys_nobody_is_warned() -> None:
    notes = [str(n) for n in load_scenario(ROOT / "scenarios" / "cold_start.yaml", [
        "mechanics.ads.daily_budget=0.001", "mechanics.kol.posts.0.reach=10"]).notes]
    assert any("mechanics.ads.daily_budget: 0.001 yuan a day at CPM 40 and click rate 0.01 "
               "buys about 0.073 visits in 365 days" in n for n in notes), notes
    assert any("mechanics.kol.posts.0.reach: a post reaching 10 people at click rate 0.03 "
               "brings about 0.3 visits" in n for n in notes), notes
    assert not [n for n in map(str, load_scenario(ROOT / "scenarios" / "cold_start.yaml").notes)
                if "visits" in n]


def test_a_warning_about_a_scaled_value_says_it_was_scaled_in_both_languages() -> None:
    """cold_start.yaml at 3,000 users warned of "a post reaching 9 people" as if the file said
    9 (it says 3,000 for 1,000,000 users), and only in English."""
    path = ROOT / "scenarios" / "cold_start.yaml"
    notes = [n for n in load_scenario(path, ["market.size=3000"]).notes
             if n.path == "mechanics.kol.posts.0.reach"]
    (warning,) = notes
    assert warning.text().endswith("(9 is the file's 3,000 scaled from market.reference_size "
                                   "1,000,000 to this market.size; or run a bigger market)")
    assert "触达 9 人" in warning.text(chinese=True)
    assert "由文件中的 3,000 按 market.reference_size 1,000,000 缩放" in warning.text(True)
    (given,) = [n for n in load_scenario(path, ["market.size=3000",
                                                "mechanics.kol.posts.0.reach=9"]).notes
                if n.path == "mechanics.kol.posts.0.reach"]
    assert "scaled" not in given.text() and given.text().endswith(
        "(from override 'mechanics.kol.posts.0.reach=9')")
    assert given.text(chinese=True).endswith("（来自覆盖参数 'mechanics.kol.posts.0.reach=9'）")


def test_seeds_scaled_to_fill_the_market_get_no_advice_that_cannot_help() -> None:
    """A bigger market scales the seeds with it, and reference_size is already set."""
    text = GROWTH.read_text("utf-8").replace("    count: 20000\n", "    count: 1000000\n")
    (warning,) = [n for n in parse_scenario(text, "growth.yaml", ["market.size=2000"]).notes
                  if n.severity == "warning"]
    assert "2,000 seed users fill the whole market" in warning.text()
    assert "2,000 is the file's 1,000,000 scaled" in warning.text()
    for advice in ("bigger market", "market.reference_size to rescale"):
        assert advice not in warning.text()
    assert "更大的市场" not in warning.text(chinese=True)



def test_every_resolved_yaml_reads_back_to_the_same_scenario() -> None:
    """The resolved file (libyaml's dumper where PyYAML has it) loads back to the scenario it
    came from: every shipped one (Chinese names included) and free text with quotes, a tab
    and an emoji (libyaml escapes characters beyond the BMP; the pure-Python dumper writes
    them raw: both read back the same)."""
    free_text = "老带新 referral: \"拼团/砍价\" # not a comment\tend 😀 " * 6
    scenarios = [load_scenario(path) for path in sorted((ROOT / "scenarios").glob("*.yaml"))]
    scenarios.append(scenarios[0].model_copy(update={"description": free_text}))
    for scenario in scenarios:
        again = parse_scenario(scenario.to_yaml(), f"{scenario.name} resolved")
        assert again.model_dump(exclude={"notes"}) == scenario.model_dump(exclude={"notes"}), \
            scenario.name
    assert again.description == free_text


def test_a_negative_value_in_the_file_is_refused_not_scaled_to_zero() -> None:
    """`daily_budget: -5` at 20k users read as 0 (the scaled whole-number rule) and ran, exit 0,
    while the same value as an override was refused."""
    text = (ROOT / "scenarios" / "cold_start.yaml").read_text("utf-8").replace(
        "    daily_budget: 1000 ", "    daily_budget: -5 ")
    try:
        parse_scenario(text, "cold.yaml", ["market.size=20000"])
    except InputError as exc:
        (problem,) = exc.problems
        assert problem.path == "mechanics.ads.daily_budget" and problem.line is not None
        assert "greater than or equal to 0" in problem.message
    else:
        raise AssertionError("a negative budget was accepted")
