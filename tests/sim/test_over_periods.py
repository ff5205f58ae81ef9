"""A metric over a period has one definition (`over_periods`): a whole run's value
(`over_horizon`) is its one period, and any period's value is the whole-run value of that
period's days (for a metric without maturing windows: a run leaves those out at its end).
The whole-run value stays bit-identical to pandas' sums (the golden metrics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.metrics import METRICS, over_horizon, over_periods

FLOW, STOCK, RATIO, MATURING = "purchases", "alive_users", "aov", "repurchase_rate_30d"


def _frame(seed: int, days: int) -> pd.DataFrame:
    """Random daily parts of the four metrics, zero days and missing days included."""
    rng = np.random.default_rng(seed)
    names = {FLOW, STOCK, *(getattr(METRICS[n], p) for n in (RATIO, MATURING)
                            for p in ("numerator", "denominator"))}
    frame = pd.DataFrame({n: rng.lognormal(2, 1.5, days) * (rng.random(days) > 0.2)
                          for n in sorted(names)})
    frame.iloc[rng.integers(0, days, 4), rng.integers(0, len(names))] = np.nan
    return frame


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("seed", range(5))
def test_a_whole_run_is_pandas_sums_to_the_bit(seed: int) -> None:
    daily = _frame(seed, 200 + 37 * seed)
    assert over_horizon(FLOW, daily) == float(daily[FLOW].sum())
    assert over_horizon(STOCK, daily) == float(daily[STOCK].iloc[-1])
    ratio = METRICS[RATIO]
    assert over_horizon(RATIO, daily) == float(daily[ratio.numerator].sum()
                                               / daily[ratio.denominator].sum())
    maturing, kept = METRICS[MATURING], daily.iloc[:-METRICS[MATURING].mature_after]
    assert over_horizon(MATURING, daily) == float(kept[maturing.numerator].sum()
                                                  / kept[maturing.denominator].sum())


@pytest.mark.parametrize("name", [FLOW, STOCK, RATIO])
def test_each_period_is_the_whole_run_value_of_its_days(name: str) -> None:
    daily = _frame(7, 90)
    bounds = [(0, 7), (7, 14), (3, 61), (85, 90), (40, 41)]
    values = over_periods(name, daily, bounds)
    for (first, end), value in zip(bounds, values, strict=True):
        assert _same(value, over_horizon(name, daily.iloc[first:end]))


def test_an_empty_period_and_a_zero_denominator() -> None:
    daily = _frame(1, 30)
    daily[METRICS[RATIO].denominator] = 0.0
    assert math.isnan(over_periods(RATIO, daily, [(0, 30)])[0])
    assert math.isnan(over_periods(STOCK, daily, [(5, 5)])[0])
    assert over_periods(FLOW, daily, [(5, 5)])[0] == 0.0
