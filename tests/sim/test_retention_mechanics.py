"""Retention mechanics (segments, automations, tiers, points) do what they say: exact checks
against the event log where the rule is deterministic, binomial standard errors where it is
random (fixed seeds), the ledger adds up with everything on, and bad input is located."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError
from sim.mechanics.segments import _score_above, _segment_tables
from sim.metrics import daily_metrics
from sim.scenario import Scenario, load_scenario, parse_scenario
from tests.conftest import ROOT, logged, mechanics_scenario, of, within

Z = 4.0
SLOW_BUY = {"type": "purchase_dropout", "purchase_rate": {"r": 1.0, "alpha": 1e12},
            "dropout": {"a": 1.0, "b": 1e6},
            "order_value": {"model": "gamma", "shape": 2.0, "scale": 30.0}}
BUY = {**SLOW_BUY, "purchase_rate": {"r": 2.0, "alpha": 30.0}}


def scenario(size: int, days: int, seed: int = 3, **mechanics: dict[str, Any]) -> Scenario:
    return mechanics_scenario(size, days, seed, **mechanics)


# --- segments ------------------------------------------------------------------------------------


def expected_segments(orders: pd.DataFrame, day: int, bins: int = 5) -> np.ndarray:
    """Segment sizes (high_value, potential, at_risk, lost) recomputed from the log with
    np.quantile, as of the end of `day`."""
    seen = orders[orders["day"] <= day].groupby("user").agg(
        last=("day", "max"), freq=("day", "size"), spend=("amount", "sum"))
    q = np.arange(1, bins) / bins

    def score(x: np.ndarray) -> np.ndarray:
        return 1 + np.searchsorted(np.quantile(x, q), x, side="left")

    r, f = score(seen["last"].to_numpy()), score(seen["freq"].to_numpy())
    m = score(seen["spend"].to_numpy().astype(np.float32))
    fm = (f + m) / 2
    recent = r > bins // 2
    high = recent & (r >= bins - 1) & (fm >= bins - 1)
    return np.array([high.sum(), (recent & ~high).sum(), (~recent & (fm > bins // 2)).sum(),
                     (~recent & (fm <= bins // 2)).sum()])


def test_rfm_segments_match_quintiles_recomputed_from_the_log() -> None:
    """Weekly recomputation: on each recompute day the segment stocks equal the quintile
    segments computed from the logged orders; every buyer enters from `none` exactly once."""
    sc = scenario(4000, 43, founders={"type": "seed_users", "count": 4000}, buy=BUY,
                  rfm={"type": "segments", "every_days": 7})
    events, d, extras = logged(sc)
    orders = of(events, "order")
    names = ["seg_high_value_users", "seg_potential_users", "seg_at_risk_users",
             "seg_lost_users"]
    for day in (6, 20, 41):
        got = d.loc[day, names].to_numpy()
        assert (got == expected_segments(orders, day)).all(), day
    transitions = extras["rfm.rfm_transitions"]
    buyers_at = [orders.loc[orders["day"] <= day, "user"].nunique() for day in range(6, 43, 7)]
    assert transitions.sum() == sum(buyers_at)
    assert transitions[0].sum() == buyers_at[-1] and transitions[:, 0].sum() == 0
    assert extras["rfm.recomputations"][0] == 6


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0, 1e4, width=32), min_size=1, max_size=200),
       picks=st.lists(st.integers(0, 199), min_size=1, max_size=6),
       shift=st.sampled_from([0.0, 1e-9, -1e-9]))
def test_spend_score_is_searchsorted(values: list[float], picks: list[int], shift: float) -> None:
    """The monetary score's comparison passes give searchsorted's scores, ties included
    (edges equal to float32 spends, or a hair off them in float64)."""
    spend = np.array(values, dtype=np.float32)
    edges = np.sort(spend[[i % len(spend) for i in picks]].astype(np.float64) + shift)
    assert np.array_equal(_score_above(spend, edges),
                          1 + np.searchsorted(edges, spend, side="left"))


@pytest.mark.parametrize("bins", [3, 4, 5])
def test_segment_tables_follow_the_rules(bins: int) -> None:
    """Each (R, F, M) triple's segment, as the module docstring states it, and its score."""
    codes, scores = _segment_tables(bins)
    for r, f, m in itertools.product(range(1, bins + 1), repeat=3):
        fm = (f + m) / 2
        if r > bins // 2:
            expected = 1 if r >= bins - 1 and fm >= bins - 1 else 2  # high value / potential
        else:
            expected = 3 if fm > bins // 2 else 4  # at risk / lost
        assert codes[r << 6 | f << 3 | m] == expected
        assert scores[r << 6 | f << 3 | m] == 100 * r + 10 * f + m


