"""Catalogue and inventory do what they say: stock is conserved per SKU group every day
(hypothesis draws the policies), fill rates and lead times are exact where the rule is
deterministic, demand shares and sharing damping match their binomial expectations (fixed
seeds, tolerances of a few standard errors), the ledger balances with logistics and holding
costs, and bad input is located.

A small scale-stage example (what scenarios/scale.yaml will build on):

    mechanics:
      shop:
        type: catalogue
        sku_groups:
          - {name: rice, role: hero, cogs_ratio: 0.75, share: 0.5}
          - {name: snacks, role: traffic, price_index: 0.6, cogs_ratio: 0.8, share: 0.5}
          - {name: own_tea, private_label: true, repeat_lift: 0.1, cogs_ratio: 0.45}
        expansions:
          - {day: 90, shares: {own_tea: 0.2}}   # launch the private-label line
      stock:
        type: inventory
        policy: reorder_point               # (s, Q) from the last 28 days of demand
        lead_time: {distribution: gamma, mean_days: 7, cv: 0.3}
        stockout: backorder
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.errors import InputError
from sim.events import event_table
from sim.metrics import METRICS, daily_metrics
from sim.planning import layout_of
from sim.scenario import Scenario, parse_scenario, validate_scenario
from tests.conftest import ROOT
from tests.sim.test_money import contribution_from_counters

Z = 4.0
BUY = {"type": "purchase_dropout", "purchase_rate": {"r": 2.0, "alpha": 20.0},
       "dropout": {"a": 1.0, "b": 1e6},
       "order_value": {"model": "gamma", "shape": 2.0, "scale": 30.0}}
TWO = [{"name": "rice", "role": "hero", "cogs_ratio": 0.7, "share": 0.6},
       {"name": "tea", "cogs_ratio": 0.4, "private_label": True, "share": 0.4}]


def scenario(size: int, days: int, seed: int = 5, personas: list[dict] | None = None,
             **mechanics: dict[str, Any]) -> Scenario:
    market: dict[str, Any] = {"size": size}
    if personas:
        market["personas"] = personas
    return validate_scenario({"name": "s", "days": days, "seed": seed, "market": market,
                              "mechanics": {"founders": {"type": "seed_users", "count": size},
                                            **mechanics}}, "<test>")


def catalogue(groups: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "catalogue", "sku_groups": groups or TWO, **extra}


def run(sc: Scenario) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    counters = simulate(sc)
    return daily_table(counters), counters.extras


def previous(table: np.ndarray, first: np.ndarray) -> np.ndarray:
    return np.vstack([first[None, :], table[:-1]])


# --- conservation --------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=st.sampled_from(["reorder_point", "periodic_review", "none"]),
       stockout=st.sampled_from(["lost_sales", "backorder"]),
       lead=st.sampled_from(["fixed", "gamma", "lognormal"]),
       mean_lead=st.floats(0.6, 12.0), initial=st.integers(0, 400),
       seed=st.integers(0, 10**6), days=st.integers(10, 50))
def test_stock_is_conserved_per_group_every_day(policy: str, stockout: str, lead: str,
                                                mean_lead: float, initial: int, seed: int,
                                                days: int) -> None:
    """received - shipped = change in stock, per SKU group and day (back-orders included);
    stock never goes negative; units shipped are the shipped orders of the log's totals."""
    sc = scenario(1500, days, seed, buy=BUY, shop=catalogue(), stock={
        "type": "inventory", "policy": policy, "stockout": stockout, "initial_stock": initial,
        "review_days": 5, "lead_time": {"distribution": lead, "mean_days": mean_lead}})
    d, x = run(sc)
    on_hand = x["stock.on_hand"]
    start = np.full(on_hand.shape[1], initial)
    assert np.array_equal(on_hand - previous(on_hand, start), x["stock.received"]
                          - x["stock.shipped"])
    assert (on_hand >= 0).all()
    assert x["stock.shipped"].sum() == d["shipped"].sum() == d["stock_shipped"].sum()
    # every order asked is filled, lost or waiting; what waited has shipped or still waits
    assert np.array_equal(x["stock.demand"], x["stock.filled"] + x["stock.lost"]
                          + x["stock.backordered"])
    assert (x["stock.backordered"].sum() - x["stock.backlog"][-1].sum()
            == x["stock.shipped"].sum() - x["stock.filled"].sum())
    deliveries = x["stock.deliveries"]
    arrived = deliveries[deliveries[:, 1] < days]
    assert arrived[:, 3].sum() == x["stock.received"].sum()


