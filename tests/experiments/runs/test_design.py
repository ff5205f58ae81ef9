"""Parameter specs and designs: lists, ranges, bounds, grid / LHS / Sobol, validation."""

from __future__ import annotations

import pytest

from experiments.runs.design import (
    build_design,
    make_design,
    parse_param,
    point_scenario,
    with_field_types,
)
from sim.errors import InputError
from sim.scenario import Scenario, load_scenario
from tests.conftest import ROOT
from tests.experiments.runs.test_sweep import REFERENCE


@pytest.fixture(scope="module")
def base() -> Scenario:
    return load_scenario(REFERENCE, ["market.size=2000", "days=30"])


def test_list_values_are_yaml_scalars() -> None:
    spec = parse_param("mechanics.purchase.purchase_rate.link=clip,poisson")
    assert spec.kind == "list" and spec.values == ("clip", "poisson")
    assert parse_param("market.size=5,10,20").values == (5, 10, 20)


@pytest.mark.parametrize("text, values", [
    ("x=5:30:5", (5, 10, 15, 20, 25, 30)),  # end included when the steps land on it
    ("x=5:29:5", (5, 10, 15, 20, 25)),
    ("x=0.1:0.5:0.1", (0.1, 0.2, 0.3, 0.4, 0.5)),  # tolerant of float steps
    ("x=30:5:-10", (30, 20, 10)),
])
def test_ranges(text: str, values: tuple) -> None:
    assert parse_param(text).values == pytest.approx(values)


@pytest.mark.parametrize("text, fragment", [
    ("x=5:30:0", "step must not be 0"), ("x=30:5:5", "use step -5"),
    ("x=1:2", "start:stop:step"), ("x=0.5..0.1", "low end must be below"),
    ("x=a..b", "is not a number"), ("x", "expected dotted.path=VALUES"),
    ("x y=1", "not a dotted path"),
])
def test_malformed_params(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        parse_param(text)


def test_grid_is_the_cartesian_product_in_order() -> None:
    design = make_design([parse_param("a=1,2"), parse_param("b=10,20,30")])
    assert design.points == [{"a": a, "b": b} for a in (1, 2) for b in (10, 20, 30)]


def test_lhs_stays_in_bounds_is_stratified_and_reproducible() -> None:
    specs = [parse_param("a=0.0..1.0"), parse_param("b=10.0..20.0")]
    design = make_design(specs, "lhs", 10, seed=7)
    a = sorted(p["a"] for p in design.points)
    assert all(i / 10 <= v < (i + 1) / 10 for i, v in enumerate(a))  # one point per stratum
    assert all(10 <= p["b"] <= 20 for p in design.points)
    assert design.points == make_design(specs, "lhs", 10, seed=7).points


def test_sobol_warns_when_not_a_power_of_two() -> None:
    specs = [parse_param("a=0.0..1.0")]
    assert make_design(specs, "sobol", 8).warnings == []
    assert "not a power of 2" in make_design(specs, "sobol", 6).warnings[0]


def test_integer_fields_get_integer_values(base: Scenario) -> None:
    specs = with_field_types([parse_param("market.size=1000..3000"),
                              parse_param("days=10.0,20.0")], base)
    design = make_design(specs[:1], "lhs", 5)
    assert all(type(p["market.size"]) is int for p in design.points)
    assert specs[1].values == (10, 20)


def test_design_kind_must_match_the_values(base: Scenario) -> None:
    with pytest.raises(InputError, match="samples numbers within bounds"):
        build_design(base, ["mechanics.acquisition.p=0.01,0.02"], "lhs", 8)
    with pytest.raises(InputError, match="needs --points"):
        build_design(base, ["mechanics.acquisition.p=0.01..0.02"], "sobol")
    with pytest.raises(InputError, match="unknown design"):
        build_design(base, ["mechanics.acquisition.p=0.01,0.02"], "random")


def test_every_point_is_validated_against_the_scenario(base: Scenario) -> None:
    with pytest.raises(InputError) as caught:
        build_design(base, ["mechanics.acquisition.p=0.5..2"], "lhs", 4)
    (problem,) = caught.value.problems
    assert problem.path == "mechanics.acquisition.p" and "less than or equal to 1" in str(problem)
    _, scenarios = build_design(base, ["mechanics.acquisition.q=0.1,0.2"])
    assert [s.mechanics["acquisition"].q for s in scenarios] == [0.1, 0.2]
    assert all(s.seed == base.seed for s in scenarios)  # common random numbers


@pytest.fixture(scope="module")
def retention() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "retention.yaml", ["market.size=2000",
                                                              "mechanics.existing.count=2000",
                                                              "days=20"])