# --- automations ---------------------------------------------------------------------------------

CHANNELS = {"subscription": {"consent_prob": 0.4, "reach": 1.0},
            "sms": {"optin_share": 0.3, "optout_prob": 0.2, "reach": 1.0, "cost": 0.05},
            "official_account": {"follower_share": 0.5, "reach": 0.4},
            "wecom": {"contact_share": 0.6, "reach": 1.0}}


def crm(*rules: dict[str, Any], **channels: dict[str, Any]) -> dict[str, Any]:
    merged = {k: {**v, **channels.get(k, {})} for k, v in CHANNELS.items()}
    return {"type": "automations", "rules": list(rules), "channels": merged}


def test_subscription_sends_never_exceed_consents() -> None:
    """Every order asks for a consent; each purchase triggers a send if a consent is left:
    at every point of the log, a user's sends are at most the consents granted so far."""
    sc = scenario(5000, 40, founders={"type": "seed_users", "count": 5000}, buy=BUY,
                  crm=crm({"name": "thanks", "trigger": "purchase", "channel": "subscription"},
                          {"name": "again", "trigger": "purchase", "channel": "subscription"}))
    events, d, _ = logged(sc)
    consents = of(events, "submsg_consent").groupby(["user", "day"]).size()
    sends = of(events, "submsg_sent").groupby(["user", "day"]).size()
    both = pd.concat({"c": consents, "s": sends}, axis=1).fillna(0).sort_index()
    running = both.groupby(level="user").cumsum()
    assert len(sends) > 1000 and (running["s"] <= running["c"]).all()
    assert d["automation_send"].sum() == d["submsg_sent"].sum()
    asked = 5000 + of(events, "order").query("day == 0")["user"].nunique()  # join + pay
    assert within(len(of(events, "submsg_consent").query("day == 0")), asked, 0.4)


def test_sms_only_to_opted_in_and_opt_out_is_honoured() -> None:
    """Daily no_open SMS (every user re-triggers): sends on day 1 are Binomial(N, opt-in);
    opt-outs Binomial(sends, p); no SMS ever follows a user's opt-out; cost = 0.05 per SMS."""
    n = 20_000
    sc = scenario(n, 30, founders={"type": "seed_users", "count": n},
                  act={"type": "activity", "open_prob": 0.0, "floor": 0.0},
                  crm=crm(*[{"name": f"nudge{k}", "trigger": "no_open", "days": k,
                             "channel": "sms"} for k in range(1, 29)]))
    events, d, extras = logged(sc)
    sms = of(events, "sms_sent")
    first = sms[sms["day"] == 1]
    assert within(len(first), n, 0.3)
    out = of(events, "sms_optout")
    assert within(len(out[out["day"] == 1]), len(first), 0.2)
    opted_out = out.groupby("user")["day"].min()
    later = sms.join(opted_out.rename("out"), on="user")
    assert (later["day"] <= later["out"].fillna(10**6)).all()
    assert not (later["day"] > later["out"]).any()
    assert np.isclose(d["automation_send_amount"].sum(), 0.05 * len(sms))
    assert np.isclose(extras["crm.rule_cost"].sum(), 0.05 * len(sms))


def test_wecom_cap_one_mass_message_per_customer_per_day() -> None:
    sc = scenario(5000, 10, founders={"type": "seed_users", "count": 5000}, buy=BUY,
                  crm=crm({"name": "a", "trigger": "purchase", "channel": "wecom"},
                          {"name": "b", "trigger": "purchase", "channel": "wecom"},
                          {"name": "c", "trigger": "registered", "channel": "wecom"}))
    events, _, extras = logged(sc)
    sent = of(events, "wecom_sent")
    assert len(sent) > 1000 and sent.groupby(["user", "day"]).size().max() == 1
    assert extras["crm.rule_sends"][1].sum() == 0  # rule a always takes the day's slot


