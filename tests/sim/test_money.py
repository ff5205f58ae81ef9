"""The money of every order is coherent: member prices (tiers, paid membership, community) come
off the order before any refund, so a refund returns exactly what was paid; live flash sales and
member prices share one order without over-refunding; a sale a stock-out refuses books nothing
anywhere; free-shipping perks and the logistics line never pay for the same parcel; and with
everything on, every user-day's refunds and discounts stay within its orders and the ledger
totals are GMV less every relative line plus income."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.events import event_table
from sim.metrics import LEDGER, daily_metrics
from sim.planning import layout_of
from sim.scenario import Scenario, validate_scenario
from tests.conftest import ROOT

KEY = ["user", "day"]
NO_CHURN = {"type": "purchase_dropout", "purchase_rate": {"r": 2.0, "alpha": 10.0},
            "dropout": {"a": 1.0, "b": 1e6},
            "order_value": {"model": "gamma", "shape": 2.0, "scale": 30.0}}
NOBODY = {"high_value": 0.0, "potential": 0.0}  # paid membership's default uptake, off
# everyone who has ordered joins the paid club on the next daily offer, everyone alive joins
# the community on the next daily round; tier 0 (everyone) has a member price too
VIP = {"type": "paid_membership", "period_days": 90, "offer_every_days": 1,
       "uptake": {**NOBODY, "buyer": 1.0}, "member_discount": 0.05}
CLUB = {"type": "community", "audience": [], "invite_every_days": 1, "invite_prob": 1.0,
        "accept_prob": 1.0, "member_discount": 0.03, "operating_cost_per_group_month": 100.0}
TIERS = {"type": "membership_tiers", "period_days": 365,
         "tiers": [{"name": "all", "threshold": 0.0, "discount": 0.02},
                   {"name": "nobody", "threshold": 1e9, "discount": 0.02}]}
MEMBER_PRICES = ("tier_discount", "paid_discount", "community_discount")
# every money-off-the-order line of the log (each is also a relative LEDGER line before
# net_revenue)
DISCOUNTS = ("coupon", "gift", "referral_reward", "tier_discount", "points_redeemed",
             "paid_discount", "community_discount", "live_discount")
HOLD = {"name": "goods", "cogs_ratio": 0.6, "share": 1.0}


# Contribution rebuilt from the raw counters, independently of LEDGER: each money counter with
# the sign it has in a day's contribution, written by hand (+ money in, - money out), so a wrong
# sign or a line missing from LEDGER makes the ledger tests fail.
CASH_SIGNS: dict[str, int] = {
    "order_amount": +1,  # GMV
    "coupon_amount": -1, "gift_amount": -1, "referral_reward_amount": -1,
    "tier_discount_amount": -1, "paid_discount_amount": -1, "community_discount_amount": -1,
    "points_redeemed_amount": -1, "refund_amount": -1, "live_discount_amount": -1,
    "paid_fee_amount": +1,  # membership fees: income
    "cogs_amount": -1,
    "ad_spend": -1, "kol_spend": -1, "touchpoint_spend": -1, "register_fee_amount": -1,
    "share_reward_amount": -1, "bargain_cost_amount": -1, "commission_amount": -1,
    "automation_send_amount": -1, "automation_gift_amount": -1,
    "tier_shipping_amount": -1, "tier_birthday_gift_amount": -1, "paid_shipping_amount": -1,
    "community_operating_amount": -1, "touchpoint_engagement_cost": -1,
    "live_production": -1, "live_promo_amount": -1, "recommender_cost": -1,
    "shipped_amount": -1, "holding_cost": -1,
}
# Amounts that are not cash of the day: parts or labels of GMV, lost sales, points issued (a
# liability, paid when redeemed), coupons issued (a cost when used, as `coupon`), the value of
# groups and bargains (their orders and costs are booked separately), attributed conversions.
NOT_CASH = {"first_order_amount", "base_first_order_amount", "private_label_order_amount",
            "lost_sale_amount", "points_issued_amount", "points_expired_amount",
            "live_order_amount",
            "group_order_amount", "bargain_order_amount", "distributor_sales_amount",
            "backorder_amount", "recovered_amount", "automation_coupon_amount",
            "automation_conversion_amount", "group_succeeded_amount", "group_failed_amount",
            "group_filled_amount", "bargain_completed_amount", "bargain_helper_amount"}


def contribution_from_counters(d: pd.DataFrame) -> pd.Series:
    """Each day's contribution from the raw counters and CASH_SIGNS alone; every money counter
    of the run must be classified (a new cost event that nobody signed fails here)."""
    amounts = {c for c in d.columns if c.endswith("_amount") and not c.startswith("ga_")
               and d[c].abs().sum() > 0}  # every event has an amount column; counts stay at 0
    unclassified = amounts - set(CASH_SIGNS) - NOT_CASH
    assert not unclassified, f"money counters with no sign in the test: {unclassified}"
    return sum((sign * d[name] for name, sign in CASH_SIGNS.items() if name in d),
               start=pd.Series(0.0, index=d.index))


def scenario(size: int, days: int, seed: int = 11, **mechanics: dict[str, Any]) -> Scenario:
    return validate_scenario({"name": "money", "days": days, "seed": seed,
                              "market": {"size": size},
                              "mechanics": {"founders": {"type": "seed_users", "count": size},
                                            **mechanics}}, "<test>")


def logged(sc: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    counters = simulate(sc, log_events=True)
    return event_table(counters, layout_of(sc)), daily_table(counters)


def per_user_day(events: pd.DataFrame, names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """(user, day) x event: the yuan of each named event (0 where none)."""
    mine = events[events["event"].isin(names)]
    table = mine.pivot_table(index=KEY, columns="event", values="amount", aggfunc="sum",
                             fill_value=0.0)
    return table.reindex(columns=list(names), fill_value=0.0)


def after_joining(table: pd.DataFrame, events: pd.DataFrame, join: str) -> np.ndarray:
    """Which user-days of `table` come after the user's first `join` event (joins happen in the
    loyalty stage, after that day's orders)."""
    joined = events[events["event"] == join].groupby("user")["day"].min()
    days = joined.reindex(table.index.get_level_values("user")).fillna(10**6).to_numpy()
    return table.index.get_level_values("day").to_numpy() > days


