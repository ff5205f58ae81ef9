"""An existing base (seed_users with existing: true) is not new buyers: scale.yaml's 400k users
won in earlier stages made its market CAC 7.0 yuan and LTV/CAC 1.67 with payback on day 0 (20k
users, one replicate), while its paid channels never paid back (ads: CAC 51 yuan). CAC and the
market's unit economics now count the new buyers the run won: 21.8 yuan, LTV/CAC 0.61."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.engine import run
from sim.events import event_table
from sim.metrics.cohorts import unit_economics
from sim.planning import layout_of
from sim.scenario import Scenario
from sim.scenario_checks import check_scenario

DAYS = 120


def _scenario(existing: bool, extra: dict | None = None) -> Scenario:
    mechanics = {
        "base": {"type": "seed_users", "count": 3000, "existing": existing},
        "ads": {"type": "paid_ads", "daily_budget": 300.0, "cpm": 40.0, "ctr": 0.02},
        "funnel": {"type": "funnel", "one_click_consent": 0.5},
        "buy": {"type": "purchase_dropout", "purchase_rate": {"r": 1.0, "alpha": 20.0},
                "dropout": {"a": 1.0, "b": 4.0}, "order_value": {"model": "gamma", "shape": 2.0,
                                                        "scale": 50.0}},
        **(extra or {}),
    }
    return Scenario.model_validate({"name": "base", "seed": 7, "days": DAYS, "replicates": 2,
                                    "market": {"size": 20000}, "mechanics": mechanics})


@pytest.fixture(scope="module")
def runs() -> dict[bool, object]:
    return {existing: run(_scenario(existing)) for existing in (False, True)}


def test_the_base_s_first_orders_are_left_out_of_cac(runs: dict) -> None:
    blended, based = runs[False], runs[True]
    for result in (blended, based):  # the same market: only the reading differs
        assert result.metrics["first_purchases"].equals(blended.metrics["first_purchases"])
    base_channel = layout_of(based.scenario).channel_id("seed")
    for replicate, counters in based.counters.items():
        first = counters.counts["first_order"]
        cells = layout_of(based.scenario).cell_channel() == base_channel
        base_orders = first[:, cells].sum()
        frame = based.metrics[based.metrics["replicate"] == replicate]
        won = frame["won_first_purchases"].sum()
        assert base_orders > 0 and won == first.sum() - base_orders
        spend = frame["acquisition_spend"].sum()
        horizon = based.horizon().set_index("replicate").loc[replicate]
        assert horizon["cac"] == pytest.approx(spend / won, rel=1e-12)
        old = blended.horizon().set_index("replicate").loc[replicate]
        assert old["cac"] == pytest.approx(spend / first.sum(), rel=1e-12)
        assert horizon["cac"] > old["cac"]


def test_the_market_s_value_per_new_buyer_is_the_won_users_own(runs: dict) -> None:
    """The "all" row's LTV and conversion are those of the non-base channels together; the base
    channel keeps its own row, with no CAC (it won nobody)."""
    result = runs[True]
    layout = layout_of(result.scenario)
    won = layout.won_channel_ids()
    assert list(np.asarray(layout.channels)[won]) == ["ads"]
    assert layout_of(runs[False].scenario).won_channel_ids() is None  # no base: the market
    table = result.unit_economics().set_index(["replicate", "channel"])
    for replicate, c in result.counters.items():
        ads = unit_economics(c.cohort_counts, c.cohort_amounts, 1.0, 1.0, DAYS,
                             channel=layout.channel_id("ads"))
        market = table.loc[(replicate, "all")]
        for name in ("ltv_30d_margin", "ltv_90d_gmv", "conversion_30d"):
            assert market[name] == pytest.approx(ads[name], rel=1e-12)
        assert math.isnan(table.loc[(replicate, "seed"), "cac"])
        assert not math.isnan(table.loc[(replicate, "seed"), "ltv_30d_margin"])


def test_base_first_orders_rebuild_from_the_event_log() -> None:
    result = run(_scenario(True).model_copy(update={"replicates": 1}), log_events=True)
    log = event_table(result.counters[0], layout_of(result.scenario))
    first, base = log[log["event"] == "first_order"], log[log["event"] == "base_first_order"]
    assert len(base) == (first["channel"] == "seed").sum() > 0
    assert (base["channel"] == "seed").all()
    assert base["amount"].sum() == pytest.approx(first.loc[first["channel"] == "seed",
                                                           "amount"].sum(), rel=1e-12)
    assert result.metrics["won_first_purchases"].sum() == len(first) - len(base)


def test_a_new_user_credited_to_the_base_s_channel_is_refused() -> None:
    kol = {"kol": {"type": "seed_users", "count": 10, "channel": "seed"}}
    problems = check_scenario(_scenario(True, kol))
    assert [(path, "existing base mechanics.base" in text) for path, text in problems] == [
        (("mechanics", "kol", "channel"), True)]
    assert check_scenario(_scenario(False, kol)) == []  # new users may share a channel


GIFT = {"gift": {"type": "new_user_gift", "value": 10.0, "first_order_lift": 0.3}}


def test_an_existing_base_gets_no_new_user_gift() -> None:
    """growth.yaml gave its existing base the 新人礼包 (2,395 yuan at 20k users) and booked it
    as acquisition spend beside CAC's won buyers only."""
    def gift_by_channel(existing: bool) -> dict[str, float]:
        result = run(_scenario(existing, GIFT).model_copy(update={"replicates": 1}))
        frame = result.channel_metrics
        return frame.groupby("channel")["gift_cost"].sum().to_dict()

    assert gift_by_channel(True)["seed"] == 0 < gift_by_channel(True)["ads"]
    assert gift_by_channel(False)["seed"] > 0
    listed = {"gift": {**GIFT["gift"], "channels": ["ads", "seed"]}}
    problems = check_scenario(_scenario(True, listed))
    assert [path for path, _ in problems] == [("mechanics", "gift", "channels", 1)]
    assert "existing base" in problems[0][1]