def test_checkout_effect_and_conversions_are_binomial() -> None:
    """No natural purchases: a welcome message via the official account (followers 0.5,
    read 0.4) with checkout_prob 0.25 makes N * 0.5 * 0.4 * 0.25 checkouts in effect_days,
    all paid (no abandonment), each one conversion of that rule; reads are binomial."""
    n = 40_000
    sc = scenario(n, 12, founders={"type": "seed_users", "count": n}, buy=SLOW_BUY,
                  crm=crm({"name": "welcome", "trigger": "registered",
                           "channel": "official_account",
                           "action": {"kind": "message", "checkout_prob": 0.25,
                                      "effect_days": 5}, "conversion_days": 5}))
    events, d, extras = logged(sc)
    sends = len(of(events, "oa_sent"))
    assert within(sends, n, 0.5)
    reads = len(of(events, "automation_read"))
    assert within(reads, sends, 0.4)
    orders = of(events, "order")
    assert within(len(orders), reads, 0.25)
    assert orders["day"].between(1, 5).all()
    assert extras["crm.rule_conversions"].sum() == len(orders) == d["automation_conversion"].sum()
    assert np.isclose(extras["crm.rule_conversion_gmv"].sum(), orders["amount"].sum())


def test_no_open_trigger_fires_exactly_n_days_after_the_last_open() -> None:
    sc = scenario(5000, 40, founders={"type": "seed_users", "count": 5000}, buy=BUY,
                  act={"type": "activity", "open_prob": 0.3, "decay": 0.8, "floor": 0.01},
                  crm=crm({"name": "winback", "trigger": "no_open", "days": 7,
                           "channel": "sms", "action": {"kind": "coupon", "value": 5}},
                          sms={"optin_share": 1.0, "optout_prob": 0.0}))
    events, d, _ = logged(sc)
    opens = of(events, "open")[["user", "day"]].sort_values("day")
    sends = of(events, "sms_sent")[["user", "day"]].sort_values("day")
    assert len(sends) > 500
    last = pd.merge_asof(sends, opens.rename(columns={"day": "last_open"}), left_on="day",
                         right_on="last_open", by="user", allow_exact_matches=True)
    assert (last["day"] - last["last_open"] == 7).all()
    assert np.isclose(d["automation_coupon_amount"].sum(), 5 * d["automation_read"].sum())


def test_unknown_segment_in_a_rule_is_located() -> None:
    text = ("name: t\ndays: 5\nmarket:\n  size: 10\nmechanics:\n  crm:\n    type: automations\n"
            "    rules:\n      - name: w\n        trigger: purchase\n        channel: sms\n"
            "        audience: [high_value, vip]\n")
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith("s.yaml:12: mechanics.crm.rules.0.audience.1:")
    assert "high_value" in str(problem)


# --- tiers ---------------------------------------------------------------------------------------

TIERS = {"type": "membership_tiers", "period_days": 20, "tiers": [
    {"name": "regular", "threshold": 0},
    {"name": "silver", "threshold": 100, "discount": 0.05, "free_shipping_per_month": 1},
    {"name": "gold", "threshold": 250, "discount": 0.1, "birthday_gift": 20}]}


def test_tier_upgrades_downgrades_and_discounts_follow_the_log() -> None:
    """Upgrades happen on the day cumulative period spend crosses a threshold; at each period
    end users whose period spend is below their tier are downgraded; discounts are the tier's
    share of each order placed by a member of that tier."""
    sc = scenario(3000, 50, founders={"type": "seed_users", "count": 3000}, buy=BUY,
                  tiers=TIERS)
    events, d, _ = logged(sc)
    orders = of(events, "order").copy()
    orders["period"] = orders["day"] // 20
    orders["spend"] = orders.groupby(["user", "period"])["amount"].cumsum()
    orders["tier_after"] = np.searchsorted([0, 100, 250], orders["spend"].to_numpy(),
                                           side="right") - 1
    prior = orders.groupby(["user", "period"])["tier_after"].shift(1).fillna(0)
    up = of(events, "tier_upgrade")
    assert len(up) > 100
    p0 = orders[(orders["period"] == 0) & (orders["tier_after"] > prior)]
    assert set(zip(p0["user"], p0["day"], strict=True)) == set(
        zip(up[up["day"] < 20]["user"], up[up["day"] < 20]["day"], strict=True))
    # a period's tier is requalified on the same spend: no downgrade on day 20; on day 40,
    # exactly the users whose period-0 tier is above the tier of their period-1 spend
    tier = orders.groupby(["user", "period"])["tier_after"].max().unstack(fill_value=0)
    down = of(events, "tier_downgrade")
    assert not (down["day"] == 20).any()
    assert set(down[down["day"] == 40]["user"]) == set(tier.index[tier[0] > tier[1]])
    assert len(down) > 10
    disc = of(events, "tier_discount").merge(orders[["user", "day", "amount"]],
                                             on=["user", "day"], suffixes=("", "_order"))
    share = (disc["amount"] / disc["amount_order"]).round(6)
    assert set(share) <= {0.05, 0.1} and len(disc) > 50
    assert d["tier_1_users"].iloc[-1] + d["tier_2_users"].iloc[-1] > 0


