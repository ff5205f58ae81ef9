"""Group buys, bargains and distributors do what theory says (closed forms within Z binomial
standard errors, fixed seeds), keep the ledger whole, refuse bad input at its line, and the
compliance check names each rule at the line that breaks it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.aggregation import daily_table
from sim.compliance import check_compliance
from sim.engine import simulate
from sim.errors import InputError
from sim.events import event_table
from sim.metrics import daily_metrics
from sim.planning import layout_of
from sim.scenario import Scenario, parse_scenario, validate_scenario

Z = 4.0
BUY = {"type": "purchase_dropout", "purchase_rate": {"r": 2.0, "alpha": 20.0},
       "dropout": {"a": 1.0, "b": 1000.0},
       "order_value": {"model": "gamma", "shape": 2.0, "scale": 50.0}}


def scenario(size: int, days: int, seed: int = 5, **mechanics: dict[str, Any]) -> Scenario:
    return validate_scenario({"name": "v", "days": days, "seed": seed,
                              "market": {"size": size}, "mechanics": mechanics}, "<test>")


def log_of(sc: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The event table and the daily counters of one logged replicate."""
    counters = simulate(sc, log_events=True)
    return event_table(counters, layout_of(sc)), daily_table(counters)


# --- group buys ----------------------------------------------------------------------------------


def test_failed_groups_book_no_orders() -> None:
    """Nobody can join: every group fails at its deadline, everyone is refunded, no order."""
    sc = scenario(10_000, 10, founders={"type": "seed_users", "count": 10_000},
                  gb={"type": "group_buy", "public_join_rate": 0.0, "friend_join_prob": 0.0,
                      "open_prob": 0.02})
    events, d = log_of(sc)
    assert d["group_opened"].sum() > 1000
    assert d["group_failed"].sum() == d["group_opened"].sum()
    assert not (events["event"] == "order").any() and d["order_amount"].sum() == 0
    failed = events[events["event"] == "group_failed"]
    assert np.allclose(failed["amount"], 45.0 * 0.85)  # the opener's payment, refunded


def test_simulated_fill_ships_real_members_only() -> None:
    """With 模拟成团 every group ships; virtual seats are recorded but never become orders."""
    sc = scenario(10_000, 10, founders={"type": "seed_users", "count": 10_000},
                  gb={"type": "group_buy", "group_size": 3, "public_join_rate": 0.0,
                      "friend_join_prob": 0.0, "open_prob": 0.02, "simulated_fill": True})
    d = daily_table(simulate(sc))
    groups = d["group_opened"].sum()
    assert d["group_succeeded"].sum() == groups and d["group_failed"].sum() == 0
    assert d["order"].sum() == groups and d["group_filled_amount"].sum() == 2 * groups


def test_group_buy_ledger_balances_with_friends_and_purchases() -> None:
    """Friends join (registering through channel group_buy) and strangers join; with the
    purchase mechanic running too, the logged orders still add up to gmv, and group orders to
    the value of the groups that shipped."""
    sc = scenario(30_000, 20, founders={"type": "seed_users", "count": 10_000}, buy=BUY,
                  gb={"type": "group_buy", "group_size": 3, "open_prob": 0.01,
                      "friend_join_prob": 0.3, "cogs_ratio": 0.6})
    events, d = log_of(sc)
    m = daily_metrics(d)
    orders = events[events["event"] == "order"]
    assert np.isclose(orders["amount"].sum(), m["gmv"].sum())
    assert len(orders) == m["purchases"].sum()
    group_orders = events[events["event"] == "group_order"]
    assert np.isclose(group_orders["amount"].sum(), d["group_succeeded_amount"].sum())
    assert len(group_orders) == 3 * d["group_succeeded"].sum()
    assert np.isclose(events.loc[events["event"] == "cogs", "amount"].sum(),
                      d["cogs_amount"].sum())
    joined = events[(events["event"] == "acquired") & (events["channel"] == "group_buy")]
    assert len(joined) > 0 and set(joined["user"]) <= set(
        events.loc[events["event"] == "group_joined", "user"])


# --- bargains ------------------------------------------------------------------------------------


# --- distributors --------------------------------------------------------------------------------


