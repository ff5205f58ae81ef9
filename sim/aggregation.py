"""From counters to metrics: the daily tables of every replicate for the whole market, each
arm and each channel (`collect`, shared by every executor), and the `Result` a user reads:
horizon summaries with intervals, unit economics by channel, LTV by cohort, retention,
attribution and the event log.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.metrics import (
    cohort_mean,
    daily_metrics,
    horizon_values,
    ltv_by_cohort,
    metric_bounds,
    retention_grid,
    unit_economics,
)
from sim.planning import layout_of
from sim.recorder import Counters
from sim.scenario import Scenario
from sim.stats import mean_ci


def daily_table(c: Counters, cells: np.ndarray | None = None,
                channels: np.ndarray | None = None) -> pd.DataFrame:
    """Raw daily counters summed over the chosen cells (all if None); channel-level costs over
    the chosen channels (left out when `channels` is an empty array, e.g. for an arm)."""
    def pick(table: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        return table.sum(axis=1) if keep is None else table[:, keep].sum(axis=1)

    cols: dict[str, np.ndarray] = {}
    for name, table in c.counts.items():
        cols[name] = pick(table, cells)
        cols[f"{name}_amount"] = pick(c.amounts[name], cells)
    for name, table in c.stocks.items():
        cols[name] = pick(table, cells)
    if channels is None or len(channels):
        for name, table in c.channel_amounts.items():
            cols[name] = pick(table, channels)
    return pd.DataFrame(cols)


@dataclass
class Result:
    """Daily metrics of every replicate, for the whole market, each arm and each channel."""

    scenario: Scenario
    metrics: pd.DataFrame  # replicate, day, one column per metric (whole market)
    arm_metrics: pd.DataFrame  # replicate, arm, day, metrics
    channel_metrics: pd.DataFrame  # replicate, channel, day, metrics
    counters: dict[int, Counters] = field(repr=False, default_factory=dict)
    # summaries computed once: the files, the report and the CLI's table all read them
    _computed: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def _once(self, name: str, compute: Callable[[], Any]) -> Any:
        """A summary computed on first use; a copy each time (callers may change theirs)."""
        if name not in self._computed:
            self._computed[name] = compute()
        return copy.deepcopy(self._computed[name])

    @property
    def metric_names(self) -> list[str]:
        return [c for c in self.metrics.columns if c not in ("replicate", "day")]

    def horizon(self, frame: pd.DataFrame | None = None, by: str | None = None) -> pd.DataFrame:
        """One row per replicate (and `by` value): each metric over the whole horizon."""
        frame = self.metrics if frame is None else frame
        keys = ["replicate"] + ([by] if by else [])
        rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                 **horizon_values(g.drop(columns=[*keys, "day"]))}
                for key, g in frame.groupby(keys, sort=False)]
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and 95% confidence interval across replicates of each metric over the horizon."""
        def compute() -> dict[str, dict[str, float]]:
            table = self.horizon()
            return {name: mean_ci(table[name].to_numpy(), bounds=metric_bounds(name))
                    for name in self.metric_names}
        return self._once("summary", compute)

    def _summary_by(self, frame: pd.DataFrame, by: str) -> dict[str, dict[str, dict[str, float]]]:
        table = self.horizon(frame, by)
        return {str(key): {name: mean_ci(g[name].to_numpy(), bounds=metric_bounds(name))
                           for name in g.columns if name not in ("replicate", by)}
                for key, g in table.groupby(by, sort=False)}

    def arm_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return self._once("arm", lambda: self._summary_by(self.arm_metrics, "arm"))

    def channel_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return self._once("channel", lambda: self._summary_by(self.channel_metrics, "channel"))

    def unit_economics(self) -> pd.DataFrame:
        """One row per replicate and channel ("all" for the market; only that one for a Result
        collected without breakdowns): CAC, LTV at 30/90/180 days per new buyer, LTV/CAC,
        payback days, conversion to a first order in 7/30 days (NaN, not applicable, where the
        scenario books no orders)."""
        layout, days = layout_of(self.scenario), self.scenario.days
        channels = [] if self.channel_metrics.empty else layout.channels[1:]
        won = layout.won_channel_ids()
        rows = []
        for replicate, c in sorted(self.counters.items()):
            whole = self.metrics[self.metrics["replicate"] == replicate]
            rows.append({"replicate": replicate, "channel": "all", **unit_economics(
                c.cohort_counts, c.cohort_amounts, _total(whole, "acquisition_spend"),
                _total(whole, "won_first_purchases"), days, won=won)})
            for k, name in enumerate(channels, start=1):
                frame = self.channel_metrics
                mine = frame[(frame["replicate"] == replicate) & (frame["channel"] == name)]
                rows.append({"replicate": replicate, "channel": name, **unit_economics(
                    c.cohort_counts, c.cohort_amounts, _total(mine, "acquisition_spend"),
                    _total(mine, "won_first_purchases"), days, k)})
        return pd.DataFrame(rows)

    def unit_economics_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        def compute() -> dict[str, dict[str, dict[str, float]]]:
            table = self.unit_economics()
            return {str(ch): {name: cohort_mean(name, g[name].to_numpy()) for name in g.columns
                              if name not in ("replicate", "channel")}
                    for ch, g in table.groupby("channel", sort=False)}
        return self._once("unit_economics", compute)

    def events(self) -> pd.DataFrame:
        """The per-user event log of every replicate (runs made with log_events=True)."""
        from sim.events import event_table

        layout = layout_of(self.scenario)
        return pd.concat([event_table(c, layout).assign(replicate=r)
                          for r, c in sorted(self.counters.items())], ignore_index=True)

    def ltv_by_cohort(self, channel: str | None = None) -> pd.DataFrame:
        """LTV at 30/90/180 days per weekly cohort (margin and GMV, per new buyer), mean over
        replicates; one channel or the whole market (its won users, as `unit_economics`'s
        "all" row: an existing base left out)."""
        layout = layout_of(self.scenario)
        k = layout.won_channel_ids() if channel is None else layout.channel_id(channel)
        tables = [ltv_by_cohort(c.cohort_counts, c.cohort_amounts, self.scenario.days, k)
                  for c in self.counters.values()]
        return pd.concat(tables).groupby(level=0).mean()

    def attribution(self) -> pd.DataFrame:
        """Multi-touch attribution of every touchpoints mechanic: one row per (mechanic, model,
        touch point) with attributed orders, first orders, GMV, the touch point's cost and ROI,
        mean over replicates (empty when the scenario has no touch points)."""
        from sim.attribution import attribution_table

        names = [n for n, p in self.scenario.mechanics.items() if p.type == "touchpoints"]
        frames = [attribution_table(c.extras, name).assign(mechanic=name, replicate=r)
                  for name in names for r, c in sorted(self.counters.items())]
        if not frames:
            return pd.DataFrame()
        table = pd.concat(frames, ignore_index=True)
        keys = ["mechanic", "model", "touchpoint"]
        mean = table.drop(columns="replicate").groupby(keys, sort=False).mean().reset_index()
        mean["roi"] = (mean["gmv"] - mean["cost"]) / mean["cost"].where(mean["cost"] > 0)
        return mean

    def retention(self, channel: str | None = None) -> pd.DataFrame:
        """Weekly cohorts x weeks since acquisition: share with an open, mean over replicates."""
        layout = layout_of(self.scenario)
        k = None if channel is None else layout.channel_id(channel)
        grids = [retention_grid(c.cohort_active, c.cohort_counts["acquired"][:, :, 0],
                                self.scenario.days, k) for c in self.counters.values()
                 if "open" in c.counts]
        if not grids:
            return pd.DataFrame()
        return sum(grids) / len(grids)



