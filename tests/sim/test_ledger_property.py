"""The money ledger balances for any settings, with every mechanic of stages 10 -> 100 on.

Hypothesis draws the seed and the settings that move money around (refunds, member prices,
fees, points, live returns, stock policy, lead times); every draw runs scale.yaml plus the
weekly live stream and live-only group buys of retention.yaml at a small size, with the event
log. The ledger is rebuilt from the raw event amounts with signs written out here, not read
from sim.metrics.LEDGER, so a line with the wrong sign, or one left out, fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.events import event_table
from sim.metrics import daily_metrics
from sim.planning import layout_of
from sim.scenario import validate_scenario
from tests.conftest import ROOT

# Money off the order, before net revenue: (event amount column, sign). Income adds.
REVENUE_SIDE = {"order_amount": +1, "coupon_amount": -1, "gift_amount": -1,
                "referral_reward_amount": -1, "tier_discount_amount": -1,
                "paid_discount_amount": -1, "community_discount_amount": -1,
                "points_redeemed_amount": -1, "refund_amount": -1, "live_discount_amount": -1,
                "paid_fee_amount": +1}
# Costs after gross margin, each booked by one mechanic.
COSTS = ("ad_spend", "kol_spend", "touchpoint_spend", "register_fee_amount",
         "share_reward_amount", "bargain_cost_amount", "commission_amount",
         "automation_send_amount", "automation_gift_amount", "tier_shipping_amount",
         "tier_birthday_gift_amount", "paid_shipping_amount", "community_operating_amount",
         "touchpoint_engagement_cost", "live_production", "live_promo_amount",
         "recommender_cost", "shipped_amount", "holding_cost")
# Discounts of an order, which with its refund can never exceed what was ordered.
OFF_ORDER = ("coupon", "gift", "referral_reward", "tier_discount", "paid_discount",
             "community_discount", "points_redeemed", "live_discount", "refund")


def everything_on(draw: dict[str, Any]) -> Any:
    scale = yaml.safe_load((ROOT / "scenarios" / "scale.yaml").read_text())
    retention = yaml.safe_load((ROOT / "scenarios" / "retention.yaml").read_text())
    scale["mechanics"]["live"] = retention["mechanics"]["live"]
    scale["mechanics"]["live_groups"] = retention["mechanics"]["live_groups"]
    scale.update(seed=draw["seed"], days=70, replicates=1)
    scale["market"]["size"] = 6000
    m = scale["mechanics"]
    m["existing"]["count"] = 2400
    m["ads"]["daily_budget"] = 60
    m["purchase"]["refund_rate"] = draw["refund_rate"]
    m["plus"].update(fee=draw["fee"], period_days=30, offer_every_days=7,
                     member_discount=draw["member_discount"])
    m["groups"]["invite_prob"] = 0.5
    m["tiers"]["period_days"] = 30
    m["shop"]["expansions"][0]["day"] = 20  # the private-label launch inside the short horizon
    m["points"].update(expiry_days=40, redeem_prob=draw["redeem_prob"])
    m["live"]["return_rate"] = draw["live_return"]
    m["stock"]["stockout"] = draw["stockout"]
    m["stock"]["lead_time"] = {"distribution": "gamma", "mean_days": draw["lead"], "cv": 0.4}
    return validate_scenario(scale, "<property>")


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({
    "seed": st.integers(0, 10_000), "refund_rate": st.sampled_from([0.0, 0.1, 0.5]),
    "fee": st.sampled_from([19.0, 99.0]), "member_discount": st.sampled_from([0.0, 0.1]),
    "redeem_prob": st.sampled_from([0.2, 1.0]), "live_return": st.sampled_from([0.0, 0.5]),
    "stockout": st.sampled_from(["lost_sales", "backorder"]), "lead": st.sampled_from([2.0, 9.0])}))
def test_ledger_balances_with_everything_on(draw: dict[str, Any]) -> None:
    sc = everything_on(draw)
    counters = simulate(sc, log_events=True)
    d, events = daily_table(counters), event_table(counters, layout_of(sc))
    m = daily_metrics(d)

    def col(name: str) -> pd.Series:
        return d[name] if name in d else pd.Series(0.0, index=d.index)

    net = sum(sign * col(name) for name, sign in REVENUE_SIDE.items())
    gross = net - col("cogs_amount")
    contribution = gross - sum(col(name) for name in COSTS)
    assert np.allclose(m["net_revenue"], net)
    assert np.allclose(m["gross_margin"], gross)
    assert np.allclose(m["contribution"], contribution)
    assert col("order_amount").sum() > 0 and col("paid_fee_amount").sum() > 0
    assert col("shipped_amount").sum() > 0 and col("live_order_amount").sum() > 0

    # the event log holds the same money as the counters
    for name in ("order", "refund", "cogs", "paid_fee", "shipped", "live_discount"):
        if f"{name}_amount" in d:
            logged = events.loc[events["event"] == name, "amount"].sum()
            assert np.isclose(logged, d[f"{name}_amount"].sum()), name

    # per user-day: discounts and refunds never exceed what was ordered
    key = ["user", "day"]
    ordered = events[events["event"] == "order"].groupby(key)["amount"].sum()
    off = events[events["event"].isin(OFF_ORDER)].groupby(key)["amount"].sum()
    assert (off <= ordered.reindex(off.index, fill_value=0.0) + 1e-6).all()

    # stock is conserved: received - shipped = change in stock (units, whole market)
    stock = col("units_in_stock")
    assert np.allclose(np.diff(stock), (col("stock_received") - col("stock_shipped"))[1:])
