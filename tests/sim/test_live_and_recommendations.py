"""Live streams and recommendations do what they say: streams fall exactly on the scheduled
weekdays, audiences and sales are binomial in their sources (fixed seeds, tolerances of a few
binomial standard errors), live-only group buys open only among the day's viewers, the
recommendation lift grows with history from a cold-start floor, and bad input is located."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.errors import InputError
from sim.mechanics.recommendations import lift
from sim.scenario import Scenario, parse_scenario
from tests.conftest import logged, mechanics_scenario, of, within

Z = 4.0
NO_HABIT = {"return_prob": 0.0}
OA_ONLY = {"habit": NO_HABIT, "home_page_prob": 0.0, "community_prob": 0.0,
           "official_account": {"follower_share": 0.5, "reach": 0.4, "watch_prob": 0.5},
           "share_prob": 0.0}


def scenario(size: int, days: int, seed: int = 5, **mechanics: dict[str, Any]) -> Scenario:
    return mechanics_scenario(size, days, seed, **mechanics)


def live(**fields: Any) -> dict[str, Any]:
    return {"type": "live_stream", "slots": [{"weekday": "monday", "hour": 20}], **OA_ONLY,
            **fields}


# --- schedule ------------------------------------------------------------------------------------


def test_streams_fall_exactly_on_the_scheduled_weekdays() -> None:
    """Day 0 is a Friday: Wednesday streams are on days 5, 12, ...; Saturday noon and evening
    streams on days 1, 8, ..., the noon one first; each stream books its production cost."""
    n, days = 2000, 40
    slots = [{"weekday": "wednesday", "hour": 20}, {"weekday": "saturday", "hour": 19},
             {"weekday": "saturday", "hour": 12}]
    sc = scenario(n, days, founders={"type": "seed_users", "count": n},
                  live=live(day0_weekday="friday", slots=slots, cost_per_stream=300.0))
    events, d, extras = logged(sc)
    wednesdays = list(range(5, days, 7))
    saturdays = list(range(1, days, 7))
    assert sorted(set(of(events, "live_view")["day"])) == sorted(wednesdays + saturdays)
    expected = sorted([(w, 0) for w in wednesdays] + [(s, 2) for s in saturdays]
                      + [(s, 1) for s in saturdays], key=lambda x: (x[0], x[1] != 2))
    got = list(zip(extras["live.stream_day"].astype(int), extras["live.stream_slot"].astype(int),
                   strict=True))
    assert got == expected
    assert np.isclose(d["live_production"].sum(), 300.0 * len(expected))
    assert (d.loc[d["live_production"] > 0].index == sorted(wednesdays + saturdays)).all()


def test_no_stream_outside_the_window() -> None:
    sc = scenario(500, 30, founders={"type": "seed_users", "count": 500},
                  live=live(window={"first_day": 8, "last_day": 20}))
    events, _, extras = logged(sc)
    assert list(extras["live.stream_day"]) == [14.0]
    assert set(of(events, "live_view")["day"]) == {14}


# --- audience and sales --------------------------------------------------------------------------


def test_official_account_viewers_buyers_flash_sales_and_returns_are_binomial() -> None:
    """Followers Binomial(N, 0.5) get the push; viewers Binomial(N, 0.5 x 0.4 x 0.5) per
    stream; buyers Binomial(viewers, 0.25); flash sales and returns Binomial(buyers, 0.3);
    refunds return what was paid; cost of goods is 0.6 x the value of orders kept."""
    n = 40_000
    sc = scenario(n, 15, founders={"type": "seed_users", "count": n},
                  live=live(viewer_to_buyer=0.25, flash_sale_share=0.3, flash_discount=0.2,
                            return_rate=0.3, cogs_ratio=0.6,
                            order_value={"shape": 2.0, "scale": 50.0}))
    events, d, _ = logged(sc)
    views = of(events, "live_view")
    assert sorted(set(views["day"])) == [0, 7, 14]
    assert within(len(of(events, "live_promo")), 3 * n, 0.5)
    assert within(len(views), 3 * n, 0.1)
    assert not views.duplicated(["user", "day"]).any()
    orders = of(events, "live_order")
    assert within(len(orders), len(views), 0.25)
    assert len(of(events, "order")) == len(orders) == d["order"].sum()
    assert set(zip(orders["user"], orders["day"], strict=True)) <= set(
        zip(views["user"], views["day"], strict=True))
    value_sd = math.sqrt(2.0) * 50.0
    assert abs(orders["amount"].mean() - 100.0) <= Z * value_sd / math.sqrt(len(orders))
    flash = of(events, "live_discount").merge(orders, on=["user", "day"], suffixes=("", "_o"))
    assert within(len(flash), len(orders), 0.3)
    assert np.allclose(flash["amount"], 0.2 * flash["amount_o"])
    refunds = of(events, "refund").merge(orders, on=["user", "day"], suffixes=("", "_o"))
    assert within(len(refunds), len(orders), 0.3)
    discount = flash.set_index(["user", "day"])["amount"]
    paid = refunds.set_index(["user", "day"])["amount_o"] - discount.reindex(
        refunds.set_index(["user", "day"]).index, fill_value=0.0)
    assert np.allclose(refunds.set_index(["user", "day"])["amount"], paid)
    kept = orders["amount"].sum() - refunds["amount_o"].sum()
    assert np.isclose(d["cogs_amount"].sum(), 0.6 * kept)


def test_habit_brings_past_viewers_back_with_decay() -> None:
    """Stream 1's habit draws are Binomial(viewers of stream 0, 0.5); at stream 2, viewers of
    stream 1 return with 0.5 and those last seen at stream 0 with 0.5 x 0.5."""
    n = 40_000
    sc = scenario(n, 15, founders={"type": "seed_users", "count": n},
                  live=live(habit={"return_prob": 0.5, "decay": 0.5}))
    events, _, extras = logged(sc)
    views = of(events, "live_view")
    v0 = set(views[views["day"] == 0]["user"])
    v1 = set(views[views["day"] == 7]["user"])
    habit = extras["live.stream_habit"]
    assert habit[0] == 0 and within(habit[1], len(v0), 0.5)
    only_v0 = len(v0 - v1)
    mean = 0.5 * len(v1) + 0.25 * only_v0
    sd = math.sqrt(0.25 * len(v1) + 0.1875 * only_v0)
    assert abs(habit[2] - mean) <= Z * sd


def test_home_page_viewers_are_a_share_of_the_days_openers() -> None:
    """Home page only: viewers are among the day's opens and Binomial(opens, 0.3)."""
    n = 20_000
    sc = scenario(n, 22, founders={"type": "seed_users", "count": n},
                  act={"type": "activity", "open_prob": 0.3},
                  live=live(home_page_prob=0.3, official_account={"reach": 0.0}))
    events, _, _ = logged(sc)
    opens = of(events, "open")
    views = of(events, "live_view")
    for day in (7, 14, 21):
        seen = set(views[views["day"] == day]["user"])
        opened = set(opens[opens["day"] == day]["user"])
        assert seen <= opened
        assert within(len(seen), len(opened), 0.3), day


