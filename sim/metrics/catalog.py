"""The catalogue: every metric of the engine, the order path, the ledger, growth accounting and
each mechanic of the registry, assembled from their own definitions (sim.metric.Metric), and the
functions that compute them for one market.

A metric exists in a run when the counters it `needs` are recorded (`available`), whichever
module defines it; the ledger (`LEDGER`) is every metric with a ledger line, in rank order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim import growth_accounting, orders
from sim.mechanics import REGISTRY
from sim.metric import Metric
from sim.metrics import core, ledger


def _assemble() -> dict[str, Metric]:
    """Every definition, by name: the engine's, the order path's, the ledger's, each mechanic's
    (registry order) and growth accounting's. A name defined twice is a bug."""
    out: dict[str, Metric] = {}
    sources = [core.METRICS, orders.METRICS, ledger.METRICS,
               *(cls.metrics for _, cls in REGISTRY.values()), growth_accounting.METRICS]
    for metrics in sources:
        for metric in metrics:
            if metric.name in out:
                raise ValueError(f"metric {metric.name!r} is defined twice")
            out[metric.name] = metric
    return out


METRICS: dict[str, Metric] = _assemble()
LEDGER: tuple[tuple[str, str], ...] = tuple(
    (m.name, m.ledger.role) for m in sorted((m for m in METRICS.values() if m.ledger),
                                             key=lambda m: m.ledger.rank))  # type: ignore[union-attr]
HEADLINE: tuple[str, ...] = tuple(m.name for m in METRICS.values() if m.headline)
HEALTH: tuple[str, ...] = tuple(m.name for m in METRICS.values() if m.health)


def report_groups(section: str) -> list[tuple[str, tuple[str, ...]]]:
    """(group title, metric names) drawn in a report section: the groups of the mechanics that
    declare that section (`Mechanic.report`), in registry order; a group two mechanics share
    (the catalogue's and inventory's stock metrics) is one table."""
    groups: dict[str, list[str]] = {}
    for _, cls in REGISTRY.values():
        if cls.report is not None and cls.report.section == section:
            for metric in cls.metrics:
                if metric.group:
                    groups.setdefault(metric.group, []).append(metric.name)
    return [(title, tuple(names)) for title, names in groups.items()]


def report_tiles(section: str) -> tuple[str, ...]:
    """The metrics shown as tiles at the top of a report section, as its mechanics declare."""
    return tuple(name for _, cls in REGISTRY.values()
                 if cls.report is not None and cls.report.section == section
                 for name in cls.report.tiles)


def daily_value(metric: Metric | str, counters: pd.DataFrame) -> pd.Series:
    """The daily series of one metric from a frame of counters for one market (rows are days
    in order); a ratio is its numerator over its denominator, NaN where that is 0."""
    m = METRICS[metric] if isinstance(metric, str) else metric
    if m.kind == "ratio":
        num = daily_value(m.numerator, counters)  # type: ignore[arg-type]
        den = daily_value(m.denominator, counters)  # type: ignore[arg-type]
        return num / den.where(den != 0, np.nan)
    return m.compute(counters)  # type: ignore[misc]


def over_horizon(metric: Metric | str, daily: pd.DataFrame) -> float:
    """One number for a whole run from the daily metric frame of one market: a flow's sum, a
    stock's last day, a ratio of sums (leaving out `mature_after` last days)."""
    m = METRICS[metric] if isinstance(metric, str) else metric
    end = len(daily) - (m.mature_after if m.kind == "ratio" else 0)
    if m.kind == "stock" and end <= 0:
        raise IndexError(f"{m.name}: a stock over no days has no last day")
    return float(over_periods(m, daily, [(0, max(0, end))])[0])


def over_periods(metric: Metric | str, daily: pd.DataFrame,
                 bounds: list[tuple[int, int]]) -> np.ndarray:
    """The metric over each period [first, end) of one market's daily frame (rows are days):
    a flow's sum, a stock's last day (NaN over no days), a ratio of its parts' sums (NaN where
    the denominator's is 0). Missing days count as 0 in a sum, as pandas' sum does; each sum
    is numpy's pairwise sum of the period's contiguous slice, so a whole run's value is
    bit-identical to pandas' (golden metrics). A ratio with `mature_after` days counts its
    period's days as they are: the caller keeps periods whose windows have closed (a run
    leaves out its last `mature_after` days; a forecast week needs that many days after it)."""
    m = METRICS[metric] if isinstance(metric, str) else metric
    if m.kind == "stock":
        level = daily[m.name].to_numpy()
        return np.array([float(level[end - 1]) if end > first else np.nan
                         for first, end in bounds])
    if m.kind == "flow":
        flow = _zero_missing(daily[m.name].to_numpy())
        return np.array([float(flow[first:end].sum()) for first, end in bounds])
    if m.numerator not in daily or m.denominator not in daily:  # a run from before the part
        return np.full(len(bounds), np.nan)  # existed (cac's won_first_purchases): unknown
    num = _zero_missing(daily[m.numerator].to_numpy())  # type: ignore[index]
    den = _zero_missing(daily[m.denominator].to_numpy())  # type: ignore[index]
    out = np.full(len(bounds), np.nan)
    for i, (first, end) in enumerate(bounds):
        below = den[first:end].sum()
        if below:
            out[i] = float(num[first:end].sum() / below)
    return out


def _zero_missing(values: np.ndarray) -> np.ndarray:
    """A float column with NaN days as 0 (what pandas' sum skips); other dtypes as they are."""
    if values.dtype.kind != "f":
        return values
    missing = np.isnan(values)
    return np.where(missing, 0.0, values) if missing.any() else values


def available(counters: pd.DataFrame | list[str]) -> list[Metric]:
    """Metrics whose inputs are all present."""
    names = set(counters if isinstance(counters, list) else counters.columns)
    return [m for m in METRICS.values() if set(m.needs) <= names]


def daily_metrics(counters: pd.DataFrame) -> pd.DataFrame:
    """All available metrics, day by day, for one market (one replicate, one arm or all)."""
    return pd.DataFrame({m.name: daily_value(m, counters) for m in available(counters)})


def metric_bounds(name: str) -> tuple[float, float]:
    """A catalogue metric's range (an interval over replicates is kept inside it); anything
    for other names."""
    metric = METRICS.get(name)
    return metric.bounds if metric is not None else (-np.inf, np.inf)


def horizon_values(daily: pd.DataFrame) -> dict[str, float]:
    """One number per metric for one market over the whole horizon."""
    return {name: over_horizon(name, daily) for name in daily.columns if name in METRICS}


class _Probe:
    """Stands in for a counters frame and remembers which columns a computation reads."""

    def __init__(self) -> None:
        self.read: set[str] = set()
        self.columns = self

    def __contains__(self, name: str) -> bool:
        self.read.add(name)
        return True

    def __getitem__(self, name: str) -> pd.Series:
        self.read.add(name)
        return pd.Series([1.0])


def counter_columns(name: str) -> set[str]:
    """Counter columns (event counts, `<event>_amount`, stocks, channel costs) a metric is
    computed from, read off its computation itself (a ratio: its two parts)."""
    probe = _Probe()
    daily_value(name, probe)  # type: ignore[arg-type]
    return probe.read
