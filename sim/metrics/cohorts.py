"""Cohort metrics: LTV, CAC, conversion, payback, K-factor and viral cycle time by acquisition
week, channel and age, from the tables the recorder keeps by cohort (`COHORT_EVENTS`).

LTV's margin basis is the `gross_margin` metric's own LEDGER total applied by cohort
(`cohort_margin`), so the two cannot disagree; acquisition costs are in CAC, not subtracted from
LTV a second time.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from sim.metrics.ledger import LTV_MARGIN, ledger_events, ledger_total
from sim.stats import mean_ci

# Events whose counts and amounts are also kept by acquisition cohort and age: conversion
# (first orders), LTV (orders and the LEDGER lines of its margin basis) and K-factor (children
# by the referrer's cohort). Opens feed the weekly retention grid instead.
COHORT_EVENTS: tuple[str, ...] = ("acquired", "order", "first_order", "referral_child",
                                  *sorted(ledger_events(LTV_MARGIN) - {"order"}))
LTV_DAYS = (30, 90, 180)
CONVERSION_DAYS = (7, 30)
K_FACTOR_DAYS = (30, 180)

# The cohort metrics (summary.json's unit_economics, `Result.unit_economics()`): computed from
# the tables kept by acquisition week and age, per channel or for the whole market. name ->
# (unit, definition); `unit_economics` computes them, docs/metrics.md lists them.
COHORT_METRICS: dict[str, tuple[str, str]] = {
    "cac": ("yuan/buyer", "acquisition_spend / won_first_purchases over the horizon (the `cac` "
            "metric's horizon value: an existing base's first orders are not new buyers; the "
            "base's own channel has none, so no CAC)."),
    **{f"conversion_{k}d": ("share", f"First orders within {k} days of joining / users "
                            f"acquired, over cohort weeks whose every user is {k} days old "
                            "by the horizon.") for k in CONVERSION_DAYS},
    **{f"ltv_{k}d_{basis}": ("yuan/buyer", f"{what} of the orders placed within {k} days of "
                             f"joining, per user of those cohorts who ordered within {k} "
                             f"days (cohort weeks at least {k} days old by the horizon).")
       for k in LTV_DAYS for basis, what in (
           ("margin", f"Gross margin (the `{LTV_MARGIN}` LEDGER total: list value minus "
                      "discounts and refunds, plus fees, minus cost of goods)"),
           ("gmv", "List value"))},
    **{f"ltv_cac_{k}d": ("ratio", f"ltv_{k}d_margin / cac.") for k in LTV_DAYS},
    "payback_days": ("days", "Age (days since joining) from which the cumulative gross margin "
                     "per new buyer (as ltv_*_margin, at each age) covers cac at every later "
                     "age a mature cohort shows; NaN if it does not by the horizon."),
    **{f"k_factor_{k}d": ("users/user", f"Referred users each user brings within {k} days of "
                          f"joining (referral_child by the referrer's age), per user acquired, "
                          f"over cohort weeks at least {k} days old (over 180 days: the "
                          "referral branching process's mean offspring).")
       for k in K_FACTOR_DAYS},
    "viral_cycle_days": ("days", "Mean age of the referrer (days since joining) on the day a "
                         "referee joins: the time from a referrer's joining to a referee's."),
}


Channels = int | np.ndarray | None  # one channel, some (summed) or all


def _by_age(cohort: dict[str, np.ndarray], name: str, channel: Channels) -> np.ndarray:
    """(weeks, ages) table of one event, for one channel, or summed over some or all."""
    table = cohort.get(name)
    if table is None:
        return np.zeros(0)
    if channel is None:
        return table.sum(axis=1)
    return table[:, channel, :] if np.ndim(channel) == 0 else table[:, channel, :].sum(axis=1)


def cohort_margin(amounts: dict[str, np.ndarray], channel: Channels = None) -> np.ndarray:
    """Gross margin by (acquisition week, age): the `gross_margin` metric's own definition
    (the LEDGER down to it) applied to the cohort tables instead of the daily ones, so LTV's
    margin and the metric cannot disagree."""
    gmv = _by_age(amounts, "order", channel)
    frame = pd.DataFrame({f"{name}_amount": _by_age(amounts, name, channel).ravel()
                          for name in amounts})
    return ledger_total(frame, LTV_MARGIN).to_numpy().reshape(gmv.shape)


def _mature_weeks(days: int, age: int) -> np.ndarray:
    """Cohort weeks whose every user has been a user for at least `age` days at the horizon."""
    weeks = -(-days // 7)
    return np.arange(weeks)[np.arange(weeks) * 7 + 6 + age <= days]


def cohort_window(metric: str) -> int | None:
    """k of a k-day cohort metric (ltv_90d_gmv: 90, conversion_7d: 7, k_factor_30d: 30)."""
    found = re.search(r"_(\d+)d(?:_|$)", metric)
    return int(found.group(1)) if metric in COHORT_METRICS and found else None


def days_needed(metric: str) -> int | None:
    """The shortest horizon that gives a k-day cohort metric a value: the first cohort week
    (days 0-6) must be k days old by then (`_mature_weeks`)."""
    window = cohort_window(metric)
    return None if window is None else 6 + window  # week 0 in `_mature_weeks`


def cohort_event(metric: str) -> str | None:
    """The event a cohort metric is counted from (a run records it, or the metric has no
    value): first orders for conversion, LTV and payback, referred users for virality."""
    if metric.startswith(("conversion_", "ltv_", "payback_days")):
        return "first_order"
    if metric.startswith(("k_factor_", "viral_cycle_days")):
        return "referral_child"
    return None


def unit_economics(counts: dict[str, np.ndarray], amounts: dict[str, np.ndarray],
                   spend: float, new_buyers: float, days: int,
                   channel: int | None = None, won: np.ndarray | None = None,
                   ) -> dict[str, float]:
    """The cohort metrics of one channel (or all) of one replicate (`COHORT_METRICS`): LTV at
    30/90/180 days (gross-margin and GMV basis), conversion to a first order within 7 and 30
    days, CAC, LTV/CAC, payback days, K-factor and viral cycle time.

    LTV_k is value per new buyer: what the users of mature cohorts (acquired at least k days
    before the horizon) spent within k days of joining, divided by those of them who ordered
    within k days. CAC is the channel's acquisition spend per new buyer over the horizon (the
    same number as the `cac` metric: both are given the horizon's totals). A scenario that
    books no orders has no LTV, conversion or payback (NaN: not applicable). For the market
    (`channel` None), `won` names the channels of users the run won (all but an existing
    base's, `Layout.won_channel_ids`): conversion, LTV, LTV/CAC and payback are of their new
    buyers, as CAC is; K-factor and viral cycle count every user's referrals, the base's too.
    """
    buyers_of = won if channel is None else channel
    out: dict[str, float] = {"cac": spend / new_buyers if new_buyers else float("nan")}
    if "first_order" in counts:
        out.update(_value(counts, amounts, _by_age(counts, "acquired", buyers_of), days,
                          out["cac"], buyers_of))
    else:
        out.update({name: float("nan") for name in COHORT_METRICS if name.startswith(
            ("conversion_", "ltv_", "payback"))})
    out.update(_virality(counts, _by_age(counts, "acquired", channel), days, channel))
    return out


def _value(counts: dict[str, np.ndarray], amounts: dict[str, np.ndarray], size: np.ndarray,
           days: int, cac: float, channel: Channels) -> dict[str, float]:
    """Conversion, LTV, LTV/CAC and payback of the cohorts (a scenario with orders)."""
    first = _by_age(counts, "first_order", channel)
    gmv = _by_age(amounts, "order", channel)
    margin = cohort_margin(amounts, channel)
    out: dict[str, float] = {}
    for k in CONVERSION_DAYS:
        weeks = _mature_weeks(days, k)
        users = size[weeks, 0].sum()
        out[f"conversion_{k}d"] = first[weeks, :k].sum() / users if users else float("nan")
    for k in LTV_DAYS:
        weeks = _mature_weeks(days, k)
        buyers = first[weeks, :k].sum()
        for basis, table in (("margin", margin), ("gmv", gmv)):
            value = table[weeks, :k].sum() / buyers if buyers else float("nan")
            out[f"ltv_{k}d_{basis}"] = value
        out[f"ltv_cac_{k}d"] = (out[f"ltv_{k}d_margin"] / cac
                                if cac and cac == cac else float("nan"))
    out["payback_days"] = _payback(first, margin, cac, days)
    return out


def _virality(counts: dict[str, np.ndarray], size: np.ndarray, days: int,
              channel: int | None) -> dict[str, float]:
    """K-factor: referred users each user brings within k days of joining (mature cohorts;
    over 180 days it is the branching process's mean offspring), and the viral cycle time:
    the mean days from a referrer's joining to the referee's."""
    children = _by_age(counts, "referral_child", channel)
    if children.size == 0:
        return {}
    out: dict[str, float] = {}
    for k in K_FACTOR_DAYS:
        weeks = _mature_weeks(days, k)
        users = size[weeks, 0].sum()
        out[f"k_factor_{k}d"] = children[weeks, :k].sum() / users if users else float("nan")
    total = children.sum()
    ages = np.arange(children.shape[1])
    out["viral_cycle_days"] = float((children.sum(axis=0) * ages).sum() / total) if total \
        else float("nan")
    return out


def ltv_by_cohort(counts: dict[str, np.ndarray], amounts: dict[str, np.ndarray], days: int,
                  channel: Channels = None) -> pd.DataFrame:
    """LTV per weekly acquisition cohort at 30, 90 and 180 days (margin and GMV basis, per new
    buyer of the cohort, as in `unit_economics`); NaN where the cohort is not that old yet."""
    size = _by_age(counts, "acquired", channel)
    first = _by_age(counts, "first_order", channel)
    gmv = _by_age(amounts, "order", channel)
    margin = cohort_margin(amounts, channel)
    weeks = np.arange(size.shape[0])
    table = pd.DataFrame({"users": size[:, 0]}, index=pd.Index(weeks, name="cohort_week"))
    for k in LTV_DAYS:
        mature = np.isin(weeks, _mature_weeks(days, k))
        buyers = first[:, :k].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for basis, values in (("margin", margin), ("gmv", gmv)):
                ltv = values[:, :k].sum(axis=1) / buyers
                table[f"ltv_{k}d_{basis}"] = np.where(mature & (buyers > 0), ltv, np.nan)
    return table[table["users"] > 0]


def _payback(first: np.ndarray, margin: np.ndarray, cac: float, days: int) -> float:
    """The age from which the cumulative margin per new buyer (LTV at that age, defined as the
    `ltv_*` metrics are) covers CAC at every later age a mature cohort shows (NaN if it does not
    by the last one). The first age it reached CAC was noise: a day-0 buyer's first order can
    cover CAC while later buyers and later costs bring LTV/CAC down to 0.65 (it read 0 days)."""
    if math.isnan(cac) or first.size == 0:
        return float("nan")
    if cac <= 0:
        return 0.0
    ages = min(days, margin.shape[1])
    buyers_by, margin_by = first[:, :ages].cumsum(axis=1), margin[:, :ages].cumsum(axis=1)
    ltv = np.full(ages, np.nan)
    for age in range(ages):
        weeks = _mature_weeks(days, age + 1)
        buyers = buyers_by[weeks, age].sum()
        if buyers:
            ltv[age] = margin_by[weeks, age].sum() / buyers
    seen = np.flatnonzero(~np.isnan(ltv))
    if not len(seen):
        return float("nan")
    short = seen[ltv[seen] < cac]
    if not len(short):
        return float(seen[0])
    later = seen[seen > short[-1]]
    return float(later[0]) if len(later) else float("nan")


def retention_grid(active: np.ndarray, sizes: np.ndarray, days: int,
                   channel: int | None = None) -> pd.DataFrame:
    """Share of each weekly cohort with an open in each week since acquisition (NaN where the
    week is not fully observed)."""
    grid = active.sum(axis=1) if channel is None else active[:, channel, :]
    size = sizes.sum(axis=1) if channel is None else sizes[:, channel]
    weeks = grid.shape[0]
    out = np.full(grid.shape, np.nan)
    for w in range(weeks):
        if size[w] == 0:
            continue
        for a in range(weeks - w):
            if (w + a) * 7 + 12 <= days - 1:  # the cohort's last user saw the whole week
                out[w, a] = grid[w, a] / size[w]
    frame = pd.DataFrame(out, index=pd.Index(range(weeks), name="cohort_week"),
                         columns=pd.Index(range(weeks), name="weeks_since"))
    return frame.dropna(how="all").dropna(axis=1, how="all")


def cohort_mean(name: str, values: np.ndarray) -> dict[str, float]:
    """A cohort metric over replicates: none when a replicate has none (a payback one replicate
    never reached is not averaged away: the mean of the two that paid back read as the run's);
    `n` then counts those with a value. Intervals stay where the metric can be (days, counts,
    GMV and CAC at least 0, a conversion at most 1)."""
    missing = np.isnan(values)
    if missing.any():
        return {"mean": math.nan, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "n": int((~missing).sum())}
    low = -math.inf if (name.startswith("ltv_") and name.endswith("_margin")) or \
        name.startswith("ltv_cac") else 0.0
    return mean_ci(values, bounds=(low, 1.0 if name.startswith("conversion_") else math.inf))