# --- fill rate and lead time ---------------------------------------------------------------------


def test_without_reorders_sales_stop_when_the_stock_runs_out() -> None:
    """Policy none: the shelf serves exactly min(stock, demand) orders, in day order; once it is
    empty nothing more is filled and every further order is lost (fill rate = stock/demand)."""
    sc = scenario(3000, 40, buy=BUY, shop=catalogue([{"name": "all", "cogs_ratio": 0.5,
                                                       "share": 1.0}]),
                  stock={"type": "inventory", "policy": "none", "initial_stock": 1500})
    d, _ = run(sc)
    demand, filled = d["stock_demand"].to_numpy(), d["stock_filled"].to_numpy()
    assert demand.sum() > 1500
    assert filled.sum() == 1500
    empty = int(np.argmax(np.cumsum(filled) == 1500))
    assert (filled[:empty] == demand[:empty]).all() and (filled[empty + 1:] == 0).all()
    assert d["lost_sale"].sum() == demand.sum() - 1500
    assert d["order"].sum() == 1500  # lost sales are not booked
    m = daily_metrics(d)
    fill = METRICS["fill_rate"].over_horizon(m)
    assert math.isclose(fill, 1500 / demand.sum())
    assert m["stockout_days"].sum() == 40 - empty  # empty from the end of that day on


@pytest.mark.parametrize("lead", [1, 4])
def test_fixed_lead_time_delivers_exactly_that_many_days_later(lead: int) -> None:
    """An order placed at the end of day t is on the shelf at the start of day t + lead (a
    SimPy timeout that fires before that day's sales), never a day early or late."""
    sc = scenario(3000, 60, buy=BUY, shop=catalogue(), stock={
        "type": "inventory", "initial_stock": 50, "order_cover_days": 3,
        "lead_time": {"mean_days": lead}})
    _, x = run(sc)
    deliveries = x["stock.deliveries"]
    assert len(deliveries) > 10
    assert (deliveries[:, 1] - deliveries[:, 0] == lead).all()
    ordered, received = x["stock.ordered"], x["stock.received"]
    assert np.array_equal(received[lead:], ordered[:-lead]) and (received[:lead] == 0).all()
    # units received on day t were sellable on day t: filled that day can exceed the stock
    # left at the end of day t - 1
    start = np.vstack([np.full((1, 2), 50), x["stock.on_hand"][:-1]])
    assert (x["stock.filled"] <= start + received).all()
    assert (x["stock.filled"] > start).any()


def test_random_lead_times_have_the_given_mean() -> None:
    """Gamma lead times rounded to whole days: mean within a few standard errors of 7 (the
    rounding of a continuous Gamma moves the mean by far less than the tolerance)."""
    sc = scenario(20000, 150, buy=BUY, shop=catalogue(), stock={
        "type": "inventory", "initial_stock": 100, "order_cover_days": 2,
        "lead_time": {"distribution": "gamma", "mean_days": 7, "cv": 0.5}})
    _, x = run(sc)
    lead = x["stock.deliveries"][:, 1] - x["stock.deliveries"][:, 0]
    assert len(lead) > 100 and lead.min() >= 1
    assert abs(lead.mean() - 7) < Z * 3.5 / math.sqrt(len(lead)) + 0.1