def single_orders(events: pd.DataFrame) -> pd.DataFrame:
    """User-days with exactly one order, with its value (so a refund belongs to that order)."""
    orders = events[events["event"] == "order"].groupby(KEY)["amount"].agg(["size", "sum"])
    return orders.loc[orders["size"] == 1, ["sum"]].rename(columns={"sum": "order"})


# --- member prices before refunds ------------------------------------------------------------


def test_refunded_member_orders_return_what_was_paid() -> None:
    """Half the orders are refunded. On a user-day with one order, its member prices are their
    rates of the list value (2% tier, 5% paid club from the day after joining, 3% community),
    and a refund is the value less exactly those: refund + member prices = the order. (With
    paid and community prices booked after the refund, as before, refund + prices would exceed
    the order by 8% of it.)"""
    n = 3_000
    events, _ = logged(scenario(n, 40, buy={**NO_CHURN, "refund_rate": 0.5},
                                tiers=TIERS, vip=VIP, club=CLUB))
    table = single_orders(events).join(per_user_day(events, ["refund", *MEMBER_PRICES]))
    table = table.fillna(0.0)
    assert np.allclose(table["tier_discount"], 0.02 * table["order"])
    for join, price, rate in (("paid_join", "paid_discount", 0.05),
                              ("community_join", "community_discount", 0.03)):
        member = after_joining(table, events, join)
        assert member.sum() > 1000 and np.allclose(table.loc[member, price],
                                                   rate * table.loc[member, "order"])
        assert (table.loc[~member, price] == 0).all()
    member = after_joining(table, events, "paid_join")
    refunded = table[table["refund"] > 0]
    assert len(refunded) > 500 and member[table["refund"] > 0].sum() > 300
    assert np.allclose(refunded["refund"] + refunded[list(MEMBER_PRICES)].sum(axis=1),
                       refunded["order"])


