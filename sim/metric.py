"""What a metric is: one object that says everything about one number a user reads.

A metric is defined once, next to the code that records what it is computed from (a mechanic's
module, the shared order path in `sim/orders.py`, the ledger in `sim/metrics/ledger.py`), and
the catalogue (`sim.metrics.METRICS`) assembles them. Docs, the report, the dashboard and the
CLI's tables are generated from these objects, so nothing else lists metrics.

This module imports nothing of the engine, so every mechanic can define its metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["flow", "stock", "ratio"]
Good = Literal["up", "down", "neither"]
LedgerRole = Literal["absolute", "relative", "income", "total"]
ORDER = ("order", "order_amount")  # the counters of orders, for `needs`
SPEND = ("ad_spend", "kol_spend")  # channel costs every scenario has (whole market, channels)

# Each unit a metric may have, in the words of the playbook's teams (a compound unit such as
# "yuan/order" is read part by part); `Metric.__post_init__` refuses a unit missing here, so
# every metric has a Chinese unit as well as a Chinese name.
UNITS_ZH = {
    "yuan": "元", "users": "人", "people": "人", "share": "占比", "ratio": "倍",
    "orders": "单", "order": "单", "buyer": "买家", "units": "件", "user-periods": "人·期",
    "groups": "个团", "messages": "条消息", "bargains": "次砍价", "visits": "次访问",
    "carts": "个购物车", "shares": "次分享", "invites": "次邀请", "consents": "次授权",
    "touches": "次触达", "viewers": "名观众", "reviews": "条评价", "group-days": "组·天",
    "communities": "个群",
    "unit-years": "件·年", "turns": "次", "year": "年", "days": "天", "day": "天",
}


def unit_zh(unit: str) -> str:
    """A unit in Chinese: "yuan/order" -> "元/单", "users/day" -> "人/天"."""
    return "/".join(UNITS_ZH[part] for part in unit.split("/"))


@dataclass(frozen=True)
class LedgerLine:
    """A metric's place in the money ledger: `absolute` (GMV, where it starts), `relative` (a
    cost or discount, subtracted), `income` (added, e.g. membership fees) or `total` (GMV minus
    and plus every line ranked above it). Lines are in `rank` order (sim/metrics/ledger.py
    names the sections and their ranks)."""

    role: LedgerRole
    rank: int


@dataclass(frozen=True)
class ReportSection:
    """Where a mechanic is drawn in the run report: the report's `section` (its anchor:
    "operations" or "inventory"), and the metrics shown as tiles above the section's tables.
    The tables and charts are the mechanic's metrics that have a `group`, one table per group,
    in the order the mechanic defines them; a scenario without the mechanic leaves them out."""

    section: Literal["operations", "inventory"]
    tiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metric:
    """One number a user reads, for one market (whole, an arm or a channel), per day.

    - `kind`: flow (a daily amount, summed over the horizon), stock (a level at the end of the
      day, the last day over the horizon) or ratio (`numerator` / `denominator`, two other
      metrics; over the horizon the ratio of their sums, leaving out the last `mature_after`
      days of windows still open). A ratio over a zero denominator is NaN: not applicable.
    - `needs`: the counters that must be recorded for the metric to exist in a scenario
      (`compute` may read others as optional, as zeros when absent).
    - `compute`: the daily series from a frame of counters (flows and stocks; ratios are
      computed from their parts).
    - `zh`: the Chinese name the playbook's teams use; `good`: which direction is good news
      (report trends); `group`: the report group it is drawn in; `headline`: in the CLI's
      headline table; `health`: a business-health tile; `ledger`: its line in the money ledger;
      `acquisition`: a cost of winning users, summed into `acquisition_spend`.
    """

    name: str
    unit: str
    kind: Kind
    description: str
    needs: tuple[str, ...]
    numerator: str | None = None
    denominator: str | None = None
    mature_after: int = 0
    compute: Callable[[pd.DataFrame], pd.Series] | None = None
    zh: str = ""
    good: Good = "up"
    group: str = ""
    headline: bool = False
    health: bool = False
    ledger: LedgerLine | None = None
    acquisition: bool = False  # a cost of winning users: part of acquisition_spend (CAC, ROI)

    def __post_init__(self) -> None:
        if (self.kind == "ratio") != (self.numerator is not None and self.denominator is not None):
            raise ValueError(f"{self.name}: a ratio, and only a ratio, has numerator and "
                             "denominator")
        if (self.kind == "ratio") == (self.compute is not None):
            raise ValueError(f"{self.name}: a flow or stock has a compute, a ratio none")
        if not self.zh or any(p not in UNITS_ZH for p in self.unit.split("/")):
            raise ValueError(f"{self.name}: give a Chinese name (zh) and a unit from UNITS_ZH "
                             f"(not {self.unit!r})")

    @property
    def bounds(self) -> tuple[float, float]:
        """The values it can take: a share lies in [0, 1]; a count, an amount of money (GMV, a
        cost) or a ratio of such is at least 0; only a ledger total (net revenue, margin,
        contribution) and a ratio of one (ROI) can be anything. A replicate interval is kept
        inside (before, GMV and every cost line could read [-1,193, 31,000])."""
        if self.unit == "share":
            return 0.0, 1.0
        return (-math.inf, math.inf) if self.signed else (0.0, math.inf)

    @property
    def signed(self) -> bool:
        """Whether it can fall below zero: a ledger total, or a ratio with one in it."""
        if self.ledger is not None and self.ledger.role == "total":
            return True
        if self.kind == "ratio":
            from sim.metrics import METRICS

            return any(METRICS[part].signed for part in (self.numerator, self.denominator)
                       if part in METRICS)
        return False

    def daily(self, counters: pd.DataFrame) -> pd.Series:
        """The daily series from a frame of counters for one market (sim.metrics.daily_value)."""
        from sim.metrics.catalog import daily_value

        return daily_value(self, counters)

    def over_horizon(self, daily: pd.DataFrame) -> float:
        """One number for a whole run from a daily metric frame (sim.metrics.over_horizon)."""
        from sim.metrics.catalog import over_horizon

        return over_horizon(self, daily)

    @property
    def daily_unit(self) -> str:
        """Unit of one day's value: flows are per day, stocks and ratios are as they are."""
        return f"{self.unit}/day" if self.kind == "flow" else self.unit

    @property
    def zh_unit(self) -> str:
        """The unit in Chinese (元, 人, 单, 占比 ...)."""
        return unit_zh(self.unit)

    @property
    def zh_daily_unit(self) -> str:
        return unit_zh(self.daily_unit)


def col(c: pd.DataFrame, name: str) -> pd.Series:
    """A counter column, or zeros when no mechanic of the scenario records it."""
    return c[name] if name in c.columns else pd.Series(0.0, index=c.index)


def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN where den is 0 (not applicable, never 0 or an error)."""
    return num / den.where(den != 0, np.nan)
