"""One definition per metric, applied alike to simulated counters and observed daily tables.

The engine records raw daily counters (new_users, purchases, revenue, ...). Everything a user
reads, in a table, a summary or a report, is a `Metric` defined here once: its unit, whether it
is a flow (summed over days), a stock (read on the last day) or a ratio of two flows, and how a
daily value is computed from the counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

# Events whose counts and amounts are also kept by acquisition cohort and age (for retention,
# conversion-by-age and LTV); others are kept by day only.
COHORT_EVENTS = ("acquired", "order", "first_order", "open", "coupon", "gift", "refund", "cogs")


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # of the value over the horizon (a flow's daily value is per day)
    kind: Literal["flow", "stock", "ratio"]
    description: str
    needs: tuple[str, ...]
    numerator: str | None = None
    denominator: str | None = None

    @property
    def daily_unit(self) -> str:
        """Unit of one day's value: flows are per day, stocks and ratios are as they are."""
        return f"{self.unit}/day" if self.kind == "flow" else self.unit

    def daily(self, counters: pd.DataFrame) -> pd.Series:
        """The daily series from a frame of counters for one market (rows are days in order)."""
        return _DAILY[self.name](counters)

    def over_horizon(self, daily: pd.DataFrame) -> float:
        """One number for a whole run from the daily metric frame of one market."""
        if self.kind == "flow":
            return float(daily[self.name].sum())
        if self.kind == "stock":
            return float(daily[self.name].iloc[-1])
        num, den = daily[self.numerator].sum(), daily[self.denominator].sum()
        return float(num / den) if den else float("nan")


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("new_users", "users", "flow",
               "Potential users acquired that day, by any channel.", ("acquired",)),
        Metric("acquired_users", "users", "stock",
               "Users acquired since day 0 (cumulative new_users).", ("acquired",)),
        Metric("alive_users", "users", "stock",
               "Acquired users not churned, at the end of the day.", ("alive_users",)),
        Metric("churned_users", "users", "flow",
               "Users who churned for good that day.", ("churned",)),
        Metric("purchases", "orders", "flow",
               "Orders placed that day (one per buying user per day).", ("order",)),
        Metric("first_purchases", "orders", "flow",
               "Orders that were the user's first ever.", ("first_order",)),
        Metric("repeat_purchases", "orders", "flow",
               "Orders that were not the user's first: purchases - first_purchases.",
               ("order", "first_order")),
        Metric("gmv", "yuan", "flow",
               "Gross merchandise value: list value of the orders placed that day, before "
               "discounts and refunds.", ("order_amount",)),
        Metric("aov", "yuan/order", "ratio",
               "Average order value: gmv / purchases (over the horizon: sums first).",
               ("order_amount", "order"), numerator="gmv", denominator="purchases"),
    ]
}

_DAILY = {
    "new_users": lambda c: c["acquired"],
    "acquired_users": lambda c: c["acquired"].cumsum(),
    "alive_users": lambda c: c["alive_users"],
    "churned_users": lambda c: c["churned"],
    "purchases": lambda c: c["order"],
    "first_purchases": lambda c: c["first_order"],
    "repeat_purchases": lambda c: c["order"] - c["first_order"],
    "gmv": lambda c: c["order_amount"],
    "aov": lambda c: c["order_amount"] / c["order"].where(c["order"] > 0, np.nan),
}


def available(counters: pd.DataFrame | list[str]) -> list[Metric]:
    """Metrics whose inputs are all present."""
    names = set(counters if isinstance(counters, list) else counters.columns)
    return [m for m in METRICS.values() if set(m.needs) <= names]


def daily_metrics(counters: pd.DataFrame) -> pd.DataFrame:
    """All available metrics, day by day, for one market (one replicate, one arm or all)."""
    return pd.DataFrame({m.name: m.daily(counters) for m in available(counters)})


def horizon_values(daily: pd.DataFrame) -> dict[str, float]:
    """One number per metric for one market over the whole horizon."""
    return {name: METRICS[name].over_horizon(daily) for name in daily.columns if name in METRICS}