def collect(scenario: Scenario, counters: dict[int, Counters],
            breakdowns: bool = True) -> Result:
    """Turn per-replicate counters into metric tables (shared by every executor). Without
    `breakdowns` only the whole market's (a sweep point reads its horizon values and market
    unit economics: the arm and channel tables were two thirds of its metrics' cost)."""
    layout = layout_of(scenario)
    cell_arm, cell_channel = layout.cell_arm(), layout.cell_channel()
    whole, by_arm, by_channel = [], [], []
    days = np.arange(scenario.days)
    no_channels = np.empty(0, dtype=int)
    for replicate in sorted(counters):
        c = counters[replicate]
        whole.append(daily_metrics(daily_table(c)).assign(replicate=replicate, day=days))
        if not breakdowns:
            continue
        for a, arm in enumerate(layout.arms):
            frame = daily_metrics(daily_table(c, np.flatnonzero(cell_arm == a), no_channels))
            by_arm.append(frame.assign(replicate=replicate, arm=arm, day=days))
        for k, channel in enumerate(layout.channels[1:], start=1):
            frame = daily_metrics(daily_table(c, np.flatnonzero(cell_channel == k),
                                              np.array([k])))
            by_channel.append(frame.assign(replicate=replicate, channel=channel, day=days))
    metrics = _front(pd.concat(whole, ignore_index=True), ["replicate", "day"])
    arm_metrics = _front(pd.concat(by_arm, ignore_index=True), ["replicate", "arm", "day"]) \
        if by_arm else pd.DataFrame()
    channel_metrics = _front(pd.concat(by_channel, ignore_index=True),
                             ["replicate", "channel", "day"]) if by_channel else pd.DataFrame()
    return Result(scenario, metrics, arm_metrics, channel_metrics, counters)


def _total(frame: pd.DataFrame, metric: str) -> float:
    """A flow's total over the frame's days; NaN when the scenario does not have the metric."""
    return float(frame[metric].sum()) if metric in frame.columns else float("nan")


def _front(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]