def test_refunds_return_what_was_paid_after_tier_discounts_and_points() -> None:
    """Per order, value = paid + tier discount and a refund returns the paid part, so a
    refunded order nets to zero: refund + tier discount = order value, row for row; refunded
    orders neither use nor earn points; with every order refunded, net revenue is 0. A base tier
    with a discount makes every order discounted; group-buy orders (book_orders) get it too."""
    tiers = {**TIERS, "tiers": [{"name": "regular", "threshold": 0, "discount": 0.05},
                                {"name": "gold", "threshold": 150, "discount": 0.1}]}
    points = {"type": "points", "min_redeem_points": 1, "redeem_prob": 1.0, "breakage": 0.0}
    group_buy = {"type": "group_buy", "open_prob": 0.02, "public_join_rate": 2.0}
    key = ["user", "day"]
    for rate, extra in ((0.5, {"gb": group_buy}), (1.0, {})):
        sc = scenario(3000, 40, founders={"type": "seed_users", "count": 3000},
                      buy={**BUY, "refund_rate": rate}, tiers=tiers, points=points, **extra)
        events, d, _ = logged(sc)
        orders = of(events, "order").groupby(key)["amount"].agg(["sum", "size"])
        refund = of(events, "refund").set_index(key)["amount"]
        disc = of(events, "tier_discount").groupby(key)["amount"].sum()
        whole = orders.loc[refund.index]
        whole = whole[whole["size"] == 1]["sum"]  # user-days with only the refunded order
        assert len(whole) > 200
        assert np.allclose(refund.loc[whole.index] + disc.loc[whole.index], whole)
        share = set((disc.loc[whole.index] / whole).round(6))
        assert share == ({0.05, 0.1} if rate < 1 else {0.05})
        used = of(events, "points_redeemed").set_index(key).index
        assert not used.isin(refund.index).any() and (rate == 1 or len(used) > 100)
        if extra:  # group orders on days without a solo order: the member's share off
            group = of(events, "group_order").groupby(key)["amount"].agg(["sum", "size"])
            group = group[group["size"] == orders.loc[group.index, "size"]]["sum"]
            assert len(group) > 200
            assert set((disc.loc[group.index] / group).round(6)) <= {0.05, 0.1}
        else:
            assert d["points_redeemed_amount"].sum() == 0 and d["order"].sum() > 500
            assert np.isclose(daily_metrics(d)["net_revenue"].sum(), 0.0, atol=1e-6)


def test_non_increasing_tier_thresholds_are_located() -> None:
    text = ("name: t\ndays: 5\nmarket:\n  size: 10\nmechanics:\n  tiers:\n"
            "    type: membership_tiers\n    tiers:\n      - {name: regular, threshold: 0}\n"
            "      - {name: gold, threshold: 600}\n      - {name: silver, threshold: 150}\n")
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith("s.yaml:8: mechanics.tiers.tiers:")
    assert "silver (150) is not above gold (600)" in str(problem)


def test_overrides_reach_into_lists_such_as_a_tier_threshold() -> None:
    """The scenario header's own examples (`tiers.2.threshold=2000`, `rules.1.action.kind`)
    change that item only; an item past the end is located at the list."""
    path = ROOT / "scenarios" / "retention.yaml"
    sc = load_scenario(path, ["mechanics.tiers.tiers.2.threshold=2000",
                              "mechanics.crm.rules.1.action.kind=message"])
    assert [t.threshold for t in sc.mechanics["tiers"].tiers] == [0, 150, 2000]
    assert sc.mechanics["crm"].rules[1].action.kind == "message"
    with pytest.raises(InputError) as caught:
        load_scenario(path, ["mechanics.tiers.tiers.3.threshold=9000"])
    (problem,) = caught.value.problems
    assert "mechanics.tiers.tiers: override" in str(problem) and "no item 3" in str(problem)
    with pytest.raises(InputError) as caught:
        load_scenario(path, ["mechanics.tiers.tiers.2.threshold=100"])  # below silver's 150
    (problem,) = caught.value.problems
    assert "gold (100) is not above silver (150)" in str(problem)