def test_back_orders_ship_late_on_arrival() -> None:
    """With 1-day transit and a 1-day promise, an order is late exactly when it waited for
    stock: late deliveries = back-orders shipped."""
    sc = scenario(3000, 40, buy=BUY, shop=catalogue(), stock={
        "type": "inventory", "initial_stock": 20, "stockout": "backorder",
        "backorder_accept": 1.0, "lead_time": {"mean_days": 6},
        "shipping": {"mean_days": 1, "promised_days": 1, "defect_rate": 0.0}})
    d, x = run(sc)
    waited = x["stock.shipped"].sum() - x["stock.filled"].sum()
    assert waited > 100
    assert d["late_delivery"].sum() == waited and d["lost_sale"].sum() == 0
    assert d["order"].sum() == d["stock_demand"].sum()  # every order waits, none is lost


# --- catalogue -----------------------------------------------------------------------------------

PERSONAS = [{"name": "thrifty", "share": 0.5}, {"name": "foodie", "share": 0.5}]
THREE = [{"name": "rice", "cogs_ratio": 0.7, "share": 0.5, "persona_shares": {"foodie": 0.2}},
         {"name": "oil", "cogs_ratio": 0.6, "share": 0.3, "persona_shares": {"foodie": 0.3}},
         {"name": "tea", "cogs_ratio": 0.4, "share": 0.2, "persona_shares": {"foodie": 0.5},
          "private_label": True}]


def test_orders_pick_groups_by_persona_shares() -> None:
    sc = scenario(6000, 30, personas=PERSONAS, buy=BUY, shop=catalogue(THREE))
    _, x = run(sc)
    picked = x["shop.orders_by_group"]
    expected = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    n = picked.sum(axis=1, keepdims=True)
    assert (n > 1000).all()
    se = np.sqrt(n * expected * (1 - expected))
    assert (np.abs(picked - n * expected) <= Z * se).all()


def test_private_label_margin_in_the_ledger() -> None:
    """Cost of goods = each group's ratio x its order values; the price index scales values."""
    groups = [{**THREE[0], "price_index": 1.5}, THREE[1], THREE[2]]
    sc = scenario(4000, 30, personas=PERSONAS, buy=BUY, shop=catalogue(groups))
    counters = simulate(sc, log_events=True)
    d = daily_table(counters)
    events = event_table(counters, layout_of(sc))
    orders = events[events["event"] == "order"].groupby(["user", "day"])["amount"].sum()
    cogs = events[events["event"] == "cogs"].groupby(["user", "day"])["amount"].sum()
    ratio = (cogs / orders).round(9)
    assert set(ratio) == {0.7, 0.6, 0.4}
    own = d["private_label_order_amount"].sum()
    assert math.isclose(own, orders[ratio == 0.4].sum())
    m = daily_metrics(d)
    margin = m["gross_margin"].sum()
    assert math.isclose(margin, m["gmv"].sum() - cogs.sum())
    assert orders[ratio == 0.7].mean() > 1.3 * orders[ratio == 0.6].mean()  # price index 1.5


def test_expansion_launches_a_group_and_shifts_demand() -> None:
    groups = [{"name": "rice", "cogs_ratio": 0.7, "share": 0.6},
              {"name": "oil", "cogs_ratio": 0.6, "share": 0.4},
              {"name": "tea", "cogs_ratio": 0.4, "private_label": True}]
    sc = scenario(6000, 40, buy=BUY, shop=catalogue(
        groups, expansions=[{"day": 20, "shares": {"tea": 0.25}}]))
    d, _ = run(sc)
    own, orders = d["private_label_order"].to_numpy(), d["order"].to_numpy()
    assert own[:20].sum() == 0
    n = orders[20:].sum()
    assert abs(own[20:].sum() - 0.25 * n) <= Z * math.sqrt(n * 0.25 * 0.75)


def test_private_label_lifts_repeat_purchases() -> None:
    """A first private-label order multiplies the purchase probability by 1 + lift: with
    everyone buying private label from day 0, orders per user-day rise by about the lift."""
    only = [{"name": "tea", "cogs_ratio": 0.4, "private_label": True, "share": 1.0}]
    base = scenario(8000, 40, buy=BUY, shop=catalogue(only))
    lifted = scenario(8000, 40, buy=BUY, shop=catalogue([{**only[0], "repeat_lift": 1.0}]))
    plain, up = run(base)[0]["order"].to_numpy(), run(lifted)[0]["order"].to_numpy()
    # after most buyers have ordered once, the daily rate roughly doubles
    assert up[30:].sum() > 1.6 * plain[30:].sum()


