"""What a forecast's numbers over more than one day are: each week's value and the total over
the forecast days, by the metric's own definition over a period (`sim.metrics.over_periods`: a
flow's sum, a stock's last day, a ratio of its parts' sums), never a sum of daily ratios or
levels; the bands of the cumulative curve and the total from the same simulations as the
weekly band (every simulation's weekly values are kept in simulations.parquet); and the
calendar date each week starts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from experiments.calibration.dates import calendar_dates
from experiments.calibration.objective import WEEK
from sim.metrics import METRICS, over_periods


def series_columns(names: list[str]) -> list[str]:
    """The daily series a forecast needs: each metric and a ratio's numerator and denominator
    (a ratio over a week or the forecast is the ratio of their sums)."""
    return list(dict.fromkeys([*names, *(part for name in names for part in parts_of(name))]))


def parts_of(name: str) -> list[str]:
    """The daily series a metric's value over a period is made of."""
    metric = METRICS[name]
    if metric.kind == "ratio":
        return [metric.numerator, metric.denominator]  # type: ignore[list-item]
    return [name]


def period_values(name: str, daily: pd.DataFrame, bounds: list[tuple[int, int]]) -> np.ndarray:
    """The metric over days [first, end) of a daily frame (columns: its parts) for each of
    `bounds`, as over a whole run (`over_periods`, so there is one definition); NaN when a day
    it needs was not observed, or a ratio's windows (`mature_after` days, e.g. 30 for a 30-day
    repurchase rate) are still open at the frame's end."""
    metric = METRICS[name]
    first = np.array([a for a, _ in bounds], dtype=np.int64)
    end = np.array([b for _, b in bounds], dtype=np.int64)
    stop = end + metric.mature_after  # a ratio needs its windows' days after the period
    missing = np.isnan(daily.to_numpy(dtype=float)).any(axis=1)
    gaps = np.concatenate([[0], np.cumsum(missing)])  # missing days before each day
    usable = (stop <= len(daily)) & (first < end)
    usable[usable] &= gaps[stop[usable]] == gaps[first[usable]]
    out = np.full(len(bounds), np.nan)
    kept = [bound for bound, ok in zip(bounds, usable, strict=True) if ok]
    if kept:
        out[usable] = over_periods(metric, daily, kept)
    return out


def week_bounds(horizon: int) -> list[tuple[int, int]]:
    """(first day, end) of each week from day 0; the last is short when 7 does not divide."""
    return [(first, min(first + WEEK, horizon)) for first in range(0, horizon, WEEK)]


def weekly_values(frames: list[pd.DataFrame], names: list[str], horizon: int) -> np.ndarray:
    """(frames, weeks, metrics): each metric's value on each week of each daily frame."""
    bounds = week_bounds(horizon)
    out = np.full((len(frames), len(bounds), len(names)), np.nan)
    for j, name in enumerate(names):
        for i, frame in enumerate(frames):
            out[i, :, j] = period_values(name, frame[parts_of(name)], bounds)
    return out