# --- points --------------------------------------------------------------------------------------


def test_points_issue_redeem_and_liability_add_up() -> None:
    """Purchase points are floor(value x 1 x tier multiplier); a redemption is at most 50% of
    its order; outstanding points = issued - redeemed - expired every day (face value);
    liability = 0.7 x outstanding; check-ins are Binomial(opens, 0.2)."""
    tiers = {**TIERS, "tiers": [TIERS["tiers"][0], {**TIERS["tiers"][1],
                                                    "points_multiplier": 1.5}]}
    sc = scenario(4000, 45, founders={"type": "seed_users", "count": 4000}, buy=BUY,
                  act={"type": "activity"}, tiers=tiers,
                  points={"type": "points", "expiry_days": 30, "breakage": 0.3})
    events, d, _ = logged(sc)
    flow = (d["points_issued_amount"] - d["points_redeemed_amount"]
            - d["points_expired_amount"]).cumsum()
    assert np.allclose(d["points_outstanding"], flow)
    assert np.allclose(d["points_liability"], 0.7 * d["points_outstanding"])
    red = of(events, "points_redeemed").merge(
        of(events, "order").groupby(["user", "day"])["amount"].first().reset_index(),
        on=["user", "day"], suffixes=("", "_order"))
    assert len(red) > 50 and (red["amount"] <= 0.5 * red["amount_order"] + 1e-9).all()
    assert d["points_expired"].sum() > 0 and (d["points_outstanding"] >= -1e-9).all()


def test_checkins_are_binomial_in_the_opens() -> None:
    """Without orders every point issued is a check-in: Binomial(opens, checkin_prob)."""
    sc = scenario(20_000, 30, founders={"type": "seed_users", "count": 20_000},
                  act={"type": "activity"},
                  points={"type": "points", "checkin_prob": 0.2, "checkin_points": 5})
    events, d, _ = logged(sc)
    assert within(d["points_issued"].sum(), d["open"].sum(), 0.2)
    assert np.allclose(of(events, "points_issued")["amount"], 0.05)


def test_share_points_count_every_kind_of_share_up_to_the_daily_cap() -> None:
    """Referral shares, group-buy openers and bargain initiators each earn `share_points`, at
    most `share_points_daily_cap` shares a user a day: per user-day, issued = 10 x min(shares,
    2) points, rebuilt from the three share events of the log; none is issued without one."""
    sc = scenario(3000, 20, founders={"type": "seed_users", "count": 3000},
                  ref={"type": "referral", "share_after_order": 0.0, "share_daily": 0.3},
                  gb={"type": "group_buy", "open_prob": 0.3},
                  cut={"type": "bargain", "start_prob": 0.3},
                  points={"type": "points", "earn_per_yuan": 0.0, "review_prob": 0.0,
                          "share_points": 10, "share_points_daily_cap": 2})
    events, _, _ = logged(sc)
    shares = events[events["event"].isin(["share", "group_opened", "bargain_started"])]
    per_day = shares.groupby(["user", "day"]).size()
    expected = 10 * np.minimum(per_day, 2) / 100  # face value: 100 points = 1 yuan
    issued = of(events, "points_issued").groupby(["user", "day"])["amount"].sum()
    assert (per_day >= 3).sum() > 50  # the cap binds for many user-days
    assert set(shares["event"]) == {"share", "group_opened", "bargain_started"}
    assert issued.index.equals(expected.index.sort_values())
    assert np.allclose(issued.to_numpy(), expected.sort_index().to_numpy())


def test_share_points_are_a_compliance_finding() -> None:
    """Points for the share itself are induced sharing (WX-SHARE), located at the field."""
    from sim.compliance import check_compliance

    sc = load_scenario(ROOT / "scenarios" / "retention.yaml", ["mechanics.points.share_points=5"])
    (found,) = [p for p in check_compliance(sc) if p.path == "mechanics.points.share_points"]
    assert "[WX-SHARE]" in found.message and found.line is not None


# --- the ledger with everything on ---------------------------------------------------------------


