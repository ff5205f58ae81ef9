"""Omnichannel touch points and multi-touch attribution: reach and visits are binomial, paths are
what the event log says, every attribution model conserves the attributed orders and GMV, the
textbook cases hold end to end, costs are ledger lines, and bad input is located.

A scenario snippet for the loop "content -> live -> order -> WeCom service" (stage 50 -> 100):

    omni:
      type: touchpoints
      attribution: [first_touch, last_touch, position_based]
      lookback_days: 30
      touch_points:
        - name: xiaohongshu          # external notes send traffic into the private domain
          audience: potential
          reach: 20000               # views a day [ASSUMPTION]
          cpm: 40                    # [ASSUMPTION] 20-60
          visit_prob: 0.01           # [ASSUMPTION] 0.005-0.05
          next: [{to: wecom, prob: 0.2}]
        - name: content              # official account articles, every 3 days
          audience: users
          every_days: 3
          reach_share: 0.03          # open rate [ASSUMPTION] 0.01-0.05
          cost_per_session: 500
          open_prob: 0.3
          next: [{to: live, prob: 0.2}]      # readers move on to the next live
        - name: live                 # weekly Channels live stream
          audience: users
          first_day: 6
          every_days: 7
          reach: 5000
          cost_per_session: 3000
          order_prob: 0.10           # live_viewer_to_buyer §8 [VENDOR/ASSUMPTION]
          next: [{to: wecom, prob: 0.6, after: order}]   # buyers are added to WeCom
        - name: wecom                # WeCom service: members only, weekly message
          audience: members
          every_days: 7
          reach_share: 0.3
          seats: 5
          seat_cost_per_day: 200     # [ASSUMPTION]
          order_prob: 0.03           # the repurchase lift
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.aggregation import collect, daily_table
from sim.attribution import attribution_table, position_based_credit
from sim.engine import simulate
from sim.errors import InputError
from sim.events import event_table
from sim.metrics import LEDGER, METRICS, daily_metrics
from sim.planning import layout_of
from sim.scenario import Scenario, load_scenario, parse_scenario, validate_scenario
from tests.conftest import ROOT
from tests.sim.test_money import contribution_from_counters

Z = 4.0
# nobody buys on their own: every order is one a touch point set off
NO_BUY = {"type": "purchase_dropout", "purchase_rate": {"r": 1.0, "alpha": 1e12},
          "dropout": {"a": 1.0, "b": 1e6},
          "order_value": {"model": "gamma", "shape": 2.0, "scale": 30.0}}
BUY = {**NO_BUY, "purchase_rate": {"r": 1.0, "alpha": 40.0}}


def scenario(size: int, days: int, seed: int = 5, personas: list | None = None,
             **mechanics: dict[str, Any]) -> Scenario:
    market: dict[str, Any] = {"size": size}
    if personas:
        market["personas"] = personas
    return validate_scenario({"name": "o", "days": days, "seed": seed, "market": market,
                              "mechanics": mechanics}, "<test>")


def tps(*points: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "touchpoints", "touch_points": list(points), **fields}


def sd(n: float, p: float) -> float:
    return math.sqrt(max(n * p * (1 - p), 1e-12))


# --- textbook attribution ------------------------------------------------------------------------


def test_position_based_textbook_cases() -> None:
    """A, B, C, D: 0.4 / 0.1 / 0.1 / 0.4; one touch: 1; two: 1/2 each; A, B, A: 0.8 / 0.2;
    A, B, B, C: 0.4 / 0.2 / 0.4 (the middle share follows the counts)."""
    counts = np.array([[1, 1, 1, 1], [0, 1, 0, 0], [1, 0, 1, 0], [2, 1, 0, 0], [1, 2, 1, 0]])
    first = np.array([0, 1, 0, 0, 0])
    last = np.array([3, 1, 2, 0, 2])
    credit = position_based_credit(counts, first, last)
    assert np.allclose(credit, [[0.4, 0.1, 0.1, 0.4], [0, 1, 0, 0], [0.5, 0, 0.5, 0],
                                [0.8, 0.2, 0, 0], [0.4, 0.2, 0.4, 0]])
    assert np.allclose(credit.sum(axis=1), 1.0)


def test_four_touches_then_an_order_end_to_end() -> None:
    """Everyone is touched by A, B, C and D on days 0..3 and D makes everyone check out on day
    4: first touch credits A, last touch D, position-based 0.4 / 0.1 / 0.1 / 0.4 of every order
    and of the GMV."""
    once = {"audience": "users", "reach_share": 1.0, "every_days": 365}
    sc = scenario(300, 8, founders={"type": "seed_users", "count": 300}, buy=NO_BUY,
                  omni=tps({**once, "name": "a"}, {**once, "name": "b", "first_day": 1},
                           {**once, "name": "c", "first_day": 2},
                           {**once, "name": "d", "first_day": 3, "order_prob": 1.0}))
    c = simulate(sc)
    table = attribution_table(c.extras, "omni").set_index(["model", "touchpoint"])
    gmv = daily_table(c)["order_amount"].sum()
    assert daily_table(c)["order"].sum() == 300
    expect = {"first_touch": [1, 0, 0, 0], "last_touch": [0, 0, 0, 1],
              "position_based": [0.4, 0.1, 0.1, 0.4]}
    for model, shares in expect.items():
        got = table.loc[model]
        assert np.allclose(got["orders"].to_numpy(), 300 * np.array(shares)), model
        assert np.allclose(got["first_orders"].to_numpy(), 300 * np.array(shares)), model
        assert np.allclose(got["gmv"].to_numpy(), gmv * np.array(shares)), model


def test_one_touch_paths_give_the_same_credit_in_every_model() -> None:
    """Two external channels, each for its own persona, bring users with one visit each; their
    orders have one-touch paths, so the three models agree exactly."""
    personas = [{"name": "young", "share": 0.5}, {"name": "old", "share": 0.5}]
    sc = scenario(20_000, 60, personas=personas, buy=BUY, omni=tps(
        {"name": "douyin", "audience": "potential", "personas": ["young"], "reach": 2000,
         "visit_prob": 0.05},
        {"name": "xiaohongshu", "audience": "potential", "personas": ["old"], "reach": 1000,
         "visit_prob": 0.05}))
    extras = simulate(sc).extras
    orders = extras["omni.attributed_orders"]
    assert orders.sum(axis=1).min() > 200
    assert np.allclose(orders[0], orders[1]) and np.allclose(orders[0], orders[2])
    assert np.allclose(extras["omni.attributed_gmv"][0], extras["omni.attributed_gmv"][2])


# --- paths and conservation, replayed from the event log -----------------------------------------

LOOP = tps(
    {"name": "xhs", "audience": "potential", "reach": 400, "visit_prob": 0.05, "cpm": 40,
     "every_days": 4, "next": [{"to": "wecom", "prob": 0.3}]},
    {"name": "content", "audience": "users", "reach_share": 0.2, "first_day": 1,
     "every_days": 4, "cost_per_session": 500, "next": [{"to": "live", "prob": 0.3}]},
    {"name": "live", "audience": "users", "reach": 100, "first_day": 2, "every_days": 4,
     "order_prob": 0.3, "cost_per_session": 3000,
     "next": [{"to": "wecom", "prob": 0.6, "after": "order"}]},
    {"name": "wecom", "audience": "members", "reach_share": 0.5, "first_day": 3,
     "every_days": 4, "order_prob": 0.1, "seats": 2, "seat_cost_per_day": 150},
    lookback_days=10)


def replay(events: pd.DataFrame, k: int, lookback: int) -> dict[str, np.ndarray]:
    """Attribution recomputed from the log: touch point = touch day mod 4 (one session a day);
    a day's orders come before its touches; each order ends the path."""
    touches = events[events["event"] == "touch"]
    orders = events[events["event"] == "order"]
    firsts = set(zip(*events.loc[events["event"] == "first_order", ["user", "day"]]
                     .to_numpy().T, strict=True))
    timeline: dict[int, list] = defaultdict(list)
    for user, day in touches[["user", "day"]].to_numpy():
        timeline[int(user)].append((int(day), 1, day % 4, 0.0))
    for user, day, amount in orders[["user", "day", "amount"]].to_numpy():
        timeline[int(user)].append((int(day), 0, -1, float(amount)))
    out = {k_: np.zeros((3, k)) for k_ in ("orders", "first_orders", "gmv")}
    unattributed = 0
    for user, items in timeline.items():
        path: list[tuple[int, int]] = []
        items.sort(key=lambda x: (x[0], x[1]))
        seen_first: set[int] = set()
        pending_reset = None
        for day, kind, tp, amount in items:
            if pending_reset is not None and day != pending_reset:
                path, pending_reset = [], None
            if kind == 1:
                if pending_reset is not None:
                    path, pending_reset = [], None
                path.append((day, int(tp)))
                continue
            pending_reset = day
            if not path or day - path[-1][0] > lookback:
                unattributed += 1
                continue
            seq = [t for _, t in path]
            credit = np.zeros((3, k))
            credit[0, seq[0]] = 1
            credit[1, seq[-1]] = 1
            if len(seq) == 1:
                credit[2, seq[0]] = 1
            elif len(seq) == 2:
                credit[2, seq[0]] += 0.5
                credit[2, seq[-1]] += 0.5
            else:
                credit[2, seq[0]] += 0.4
                credit[2, seq[-1]] += 0.4
                for t in seq[1:-1]:
                    credit[2, t] += 0.2 / (len(seq) - 2)
            out["orders"] += credit
            out["gmv"] += credit * amount
            if (user, day) in firsts and day not in seen_first:
                out["first_orders"] += credit
                seen_first.add(day)
    out["unattributed"] = np.array([unattributed])
    return out