def band(values: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """mean, lo, median, hi of the defined values (a ratio can be undefined in some
    simulations: no orders that week); NaN when none is defined."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return (math.nan,) * 4
    lo, median, hi = np.quantile(finite, [(1 - level) / 2, 0.5, 1 - (1 - level) / 2])
    return float(finite.mean()), float(lo), float(median), float(hi)


CUMULATIVE = ("cum_lo", "cum_median", "cum_hi", "cum_observed")


def add_cumulative(table: pd.DataFrame, frames: list[pd.DataFrame],
                   observed: pd.DataFrame | None, names: list[str], fit_days: int,
                   level: float) -> dict[str, dict[str, Any]]:
    """In place, on each week holding forecast days: the band of the metric over the forecast
    days up to the week's end (cum_lo / cum_median / cum_hi; a week that straddles the fit's
    end adds only its forecast days) and the actual while every one of those days was observed
    (cum_observed). Returns the totals over all forecast days, for flows (a sum) and ratios
    (the ratio over the window); a stock is a level, so it has none."""
    horizon = len(frames[0])
    for column in CUMULATIVE:
        table[column] = np.nan
    ends = [(k + 1, end) for k, (_, end) in enumerate(week_bounds(horizon)) if end > fit_days]
    totals: dict[str, dict[str, Any]] = {}
    for metric in names:
        if METRICS[metric].kind == "stock" or not ends:
            continue
        at = table.index[(table["metric"] == metric) & table["week"].isin([k for k, _ in ends])]
        spans = [(fit_days, end) for _, end in ends]
        values = np.array([period_values(metric, frame[parts_of(metric)], spans)
                           for frame in frames])
        bands = np.array([band(values[:, i], level) for i in range(len(ends))])
        table.loc[at, "cum_lo"], table.loc[at, "cum_median"], table.loc[at, "cum_hi"] = (
            bands[:, 1], bands[:, 2], bands[:, 3])
        seen = [math.nan] * len(ends) if observed is None else \
            period_values(metric, observed[parts_of(metric)], spans).tolist()
        table.loc[at, "cum_observed"] = seen
        mean, lo, median, hi = bands[-1]
        totals[metric] = {"kind": METRICS[metric].kind, "days": horizon - fit_days,
                          "weeks": (horizon - fit_days) / WEEK, "first_day": fit_days,
                          "mean": mean, "lo": lo, "median": median, "hi": hi,
                          "observed": None if math.isnan(seen[-1]) else seen[-1]}
    return totals


def total_line(metric: str, doc: dict[str, Any]) -> str:
    """The line `simctl forecast` prints for a metric over the forecast days: a flow's total,
    a ratio over the window, n/a for a stock (a level has no total) or an undefined ratio."""
    from experiments.report.language import metric_label, t

    days, total = doc["forecast_days"], doc["totals"].get(metric)
    span = f"{days} forecast days" + (f" ({days // WEEK} weeks)" if days % WEEK == 0 else "")
    if doc.get("start"):
        first = pd.Timestamp(doc["start"]) + pd.Timedelta(days=doc["fit_days"])
        span += f", {first.date()} to {(first + pd.Timedelta(days=days - 1)).date()}"
    head = t(f"forecast: {metric} over the {span}: ",
             f"预测：{metric_label(metric)} 未来 {days} 天 ")
    why = _not_applicable(metric) if total is None or total["median"] is None \
        or math.isnan(total["median"]) else ""
    if why:
        return head + t(f"n/a ({why})", "不适用")
    ratio = total["kind"] == "ratio"
    shown = "{:,.4g}" if ratio else "{:,.0f}"
    text = (f"{shown.format(total['median'])} [{shown.format(total['lo'])}, "
            f"{shown.format(total['hi'])}] ({doc['level']:.0%} " + t("band", "区间") + ")")
    if total["observed"] is not None:
        text += t("; actual ", "；实际 ") + shown.format(total["observed"])
    return head + (text if ratio else t(text, "合计 " + text))


def _not_applicable(metric: str) -> str:
    """Why a metric has no value over the forecast days."""
    m = METRICS[metric]
    if m.kind == "stock":
        return "a level, not summed over days; a week's value is its last day's"
    windows = (f", or its {m.mature_after}-day windows are still open at the horizon"
               if m.mature_after else "")
    return f"{m.numerator} / {m.denominator}: {m.denominator} is 0 over those days{windows}"


def add_dates(table: pd.DataFrame, start: str | pd.Timestamp | None) -> None:
    """week_start: the calendar date of each week's first day (day 0 = `start`)."""
    if start is None:
        return
    table["week_start"] = calendar_dates(start, table["first_day"])


def simulations_frame(weekly: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Every simulation's weekly value, long: simulation, week, metric, value."""
    sims, weeks, _ = weekly.shape
    return pd.DataFrame({
        "simulation": np.repeat(np.arange(sims), weeks * len(names)),
        "week": np.tile(np.repeat(np.arange(1, weeks + 1), len(names)), sims),
        "metric": np.tile(names, sims * weeks),
        "value": weekly.reshape(-1)})


def cumulative_figure(table: pd.DataFrame, level: float) -> go.Figure:
    """Actual against the band of the cumulative curve, one line per metric (tracking plot)."""
    from experiments.report.language import metric_label, t

    fig = go.Figure()
    forecast = table[table["cum_median"].notna()]
    x = "week_start" if "week_start" in forecast else "week"
    for i, (metric, g) in enumerate(forecast.groupby("metric", sort=False)):
        colour, label = f"hsla({(i * 67) % 360}, 60%, 45%, ", metric_label(str(metric))
        fig.add_trace(go.Scatter(x=list(g[x]) + list(g[x][::-1]),
                                 y=list(g["cum_hi"]) + list(g["cum_lo"][::-1]), fill="toself",
                                 fillcolor=colour + "0.15)", line={"width": 0},
                                 name=f"{label}: " + t(f"{level:.0%} band", f"{level:.0%} 区间"),
                                 legendgroup=metric))
        fig.add_trace(go.Scatter(x=g[x], y=g["cum_median"],
                                 name=f"{label}: " + t("median", "中位数"),
                                 line={"color": colour + "1)"}, legendgroup=metric))
        seen = g[g["cum_observed"].notna()]
        fig.add_trace(go.Scatter(x=seen[x], y=seen["cum_observed"], mode="markers",
                                 name=f"{label}: " + t("actual", "实际"),
                                 marker={"color": colour + "1)"}, legendgroup=metric))
    fig.update_layout(title=t("Cumulative over the forecast weeks: actual against the band",
                              "预测期累计：实际与区间"), height=420)
    return fig