def test_ledger_balances_with_all_retention_mechanics() -> None:
    """retention.yaml, small: every money event of the log sums to its counter total, per-rule
    tables sum to the event totals, order discounts of each kind stay within the orders, net
    revenue is GMV less every discount and refund plus membership fees (income); live orders
    are orders and live-only groups open on stream days only."""
    sc = load_scenario(ROOT / "scenarios" / "retention.yaml", ["market.size=20000", "days=60",
                                                  "market.reference_size=20000",
                                                  "mechanics.existing.count=5000",
                                                  "mechanics.tiers.period_days=30",
                                                  "mechanics.points.expiry_days=40",
                                                  "mechanics.plus.period_days=30",
                                                  "mechanics.plus.offer_every_days=7",
                                                  "mechanics.groups.invite_prob=0.5"])
    events, d, extras = logged(sc)
    money = ["order", "coupon", "referral_reward", "refund", "cogs", "automation_send",
             "automation_gift", "automation_coupon", "automation_conversion", "tier_discount",
             "tier_shipping", "tier_birthday_gift", "points_issued", "points_redeemed",
             "points_expired", "paid_fee", "paid_discount", "paid_shipping",
             "community_discount", "community_operating", "live_order", "live_discount",
             "live_promo", "group_order"]
    for name in money:
        if f"{name}_amount" in d:
            assert np.isclose(of(events, name)["amount"].sum(), d[f"{name}_amount"].sum()), name
            assert len(of(events, name)) == d[name].sum(), name
    assert np.isclose(extras["crm.rule_sends"].sum(), d["automation_send"].sum())
    assert np.isclose(extras["crm.rule_cost"].sum(),
                      d["automation_send_amount"].sum() + d["automation_gift_amount"].sum())
    assert np.isclose(extras["crm.rule_conversion_gmv"].sum(),
                      d["automation_conversion_amount"].sum())
    gmv = d["order_amount"].sum()
    off = sum(d[f"{k}_amount"].sum() for k in ("coupon", "referral_reward", "tier_discount",
                                               "points_redeemed", "paid_discount",
                                               "community_discount", "live_discount"))
    assert 0 < off < gmv and d["automation_send"].sum() > 0 and d["points_redeemed"].sum() > 0
    fees = d["paid_fee_amount"].sum()
    assert fees > 0 and d["paid_renewal"].sum() > 0 and d["community_operating"].sum() > 0
    m = daily_metrics(d).sum()
    assert m["net_revenue"] == pytest.approx(gmv - off - d["refund_amount"].sum() + fees)
    live = of(events, "live_order")
    assert 0 < d["live_order_amount"].sum() < gmv and d["live_discount_amount"].sum() > 0
    assert d["live_production"].sum() > 0 and d["group_opened"].sum() > 0
    assert set(of(events, "group_opened")["day"]) <= set(of(events, "live_view")["day"])
    orders = of(events, "order")  # every live order is an order of the same user and value
    assert len(live.merge(orders, on=["user", "day", "amount"])) == len(live)
    assert d["recommender_cost"].sum() > 0
    # a refund returns what was paid: with every discount of that user-day, at most the orders
    key = ["user", "day"]
    refunded = of(events, "refund").groupby(key)["amount"].sum()
    taken = events[events["event"].isin(["refund", "coupon", "gift", "referral_reward",
                                         "tier_discount", "points_redeemed", "paid_discount",
                                         "community_discount", "live_discount"])]
    taken = taken.groupby(key)["amount"].sum().loc[refunded.index]
    ordered = of(events, "order").groupby(key)["amount"].sum().loc[refunded.index]
    assert len(refunded) > 100 and (taken <= ordered + 1e-6).all()


def test_channel_rule_breaches_are_compliance_findings() -> None:
    """An SMS rule without opt-in and more subscription sends than consents are errors at the
    line that sets them; the compliant retention scenario has no finding."""
    from sim.compliance import check_compliance

    path = ROOT / "scenarios" / "retention.yaml"
    assert check_compliance(load_scenario(path)) == []
    bad = load_scenario(path, ["mechanics.crm.channels.sms.respect_optin=false",
                               "mechanics.crm.channels.subscription.sends_per_consent=2"])
    found = {p.path: p for p in check_compliance(bad)}
    sms = found["mechanics.crm.channels.sms.respect_optin"]
    sub = found["mechanics.crm.channels.subscription.sends_per_consent"]
    assert sms.severity == sub.severity == "error"
    assert "[LAW-SMS]" in sms.message and "[WX-SUBMSG]" in sub.message
    assert sms.line is not None and sub.line is not None