def test_member_prices_stop_when_the_membership_lapses() -> None:
    """A monthly club offered in the first days only, never renewed: a member's orders after the
    join day up to the lapse 30 days later (in the loyalty stage, after that day's orders) get
    the member price, later orders do not (the rate column is cleared)."""
    n = 2_000
    vip = {**VIP, "period_days": 30, "offer_every_days": 1, "renewal_prob": 0.0,
           "low_use_renewal_prob": 0.0, "uptake": {**NOBODY, "non_buyer": 1.0, "buyer": 1.0},
           "window": {"first_day": 0, "last_day": 2}}
    events, _ = logged(scenario(n, 50, buy=NO_CHURN, vip=vip))
    joined = events[events["event"] == "paid_join"].set_index("user")["day"]
    assert len(joined) == n and joined.index.is_unique
    lapsed = events[events["event"] == "paid_lapse"].set_index("user")["day"]
    assert (lapsed.reindex(joined.index) == joined + 30).all()
    table = single_orders(events).join(per_user_day(events, ["paid_discount"])).fillna(0.0)
    day = table.index.get_level_values("day").to_numpy()
    start = joined.reindex(table.index.get_level_values("user")).to_numpy()
    during, after = table[(day > start) & (day <= start + 30)], table[day > start + 30]
    assert len(during) > 500 and len(after) > 500
    assert np.allclose(during["paid_discount"], 0.05 * during["order"])
    assert (after["paid_discount"] == 0).all()


def test_points_pay_at_most_what_is_left_of_the_order() -> None:
    """A 70% member price leaves 30% of each order; points may pay up to 50% of an order and
    buyers earn plenty, so they pay min(50%, 30%) = 30% floored to whole points (100 = 1 yuan)
    unless their balance is short: never more than the buyer still paid (before, 50%: the
    order went 20% negative)."""
    tiers = {"type": "membership_tiers", "period_days": 365, "tiers": [
        {"name": "all", "threshold": 0.0, "discount": 0.7}, {"name": "nobody", "threshold": 1e9}]}
    points = {"type": "points", "earn_per_yuan": 1000.0, "min_redeem_points": 1,
              "redeem_prob": 1.0, "breakage": 0.0, "max_share_of_order": 0.5,
              "checkin_points": 0, "review_points": 0, "expiry_days": None}
    events, _ = logged(scenario(2_000, 30, buy=NO_CHURN, tiers=tiers, points=points))
    table = single_orders(events).join(per_user_day(
        events, ["tier_discount", "points_redeemed"])).fillna(0.0)
    used = table[table["points_redeemed"] > 0]
    assert len(used) > 1000
    left = used["order"] - used["tier_discount"]
    assert np.allclose(left, 0.3 * used["order"], rtol=1e-6)
    assert (used["points_redeemed"] <= left + 1e-9).all()
    at_cap = used["points_redeemed"] > left - 0.01 - 1e-9  # the floor to whole points
    assert at_cap.mean() > 0.95  # the others had spent their balance on earlier orders


def test_member_prices_follow_an_experiment_from_its_start_day() -> None:
    """Everyone joins the community on day 0 at 3%; an arm sets 20% from day 10. Members' rates
    are written on joining, so the switch must reprice the members already in: before day 10
    every member order gets 3%, from day 11 the treatment's get 20% and the control's 3%."""
    data = {"name": "money", "days": 25, "seed": 11, "market": {"size": 4_000},
            "mechanics": {"founders": {"type": "seed_users", "count": 4_000}, "buy": NO_CHURN,
                          "club": CLUB},
            "experiment": {"start_day": 10, "arms": [
                {"name": "control", "share": 0.5},
                {"name": "deeper", "share": 0.5,
                 "set": {"mechanics.club.member_discount": 0.2}}]}}
    events, _ = logged(validate_scenario(data, "<test>"))
    orders = events[events["event"] == "order"]
    arm = orders.groupby("user")["arm"].first()
    table = single_orders(events).join(per_user_day(events, ["community_discount"])).fillna(0.0)
    table = table[after_joining(table, events, "community_join")]
    day = table.index.get_level_values("day").to_numpy()
    treated = (arm.reindex(table.index.get_level_values("user")) == "deeper").to_numpy()
    rate = table["community_discount"] / table["order"]
    assert np.allclose(rate[day < 10], 0.03)
    late = day > 10
    assert (late & treated).sum() > 300 and (late & ~treated).sum() > 300
    assert np.allclose(rate[late & treated], 0.2) and np.allclose(rate[late & ~treated], 0.03)


# --- live orders: flash sale and member prices on one order ------------------------------------