def test_paths_and_every_model_match_a_replay_of_the_event_log() -> None:
    """The loop scenario (one touch point a day, so the touch day names it): the mechanic's
    tables equal attribution recomputed from the logged touches and orders, each model's
    credits sum to the attributed orders and GMV, and attributed + unattributed = all."""
    sc = scenario(6000, 60, founders={"type": "seed_users", "count": 1500}, buy=BUY,
                  omni=LOOP)
    counters = simulate(sc, log_events=True)
    events = event_table(counters, layout_of(sc))
    extras = counters.extras
    expect = replay(events, 4, 10)
    for key in ("orders", "first_orders", "gmv"):
        assert np.allclose(extras[f"omni.attributed_{key}"], expect[key]), key
    orders = extras["omni.attributed_orders"]
    assert orders[0].sum() > 300 and (orders > 0).all()
    totals = orders.sum(axis=1)
    assert np.allclose(totals, totals[0])
    gmv = extras["omni.attributed_gmv"].sum(axis=1)
    assert np.allclose(gmv, gmv[0])
    unattributed = extras["omni.unattributed"]
    assert unattributed[0] == expect["unattributed"][0] > 0
    d = daily_table(counters)
    assert np.isclose(totals[0] + unattributed[0], d["order"].sum())
    assert np.isclose(gmv[0] + unattributed[1], d["order_amount"].sum())
    # sessions happen on their schedule only
    touched = extras["omni.touchpoint_touched"]
    for i in range(4):
        assert touched[i, np.arange(60) % 4 != i].sum() == 0
        assert touched[i, np.arange(60) % 4 == i].sum() > 0