def test_stockouts_dampen_sharing() -> None:
    """All demand is a hero group with no stock (back-orders accepted, so orders still book):
    damping 0.5 x min(1, hero weight 2) halves the share probability after an order."""
    hero = [{"name": "rice", "role": "hero", "cogs_ratio": 0.7, "share": 1.0}]
    ref = {"type": "referral", "share_after_order": 0.3, "reward_referrer": 0.0,
           "share_steps": 1}
    stock = {"type": "inventory", "policy": "none", "stockout": "backorder",
             "backorder_accept": 1.0}
    full = scenario(6000, 15, buy=BUY, shop=catalogue(hero), ref=ref,
                    stock={**stock, "initial_stock": 10**6})
    empty = scenario(6000, 15, buy=BUY, shop=catalogue(hero), ref=ref,
                     stock={**stock, "initial_stock": 0})
    a, b = run(full)[0], run(empty)[0]
    p_full = a["share"].sum() / a["order"].sum()
    assert abs(p_full - 0.3) < Z * math.sqrt(0.3 * 0.7 / a["order"].sum())
    n = b["order"].sum()
    assert abs(b["share"].sum() - 0.15 * n) <= Z * math.sqrt(n * 0.15 * 0.85)


def test_spend_coupon_top_ups_are_costed_labelled_and_lost_at_their_final_value() -> None:
    """满减 with a catalogue: every order within the band below the threshold is topped up
    (top_up_prob 1), and the SKU group must cost, label and (when short of stock) lose the
    topped-up basket: cost of goods is exactly cogs_ratio x GMV, the private-label amount is
    the whole GMV, and no lost sale keeps a value inside the top-up band."""
    own = [{"name": "tea", "cogs_ratio": 0.5, "private_label": True, "share": 1.0}]
    coupon = {"threshold": 100.0, "discount": 10.0, "redemption": 1.0, "top_up_band": 0.5,
              "top_up_prob": 1.0}
    sc = scenario(3000, 30, buy={**BUY, "spend_coupon": coupon}, shop=catalogue(own),
                  stock={"type": "inventory", "policy": "none", "initial_stock": 800})
    counters = simulate(sc, log_events=True)
    d = daily_table(counters)
    events = event_table(counters, layout_of(sc))
    orders = events[events["event"] == "order"]["amount"].to_numpy()
    assert (orders == 100.0).sum() > 50  # the band was topped up: the test has teeth
    assert np.isclose(d["cogs_amount"].sum(), 0.5 * d["order_amount"].sum())
    assert np.isclose(d["private_label_order_amount"].sum(), d["order_amount"].sum())
    lost = events[events["event"] == "lost_sale"]["amount"].to_numpy()
    assert len(lost) > 50 and (lost == 100.0).any()
    assert not ((lost >= 50.0) & (lost < 100.0)).any()


# --- the ledger with everything on ---------------------------------------------------------------