def test_live_refunds_return_what_was_paid_after_flash_and_member_prices() -> None:
    """Everyone is in a community group (3% wait: 30% here) and the paid club (30%) and every
    member watches. Flash orders (50% off) leave 50% of the list price: the club takes 30%,
    the community the 20% left, a return refunds 0. Other orders: 30% + 30% off, a return
    refunds 40%. Before, the refund was value - flash discount, ignoring member prices."""
    n = 3_000
    live = {"type": "live_stream", "slots": [{"weekday": "monday"}], "habit":
            {"return_prob": 0.0}, "home_page_prob": 0.0, "community_prob": 1.0,
            "official_account": {"reach": 0.0}, "viewer_to_buyer": 0.5,
            "flash_sale_share": 0.5, "flash_discount": 0.5, "return_rate": 0.5,
            "share_prob": 0.0, "cost_per_stream": 0.0}
    vip = {**VIP, "member_discount": 0.3, "uptake": {**NOBODY, "non_buyer": 1.0, "buyer": 1.0}}
    club = {**CLUB, "member_discount": 0.3}
    events, d = logged(scenario(n, 22, live=live, vip=vip, club=club))
    table = single_orders(events).join(per_user_day(
        events, ["refund", "live_discount", "paid_discount", "community_discount"])).fillna(0.0)
    table = table[table.index.get_level_values("day") > 0]  # streams on days 7, 14, 21
    flash = table["live_discount"] > 0
    assert flash.sum() > 300 and (~flash).sum() > 300
    assert np.allclose(table.loc[flash, "live_discount"], 0.5 * table.loc[flash, "order"])
    assert np.allclose(table["paid_discount"], 0.3 * table["order"])
    assert np.allclose(table.loc[flash, "community_discount"], 0.2 * table.loc[flash, "order"])
    assert np.allclose(table.loc[~flash, "community_discount"],
                       0.3 * table.loc[~flash, "order"])
    returned = events[events["event"] == "refund"].set_index(KEY)["amount"]
    assert len(returned) > 300
    paid = (table["order"] - table[["live_discount", "paid_discount", "community_discount"]]
            .sum(axis=1)).loc[returned.index]
    assert np.allclose(returned, paid)
    assert np.allclose(returned[flash.loc[returned.index]], 0.0)
    assert d["refund_amount"].sum() == pytest.approx(returned.sum())


# --- stock-outs ---------------------------------------------------------------------------------


def _short_stock() -> dict[str, Any]:
    return {"type": "inventory", "policy": "none", "initial_stock": 150,
            "stockout": "lost_sales"}


def test_a_refused_group_member_order_is_not_a_group_order() -> None:
    """Group buys are the only sales and stock runs out: every group_order is an order of the
    same user, day and value, and no more (before, refused members were still counted)."""
    groups = {"type": "group_buy", "open_prob": 0.02, "friend_join_prob": 0.0,
              "public_join_rate": 3.0, "group_size": 3}
    events, d = logged(scenario(2_000, 20, groups=groups,
                                shop={"type": "catalogue", "sku_groups": [HOLD]},
                                stock=_short_stock()))
    assert d["lost_sale"].sum() > 50
    orders = events[events["event"] == "order"][[*KEY, "amount"]]
    group = events[events["event"] == "group_order"][[*KEY, "amount"]]
    assert len(group) == len(orders) == 150 == d["order"].sum()
    pd.testing.assert_frame_equal(group.sort_values([*KEY, "amount"]).reset_index(drop=True),
                                  orders.sort_values([*KEY, "amount"]).reset_index(drop=True))


def test_refused_live_orders_and_bargains_book_nothing() -> None:
    """Live orders and bargain completions compete for 150 units: live_order and the bargain
    completions, with their item costs, are exactly the orders booked; a completion the stock
    refuses counts as failed, so every bargain started is completed, failed or pending."""
    live = {"type": "live_stream", "slots": [{"weekday": "monday"}, {"weekday": "thursday"}],
            "home_page_prob": 0.0, "community_prob": 0.0, "official_account":
            {"follower_share": 1.0, "reach": 1.0, "watch_prob": 0.3}, "viewer_to_buyer": 0.2,
            "return_rate": 0.3, "share_prob": 0.0}
    bargain = {"type": "bargain", "start_prob": 0.01, "help_prob": 0.5, "helpers_required": 1,
               "floor_price": 5.0, "window_hours": 24.0}
    events, d = logged(scenario(2_000, 21, seed=3, live=live, cut=bargain,
                                shop={"type": "catalogue", "sku_groups": [HOLD]},
                                stock=_short_stock()))
    assert d["lost_sale"].sum() > 50 and d["order"].sum() == 150
    count = events["event"].value_counts()
    assert count["live_order"] + count["bargain_completed"] == count["order"]
    assert count["bargain_cost"] == count["bargain_completed"] > 0
    assert count["bargain_started"] == count["bargain_completed"] + count["bargain_failed"]
    live_orders = events[events["event"] == "live_order"].set_index(KEY)["amount"]
    booked = events[events["event"] == "order"].groupby(KEY)["amount"].sum()
    assert (live_orders <= booked.reindex(live_orders.index) + 1e-9).all()
    refunds = events[events["event"] == "refund"].set_index(KEY).index
    assert refunds.isin(live_orders.index).all()