# --- reach, visits and hand-overs are binomial ---------------------------------------------------


def test_potential_reach_and_visits_are_binomial() -> None:
    """Each day reached ~ Binomial(potential left, reach / audience) and visits ~ Binomial(
    reached, visit_prob); with no funnel every visit registers on the touch point's channel."""
    size, reach, visit = 50_000, 2000.0, 0.1
    sc = scenario(size, 30, buy=NO_BUY, omni=tps({"name": "douyin", "audience": "potential",
                                      "reach": reach, "visit_prob": visit, "cpm": 30}))
    c = simulate(sc)
    d = daily_table(c)
    potential = size - np.concatenate([[0], d["acquired"].cumsum().to_numpy()[:-1]])
    reached = d["touchpoint_reach"].to_numpy()
    p = reach / size
    assert abs(reached.sum() - (potential * p).sum()) <= Z * math.sqrt(
        (potential * p * (1 - p)).sum())
    assert abs(d["visit"].sum() - reached.sum() * visit) <= Z * sd(reached.sum(), visit)
    assert d["acquired"].sum() == d["visit"].sum() == d["touch"].sum()
    result = collect(sc, {0: c})
    mine = result.channel_metrics[result.channel_metrics["channel"] == "douyin"]
    assert mine["new_users"].sum() == d["acquired"].sum()
    assert np.isclose(mine["touchpoint_spend"].sum(), 30 * reached.sum() / 1000)
    assert np.isclose(mine["acquisition_spend"].sum(), 30 * reached.sum() / 1000)