def test_sweeps_set_list_items_by_position(retention: Scenario) -> None:
    """`tiers.2.threshold` sets the third tier's field, as a scenario override does; integer
    detection looks into the list; the other tiers are untouched."""
    specs = with_field_types([parse_param("mechanics.tiers.tiers.2.threshold=300.0,900.0")],
                             retention)
    _, scenarios = build_design(retention, [specs[0].text])
    thresholds = [[t.threshold for t in s.mechanics["tiers"].tiers] for s in scenarios]
    base = [t.threshold for t in retention.mechanics["tiers"].tiers]
    assert thresholds == [[*base[:2], 300.0], [*base[:2], 900.0]]
    _, rules = build_design(retention, ["mechanics.crm.rules.1.days=3,10"])
    assert [s.mechanics["crm"].rules[1].days for s in rules] == [3, 10]
    assert all(s.mechanics["crm"].rules[2].days == 14 for s in rules)


def test_a_list_position_past_the_end_is_a_located_error(retention: Scenario) -> None:
    """Three tiers: item 3 does not exist; the error names the list, its line in the file and
    how items are counted, instead of silently adding a tier or a KeyError."""
    with pytest.raises(InputError) as caught:
        build_design(retention, ["mechanics.tiers.tiers.3.threshold=100,200"])
    (problem,) = caught.value.problems
    assert problem.path == "mechanics.tiers.tiers"
    assert "no item 3 in this list of 3 (items count from 0)" in problem.message
    line = (ROOT / "scenarios" / "retention.yaml").read_text().splitlines()[problem.line - 1]
    assert line == "    tiers:"  # the list, not the mechanic of the same name
    with pytest.raises(InputError, match="no item x in this list"):
        build_design(retention, ["mechanics.tiers.tiers.x.threshold=100"])


def test_a_bad_value_in_a_list_item_points_at_the_param(retention: Scenario) -> None:
    with pytest.raises(InputError) as caught:
        build_design(retention, ["mechanics.tiers.tiers.1.threshold=-5,10"])
    (problem,) = caught.value.problems
    assert problem.path == "mechanics.tiers.tiers.1.threshold"
    assert "--param mechanics.tiers.tiers.1.threshold=-5" in problem.message


def test_linked_parameters_move_together() -> None:
    """`a+b=10,20`: both referral rewards take each value together (one swept dimension)."""
    base = load_scenario(ROOT / "scenarios" / "ab_referral.yaml")
    design, scenarios = build_design(base, ["mechanics.referral.reward_referrer+"
                                            "mechanics.referral.reward_referee=10,25"])
    assert len(design.points) == 2
    referral = scenarios[1].mechanics["referral"]
    assert referral.reward_referrer == referral.reward_referee == 25


@pytest.mark.parametrize("base_overrides", [["days=30"], ["market.size=3000", "days=30"]])
def test_a_point_with_its_own_market_size_is_the_scenario_run_at_that_size(
        base_overrides: list[str]) -> None:
    """growth.yaml's seeds, budgets and posts are written for 1M users (reference_size): a sweep
    point at 2,000 users scales them from the file, exactly as `run market.size=2000` does (it
    kept the base's 1M or 3,000-user values: 20,000 seeds refused, or the 3,000 market's)."""
    growth = ROOT / "scenarios" / "growth.yaml"
    base = load_scenario(growth, base_overrides)
    point = point_scenario(base, {"market.size": 2000})
    alone = load_scenario(growth, ["days=30", "market.size=2000"])
    assert point.model_dump() == alone.model_dump()
    assert point.mechanics["seed"].count == 40  # 20,000 seeds x 2,000 / 1M
    kept = point_scenario(base, {"market.size+mechanics.seed.count": 2000})  # set, not scaled
    assert kept.mechanics["seed"].count == 2000


def test_a_misspelt_mechanic_in_a_param_is_named_with_the_nearest() -> None:
    """--param mechanics.gfit.value=0,5 read as 'unknown or missing mechanic type'."""
    base = load_scenario(ROOT / "scenarios" / "cold_start.yaml", ["market.size=2000"])
    with pytest.raises(InputError) as caught:
        build_design(base, ["mechanics.gfit.value=0,5"])
    message = str(caught.value.problems[0])
    assert "mechanics.gfit: --param mechanics.gfit.value: no mechanic 'gfit' in this " \
           "scenario (did you mean 'gift'?); its mechanics: seed, organic" in message
