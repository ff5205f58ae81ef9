"""Review findings in the retention mechanics, each pinned by a test that failed before its fix:
recommendations follow an experiment that starts late, per-cell totals follow users the engine
moves to the control, SimPy schedules of day 0 act on day 0, refunded orders earn no paid
membership perks, the gift's and the recommender's first-order boosts multiply, and the live
stream's community audience counts alive members only (fixed seeds, binomial tolerances)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.engine import simulate
from sim.events import event_table
from sim.mechanics.recommendations import Recommendations, RecommendationsParams
from sim.planning import layout_of
from sim.recorder import Counters
from sim.scenario import Scenario, validate_scenario

Z = 4.0
STEADY = {"type": "purchase_dropout", "purchase_rate": {"r": 1e6, "alpha": 5e7},
          "dropout": {"a": 1.0, "b": 1e9},
          "order_value": {"model": "gamma", "shape": 2.0, "scale": 30.0}}  # p = 0.02 a day
BUY = {**STEADY, "purchase_rate": {"r": 2.0, "alpha": 30.0}}  # mean p about 0.067, no churn
NOBODY = {"high_value": 0.0, "potential": 0.0}


def scenario(size: int, days: int, seed: int = 7, experiment: dict[str, Any] | None = None,
             **mechanics: dict[str, Any]) -> Scenario:
    data: dict[str, Any] = {"name": "fixa", "days": days, "seed": seed,
                            "market": {"size": size}, "mechanics": mechanics}
    if experiment is not None:
        data["experiment"] = experiment
    return validate_scenario(data, "<test>")


def logged(sc: Scenario) -> tuple[pd.DataFrame, Counters]:
    counters = simulate(sc, log_events=True)
    return event_table(counters, layout_of(sc)), counters


def within(observed: float, n: float, p: float) -> bool:
    return abs(observed - n * p) <= Z * math.sqrt(max(n * p * (1 - p), 1e-12))


def of(events: pd.DataFrame, name: str, day: int | None = None) -> pd.DataFrame:
    rows = events[events["event"] == name]
    return rows if day is None else rows[rows["day"] == day]


def seeded(n: int) -> dict[str, Any]:
    return {"type": "seed_users", "count": n}


# --- 1. recommendations and a late experiment start -------------------------------------------


def test_recommendations_take_the_arms_values_from_a_late_start_day() -> None:
    """Control: max_lift = cold_lift (no personalisation). The treatment (max_lift 1, warm-up
    1 order, 30% refusing) starts on day 10. On day 10 every treatment user with an order
    so far is fully known unless refusing: rec_warmed that day is a Binomial(k, 0.7) subset of
    them. From day 11 their daily purchase probability is 0.02 x 2 = 0.04 (the checkout was
    redrawn on day 10), Binomial over their days; before the fix nobody warmed and it stayed
    0.02."""
    n, start, days = 20_000, 10, 40
    recs = {"type": "recommendations", "max_lift": 0.02, "cold_lift": 0.02,
            "warm_up_orders": 1.0, "non_personalized_share": 0.0}
    arms = [{"name": "control", "share": 0.5},
            {"name": "personal", "share": 0.5,
             "set": {"mechanics.recs.max_lift": 1.0,
                     "mechanics.recs.non_personalized_share": 0.3}}]
    events, _ = logged(scenario(n, days, founders=seeded(n), buy=STEADY, recs=recs,
                                experiment={"start_day": start, "arms": arms}))
    orders = of(events, "order")
    treated = orders[orders["arm"] == "personal"]
    early = set(treated.loc[treated["day"] <= start, "user"])  # the pass runs after purchases
    warmed_then = set(of(events, "rec_warmed", start)["user"])
    assert len(early) > 1000
    assert warmed_then <= early
    assert within(len(warmed_then), len(early), 0.7)
    later = treated[(treated["day"] > start) & treated["user"].isin(warmed_then)]
    assert within(len(later), len(warmed_then) * (days - 1 - start), 0.04)
    refusing = treated[(treated["day"] > start) & treated["user"].isin(early - warmed_then)]
    assert within(len(refusing), len(early - warmed_then) * (days - 1 - start), 0.02)


def test_recommendation_state_is_a_declared_column() -> None:
    """Refusals and settled users are a declared uint8 column (the memory estimate sees it),
    not a bool array of the market's size held by the mechanic."""
    assert Recommendations.columns(RecommendationsParams())["rec_flags"] == np.dtype(np.uint8)


# --- 2. per-cell totals follow users moved to the control --------------------------------------


def test_running_totals_follow_users_moved_to_the_control() -> None:
    """Everyone is acquired on day 0, so an experiment for new users from day 10 moves every
    treatment user to the control. Members, KOCs, tier users and points outstanding counted
    in treatment cells must move with them: from day 10 the treatment arm has none, and the
    control has the market's total."""
    n, start, days = 3_000, 10, 14
    mechanics = {
        "founders": seeded(n), "buy": BUY,
        "club": {"type": "community", "audience": [], "invite_every_days": 7,
                 "invite_prob": 1.0, "accept_prob": 1.0, "koc_share": 0.5,
                 "koc_after_days": 1},
        "vip": {"type": "paid_membership", "offer_every_days": 7,
                "uptake": {**NOBODY, "buyer": 1.0, "non_buyer": 1.0}},
        "tiers": {"type": "membership_tiers", "tiers": [
            {"name": "base", "threshold": 0}, {"name": "silver", "threshold": 1.0}]},
        "points": {"type": "points"},
    }
    arms = [{"name": "control", "share": 0.5}, {"name": "new", "share": 0.5}]
    sc = scenario(n, days, experiment={"start_day": start, "eligibility": "new_users",
                                       "arms": arms}, **mechanics)
    counters = simulate(sc)
    treatment = layout_of(sc).cell_arm() == 1
    for stock in ("community_members", "kocs", "paid_members", "tier_1_users",
                  "points_outstanding"):
        table = counters.stocks[stock]
        assert table[start - 1, treatment].sum() > 0, stock  # the arm had some before
        assert np.allclose(table[start:, treatment], 0.0), stock
        assert np.all(table[start:, ~treatment] >= -1e-9), stock