def test_user_sessions_and_hand_overs_are_binomial() -> None:
    """content reaches Binomial(alive, 0.2) users every 7 days; each reader goes on to the next
    day's live with 0.3 (the live has no reach of its own); the live's buyers (order_prob 0.5,
    checkout the next day) join WeCom with 0.6, and a WeCom message with reach_share 1 reaches
    every member."""
    alive = 5000
    sc = scenario(alive, 28, founders={"type": "seed_users", "count": alive}, buy=NO_BUY,
                  omni=tps({"name": "content", "audience": "users", "reach_share": 0.2,
                            "every_days": 7, "next": [{"to": "live", "prob": 0.3}]},
                           {"name": "live", "audience": "users", "first_day": 1,
                            "every_days": 365, "order_prob": 0.5,
                            "next": [{"to": "wecom", "prob": 0.6, "after": "order"}]},
                           {"name": "wecom", "audience": "members", "reach_share": 1.0,
                            "first_day": 5, "every_days": 365}))
    c = simulate(sc)
    touched = c.extras["omni.touchpoint_touched"]
    sessions = touched[0][touched[0] > 0]
    assert len(sessions) == 4
    assert abs(sessions.sum() - 4 * alive * 0.2) <= Z * sd(4 * alive, 0.2)
    viewers = touched[1, 1]
    assert abs(viewers - touched[0, 0] * 0.3) <= Z * sd(touched[0, 0], 0.3)
    buyers = daily_table(c)["order"].to_numpy()[2]
    assert abs(buyers - viewers * 0.5) <= Z * sd(viewers, 0.5)
    assert abs(touched[2, 5] - buyers * 0.6) <= Z * sd(buyers, 0.6)
    assert c.extras["omni.attributed_orders"][1, 1] == buyers  # last touch: the live


# --- money ---------------------------------------------------------------------------------------


