"""Bands for what people ask of a forecast besides one week: the cumulative curve over the
forecast weeks and its total, from the same stored simulations as the weekly band (every
simulation's weekly values are kept in simulations.parquet, so the total over any horizon can
be had later without re-running); and the calendar date each week starts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from experiments.calibration.objective import WEEK


def add_cumulative(table: pd.DataFrame, weekly: np.ndarray, names: list[str], fit_days: int,
                   level: float) -> dict[str, dict[str, Any]]:
    """cum_lo / cum_median / cum_hi (and cum_observed while every week was observed) on the
    forecast weeks of `table`, in place; returns the totals over all forecast weeks."""
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    weeks = [k for k in range(weekly.shape[1]) if k * WEEK + WEEK > fit_days]
    for column in ("cum_lo", "cum_median", "cum_hi", "cum_observed"):
        table[column] = np.nan
    totals: dict[str, dict[str, Any]] = {}
    if not weeks:
        return totals
    cumulative = weekly[:, weeks, :].cumsum(axis=1)  # (simulations, forecast weeks, metrics)
    for j, metric in enumerate(names):
        at = table.index[(table["metric"] == metric) & (table["week"].isin([k + 1 for k in
                                                                            weeks]))]
        values = cumulative[:, :, j]
        table.loc[at, "cum_lo"] = np.quantile(values, lo_q, axis=0)
        table.loc[at, "cum_median"] = np.median(values, axis=0)
        table.loc[at, "cum_hi"] = np.quantile(values, hi_q, axis=0)
        seen = table.loc[at, "observed"].to_numpy(dtype=float)
        complete = np.cumprod(~np.isnan(seen)).astype(bool)  # stops at the first unseen week
        table.loc[at, "cum_observed"] = np.where(complete, np.nancumsum(seen), np.nan)
        last = values[:, -1]
        totals[metric] = {
            "weeks": len(weeks), "mean": float(last.mean()),
            "lo": float(np.quantile(last, lo_q)), "median": float(np.median(last)),
            "hi": float(np.quantile(last, hi_q)),
            "observed": float(table.loc[at, "cum_observed"].iloc[-1])
            if complete.all() else None}
    return totals


def add_dates(table: pd.DataFrame, start: str | pd.Timestamp | None) -> None:
    """week_start: the calendar date of each week's first day (day 0 = `start`)."""
    if start is None:
        return
    origin = pd.Timestamp(start).normalize()
    table["week_start"] = [(origin + pd.Timedelta(days=int(d))).date().isoformat()
                           for d in table["first_day"]]


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
    fig = go.Figure()
    forecast = table[table["cum_median"].notna()]
    x = "week_start" if "week_start" in forecast else "week"
    for i, (metric, g) in enumerate(forecast.groupby("metric", sort=False)):
        colour = f"hsla({(i * 67) % 360}, 60%, 45%, "
        fig.add_trace(go.Scatter(x=list(g[x]) + list(g[x][::-1]),
                                 y=list(g["cum_hi"]) + list(g["cum_lo"][::-1]), fill="toself",
                                 fillcolor=colour + "0.15)", line={"width": 0},
                                 name=f"{metric}: {level:.0%} band", legendgroup=metric))
        fig.add_trace(go.Scatter(x=g[x], y=g["cum_median"], name=f"{metric}: median",
                                 line={"color": colour + "1)"}, legendgroup=metric))
        seen = g[g["cum_observed"].notna()]
        fig.add_trace(go.Scatter(x=seen[x], y=seen["cum_observed"], mode="markers",
                                 name=f"{metric}: actual", marker={"color": colour + "1)"},
                                 legendgroup=metric))
    fig.update_layout(title="Cumulative over the forecast weeks: actual against the band",
                      height=420)
    return fig
