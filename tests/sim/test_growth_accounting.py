"""Growth accounting: a hand-built case with a known answer, the accounting identities on a real
run (per period and per channel), an independent recount from the event log, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.errors import InputError
from sim.events import event_table
from sim.growth_accounting import COLUMNS, EVENTS, GrowthAccounting, GrowthAccountingParams
from sim.metrics import daily_metrics
from sim.planning import columns_and_scratch, layout_of
from sim.population import Layout, Population
from sim.recorder import Recorder
from sim.scenario import load_scenario, parse_scenario
from tests.conftest import ROOT

USER_BUCKETS = ("ga_new_users", "ga_retained_users", "ga_resurrected_users")


def _tiny(period_days: int, orders: dict[int, list[tuple[int, float]]], days: int,
          ) -> dict[str, np.ndarray]:
    """Run the accounting alone over scripted orders {day: [(user, value), ...]}; returns each
    event's (count, amount) per day."""
    layout = Layout(("all",), ("everyone",), ("none", "seed"))
    pop = Population(layout, np.zeros(4, np.int8), np.zeros(4, np.int8), dict(COLUMNS))
    recorder = Recorder(layout, pop, days, list(EVENTS), [], [])
    accounting = GrowthAccounting(GrowthAccountingParams(period_days=period_days), pop, recorder)
    for day in range(days):
        pop.begin_day()
        for user, value in orders.get(day, []):  # one emit per order, as two mechanics would
            pop.emit_values("ordered", np.array([user]), np.array([value]))
        accounting.record_day(day)
    counters = recorder.finish()
    out = {}
    for name in EVENTS:
        out[name] = counters.counts[name].sum(axis=1)
        out[f"{name}_amount"] = counters.amounts[name].sum(axis=1)
    return out


def test_hand_built_case_has_the_known_answer() -> None:
    # periods of 2 days: [0, 1], [2, 3], [4, 5]; day 6 starts a period that never completes
    orders = {
        0: [(0, 10.0)], 1: [(0, 5.0), (1, 20.0)],  # period 0: u0 15, u1 20 (both new)
        2: [(0, 10.0)], 3: [(2, 7.0)],  # period 1: u0 10 (retained, -5), u2 new, u1 churned
        4: [(1, 30.0)], 5: [(0, 12.0), (0, 12.0)],  # period 2: u1 resurrected, u0 24 (+14),
        6: [(3, 99.0)],  # u2 churned; u3's order is in the incomplete period: not accounted
    }
    r = _tiny(2, orders, 7)
    assert list(np.flatnonzero(r["ga_active"])) == [1, 3, 5]  # period ends only
    expected = {  # day: (active, new, retained, resurrected, churned)
        1: (2, 2, 0, 0, 0), 3: (2, 1, 1, 0, 1), 5: (2, 0, 1, 1, 1)}
    for day, counts in expected.items():
        got = tuple(r[e][day] for e in ("ga_active", "ga_new", "ga_retained", "ga_resurrected",
                                        "ga_churned"))
        assert got == counts, day
    money = {  # day: (revenue, new, retained, expansion, contraction, resurrected, churned)
        1: (35, 35, 0, 0, 0, 0, 0), 3: (17, 7, 10, 0, 5, 0, 20), 5: (54, 0, 10, 14, 0, 30, 7)}
    for day, amounts in money.items():
        got = tuple(r[f"{e}_amount"][day] for e in (
            "ga_active", "ga_new", "ga_retained", "ga_expansion", "ga_contraction",
            "ga_resurrected", "ga_churned"))
        assert got == pytest.approx(amounts), day
    assert r["ga_active"][6] == 0
    # gains the quick ratio sets against churn: none in period 0, which cannot churn; over the
    # horizon (1 + 1) / (1 + 1) = 1, where counting period 0's two new buyers read 2
    assert [r["ga_gained"][d] for d in (1, 3, 5)] == [0, 1, 1]
    assert [r["ga_gained_amount"][d] for d in (1, 3, 5)] == [0, 7, 30]


@pytest.fixture(scope="module")
def cold_start() -> tuple:
    scenario = load_scenario(ROOT / "scenarios" / "cold_start.yaml",
                             ["market.size=4000", "days=120",
                              "growth_accounting.period_days=7"])
    counters = simulate(scenario, 0, log_events=True)
    return scenario, counters


def _periods(frame: pd.DataFrame, period: int) -> pd.DataFrame:
    """Daily metrics on the last day of each complete period, plus each period's GMV."""
    ends = np.arange(period - 1, len(frame), period)
    out = frame.iloc[ends].reset_index(drop=True)
    out["period_gmv"] = frame["gmv"].groupby(np.arange(len(frame)) // period).sum().iloc[
        : len(ends)].to_numpy()
    return out