def test_costs_are_ledger_lines_and_add_up() -> None:
    """CPM on reach, per session and per seat-day: the mechanic's cost table equals the booked
    channel costs, and contribution subtracts both touch-point lines."""
    sc = scenario(6000, 40, founders={"type": "seed_users", "count": 1500}, buy=BUY,
                  omni=LOOP)
    c = simulate(sc)
    d = daily_metrics(daily_table(c))
    cost = c.extras["omni.touchpoint_cost"]
    reach = c.extras["omni.touchpoint_reach"]
    assert np.isclose(cost[0].sum(), 40 * reach[0].sum() / 1000)
    sessions = (reach > 0).sum(axis=1)
    assert np.isclose(cost[1].sum(), 500 * sessions[1])
    assert np.isclose(cost[3].sum(), 2 * 150 * 40)
    assert np.isclose(d["touchpoint_spend"].sum(), cost[0].sum())
    assert np.isclose(d["touchpoint_engagement_cost"].sum(), cost[1:].sum())
    lines = [name for name, measure in LEDGER if measure == "relative"]
    assert "touchpoint_spend" in lines and "touchpoint_engagement_cost" in lines
    expected = d["gmv"] - sum(d[name] for name in lines if name in d)
    assert np.allclose(d["contribution"], expected)
    assert METRICS["touchpoint_spend"].acquisition  # part of acquisition_spend, so of CAC
    acquisition = sum(d[m.name] for m in METRICS.values() if m.acquisition and m.name in d)
    assert np.allclose(d["acquisition_spend"], acquisition)
    table = attribution_table(c.extras, "omni")
    live = table[(table["model"] == "last_touch") & (table["touchpoint"] == "live")].iloc[0]
    assert np.isclose(live["roi"], (live["gmv"] - live["cost"]) / live["cost"])


def test_ledger_balances_with_retention_mechanics_and_touchpoints() -> None:
    """retention.yaml, small, with the loop switched on: every money event of the log sums to
    its counter, the channel costs of the log equal the touch-point lines, and the attributed
    orders of each model plus the unattributed ones are all the orders."""
    sc = load_scenario(ROOT / "scenarios" / "retention.yaml", [
        "market.size=20000", "days=60", "mechanics.existing.count=5000",
        "mechanics.tiers.period_days=30", "mechanics.points.expiry_days=40"])
    data = sc.model_dump(mode="python", exclude_none=True)
    data["mechanics"]["omni"] = LOOP
    sc = validate_scenario(data, "<test>")
    counters = simulate(sc, log_events=True)
    events, d = event_table(counters, layout_of(sc)), daily_table(counters)
    for name in ("order", "coupon", "refund", "cogs", "automation_send", "tier_discount",
                 "points_redeemed", "touch"):
        if name in d:
            assert len(events[events["event"] == name]) == d[name].sum(), name
            assert np.isclose(events.loc[events["event"] == name, "amount"].sum(),
                              d[f"{name}_amount"].sum()), name
    for name in ("touchpoint_spend", "touchpoint_engagement_cost"):
        assert np.isclose(events.loc[events["event"] == name, "amount"].sum(), d[name].sum())
        assert d[name].sum() > 0
    extras = counters.extras
    orders = extras["omni.attributed_orders"].sum(axis=1)
    assert np.allclose(orders + extras["omni.unattributed"][0], d["order"].sum())
    m = daily_metrics(d)  # against hand-written signs of the raw counters, not LEDGER
    assert np.allclose(m["contribution"], contribution_from_counters(d))


# --- bad input -----------------------------------------------------------------------------------

HEAD = "name: t\ndays: 20\nmarket:\n  size: 10\nmechanics:\n"


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_scenario(HEAD + text, "s.yaml")
    return [str(p) for p in caught.value.problems]


def test_unknown_attribution_model_is_located_with_the_valid_names() -> None:
    (problem,) = problems("  omni:\n    type: touchpoints\n    attribution: [first_touch, "
                          "linear]\n    touch_points:\n      - {name: a, audience: users}\n")
    assert problem.startswith("s.yaml:8: mechanics.omni.attribution.1:")
    for name in ("first_touch", "last_touch", "position_based"):
        assert name in problem


def test_touchpoint_references_and_needs_are_located() -> None:
    found = problems("  omni:\n    type: touchpoints\n    touch_points:\n"
                     "      - name: live\n        audience: users\n        order_prob: 0.1\n"
                     "        first_day: 30\n        next: [{to: wecom, prob: 0.5}]\n")
    assert any(p.startswith("s.yaml:11: mechanics.omni.touch_points.0.order_prob: orders need "
                            "a purchase_dropout") for p in found), found
    assert any(p.startswith("s.yaml:12: mechanics.omni.touch_points.0.first_day: day 30 is "
                            "outside the horizon 0..19") for p in found), found
    assert any(p.startswith("s.yaml:13: mechanics.omni.touch_points.0.next.0.to: unknown touch "
                            "point 'wecom'; expected one of: live") for p in found), found