# --- free shipping and logistics -----------------------------------------------------------------


def test_free_shipping_perks_cost_nothing_when_logistics_is_booked() -> None:
    """Tiers and the paid club ship some orders free. Without an inventory the perk books the
    carrier cost (6 and 8 yuan a parcel); with one, every shipped order already pays its carrier
    in logistics_cost, so the perks count the free shippings at 0 yuan: each parcel is paid once
    (logistics = 5 yuan x shipments)."""
    tiers = {"type": "membership_tiers", "period_days": 365, "tiers": [
        {"name": "all", "threshold": 0.0, "free_shipping_per_month": 1, "shipping_cost": 6.0},
        {"name": "nobody", "threshold": 1e9}]}
    vip = {**VIP, "free_shipping_per_month": 2, "shipping_cost": 8.0}
    shop = {"type": "catalogue", "sku_groups": [HOLD]}
    stock = {"type": "inventory", "initial_stock": 100_000, "policy": "none",
             "shipping": {"logistics_cost_per_order": 5.0}}
    plain = daily_table(simulate(scenario(2_000, 40, buy=NO_CHURN, tiers=tiers, vip=vip,
                                          shop=shop)))
    both = daily_table(simulate(scenario(2_000, 40, buy=NO_CHURN, tiers=tiers, vip=vip,
                                         shop=shop, stock=stock)))
    for d in (plain, both):
        assert d["tier_shipping"].sum() > 300 and d["paid_shipping"].sum() > 300
    assert plain["tier_shipping_amount"].sum() == pytest.approx(6.0 * plain["tier_shipping"].sum())
    assert plain["paid_shipping_amount"].sum() == pytest.approx(8.0 * plain["paid_shipping"].sum())
    assert both["tier_shipping_amount"].sum() == 0 and both["paid_shipping_amount"].sum() == 0
    m = daily_metrics(both).sum()
    assert m["logistics_cost"] == pytest.approx(5.0 * m["shipments"])
    assert m["shipments"] == both["order"].sum()  # every order ships once, all in stock
    assert m["tier_perk_cost"] == 0 and m["member_perk_cost"] == 0


# --- everything on -----------------------------------------------------------------------------