def _check_identities(p: pd.DataFrame) -> None:
    active = p["ga_active_users"].to_numpy()
    assert np.array_equal(active, p[list(USER_BUCKETS)].sum(axis=1).to_numpy())
    assert np.array_equal((p["ga_retained_users"] + p["ga_churned_users"]).to_numpy()[1:],
                          active[:-1])
    assert p["ga_churned_users"].iloc[0] == 0 and p["ga_retained_users"].iloc[0] == 0
    revenue = p["ga_revenue"].to_numpy()
    inflow = p[["ga_new_revenue", "ga_retained_revenue", "ga_expansion_revenue",
                "ga_resurrected_revenue"]].sum(axis=1).to_numpy()
    assert inflow == pytest.approx(revenue, rel=1e-9, abs=1e-6)
    outflow = p[["ga_retained_revenue", "ga_contraction_revenue",
                 "ga_churned_revenue"]].sum(axis=1).to_numpy()
    assert outflow[1:] == pytest.approx(revenue[:-1], rel=1e-9, abs=1e-6)
    # active revenue is the list value of the period's orders: the GMV of its days
    assert revenue == pytest.approx(p["period_gmv"].to_numpy(), rel=1e-9, abs=1e-6)


def test_identities_hold_per_period_for_the_market_and_each_channel(cold_start: tuple) -> None:
    scenario, counters = cold_start
    whole = _periods(daily_metrics(daily_table(counters)), 7)
    assert whole["ga_retained_users"].sum() > 0 and whole["ga_resurrected_users"].sum() > 0
    assert whole["ga_churned_users"].sum() > 0 and whole["ga_expansion_revenue"].sum() > 0
    _check_identities(whole)
    layout = layout_of(scenario)
    for k in range(1, len(layout.channels)):
        cells = np.flatnonzero(layout.cell_channel() == k)
        _check_identities(_periods(daily_metrics(daily_table(counters, cells, np.array([k]))),
                                   7))


def test_event_log_recount_agrees(cold_start: tuple) -> None:
    """An independent pandas recount of the buckets from the logged orders."""
    scenario, counters = cold_start
    log = event_table(counters, layout_of(scenario))
    orders = log[log["event"] == "order"].assign(period=lambda f: f["day"] // 7)
    complete = scenario.days // 7
    revenue = orders[orders["period"] < complete].groupby(["user", "period"])["amount"].sum()
    table = revenue.unstack(fill_value=np.nan).reindex(columns=range(complete))
    active = table.notna().to_numpy()
    values = table.fillna(0).to_numpy()
    ever = np.cumsum(active, axis=1) - active > 0  # ordered in an earlier period
    ga = daily_metrics(daily_table(counters)).iloc[np.arange(complete) * 7 + 6]
    for t in range(complete):
        before = active[:, t - 1] if t else np.zeros(len(active), bool)
        now = active[:, t]
        retained = now & before
        assert ga["ga_new_users"].iloc[t] == (now & ~ever[:, t]).sum()
        assert ga["ga_retained_users"].iloc[t] == retained.sum()
        assert ga["ga_resurrected_users"].iloc[t] == (now & ever[:, t] & ~before).sum()
        assert ga["ga_churned_users"].iloc[t] == (before & ~now).sum()
        gained = (now & ~ever[:, t]).sum() + (now & ever[:, t] & ~before).sum()
        assert ga["ga_later_gained_users"].iloc[t] == (gained if t else 0)
        if t:
            grew = np.maximum(values[:, t] - values[:, t - 1], 0)[retained].sum()
            assert ga["ga_expansion_revenue"].iloc[t] == pytest.approx(grew, abs=1e-6)


def test_a_horizon_quick_ratio_sets_gains_against_the_periods_that_can_churn(
        cold_start: tuple) -> None:
    """The first period has no period before it, so no churn: a horizon ratio that counted its
    gains set one period more of gains than of losses (scale.yaml read 1.065, growing, where
    the periods that can churn give 0.952)."""
    from sim.metrics import horizon_values

    _, counters = cold_start
    daily = daily_metrics(daily_table(counters))
    p = _periods(daily, 7)
    later = p.iloc[1:]
    assert p["ga_later_gained_users"].iloc[0] == 0
    assert np.array_equal(later["ga_later_gained_users"], later["ga_gained_users"])
    ratio = horizon_values(daily)
    assert ratio["ga_quick_ratio"] == pytest.approx(
        later["ga_gained_users"].sum() / p["ga_churned_users"].sum(), rel=1e-12)
    gained = later[["ga_new_revenue", "ga_resurrected_revenue", "ga_expansion_revenue"]]
    lost = p[["ga_churned_revenue", "ga_contraction_revenue"]]
    assert ratio["ga_revenue_quick_ratio"] == pytest.approx(
        gained.to_numpy().sum() / lost.to_numpy().sum(), rel=1e-9)


def test_growth_accounting_columns_are_in_the_memory_estimate(cold_start: tuple) -> None:
    scenario, _ = cold_start
    columns, _ = columns_and_scratch(scenario)
    assert {"ga_flags", "ga_revenue_even", "ga_revenue_odd"} <= set(columns)


def test_bad_period_is_a_located_error() -> None:
    text = ("name: t\ndays: 30\nmarket:\n  size: 100\nmechanics: {}\n"
            "growth_accounting:\n  period_days: 0\n")
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml")
    (message,) = [str(p) for p in caught.value.problems]
    assert message.startswith("s.yaml:7: growth_accounting.period_days:")
