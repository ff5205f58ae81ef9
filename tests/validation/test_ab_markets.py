"""The markets `simctl ab` compares are one market until the experiment's start day.

Mixed, all-treatment and all-control markets share the seed, arms and unit; the two
counterfactual markets launch one arm (`experiment.launch`). Before start_day every day's
counters must be equal draw for draw, and from it they differ only by the arms' settings: a
treatment that changes nothing leaves the three markets identical throughout.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.planning.abtest import markets
from sim.aggregation import daily_table
from sim.engine import simulate
from sim.scenario import load_scenario
from sim.variants import arm_settings
from tests.conftest import ROOT


def referral_test(*extra: str):
    return load_scenario(ROOT / "scenarios" / "ab_referral.yaml",
                         ["market.size=8000", "mechanics.seed.count=300",
                          "experiment.duration_days=20", *extra])


@pytest.mark.parametrize("start", [0, 4, 12])
def test_three_markets_are_one_market_until_the_start_day(start: int) -> None:
    sc = referral_test(f"experiment.start_day={start}")
    design = markets(sc, "user", 8000, 30)
    mixed, treated, control = [daily_table(simulate(m)) for m in
                                (design.mixed, *design.launches, design.control)]
    for other in (treated, control):
        assert mixed.columns.equals(other.columns)
        assert np.array_equal(mixed.iloc[:start].to_numpy(), other.iloc[:start].to_numpy())
    # from the start day the reward differs, so the markets do (a check that it is on)
    later = slice(start, None)
    assert not np.array_equal(treated.iloc[later]["referral_reward_amount"],
                              control.iloc[later]["referral_reward_amount"])


def test_a_treatment_equal_to_control_leaves_the_markets_equal() -> None:
    sc = referral_test("experiment.start_day=5",
                       "experiment.arms.1.set={mechanics.referral.reward_referrer: 10}")
    design = markets(sc, "cluster", 8000, 30)
    tables = [daily_table(simulate(m)) for m in (design.mixed, *design.launches,
                                                  design.control)]
    for other in tables[1:]:
        assert np.array_equal(tables[0].to_numpy(), other.to_numpy())


def test_launch_gives_every_enrolled_user_the_arm_settings() -> None:
    """The all-treatment market keeps both arm labels but pays both the treatment's reward."""
    sc = referral_test("experiment.start_day=0")
    (treated,) = markets(sc, "user", 8000, 30).launches
    assert treated.experiment.launch == "reward_20"
    from sim.engine import run

    arms = run(treated).arm_metrics.groupby("arm")[["referral_cost", "purchases"]].sum()
    for arm in ("control", "reward_20"):
        assert arms.loc[arm, "purchases"] > 0
    granted = daily_table(simulate(treated))
    assert granted["reward_granted_amount"].sum() == 20 * granted["reward_granted"].sum()



def test_several_treatments_and_partial_enrolment_are_one_market_until_the_start_day() -> None:
    """Three arms, 40% of the circles enrolled: every market (mixed, all-control, one launch
    per treatment) is the mixed market draw for draw before day 6, and a launch market gives
    every arm, and the users partial enrolment left out (`not_sampled`), the launched arm's
    settings."""
    sc = referral_test("experiment.start_day=6", "experiment.enrolment=0.4",
                       "experiment.arms=[{name: control, share: 0.4}, {name: r15, share: 0.3, "
                       "set: {mechanics.referral.reward_referrer: 15}}, {name: r20, share: 0.3, "
                       "set: {mechanics.referral.reward_referrer: 20}}]")
    design = markets(sc, "cluster", 8000, 30)
    assert [m.experiment.launch for m in design.launches] == ["r15", "r20"]
    assert design.mixed.arm_names == ["control", "r15", "r20", "not_sampled"]
    tables = [daily_table(simulate(m)) for m in (design.mixed, design.control,
                                                  *design.launches)]
    for other in tables[1:]:
        assert np.array_equal(tables[0].iloc[:6].to_numpy(), other.iloc[:6].to_numpy())
    assert not np.array_equal(tables[0].iloc[6:].to_numpy(), tables[3].iloc[6:].to_numpy())
    reward = {"mechanics.referral.reward_referrer": 20}
    assert arm_settings(design.launches[1]) == [reward] * 4
    assert arm_settings(design.mixed) == [{}, {"mechanics.referral.reward_referrer": 15},
                                          reward, {}]
