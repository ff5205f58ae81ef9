"""The pieces every page of the operations dashboard is made of: number formats, sections,
KPI tiles with trends, metric groups (a table and a chart), and the page frame with its style.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from sim.metrics import METRICS

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def fmt(x: float | None) -> str:
    """Readable numbers: thousands separators for large values, 4 significant digits else."""
    if x is None or x != x:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


# --- lifecycle sections ------------------------------------------------------------------------

Stats = dict[str, Any]  # mean, sd, ci_low, ci_high, n (None or NaN where undefined)


def number(x: Any) -> float:
    """A summary value as a float: NaN for None, so JSON-safe and raw summaries read alike."""
    return math.nan if x is None else float(x)


def mean_of(values: dict[str, Stats], name: str) -> float:
    """A metric's mean over replicates, NaN when the scenario does not produce it."""
    return number(values.get(name, {}).get("mean"))


def embed(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False)


def section(anchor: str, title: str, body: str) -> str:
    """A report section with an id, so links and browser tests can find it."""
    return f'<section id="{anchor}">\n<h2>{html.escape(title)}</h2>\n{body}\n</section>'


def not_modelled(what: str) -> str:
    return f'<p class="note">{html.escape(what)}: not modelled in this scenario.</p>'


def mean_daily(metrics: pd.DataFrame) -> pd.DataFrame:
    """Daily metrics averaged over replicates (index: day)."""
    return metrics.drop(columns=["replicate"]).groupby("day").mean(numeric_only=True)