def test_every_order_balances_with_everything_on() -> None:
    """retention.yaml, small, plus a catalogue, an inventory with back-orders and short stock,
    touch points and a bargain. For every (user, day): discounts <= orders, and refunds +
    discounts <= orders (a refund returns at most what was paid); the log's money sums to the
    counters; net revenue = GMV - discounts - refunds + income, and contribution is what the
    raw counters give with hand-written signs (CASH_SIGNS), day by day."""
    data = yaml.safe_load((ROOT / "scenarios" / "retention.yaml").read_text())
    data.update(days=60)
    data["market"]["size"] = 20000
    mech = data["mechanics"]
    mech["existing"]["count"] = 5000
    mech["tiers"]["period_days"] = 30
    mech["points"]["expiry_days"] = 40
    mech["plus"].update(period_days=30, offer_every_days=7,
                        uptake={"high_value": 0.3, "potential": 0.2})
    mech["groups"]["invite_prob"] = 0.5
    mech["shop"] = {"type": "catalogue", "sku_groups": [
        {"name": "rice", "role": "hero", "cogs_ratio": 0.7, "share": 0.7},
        {"name": "tea", "cogs_ratio": 0.4, "private_label": True, "share": 0.3}]}
    mech["stock"] = {"type": "inventory", "initial_stock": 300, "stockout": "backorder",
                     "backorder_accept": 0.5, "holding_cost_per_unit_day": 0.05}
    mech["omni"] = {"type": "touchpoints", "touch_points": [
        {"name": "xhs", "audience": "potential", "reach": 400, "visit_prob": 0.05, "cpm": 40,
         "every_days": 4},
        {"name": "wecom", "audience": "users", "reach_share": 0.3, "every_days": 4,
         "order_prob": 0.1, "seats": 2, "seat_cost_per_day": 150}]}
    mech["cut"] = {"type": "bargain", "start_prob": 0.002, "helpers_required": 2,
                   "floor_price": 9.0}
    sc = validate_scenario(data, "<test>")
    counters = simulate(sc, log_events=True)
    events, d = event_table(counters, layout_of(sc)), daily_table(counters)

    table = per_user_day(events, ["order", "refund", *DISCOUNTS])
    off = table[list(DISCOUNTS)].sum(axis=1)
    assert (off <= table["order"] + 1e-6).all()
    refunded = table[table["refund"] > 0]
    assert len(refunded) > 200
    for name in ("paid_discount", "community_discount", "live_discount"):
        assert (refunded[name] > 0).sum() >= 10, name  # refunds met every member price
    assert (refunded["refund"] + off.loc[refunded.index] <= refunded["order"] + 1e-6).all()

    for name in ("order", "refund", "cogs", "shipped", "bargain_cost", "paid_fee",
                 "tier_shipping", "paid_shipping", *DISCOUNTS):
        mine = events[events["event"] == name]
        assert np.isclose(mine["amount"].sum(), d[f"{name}_amount"].sum()), name
        assert len(mine) == d[name].sum(), name
    assert d["lost_sale"].sum() > 0 and d["backorder"].sum() > 0 and d["shipped"].sum() > 0
    assert d["tier_shipping_amount"].sum() == 0 and d["paid_shipping_amount"].sum() == 0

    m = daily_metrics(d)
    income = [n for n, kind in LEDGER if kind == "income"]
    before_net = [n for n, _ in LEDGER[1:LEDGER.index(("net_revenue", "total"))]]
    assert set(before_net) - set(income) == {"coupon_cost", "gift_cost", "referral_cost",
                                             "tier_discounts", "member_discounts",
                                             "community_discounts", "points_redeemed",
                                             "refunds", "live_discounts"}
    gmv = d["order_amount"]
    discounts = sum(d[f"{k}_amount"] for k in DISCOUNTS if f"{k}_amount" in d)
    fees = d["paid_fee_amount"]
    assert fees.sum() > 0
    assert np.allclose(m["net_revenue"], gmv - discounts - d["refund_amount"] + fees)
    assert np.allclose(m["contribution"], contribution_from_counters(d))
    assert m["touchpoint_spend"].sum() > 0 and m["holding_cost"].sum() > 0


# --- lifts undone exactly ------------------------------------------------------------------------


def test_a_lift_undone_restores_the_purchase_and_dropout_probabilities() -> None:
    """Joining and leaving a perk (x f, then / f) any number of times leaves users where they
    started, also those a lift would push above 1; a lift kept uncapped still draws like 1."""
    from sim.buying import geometric_gap, rescale_buying
    from sim.population import Layout, Population

    layout = Layout(("all",), ("everyone",), ("none",))
    zeros = np.zeros(3, dtype=np.int8)
    columns = {name: np.dtype(np.float64) for name in ("purchase_prob", "dropout_prob")}
    columns.update(next_purchase_day=np.dtype(np.int32), purchase_count=np.dtype(np.int32))
    pop = Population(layout, zeros, zeros.copy(), columns)
    start_buy, start_drop = np.array([0.1, 0.6, 0.9]), np.array([0.05, 0.5, 0.8])
    pop["purchase_prob"][:], pop["dropout_prob"][:] = start_buy, start_drop
    rng, rows = np.random.default_rng(0), np.arange(3)
    for _ in range(5):  # join and lapse five times
        rescale_buying(pop, rng, rows, 2.0, 1.5, day=0, horizon=30)
        rescale_buying(pop, rng, rows, 1 / 2.0, 1 / 1.5, day=0, horizon=30)
    assert np.allclose(pop["purchase_prob"], start_buy)
    assert np.allclose(pop["dropout_prob"], start_drop)
    assert (geometric_gap(np.random.default_rng(1), np.full(100, 1.8), 30) == 1).all()