def test_watching_is_an_open() -> None:
    """Official-account viewers who had no open scheduled open on the stream day."""
    n = 10_000
    sc = scenario(n, 10, founders={"type": "seed_users", "count": n},
                  act={"type": "activity", "open_prob": 0.0, "floor": 0.0},
                  live=live())
    events, _, _ = logged(sc)
    views = of(events, "live_view")
    opens = of(events, "open")
    stream7 = set(views[views["day"] == 7]["user"])
    assert len(stream7) > 100 and stream7 == set(opens[opens["day"] == 7]["user"])


def test_sharing_brings_new_users_on_the_live_channel_on_stream_days() -> None:
    n = 30_000
    sc = scenario(n, 15, founders={"type": "seed_users", "count": 5000},
                  live=live(share_prob=0.5, invite_conversion=1.0))
    events, _, _ = logged(sc)
    views, shares = of(events, "live_view"), of(events, "live_share")
    assert within(len(shares), len(views), 0.5)
    joined = of(events, "acquired")
    via_live = joined[joined["channel"] == "live_stream"]
    assert len(via_live) > 100 and set(via_live["day"]) <= {0, 7, 14}
    assert len(of(events, "live_invite")) >= len(via_live)


def test_live_only_group_buys_open_only_among_the_days_viewers() -> None:
    n = 20_000
    sc = scenario(n, 22, founders={"type": "seed_users", "count": n},
                  live=live(),
                  gb={"type": "group_buy", "live_only": True, "open_prob": 0.5,
                      "friend_join_prob": 0.0, "public_join_rate": 0.0})
    events, _, _ = logged(sc)
    views, opened = of(events, "live_view"), of(events, "group_opened")
    assert set(opened["day"]) == {0, 7, 14, 21}
    for day in (0, 7, 14, 21):
        seen = set(views[views["day"] == day]["user"])
        openers = opened[opened["day"] == day]["user"]
        assert set(openers) <= seen and within(len(openers), len(seen), 0.5), day


# --- recommendations ----------------------------------------------------------------------------


def test_lift_rises_with_history_from_the_cold_floor_to_the_maximum() -> None:
    history = np.arange(0, 12, 0.5)
    lifted = lift(history, 0.3, 4.0, 0.02)
    assert lifted[0] == 0.02 and lifted.max() == pytest.approx(0.3)
    assert (np.diff(lifted) >= 0).all() and np.isclose(lift(np.array([2.0]), 0.3, 4.0, 0.02), 0.15)
    assert (lifted[history >= 4] == pytest.approx(0.3))


STEADY = {"type": "purchase_dropout", "purchase_rate": {"r": 1e6, "alpha": 5e7},
          "dropout": {"a": 1.0, "b": 1e9},
          "order_value": {"model": "gamma", "shape": 2.0, "scale": 30.0}}  # p = 0.02 a day