def test_commission_is_rate_times_referees_orders() -> None:
    """Exactly: each distributor earns commission_l1 of every order placed by a user they
    referred, from the day they qualified. The referrer of each referred user is read from the
    log, where the referral mechanic records referred_join and referral_child row for row."""
    rate = 0.1
    sc = scenario(30_000, 40, founders={"type": "seed_users", "count": 8_000}, buy=BUY,
                  ref={"type": "referral", "share_after_order": 0.5},
                  dist={"type": "distributors", "min_spend": 50.0, "min_referrals": 1,
                        "check_every_days": 1, "commission_l1": rate})
    events, d = log_of(sc)
    joins = events[events["event"] == "referred_join"]
    parents = events[events["event"] == "referral_child"]
    assert (joins["day"].to_numpy() == parents["day"].to_numpy()).all()
    referrer = pd.Series(parents["user"].to_numpy(), index=joins["user"].to_numpy())
    since = events[events["event"] == "distributor_joined"].set_index("user")["day"]
    orders = events[events["event"] == "order"]
    orders = orders.assign(parent=orders["user"].map(referrer))
    orders = orders.assign(since=orders["parent"].map(since))
    paid = orders[orders["since"].notna() & (orders["day"] >= orders["since"])]
    expected = (rate * paid.groupby("parent")["amount"].sum()).sort_index()
    got = events[events["event"] == "commission"].groupby("user")["amount"].sum().sort_index()
    assert len(got) > 100
    assert np.array_equal(expected.index.to_numpy().astype(np.int64), got.index.to_numpy())
    assert np.allclose(expected.to_numpy(), got.to_numpy(), rtol=1e-12)
    assert np.isclose(d["distributor_sales_amount"].sum(), paid["amount"].sum())
    churned = set(events.loc[events["event"] == "churned", "user"])
    assert d["distributors"].iloc[-1] == len(set(since.index) - churned)  # alive ones


# --- bad input -----------------------------------------------------------------------------------


BAD = """\
name: t
days: 30
market:
  size: 1000
mechanics:
  gb:
    type: group_buy
    group_size: 2
    window_hours: 24
  dist:
    type: distributors
    entry_fee: 0
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in caught.value.problems]


def test_bad_parameters_are_located() -> None:
    text = (BAD.replace("group_size: 2", "group_size: 1").replace("window_hours: 24",
                                                                  "window_hours: 0")
            .replace("entry_fee: 0", "entry_fee: -5"))
    assert problems(text) == [
        "s.yaml:8: mechanics.gb.group_size: Input should be greater than or equal to 2",
        "s.yaml:9: mechanics.gb.window_hours: Input should be greater than 0",
        "s.yaml:12: mechanics.dist.entry_fee: Input should be greater than or equal to 0",
    ]


def test_bargain_floor_must_be_below_value() -> None:
    text = BAD + "  cut:\n    type: bargain\n    item_value: 10\n    floor_price: 10\n"
    (msg,) = problems(text)
    assert msg.startswith("s.yaml:13: mechanics.cut:") and "floor_price (10)" in msg


# --- compliance ----------------------------------------------------------------------------------


PLAN = """\
name: t
days: 30
market:
  size: 1000
mechanics:
  dist:
    type: distributors
    commission_l1: 0.1
  ref:
    type: referral
  cut:
    type: bargain
  gb:
    type: group_buy
"""


def findings(text: str) -> list[tuple[int | None, str, str]]:
    """(line, severity, rule id) of each finding."""
    found = check_compliance(parse_scenario(text, "s.yaml"))
    return [(p.line, p.severity, p.message.split("]")[0] + "]") for p in found]


def test_compliant_plan_has_no_findings() -> None:
    assert findings(PLAN) == []


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("commission_l1: 0.1\n", "commission_l1: 0.1\n    entry_fee: 99\n", (9, "error", "LAW-MLM")),
    ("commission_l1: 0.1\n", "commission_l1: 0.1\n    commission_l2: 0.05\n",
     (9, "warning", "LAW-MLM")),
    ("commission_l1: 0.1\n", "commission_l1: 0.1\n    commission_l3: 0.02\n",
     (9, "error", "LAW-MLM")),
    ("commission_l1: 0.1\n", "commission_l1: 0.35\n", (8, "warning", "LAW-MLM")),
    ("type: referral\n", "type: referral\n    reward_per_share: 1.0\n",
     (11, "warning", "WX-SHARE")),
    ("type: bargain\n", "type: bargain\n    disclose_helpers: false\n",
     (13, "warning", "WX-SHARE")),
    ("type: bargain\n", "type: bargain\n    random_cut: true\n", (13, "warning", "WX-SHARE")),
    ("type: group_buy\n", "type: group_buy\n    simulated_fill: true\n",
     (15, "warning", "WX-EXTLINK")),
])
def test_each_rule_is_found_at_its_line(old: str, new: str,
                                        expected: tuple[int, str, str]) -> None:
    assert PLAN.count(old) == 1
    line, severity, rule = expected
    assert findings(PLAN.replace(old, new)) == [(line, severity, f"[{rule}]")]


def test_arm_settings_are_checked_at_the_set_line() -> None:
    arms = ("experiment:\n  arms:\n    - name: a\n      share: 0.5\n    - name: b\n"
            "      share: 0.5\n      set:\n        mechanics.dist.commission_l2: 0.25\n")
    found = check_compliance(parse_scenario(PLAN + arms, "s.yaml"))
    assert [(p.line, p.severity, p.path) for p in found] == [
        (22, "warning", "experiment.arms.1.set.mechanics.dist.commission_l2"),  # 2 levels
        (22, "warning", "experiment.arms.1.set.mechanics.dist.commission_l2"),  # 35% > 30%
    ]
    assert "[LAW-MLM] 2 paid" in found[0].message and "35%" in found[1].message
