"""Paid membership and community groups do what they say: uptake and renewals are binomial in
the users the log says were eligible, fees and perks add up exactly, WeChat's 500 cap holds,
KOCs reach more friends, and bad input is located."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.errors import InputError
from sim.graph_cache import build_graph
from sim.metrics import daily_metrics, horizon_values
from sim.scenario import Scenario, parse_scenario
from tests.conftest import logged, mechanics_scenario, of, within

Z = 4.0
NO_CHURN = {"type": "purchase_dropout", "purchase_rate": {"r": 2.0, "alpha": 30.0},
            "dropout": {"a": 1.0, "b": 1e6},
            "order_value": {"model": "gamma", "shape": 2.0, "scale": 30.0}}
NOBODY = {"high_value": 0.0, "potential": 0.0}  # the default uptake, switched off


def scenario(size: int, days: int, seed: int = 5, **mechanics: dict[str, Any]) -> Scenario:
    return mechanics_scenario(size, days, seed, **mechanics)


def users(events: pd.DataFrame, name: str, day: int | None = None) -> set[int]:
    rows = of(events, name)
    return set(rows["user"] if day is None else rows.loc[rows["day"] == day, "user"])


# --- paid membership -----------------------------------------------------------------------


def test_uptake_is_binomial_per_segment_and_fees_add_up() -> None:
    """Offers on days 9 and 19 (of 25): at twice the reference fee with elasticity 1, buyers
    take with 0.4 / 2 and non-buyers with 0.1 / 2 (each alive non-member once per offer day);
    every join pays the fee exactly."""
    n = 20_000
    vip = {"type": "paid_membership", "period_days": 30, "offer_every_days": 10, "fee": 198.0,
           "reference_fee": 99.0, "fee_elasticity": 1.0,
           "uptake": {**NOBODY, "buyer": 0.4, "non_buyer": 0.1}}
    events, d, _ = logged(scenario(n, 25, founders={"type": "seed_users", "count": n},
                                   buy=NO_CHURN, vip=vip))
    orders = of(events, "order")
    members: set[int] = set()
    for day in (9, 19):
        buyers = set(orders.loc[orders["day"] <= day, "user"]) - members
        joined = users(events, "paid_join", day)
        assert not joined & members
        assert within(len(joined & buyers), len(buyers), 0.2), day
        assert within(len(joined - buyers), n - len(members) - len(buyers), 0.05), day
        members |= joined
    assert users(events, "paid_join") == members  # offers on those days only
    fees = of(events, "paid_fee")
    assert len(fees) == d["paid_join"].sum() + d["paid_renewal"].sum()
    assert np.allclose(fees["amount"], 198.0)
    h = horizon_values(daily_metrics(d))
    assert h["membership_fees"] == pytest.approx(198.0 * (h["new_paid_members"]
                                                         + h["paid_renewals"]))
    assert h["paid_members"] == len(members) - h["paid_lapses"]


def test_renewal_rate_is_binomial_and_lower_for_members_who_used_few_perks() -> None:
    """Members who joined on day 9 end their period on day 39: those with fewer than 2 member
    orders in days 10..39 renew with 0.3, the others with 0.9; the renewal rate metric is
    renewals / periods ended."""
    n = 30_000
    vip = {"type": "paid_membership", "period_days": 30, "offer_every_days": 10,
           "uptake": {**NOBODY, "buyer": 0.3}, "renewal_prob": 0.9, "low_use_orders": 2,
           "low_use_renewal_prob": 0.3}
    events, d, _ = logged(scenario(n, 40, founders={"type": "seed_users", "count": n},
                                   buy=NO_CHURN, vip=vip))
    joined = users(events, "paid_join", 9)
    orders = of(events, "order")
    used = orders[orders["day"].between(10, 39) & orders["user"].isin(joined)]
    count = used.groupby("user").size().reindex(sorted(joined), fill_value=0)
    low, high = set(count.index[count < 2]), set(count.index[count >= 2])
    renewed = users(events, "paid_renewal", 39)
    assert users(events, "paid_renewal") | users(events, "paid_lapse") == joined
    assert within(len(renewed & low), len(low), 0.3) and within(len(renewed & high),
                                                                 len(high), 0.9)
    h = horizon_values(daily_metrics(d))
    assert h["paid_renewal_rate"] == pytest.approx(len(renewed) / len(joined))


def test_member_prices_and_free_shipping_follow_the_orders() -> None:
    """Every order a member places after joining gets 5% off; at most 2 free shippings per
    member per 30-day month, 6 yuan each, and one for each member order while any are left."""
    n = 5_000
    vip = {"type": "paid_membership", "period_days": 90, "offer_every_days": 10,
           "uptake": {**NOBODY, "buyer": 0.5}, "member_discount": 0.05,
           "free_shipping_per_month": 2, "shipping_cost": 6.0}
    buy = {**NO_CHURN, "purchase_rate": {"r": 2.0, "alpha": 6.0}}  # often: the limit binds
    events, _, _ = logged(scenario(n, 60, founders={"type": "seed_users", "count": n},
                                   buy=buy, vip=vip))
    join = of(events, "paid_join").groupby("user")["day"].min()
    orders = of(events, "order").join(join.rename("joined"), on="user")
    member_orders = orders[orders["day"] > orders["joined"]]
    discount = of(events, "paid_discount")
    merged = discount.merge(member_orders, on=["user", "day"], suffixes=("", "_order"))
    assert len(discount) == len(member_orders) == len(merged) > 1000
    assert np.allclose(merged["amount"], 0.05 * merged["amount_order"])
    ship = of(events, "paid_shipping").assign(month=lambda f: f["day"] // 30)
    per_month = ship.groupby(["user", "month"]).size()
    assert per_month.max() == 2 and np.allclose(ship["amount"], 6.0)
    wanted = member_orders.assign(month=lambda f: f["day"] // 30).groupby(
        ["user", "month"]).size().clip(upper=2)
    assert per_month.sum() == wanted.sum()


def test_membership_lifts_purchases_while_it_lasts() -> None:
    """A random 30% of buyers join on day 19 (purchase_lift 1.0), and lapse on day 49 (the
    offer window closed, no renewal): their daily order rate is twice the others' while
    members and the same after (ratio of means, delta-method standard error)."""
    n = 40_000
    vip = {"type": "paid_membership", "period_days": 30, "offer_every_days": 20,
           "uptake": {**NOBODY, "buyer": 0.3}, "purchase_lift": 1.0, "dropout_cut": 0.0,
           "window": {"first_day": 0, "last_day": 19}}
    events, _, _ = logged(scenario(n, 80, founders={"type": "seed_users", "count": n},
                                   buy=NO_CHURN, vip=vip))
    orders = of(events, "order")
    buyers = sorted(set(orders.loc[orders["day"] <= 19, "user"]))
    joined = users(events, "paid_join", 19)
    assert users(events, "paid_lapse", 49) == joined
    for first, last, ratio in ((20, 49, 2.0), (50, 79, 1.0)):
        window = orders[orders["day"].between(first, last)]
        counts = window.groupby("user").size().reindex(buyers, fill_value=0)
        member = counts.index.isin(list(joined))
        a, b = counts[member].to_numpy(float), counts[~member].to_numpy(float)
        got = a.mean() / b.mean()
        se = got * math.sqrt(a.var() / len(a) / a.mean() ** 2 + b.var() / len(b) / b.mean() ** 2)
        assert abs(got - ratio) <= Z * se, (first, got, se)


# --- community -----------------------------------------------------------------------------

CLUB = {"type": "community", "audience": [], "group_cap": 100, "invite_every_days": 7,
        "invite_prob": 0.4, "accept_prob": 0.5, "koc_share": 0.1, "koc_after_days": 5}


def test_invitations_fill_groups_under_the_cap() -> None:
    """Weekly rounds: invites are Binomial(alive non-members, 0.4), joins Binomial(invites,
    0.5); without churn groups = ceil(members / cap) every day and no group exceeds the cap;
    KOCs emerge exactly koc_after_days after joining, Binomial(joiners, 0.1)."""
    n = 20_000
    events, d, extras = logged(scenario(n, 40, founders={"type": "seed_users", "count": n},
                                        buy=NO_CHURN, club=CLUB))
    members: set[int] = set()
    for day in (6, 13, 20):
        invited = users(events, "community_invite", day)
        joined = users(events, "community_join", day)
        assert within(len(invited), n - len(members), 0.4) and not invited & members
        assert joined <= invited and within(len(joined), len(invited), 0.5)
        members |= joined
    assert np.array_equal(d["community_groups"], np.ceil(d["community_members"] / 100))
    sizes = extras["club.group_sizes"]
    assert sizes.max() <= 100 and sizes.sum() == d["community_members"].iloc[-1]
    assert (sizes[:-1] == 100).all()  # filled in order: only the last group has free seats
    joins = of(events, "community_join").set_index("user")["day"]
    kocs = of(events, "koc_emerged")
    assert (kocs["day"].to_numpy() - joins.loc[kocs["user"]].to_numpy() == 5).all()
    old_enough = (joins <= 40 - 1 - 5).sum()
    assert within(len(kocs), old_enough, 0.1) and d["kocs"].iloc[-1] == len(kocs)


def test_churned_members_free_seats_and_costs_follow_groups() -> None:
    """With churn, groups never exceed the cap, members = alive joiners, the operating cost is
    300 per group with members on days 29 and 59, and member churn is counted apart."""
    n = 10_000
    buy = {**NO_CHURN, "dropout": {"a": 1.0, "b": 3.0}}
    club = {**CLUB, "group_cap": 50, "operating_cost_per_group_month": 300.0}
    events, d, extras = logged(scenario(n, 60, founders={"type": "seed_users", "count": n},
                                        buy=buy, club=club))
    sizes = extras["club.group_sizes"]
    churned = users(events, "churned")
    alive_members = users(events, "community_join") - churned
    assert sizes.max() <= 50
    assert sizes.sum() == len(alive_members) == d["community_members"].iloc[-1]
    assert users(events, "community_member_churn") == users(events, "community_join") & churned
    cost = of(events, "community_operating")
    assert set(cost["day"]) == {29, 59} and np.allclose(cost["amount"], 300.0)
    for day in (29, 59):
        assert (cost["day"] == day).sum() == d.loc[day, "community_groups"]
    m = daily_metrics(d)
    assert np.allclose(m["other_user_churns"] + m["community_member_churns"], d["churned"])


def test_kocs_reach_more_friends_when_they_share() -> None:
    """max_reach 1: an ordinary sharer reaches one friend, a KOC with bonus 3 reaches four
    (at most their friends)."""
    n = 4_000
    sc = scenario(n, 30, founders={"type": "seed_users", "count": n // 2}, buy=NO_CHURN,
                  club={**CLUB, "koc_share": 0.5, "koc_after_days": 0, "koc_reach_bonus": 3.0},
                  ref={"type": "referral", "max_reach": 1, "share_after_order": 0.5})
    events, _, _ = logged(sc)
    degree = build_graph(sc, 0).degree
    invites = of(events, "invite").groupby(["user", "day"]).size().rename("invites")
    shares = of(events, "share")[["user", "day"]].join(invites, on=["user", "day"])
    shares["invites"] = shares["invites"].fillna(0)
    koc_day = of(events, "koc_emerged").set_index("user")["day"]
    # a KOC flagged in today's loyalty stage shares with the bonus from tomorrow
    shares["koc"] = shares["day"] > shares["user"].map(koc_day).fillna(10**6)
    reach = np.where(shares["koc"], 4, 1)
    assert shares["koc"].sum() > 100 and (~shares["koc"]).sum() > 100
    assert (shares["invites"].to_numpy() == np.minimum(reach, degree[shares["user"]])).all()


# --- the ledger and bad input --------------------------------------------------------------


def test_fees_are_income_in_the_ledger() -> None:
    """net revenue = gmv - every discount - refunds + membership fees; contribution takes the
    perk and operating costs off as well."""
    n = 5_000
    d = daily_table(simulate(scenario(
        n, 70, founders={"type": "seed_users", "count": n}, buy=NO_CHURN,
        vip={"type": "paid_membership", "period_days": 30, "offer_every_days": 10,
             "uptake": {**NOBODY, "buyer": 0.2}}, club=CLUB)))
    m = daily_metrics(d).sum()
    assert m["membership_fees"] > 0 and m["member_discounts"] > 0
    assert m["community_discounts"] > 0 and m["community_operating_cost"] > 0
    assert m["net_revenue"] == pytest.approx(m["gmv"] - m["member_discounts"]
                                             - m["community_discounts"] + m["membership_fees"])
    assert m["contribution"] == pytest.approx(m["gross_margin"] - m["member_perk_cost"]
                                              - m["community_operating_cost"])


@pytest.mark.parametrize(("body", "line", "path", "message"), [
    ("  club:\n    type: community\n    audience: [active]\n    group_cap: 600\n", 9,
     "mechanics.club.group_cap", "above WeChat's limit of 500"),
    ("  vip:\n    type: paid_membership\n    period_days: 100\n    uptake: {buyer: 0.1}\n", 8,
     "mechanics.vip.period_days", "30 (monthly), 90 (quarterly), 365 (annual)"),
    ("  vip:\n    type: paid_membership\n    uptake: {vip: 0.1}\n", 8,
     "mechanics.vip.uptake.vip", ""),
    ("  club:\n    type: community\n    audience: [active, high_value]\n", 8,
     "mechanics.club.audience.1", "needs a `segments` mechanic"),
])
def test_bad_membership_and_community_input_is_located(body: str, line: int, path: str,
                                                        message: str) -> None:
    text = "name: t\ndays: 5\nmarket:\n  size: 10\nmechanics:\n" + body
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith(f"s.yaml:{line}: {path}:") and message in p for p in problems), \
        problems
