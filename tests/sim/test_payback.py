"""Payback days: the age from which LTV per new buyer covers CAC for good. The first age it
touched CAC was noise: a growth run read 0 days while its LTV/CAC was 0.65 at 30 and 90 days."""

from __future__ import annotations

import math

import numpy as np

from sim.metrics import cohort_mean as _cohort_mean
from sim.metrics.cohorts import _payback

DAYS = 60


def _cohort(orders: dict[int, tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """One cohort week (week 0) of a 60-day run: {age: (first orders, margin)}."""
    first, margin = np.zeros((9, DAYS)), np.zeros((9, DAYS))
    for age, (buyers, value) in orders.items():
        first[0, age], margin[0, age] = buyers, value
    return first, margin


def test_a_first_day_above_cac_that_later_buyers_bring_below_is_no_payback() -> None:
    first, margin = _cohort({0: (10, 200.0), 5: (10, 50.0)})  # LTV 20 on days 0-4, then 12.5
    assert math.isnan(_payback(first, margin, 15.0, DAYS))
    assert _payback(first, margin, 12.0, DAYS) == 0.0  # covered at every age


def test_payback_is_where_ltv_covers_cac_for_good() -> None:
    first, margin = _cohort({0: (10, 200.0), 5: (10, 50.0), 20: (0, 200.0)})  # 22.5 from 20
    assert _payback(first, margin, 15.0, DAYS) == 20.0
    assert math.isnan(_payback(first, margin, 30.0, DAYS))
    assert _payback(first, margin, 0.0, DAYS) == 0.0


def test_a_replicate_without_a_value_leaves_the_run_without_one() -> None:
    """The mean of the replicates that paid back read as the run's payback (n=1 of 3)."""
    summary = _cohort_mean("payback_days", np.array([0.0, np.nan, np.nan]))
    assert math.isnan(summary["mean"]) and summary["n"] == 1
    days = _cohort_mean("payback_days", np.array([0.0, 1.0, 20.0]))
    assert days["ci_low"] == 0.0 < days["mean"]  # an interval never below 0 days
    margin = _cohort_mean("ltv_30d_margin", np.array([-5.0, -4.0, 30.0]))
    assert margin["ci_low"] < 0  # a margin LTV may be negative
    assert _cohort_mean("conversion_7d", np.array([0.9, 0.99, 1.0]))["ci_high"] <= 1.0
