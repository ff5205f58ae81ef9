"""Properties that hold for every valid lifecycle scenario (hypothesis draws the scenarios):
every user is in exactly one lifecycle state each day, no count goes negative, the ledger
balances (sums over users and over channels equal the totals) and cohorts add up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.aggregation import collect, daily_table
from sim.engine import simulate
from sim.events import event_table
from sim.metrics import daily_metrics
from sim.planning import layout_of
from sim.scenario import validate_scenario

PERSONAS = ["a", "b", "c"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    days = draw(st.integers(20, 90))
    n_personas = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(1, 9), min_size=n_personas - 1,
                                max_size=n_personas - 1, unique=True)))
    shares = np.diff([0, *cuts, 10]) / 10
    personas = [{"name": PERSONAS[i], "share": float(s),
                 "set": {"mechanics.purchase.purchase_rate.alpha":
                         draw(st.floats(0.5, 8.0))}} for i, s in enumerate(shares)]
    mech: dict[str, Any] = {
        "seed": {"type": "seed_users", "count": draw(st.integers(0, 200))},
        "organic": {"type": "bass_acquisition", "p": draw(st.floats(0.0, 0.02)),
                    "q": draw(st.floats(0.0, 0.5))},
    }
    if draw(st.booleans()):
        first = draw(st.integers(0, days - 1))
        mech["ads"] = {"type": "paid_ads", "daily_budget": draw(st.floats(0, 5000)),
                       "cpm": draw(st.floats(5, 80)), "ctr": draw(st.floats(0, 0.05)),
                       "personas": [PERSONAS[0]],
                       "window": {"first_day": first,
                                  "last_day": draw(st.integers(first, days - 1))}}
    if draw(st.booleans()):
        mech["kol"] = {"type": "kol_posts", "posts": [
            {"day": draw(st.integers(0, days - 1)), "cost": draw(st.floats(0, 5000)),
             "reach": draw(st.floats(0, 5000)), "click_rate": draw(st.floats(0, 0.2))}]}
    if draw(st.booleans()):
        mech["funnel"] = {"type": "funnel", "login": draw(st.sampled_from(["one_click", "form"]))}
    if draw(st.booleans()):
        mech["gift"] = {"type": "new_user_gift", "value": draw(st.floats(0, 30)),
                        "first_order_lift": draw(st.floats(0, 1))}
    purchase: dict[str, Any] = {
        "type": "purchase_dropout",
        "purchase_rate": {"r": draw(st.floats(0.1, 2)), "alpha": 4.0, "time_unit_days": 7},
        "dropout": {"a": draw(st.floats(0.2, 3)), "b": draw(st.floats(0.2, 5))},
        "order_value": {"model": "gamma_gamma", "p": 6.25, "q": 3.74, "v": 15.45},
        "cogs_ratio": draw(st.floats(0, 1)), "refund_rate": draw(st.floats(0, 0.5)),
    }
    if draw(st.booleans()):
        purchase["first_order"] = {"within_30_days": draw(st.floats(0, 1))}
    if draw(st.booleans()):
        purchase["checkout"] = {"cart_abandonment": draw(st.floats(0, 1)),
                                "reminder": {"consent_prob": draw(st.floats(0, 1)),
                                             "recovery_rate": draw(st.floats(0, 1))}}
    if draw(st.booleans()):
        purchase["spend_coupon"] = {"threshold": draw(st.floats(10, 80)),
                                    "discount": draw(st.floats(1, 10)),
                                    "redemption": draw(st.floats(0, 1))}
    mech["purchase"] = purchase
    dormant = draw(st.integers(7, 30))
    mech["activity"] = {"type": "activity", "open_prob": draw(st.floats(0, 1)),
                        "decay": draw(st.floats(0.5, 1)), "dormant_after_days": dormant,
                        "churn_after_days": draw(st.one_of(st.none(),
                                                           st.integers(dormant + 1, 60)))}
    return {"name": "prop", "days": days, "seed": draw(st.integers(0, 10**6)),
            "market": {"size": draw(st.integers(200, 2000)), "personas": personas},
            "mechanics": mech}


SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_lifecycle_ledger_and_cohort_invariants(data: dict[str, Any]) -> None:
    scenario = validate_scenario(data)
    counters = simulate(scenario, log_events=True)
    daily = daily_metrics(daily_table(counters))
    n = scenario.market.size

    # every user is in exactly one lifecycle state each day
    potential = n - daily["acquired_users"]
    churned = daily["churned_users"].cumsum()
    states = (potential + daily["new_state_users"] + daily["active_state_users"]
              + daily["dormant_state_users"] + churned)
    assert (states == n).all()
    assert (daily["alive_users"] == daily["new_state_users"] + daily["active_state_users"]
            + daily["dormant_state_users"]).all()

    # no count goes negative (money flows included; net figures may legitimately be < 0)
    for table in (*counters.counts.values(), *counters.amounts.values(),
                  *counters.stocks.values(), *counters.channel_amounts.values()):
        assert (table >= -1e-9).all()

    # the ledger balances: per-user sums of the event log equal the recorded totals
    events = event_table(counters, layout_of(scenario))
    by_event = events.groupby("event")["amount"].sum()
    for event, metric in (("order", "gmv"), ("coupon", "coupon_cost"), ("gift", "gift_cost"),
                          ("refund", "refunds"), ("cogs", "cogs"), ("ad_spend", "ad_spend"),
                          ("kol_spend", "kol_spend"), ("register_fee", "register_cost")):
        assert np.isclose(by_event.get(event, 0.0), daily[metric].sum(), rtol=1e-9, atol=1e-6)
    per_user = events[events["user"] >= 0].groupby("user")["amount"].sum().sum()
    assert np.isclose(per_user, events.loc[events["user"] >= 0, "amount"].sum())
    # ... and the identities between its lines hold day by day
    assert np.allclose(daily["net_revenue"], daily["gmv"] - daily["coupon_cost"]
                       - daily["gift_cost"] - daily["refunds"])
    assert np.allclose(daily["gross_margin"], daily["net_revenue"] - daily["cogs"])
    # a paid order never pays less than nothing
    assert (daily["gmv"] - daily["coupon_cost"] - daily["gift_cost"] >= -1e-6).all()

    # channel views add up to the whole market for every flow
    result = collect(scenario, {0: counters})
    flows = ["new_users", "purchases", "gmv", "coupon_cost", "ad_spend", "kol_spend", "visits"]
    by_channel = result.channel_metrics.groupby("day")[flows].sum()
    pd.testing.assert_frame_equal(by_channel.reset_index(drop=True),
                                  result.metrics[flows].reset_index(drop=True),
                                  check_exact=False, rtol=1e-9, atol=1e-6)

    # cohort sizes add up to new users
    assert counters.cohort_counts["acquired"].sum() == daily["new_users"].sum()
    assert counters.cohort_counts["first_order"].sum() <= daily["first_purchases"].sum()
