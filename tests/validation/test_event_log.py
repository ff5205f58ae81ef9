"""Every metric from the event log, with every mechanic of the playbook on.

Two kinds of rebuild, by day, channel and arm:
- the log aggregated into counters (`sim.events.counters_from_events`) and run through the same
  metric definitions gives every metric the engine gave, except those computed from a level a
  mechanic records at the end of each day (segment sizes, tier counts, members, ...), which
  have no event (docs/metrics.md says so for each);
- the derived events are rebuilt from the primary ones by hand, so an event recorded on the
  wrong day, or an order path that forgets one, fails: first orders and 30-day repurchases
  from the order rows of every path (checkout, group buys, bargains, live streams), referred
  users from the acquisitions on the referral channel on the very day, and K-factor and viral
  cycle time from the referrers' ages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.aggregation import Result, collect
from sim.engine import simulate
from sim.events import REBUILT_STOCKS, counters_from_events, event_table
from sim.metrics import COHORT_METRICS, METRICS, counter_columns, unit_economics
from sim.orders import REPURCHASE_DAYS
from sim.planning import channel_events, layout_of, user_events
from tests.validation.markets import everything_on

VIEWS = {"metrics": ["day"], "arm_metrics": ["arm", "day"], "channel_metrics": ["channel", "day"]}


@pytest.fixture(scope="module", params=[True, False], ids=["funnel", "no_funnel"])
def logged(request: pytest.FixtureRequest) -> dict[str, Any]:
    sc = everything_on(funnel=request.param)
    layout = layout_of(sc)
    counters = simulate(sc, log_events=True)
    events = event_table(counters, layout)
    rebuilt = counters_from_events(events, layout, sc.days,
                                   sc.mechanics["activity"].dormant_after_days,
                                   user_events(sc), channel_events(sc))
    return {"scenario": sc, "counters": counters, "events": events,
            "engine": collect(sc, {0: counters}), "rebuilt": collect(sc, {0: rebuilt})}


def recorded_levels(scenario: Any) -> set[str]:
    """Stocks recorded by mechanics, which no event carries."""
    from sim.mechanics import REGISTRY

    return {s for p in scenario.mechanics.values() for s in REGISTRY[p.type][1].stocks} - set(
        REBUILT_STOCKS)


def test_every_metric_equals_its_rebuild_from_the_log(logged: dict[str, Any]) -> None:
    engine, rebuilt = logged["engine"], logged["rebuilt"]
    levels = recorded_levels(logged["scenario"])
    checked = 0
    for view in VIEWS:
        ours, theirs = getattr(engine, view), getattr(rebuilt, view)
        for name in ours.columns:
            if name not in METRICS:
                continue
            if counter_columns(name) & levels:
                assert name not in theirs.columns, name  # no event: not rebuilt
                continue
            np.testing.assert_allclose(theirs[name].to_numpy(), ours[name].to_numpy(),
                                       rtol=1e-9, atol=1e-6, err_msg=f"{view}: {name}")
            checked += 1
    assert checked > 300  # over a hundred metrics in three views


def _by(frame: pd.DataFrame, keys: list[str], days: int) -> pd.Series:
    """Rows counted by keys (ending with day), every day present."""
    counts = frame.groupby(keys).size()
    if len(keys) == 1:
        return counts.reindex(range(days), fill_value=0)
    full = pd.MultiIndex.from_product([sorted(frame[keys[0]].unique()), range(days)],
                                      names=keys)
    return counts.reindex(full, fill_value=0)


def _compare(engine: Result, rows: pd.DataFrame, metric: str, days: int) -> None:
    """Rows (one per counted thing, with day, arm and channel) against a metric in every view."""
    for view, keys in VIEWS.items():
        table = getattr(engine, view).set_index(keys)[metric]
        expected = _by(rows, keys, days)
        got = table.reindex(expected.index, fill_value=0.0)
        assert np.array_equal(got.to_numpy(), expected.to_numpy()), (view, metric)


def test_order_metrics_from_the_order_rows_of_every_path(logged: dict[str, Any]) -> None:
    events, engine, days = logged["events"], logged["engine"], logged["scenario"].days
    orders = events[events["event"] == "order"].sort_values("day", kind="stable")
    paths = {e for e in ("group_order", "live_order", "bargain_completed")
             if (events["event"] == e).any()}
    assert {"group_order", "live_order"} <= paths  # orders came from other paths too
    _compare(engine, orders, "purchases", days)
    first = orders.drop_duplicates("user")
    _compare(engine, first, "first_purchases", days)
    second = orders[orders.duplicated("user")].drop_duplicates("user")
    gap = second.set_index("user")["day"] - first.set_index("user")["day"].reindex(
        second["user"])
    quick = first[first["user"].isin(gap[gap <= REPURCHASE_DAYS].index)]
    assert len(quick) > 100
    _compare(engine, quick, "repurchases_30d", days)


def test_referral_rows_fall_on_the_referee_join_day(logged: dict[str, Any]) -> None:
    events, engine, days = logged["events"], logged["engine"], logged["scenario"].days
    joins = events[events["event"] == "referred_join"]
    acquired = events[events["event"] == "acquired"].set_index("user")
    assert len(joins) > 100
    assert (acquired.loc[joins["user"], "day"].to_numpy() == joins["day"].to_numpy()).all()
    by_channel = acquired[acquired["channel"] == "referral"].reset_index()
    _compare(engine, by_channel, "referred_users", days)
    children = events[events["event"] == "referral_child"]
    assert np.array_equal(_by(children, ["day"], days), _by(joins, ["day"], days))


def test_k_factor_and_cycle_time_from_the_referrers_ages(logged: dict[str, Any]) -> None:
    """The referrer's age when each referee joined: the referee's acquisition day (not the day
    the child was recorded) minus the referrer's. referral_child rows pair with referred_join
    rows one for one, in order (the referrer, and the referee)."""
    events, sc, counters = logged["events"], logged["scenario"], logged["counters"]
    acquired = events[events["event"] == "acquired"].set_index("user")["day"]
    referees = events[events["event"] == "referred_join"]["user"].to_numpy()
    referrers = events[events["event"] == "referral_child"]["user"].to_numpy()
    joined = acquired.loc[referees].to_numpy()
    age = joined - acquired.loc[referrers].to_numpy()
    ours = unit_economics(counters.cohort_counts, counters.cohort_amounts, 0.0, 0.0, sc.days)
    assert set(ours) == set(COHORT_METRICS)  # every number is defined in docs/metrics.md
    assert ours["viral_cycle_days"] == pytest.approx(age.mean(), rel=1e-12)
    mature = acquired[(acquired // 7) * 7 + 6 + 30 <= sc.days]  # whole weeks 30 days old
    young = np.isin(referrers, mature.index) & (age < 30)
    assert ours["k_factor_30d"] == pytest.approx(young.sum() / len(mature), rel=1e-12)


def test_ltv_margin_is_the_gross_margin_metric(logged: dict[str, Any]) -> None:
    """LTV's margin basis is the gross_margin metric's own definition applied by cohort: over
    a horizon shorter than the cohort tables, the cohort margin of every user adds up to the
    metric's total (no line of it, such as bargain costs or shipping, left in or out)."""
    from sim.metrics import cohort_margin
    from sim.recorder import COHORT_DAYS

    sc, counters, engine = logged["scenario"], logged["counters"], logged["engine"]
    assert sc.days <= COHORT_DAYS
    total = cohort_margin(counters.cohort_amounts).sum()
    assert total == pytest.approx(engine.metrics["gross_margin"].sum(), rel=1e-9)
    assert engine.metrics["bargain_cost"].sum() > 0 or engine.metrics["logistics_cost"].sum() > 0