def test_growth_accounting_reads_the_base_as_buyers_from_before_the_run(runs: dict) -> None:
    """Their first orders in the run were counted as new buyers (3,048 of 4,805 after the first
    period on scale.yaml at 20k users); they are resurrected ones, and every gain stays a gain."""
    blended, based = runs[False], runs[True]
    for name in ("ga_gained_users", "ga_active_users", "ga_churned_users",
                 "ga_later_gained_users"):
        assert based.metrics[name].equals(blended.metrics[name]), name
    moved = blended.metrics["ga_new_users"].sum() - based.metrics["ga_new_users"].sum()
    assert moved > 0
    assert based.metrics["ga_resurrected_users"].sum() == pytest.approx(
        blended.metrics["ga_resurrected_users"].sum() + moved)
    base_first = sum(c.counts["base_first_order"].sum() for c in based.counters.values())
    assert moved <= base_first  # only base users move (each at most once, on a first order)


def test_a_run_folder_from_before_won_first_purchases_reads_its_cac_as_unknown() -> None:
    """The dashboard of an older run folder raised KeyError: 'won_first_purchases'."""
    from sim.metrics import horizon_values

    daily = pd.DataFrame({"acquisition_spend": [10.0, 20.0], "first_purchases": [1.0, 2.0],
                          "cac": [10.0, 10.0]})
    assert math.isnan(horizon_values(daily)["cac"])


def test_the_base_is_neither_visits_nor_new_users(runs: dict) -> None:
    """retention.yaml counted its 1,500 existing users (10k market) as 拉新 and as visits that
    all registered: registration rate 0.561 where the funnel's is 0.499."""
    blended, based = runs[False], runs[True]
    base = sum(c.counts["base_joined"].sum() for c in based.counters.values())
    assert base == 3000 * len(based.counters)
    for name in ("new_users", "visits"):
        assert blended.metrics[name].sum() - based.metrics[name].sum() == base, name
    assert based.metrics["acquired_users"].equals(blended.metrics["acquired_users"])
    funnel = based.summary()["registration_rate"]["mean"]
    assert funnel < blended.summary()["registration_rate"]["mean"]
    assert based.channel_summary()["seed"]["new_users"]["mean"] == 0