def trend_window(days: int) -> int:
    """Days compared in a KPI's trend: the last 30 against the 30 before (less if short)."""
    return min(30, days // 2)


def kpi_value_and_trend(daily: pd.DataFrame, name: str) -> tuple[float, float]:
    """(value over the horizon, relative change of the last window against the one before:
    flows summed, stocks at each window's end, ratios as ratios of sums; NaN if undefined)."""
    metric = METRICS[name]
    if name.startswith("ga_") and metric.kind == "ratio":  # per period: the latest, and the
        ratios = daily[name].dropna()  # change from the period before (NaN off period ends)
        if ratios.empty:
            return math.nan, math.nan
        last = float(ratios.iloc[-1])
        before = float(ratios.iloc[-2]) if len(ratios) > 1 else math.nan
        return last, (last - before) / abs(before) if before else math.nan
    value = metric.over_horizon(daily)
    window = trend_window(len(daily))
    if window < 1 or (metric.kind == "ratio" and metric.mature_after):
        return value, math.nan

    def level(rows: pd.DataFrame) -> float:
        if metric.kind == "flow":
            return float(rows[name].sum())
        if metric.kind == "stock":
            return float(rows[name].iloc[-1])
        den = rows[metric.denominator].sum()
        return float(rows[metric.numerator].sum() / den) if den else math.nan

    now, then = level(daily.iloc[-window:]), level(daily.iloc[-2 * window:-window])
    change = (now - then) / abs(then) if then and not math.isnan(then) else math.nan
    return value, change


def sparkline(values: pd.Series, width: int = 140, height: int = 32) -> str:
    """An inline SVG line of a daily series (no script: it shows even if plotly fails)."""
    y = values.to_numpy(dtype=float)
    y = y[~pd.isna(y)]
    if len(y) < 2:
        return ""
    low, high = float(y.min()), float(y.max())
    span = (high - low) or 1.0
    xs = [i * (width - 2) / (len(y) - 1) + 1 for i in range(len(y))]
    ys = [height - 2 - (v - low) / span * (height - 4) for v in y]
    points = " ".join(f"{x:.1f},{v:.1f}" for x, v in zip(xs, ys, strict=True))
    return (f"<svg class='spark' width='{width}' height='{height}' role='img'>"
            f"<polyline fill='none' stroke='#1f77b4' stroke-width='1.2' points='{points}'/></svg>")


def trend_text(name: str, change: float, window: int) -> str:
    if math.isnan(change):
        return "<span class='flat'>no trend</span>"
    good = (change >= 0) != (METRICS[name].good == "down")
    arrow = "▲" if change > 0 else ("▼" if change < 0 else "■")
    css = "flat" if abs(change) < 0.005 else ("up" if good else "down")
    against = ("the last period against the one before" if name.startswith("ga_")
               else f"last {window} days against the {window} before")
    return (f"<span class='{css}' title='{against}'>"
            f"{arrow} {change:+.1%}</span>")


def kpi_tiles(daily: pd.DataFrame, names: tuple[str, ...]) -> str:
    """One tile per KPI the run produces: value over the horizon, trend, daily sparkline."""
    tiles = []
    window = trend_window(len(daily))
    for name in names:
        if name not in daily.columns:
            continue
        value, change = kpi_value_and_trend(daily, name)
        metric = METRICS[name]
        series = daily[name]
        if metric.kind == "flow" and name.startswith("ga_"):
            series = series[series != 0]
        tiles.append(
            f"<div class='tile' data-metric='{name}' title='{html.escape(metric.description)}'>"
            f"<div class='label'>{html.escape(name)}</div>"
            f"<div class='value'>{fmt(value)} <small>{html.escape(metric.unit)}</small></div>"
            f"{trend_text(name, change, window)}{sparkline(series)}</div>")
    return f"<div class='tiles'>{''.join(tiles)}</div>"


def metric_group(daily: pd.DataFrame, title: str, names: tuple[str, ...]) -> str:
    """A table of the group's horizon values and a chart of their daily series (present
    metrics only; empty string if the run has none of them)."""
    present = [n for n in names if n in daily.columns]
    if not present:
        return ""
    rows = "".join(f"<tr><td title='{html.escape(METRICS[n].description)}'>{n}</td>"
                   f"<td>{html.escape(METRICS[n].unit)}</td>"
                   f"<td>{fmt(METRICS[n].over_horizon(daily))}</td></tr>" for n in present)
    units = list(dict.fromkeys(METRICS[n].daily_unit for n in present))  # one panel per unit
    fig = make_subplots(rows=len(units), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=units)
    for i, name in enumerate(present):
        fig.add_trace(go.Scatter(x=list(daily.index), y=daily[name], mode="lines", name=name,
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 1.5}),
                      row=units.index(METRICS[name].daily_unit) + 1, col=1)
    fig.update_layout(height=120 + 180 * len(units), template="plotly_white",
                      margin={"t": 30, "l": 60, "r": 20, "b": 40})
    fig.update_xaxes(title_text="day", row=len(units), col=1)
    return (f"<h3>{html.escape(title)}</h3><div class='pair'><table><thead><tr><th>metric</th>"
            f"<th>unit</th><th>over the horizon</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<div class='chart'>{embed(fig)}</div></div>")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
td small { color: #777; white-space: nowrap; }
pre { background: #f6f6f6; padding: 12px; overflow-x: auto; }
nav { position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid #eee;
      z-index: 10; }
.wide { overflow-x: auto; }
.note { color: #666; font-style: italic; }
.warn { color: #b00; font-weight: bold; }
.warn-row td { color: #b00; }
.ok { color: #2a7; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 160px; }
.tile .label { font-size: 12px; color: #666; }
.tile .value { font-size: 22px; font-weight: 600; }
.tile .value small { font-size: 12px; color: #777; font-weight: normal; }
.up { color: #2a7; } .down { color: #c33; } .flat { color: #888; }
.spark { display: block; margin-top: 4px; }
.pair { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.pair .chart { flex: 1 1 480px; min-width: 360px; }
"""


def page(title: str, header: str, nav: tuple[tuple[str, str], ...], body: str) -> str:
    """A self-contained dashboard page: plotly.js inlined once, a sticky section menu."""
    links = " · ".join(f"<a href='#{anchor}'>{html.escape(label)}</a>" for anchor, label in nav)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body>
{header}
<nav>{links}</nav>
{body}
</body></html>
"""