@pytest.mark.parametrize("refused", [0.0, 1.0])
def test_cold_users_buy_at_the_floor_and_known_users_at_the_full_lift(refused: float) -> None:
    """Daily purchase probability 0.02; cold lift 0.5 -> 0.03 until the first order; after it
    (warm_up 1 order) 0.02 x 2.5 = 0.05, or still 0.03 for users who refuse personalisation.
    First orders are Binomial(N, 1 - 0.97^D); repeat orders Binomial(days at risk, p)."""
    n, days = 30_000, 30
    sc = scenario(n, days, founders={"type": "seed_users", "count": n}, buy=STEADY,
                  recs={"type": "recommendations", "max_lift": 1.5, "cold_lift": 0.5,
                        "warm_up_orders": 1.0, "non_personalized_share": refused})
    events, _, _ = logged(sc)
    orders = of(events, "order")
    first = orders.groupby("user")["day"].min()
    assert within(len(first), n, 1 - 0.97 ** days)
    at_risk = float((days - 1 - first).sum())
    warm = 0.03 if refused else 0.05
    assert within(len(orders) - len(first), at_risk, warm)
    warmed = of(events, "rec_warmed")
    assert len(warmed) == (0 if refused else len(first))


def test_recommender_fees_are_billed_every_30_days() -> None:
    n = 1000
    sc = scenario(n, 65, founders={"type": "seed_users", "count": n}, buy=STEADY,
                  recs={"type": "recommendations", "monthly_cost": 1000.0,
                        "cost_per_user_month": 0.01})
    d = daily_table(simulate(sc))
    billed = d["recommender_cost"]
    assert list(np.flatnonzero(billed.to_numpy())) == [0, 30, 60]
    alive_at_start = [0.0, d["alive_users"][29], d["alive_users"][59]]  # before the day's joins
    assert np.allclose(billed[[0, 30, 60]], 1000.0 + 0.01 * np.array(alive_at_start))


# --- located errors ------------------------------------------------------------------------------

LIVE_YAML = """\
name: t
days: 30
market:
  size: 100
mechanics:
  founders:
    type: seed_users
    count: 100
  live:
    type: live_stream
    slots:
      - {weekday: wednesday, hour: 20}
      - {weekday: friday, hour: 12}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in caught.value.problems]


def test_live_scenario_parses() -> None:
    assert len(parse_scenario(LIVE_YAML, "s.yaml").mechanics["live"].slots) == 2


@pytest.mark.parametrize("bad, where, words", [
    ("{weekday: wensday, hour: 20}", "s.yaml:12: mechanics.live.slots.0.weekday:", "wednesday"),
    ("{weekday: wednesday, hour: 24}", "s.yaml:12: mechanics.live.slots.0.hour:", "23"),
    ("{weekday: friday, hour: 12}", "s.yaml:11: mechanics.live.slots:", "friday 12:00"),
])
def test_bad_slots_are_located(bad: str, where: str, words: str) -> None:
    (msg,) = problems(LIVE_YAML.replace("{weekday: wednesday, hour: 20}", bad))
    assert msg.startswith(where) and words in msg


def test_bad_day0_weekday_is_located() -> None:
    (msg,) = problems(LIVE_YAML + "    day0_weekday: someday\n")
    assert msg.startswith("s.yaml:14: mechanics.live.day0_weekday:") and "monday" in msg


def test_live_only_group_buy_without_a_live_stream_is_located() -> None:
    text = LIVE_YAML.split("  live:")[0] + "  gb:\n    type: group_buy\n    live_only: true\n"
    (msg,) = problems(text)
    assert msg.startswith("s.yaml:11: mechanics.gb.live_only:") and "live_stream" in msg


def test_recommendations_need_a_purchase_mechanic_and_a_cold_lift_below_the_maximum() -> None:
    text = LIVE_YAML.split("  live:")[0] + "  recs:\n    type: recommendations\n"
    (msg,) = problems(text)
    assert msg.startswith("s.yaml:10: mechanics.recs.type:") and "purchase_dropout" in msg
    (msg,) = problems(text + "    max_lift: 0.1\n    cold_lift: 0.2\n")
    assert msg.startswith("s.yaml:9: mechanics.recs:") and "must not exceed max_lift" in msg


def test_opens_teach_the_recommender_one_order_per_opens_per_order() -> None:
    """No orders: with opens_per_order 3 and warm_up 1, a user is fully known on the day of
    their third open, exactly (from the log)."""
    n = 3000
    slow = {**STEADY, "purchase_rate": {"r": 1.0, "alpha": 1e12}}
    sc = scenario(n, 30, founders={"type": "seed_users", "count": n}, buy=slow,
                  act={"type": "activity", "open_prob": 0.5, "decay": 0.9},
                  recs={"type": "recommendations", "opens_per_order": 3, "warm_up_orders": 1.0,
                        "cold_lift": 0.0, "non_personalized_share": 0.0})
    events, _, _ = logged(sc)
    opens = of(events, "open").sort_values(["user", "day"])
    third = opens[opens.groupby("user").cumcount() == 2]
    warmed = of(events, "rec_warmed")
    assert len(warmed) > 500
    assert set(zip(warmed["user"], warmed["day"], strict=True)) == set(
        zip(third["user"], third["day"], strict=True))
