"""Every valid combination of mechanics runs: hypothesis draws subsets of the mechanics of the
whole playbook (`everything_on`), keeps those the scenario check accepts (a mechanic may need
another, e.g. inventory a catalogue), and runs each small market. It must complete; conserve
users (acquired = alive + churned, every acquisition logged once) and money (no order loses
more to discounts and refunds than it was worth; the ledger's totals are its lines); give every
metric a finite value or NaN only where the definition says it is not applicable (a ratio over
an empty denominator); and give unit economics without a crash.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sim.aggregation import collect, daily_table
from sim.engine import simulate
from sim.errors import InputError
from sim.events import event_table
from sim.metrics import LEDGER, METRICS
from sim.planning import layout_of
from sim.scenario import validate_scenario
from tests.validation.markets import everything_on

WHOLE = everything_on(size=1500, days=40, experiment=False)
NAMES = sorted(WHOLE.mechanics)
OFF_ORDER = ("coupon", "gift", "referral_reward", "tier_discount", "paid_discount",
             "community_discount", "points_redeemed", "live_discount", "refund")


def subset(names: list[str]):
    data = WHOLE.model_dump(mode="python", exclude_none=True)
    data["mechanics"] = {n: data["mechanics"][n] for n in names}
    try:
        return validate_scenario(data, "<combination>")
    except InputError:
        return None


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True))
@example(["organic", "ads"])  # no mechanic that sells: no orders, no LTV (once a crash)
@example(NAMES)
def test_any_valid_combination_runs_and_conserves(names: list[str]) -> None:
    sc = subset(names)
    assume(sc is not None)
    counters = simulate(sc, log_events=True)
    result = collect(sc, {0: counters})
    d, m = daily_table(counters), result.metrics
    events = event_table(counters, layout_of(sc))

    # users: acquired = alive + churned, one acquisition each
    acquired = events[events["event"] == "acquired"]
    assert acquired["user"].is_unique
    assert m["acquired_users"].iloc[-1] == len(acquired) <= sc.market.size
    assert len(acquired) == d["alive_users"].iloc[-1] + d["churned"].sum()

    # money: per user-day, discounts and refunds never exceed what was ordered
    key = ["user", "day"]
    ordered = events[events["event"] == "order"].groupby(key)["amount"].sum()
    off = events[events["event"].isin(OFF_ORDER)].groupby(key)["amount"].sum()
    assert (off <= ordered.reindex(off.index, fill_value=0.0) + 1e-6).all()
    if "contribution" in m:
        lines = sum((-1 if role == "relative" else 1) * m[name].sum()
                    for name, role in LEDGER
                    if role in ("absolute", "relative", "income") and name in m)
        assert math.isclose(m["contribution"].sum(), lines, rel_tol=1e-9, abs_tol=1e-6)

    # every metric finite, or NaN where a ratio's denominator is zero
    for name in result.metric_names:
        values = m[name].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if METRICS[name].kind == "ratio":
            den = m[METRICS[name].denominator].to_numpy(dtype=float)
            assert np.all(den[bad] == 0), name
        else:
            assert not bad.any(), name
    economics = result.unit_economics()
    assert len(economics) >= 1
    assert np.all(np.isfinite(economics.select_dtypes("number").to_numpy()) | np.isnan(
        economics.select_dtypes("number").to_numpy()))
