"""The event log reproduces the engine: the same metric definitions applied to the per-user
event table give exactly the daily metrics, channel views and unit economics of the run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.aggregation import collect, daily_table
from sim.engine import simulate
from sim.events import counters_from_events, event_table
from sim.metrics import daily_metrics, unit_economics
from sim.planning import channel_events, layout_of, user_events
from sim.scenario import load_scenario
from tests.conftest import ROOT


def cold_start(size: int = 4000):
    return load_scenario(ROOT / "scenarios" / "cold_start.yaml", [f"market.size={size}",
                                                                   "days=120",
                                                                   "mechanics.ads.window.last_day=60"])


def test_event_log_gives_the_engine_metrics_exactly() -> None:
    scenario = cold_start()
    layout = layout_of(scenario)
    engine = simulate(scenario, log_events=True)
    events = event_table(engine, layout)
    rebuilt = counters_from_events(events, layout, scenario.days,
                                   scenario.mechanics["activity"].dormant_after_days,
                                   user_events(scenario), channel_events(scenario))
    ours = daily_metrics(daily_table(engine))
    theirs = daily_metrics(daily_table(rebuilt))
    assert set(ours.columns) == set(theirs.columns)
    pd.testing.assert_frame_equal(ours, theirs[ours.columns], check_exact=False, rtol=1e-12,
                                  atol=1e-9)
    # the channel views too (channel costs come from the user -1 rows)
    a = collect(scenario, {0: engine}).channel_metrics
    b = collect(scenario, {0: rebuilt}).channel_metrics
    pd.testing.assert_frame_equal(a, b[a.columns], check_exact=False, rtol=1e-12, atol=1e-9)


def test_event_log_gives_the_same_unit_economics() -> None:
    scenario = cold_start()
    layout = layout_of(scenario)
    engine = simulate(scenario, log_events=True)
    rebuilt = counters_from_events(event_table(engine, layout), layout, scenario.days)
    for channel in (None, layout.channel_id("ads"), layout.channel_id("organic")):
        ours = unit_economics(engine.cohort_counts, engine.cohort_amounts, 100.0, 40.0, 120,
                              channel)
        theirs = unit_economics(rebuilt.cohort_counts, rebuilt.cohort_amounts, 100.0, 40.0, 120,
                                channel)
        for key, value in ours.items():
            assert np.isclose(value, theirs[key], rtol=1e-12, equal_nan=True), (channel, key)
    assert np.array_equal(engine.cohort_active, rebuilt.cohort_active)


def test_event_table_columns_and_one_acquisition_per_user() -> None:
    scenario = cold_start(2000)
    events = event_table(simulate(scenario, log_events=True), layout_of(scenario))
    assert list(events.columns) == ["user", "day", "event", "amount", "channel", "campaign",
                                    "arm", "persona"]
    joined = events[events["event"] == "acquired"]
    assert joined["user"].is_unique
    assert set(events.loc[events["user"] < 0, "event"]) <= {"ad_spend", "kol_spend",
                                                            "impressions", "clicks"}