def test_conversion_that_does_not_fit_the_audience_is_located() -> None:
    (problem,) = problems("  omni:\n    type: touchpoints\n    touch_points:\n"
                          "      - {name: a, audience: users}\n"
                          "      - {name: b, audience: potential, order_prob: 0.1}\n")
    assert problem.startswith("s.yaml:10: mechanics.omni.touch_points.1:")
    assert "visit_prob" in problem


def test_the_loop_snippet_above_validates_and_runs() -> None:
    """The commented example (content -> live -> order -> WeCom service) is a valid mechanic:
    every touch point has sessions, live buyers reach WeCom, and its last-touch orders happen."""
    import yaml

    snippet = yaml.safe_load(__doc__.split("(stage 50 -> 100):", 1)[1])
    sc = scenario(20_000, 60, founders={"type": "seed_users", "count": 5000}, buy=BUY,
                  act={"type": "activity"}, **snippet)
    extras = simulate(sc).extras
    names = list(extras["omni.touchpoint_names"])
    assert names == ["xiaohongshu", "content", "live", "wecom"]
    assert (extras["omni.touchpoint_touched"].sum(axis=1) > 0).all()
    assert (extras["omni.touchpoint_opens"][1].sum() > 0)
    assert extras["omni.attributed_orders"][1, names.index("wecom")] > 0


def test_result_attribution_is_the_mean_table_over_replicates() -> None:
    """Result.attribution(): one row per model and touch point, the mean of the replicates'
    tables, with ROI from the mean GMV and cost."""
    sc = scenario(6000, 30, founders={"type": "seed_users", "count": 1500}, buy=BUY, omni=LOOP)
    counters = {r: simulate(sc, r) for r in range(2)}
    table = collect(sc, counters).attribution()
    assert len(table) == 3 * 4
    per = [attribution_table(c.extras, "omni") for c in counters.values()]
    assert np.allclose(table["orders"], (per[0]["orders"] + per[1]["orders"]) / 2)
    live = table[(table["model"] == "position_based") & (table["touchpoint"] == "live")].iloc[0]
    assert np.isclose(live["roi"], (live["gmv"] - live["cost"]) / live["cost"])


def test_an_arm_may_shorten_the_lookback_window() -> None:
    """lookback_days is a variant number: with the live on day 0, a user's next order is
    attributed if it is within 30 days (control) or on day 1 (an arm with a 1-day window)."""
    base = {"name": "o", "days": 40, "seed": 2, "market": {"size": 6000},
            "mechanics": {"founders": {"type": "seed_users", "count": 6000}, "buy": BUY,
                          "omni": tps({"name": "live", "audience": "users", "reach_share": 0.5,
                                       "every_days": 365, "order_prob": 0.5})}}
    short = {**base, "experiment": {"arms": [
        {"name": "control", "share": 0.5},
        {"name": "short", "share": 0.5, "set": {"mechanics.omni.lookback_days": 1}}]}}
    c = simulate(validate_scenario(short, "<test>"), log_events=True)
    events = event_table(c, layout_of(validate_scenario(short, "<test>")))
    orders = events[(events["event"] == "order") & (events["day"] >= 1)]  # after the touch
    touched = set(events.loc[events["event"] == "touch", "user"])
    arm, day = orders["arm"].to_numpy(), orders["day"].to_numpy()
    mine = orders["user"].isin(touched).to_numpy()
    first = ~orders.duplicated("user").to_numpy()  # a path ends at the user's next order
    window = np.where(arm == "short", 1, 30)
    expect = (mine & first & (day <= window)).sum()
    assert c.extras["omni.attributed_orders"][0].sum() == expect
    assert ((arm == "short") & mine & first & (day > 1)).sum() > 20