# --- 3. schedules of day 0 -----------------------------------------------------------------------


def test_daily_offers_invitations_and_a_day_0_expansion_act_on_day_0() -> None:
    """offer_every_days 1 and invite_every_days 1 offer and invite on day 0; a category
    expansion on day 0 sets the shares of day 0's orders (all go to the launched private-label
    group). Before the fix the zero timeouts fired after day 0's step."""
    n = 2_000
    catalogue = {"type": "catalogue", "sku_groups": [
        {"name": "old", "cogs_ratio": 0.6, "share": 1.0},
        {"name": "own", "cogs_ratio": 0.5, "share": 0.0, "private_label": True}],
        "expansions": [{"day": 0, "shares": {"own": 1.0}}]}
    events, _ = logged(scenario(
        n, 3, founders=seeded(n), buy=BUY, shelf=catalogue,
        vip={"type": "paid_membership", "offer_every_days": 1,
             "uptake": {**NOBODY, "non_buyer": 0.5, "buyer": 0.5}},
        club={"type": "community", "audience": [], "invite_every_days": 1,
              "invite_prob": 0.5, "accept_prob": 1.0}))
    assert within(len(of(events, "paid_join", 0)), n, 0.5)
    assert within(len(of(events, "community_invite", 0)), n, 0.5)
    day0_orders = len(of(events, "order", 0))
    assert day0_orders > 50
    assert len(of(events, "private_label_order", 0)) == day0_orders


# --- 4. refunded orders and paid-membership perks ------------------------------------------------


def test_refunded_orders_earn_no_free_shipping_and_count_as_no_use() -> None:
    """Every order is refunded: members get no free shipping, and with low_use_orders 1 and
    low_use_renewal_prob 0 nobody renews at the end of a 30-day period (before the fix the
    refunded orders counted, so buyers renewed and shipped free)."""
    n = 2_000
    events, _ = logged(scenario(
        n, 40, founders=seeded(n), buy={**BUY, "refund_rate": 1.0},
        vip={"type": "paid_membership", "offer_every_days": 1, "period_days": 30,
             "uptake": {**NOBODY, "non_buyer": 1.0, "buyer": 1.0}, "renewal_prob": 1.0,
             "low_use_orders": 1, "low_use_renewal_prob": 0.0}))
    assert len(of(events, "order")) > 1000
    assert len(of(events, "paid_shipping")) == 0
    assert len(of(events, "paid_renewal")) == 0
    assert len(of(events, "paid_lapse")) == len(of(events, "paid_join", 0)) == n


# --- 5. the gift's and the recommender's first-order boosts --------------------------------------


def test_gift_and_cold_lift_multiply_the_first_order_rate() -> None:
    """First orders at 1 - 0.7^(1/30) a day, times (1 + gift 1.0) x (1 + cold lift 0.5) = 3:
    first orders within D days are Binomial(N, 1 - (1 - 3q)^D). Before the fix the gift
    replaced the cold lift (factor 2)."""
    n, days = 20_000, 20
    q = 1 - 0.7 ** (1 / 30)
    events, _ = logged(scenario(
        n, days, founders=seeded(n), buy={**STEADY, "first_order": {"within_30_days": 0.3}},
        gift={"type": "new_user_gift", "first_order_lift": 1.0},
        recs={"type": "recommendations", "max_lift": 0.5, "cold_lift": 0.5,
              "non_personalized_share": 0.0}))
    firsts = of(events, "first_order")["user"].nunique()
    assert within(firsts, n, 1 - (1 - 3 * q) ** days)


# --- 6. live-stream community audience -----------------------------------------------------------


def test_live_community_audience_counts_alive_members_only() -> None:
    """Every user joins a group on day 0; every order churns its buyer (dropout 1). On the
    day-7 stream, with community_prob 1 and no other source, the community audience is every
    alive member: exactly the viewers. Before the fix it also counted members who churned
    earlier that day."""
    n = 3_000
    churning = {**BUY, "dropout": {"a": 1e6, "b": 1e-6}}
    live = {"type": "live_stream", "slots": [{"weekday": "monday", "hour": 20}],
            "habit": {"return_prob": 0.0}, "home_page_prob": 0.0, "community_prob": 1.0,
            "official_account": {"reach": 0.0}, "share_prob": 0.0, "viewer_to_buyer": 0.0}
    events, counters = logged(scenario(
        n, 8, founders=seeded(n), buy=churning, live=live,
        club={"type": "community", "audience": [], "invite_every_days": 1, "invite_prob": 1.0,
              "accept_prob": 1.0}))
    assert len(of(events, "churned", 7)) > 50  # members churned on the stream day
    extras = counters.extras
    assert list(extras["live.stream_day"]) == [0.0, 7.0]
    assert extras["live.stream_community"][1] == extras["live.stream_viewers"][1] > 1000