def test_ledger_balances_with_retention_and_supply_mechanics() -> None:
    """retention.yaml, small, plus a catalogue and an inventory with back-orders: the log's
    money sums to the counters, contribution is what the raw counters give with hand-written
    signs (tests/sim/test_money.py CASH_SIGNS), and the holding cost is the end-of-day stock
    times its daily rate."""
    data = yaml.safe_load((ROOT / "scenarios" / "retention.yaml").read_text())
    data.update(days=60)
    data["market"]["size"] = 20000
    data["mechanics"]["existing"]["count"] = 5000
    data["mechanics"]["tiers"]["period_days"] = 30
    data["mechanics"]["points"]["expiry_days"] = 40
    data["mechanics"]["shop"] = catalogue([
        {"name": "rice", "role": "hero", "cogs_ratio": 0.7, "share": 0.7},
        {"name": "tea", "cogs_ratio": 0.4, "private_label": True, "repeat_lift": 0.1,
         "share": 0.3}])
    data["mechanics"]["stock"] = {"type": "inventory", "initial_stock": 300,
                                  "stockout": "backorder", "holding_cost_per_unit_day": 0.05}
    sc = validate_scenario(data, "<test>")
    counters = simulate(sc, log_events=True)
    d = daily_table(counters)
    events = event_table(counters, layout_of(sc))
    for name in ("order", "cogs", "refund", "shipped", "lost_sale", "private_label_order",
                 "tier_discount", "points_redeemed", "coupon", "referral_reward"):
        if f"{name}_amount" in d:
            mine = events[events["event"] == name]
            assert np.isclose(mine["amount"].sum(), d[f"{name}_amount"].sum()), name
            assert len(mine) == d[name].sum(), name
    m = daily_metrics(d)
    assert np.allclose(m["contribution"], contribution_from_counters(d))
    assert np.allclose(m["holding_cost"], 0.05 * m["units_in_stock"])
    assert np.allclose(m["logistics_cost"], 6.0 * m["shipments"])
    assert m["logistics_cost"].sum() > 0 and m["holding_cost"].sum() > 0
    assert d["backorder"].sum() > 0 and d["stock_received"].sum() > 0


# --- bad input -----------------------------------------------------------------------------------

GOOD = """\
name: t
days: 30
market:
  size: 100
mechanics:
  shop:
    type: catalogue
    sku_groups:
      - name: rice
        cogs_ratio: 0.7
        share: 0.6
      - name: tea
        cogs_ratio: 0.4
        share: 0.4
    expansions:
      - day: 10
        shares:
          tea: 0.5
  stock:
    type: inventory
    lead_time:
      mean_days: 7
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in caught.value.problems]


def test_good_supply_scenario_parses() -> None:
    sc = parse_scenario(GOOD, "s.yaml")
    assert sc.mechanics["stock"].lead_time.mean_days == 7


@pytest.mark.parametrize("days", ["0", "-2"])
def test_lead_time_not_positive_is_located(days: str) -> None:
    (problem,) = problems(GOOD.replace("mean_days: 7", f"mean_days: {days}"))
    assert problem.startswith("s.yaml:22: mechanics.stock.lead_time.mean_days:")
    assert "give a positive number of days" in problem


def test_sku_group_without_cost_is_located() -> None:
    (problem,) = problems(GOOD.replace("        cogs_ratio: 0.4\n", ""))
    assert problem.startswith("s.yaml:12: mechanics.shop.sku_groups.1:")
    assert "tea has no cost of goods" in problem


def test_shares_not_summing_to_one_are_located() -> None:
    (problem,) = problems(GOOD.replace("share: 0.4", "share: 0.3"))
    assert problem.startswith("s.yaml:8: mechanics.shop.sku_groups:")
    assert "sum to 0.9" in problem and "must sum to 1" in problem


def test_unknown_sku_group_in_an_expansion_is_located() -> None:
    (problem,) = problems(GOOD.replace("          tea: 0.5", "          coffee: 0.5"))
    assert problem.startswith("s.yaml:18: mechanics.shop.expansions.0.shares.coffee:")
    assert "expected one of: rice, tea" in problem


def test_inventory_without_catalogue_and_unknown_persona_are_located() -> None:
    text = GOOD.replace("        share: 0.6\n", "        share: 0.6\n"
                        "        persona_shares: {vip: 0.5}\n")
    (problem,) = problems(text)
    assert problem.startswith("s.yaml:12: mechanics.shop.sku_groups.0.persona_shares.vip:")
    alone = GOOD[:GOOD.index("  shop:")] + GOOD[GOOD.index("  stock:"):]
    (problem,) = problems(alone)
    assert problem.startswith("s.yaml:7: mechanics.stock.type:")
    assert "add a `catalogue` mechanic" in problem


def test_negative_initial_stock_of_a_group_is_located() -> None:
    """A negative shelf would make the holding cost income: refused at the group's key."""
    text = GOOD + "    initial_stock_by_group:\n      rice: -50\n"
    (problem,) = problems(text)
    assert problem.startswith("s.yaml:24: mechanics.stock.initial_stock_by_group.rice:")
    assert "greater than or equal to 0" in problem
