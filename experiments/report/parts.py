"""The pieces every page of the operations dashboard is made of: number formats, sections,
KPI tiles with trends, metric groups (a table and a chart), and the page frame with its style.
"""

from __future__ import annotations

import html
import json
import math
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from experiments.report.language import (
    current,
    group_title,
    html_lang,
    metric_label,
    metric_unit,
    t,
)
from experiments.report.subplots import axis_key, cell_axes, subplot_grid
from sim.metrics import METRICS

if TYPE_CHECKING:  # figures of the other pages; the run report's are dicts
    import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
TEMPLATE = "plotly_white"  # every chart of the dashboard pages


@cache
def _template_json() -> dict[str, Any]:
    """TEMPLATE as plain JSON: plotly's own template file, read once. `embed` gives it to every
    chart, so figures do not set it: `update_layout(template=...)` checked the whole template
    on every figure (10-70 ms each), and `plotly.io.templates` loads plotly's validators
    (55 ms) that a report of figure dicts never needs otherwise."""
    path = resources.files("plotly") / "package_data" / "templates" / f"{TEMPLATE}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def fmt(x: float | None) -> str:
    """Readable numbers, never in scientific notation: thousands separators for large values
    (万 and 亿 in Chinese), 4 significant digits else, and "<0.0001" for what rounds away."""
    if x is None or x != x:
        return "–"
    if abs(x) == float("inf"):
        return "∞" if x > 0 else "−∞"
    if current() == "zh" and abs(x) >= 1e4:
        return f"{x / 1e8:,.2f}亿" if abs(x) >= 1e8 else f"{x / 1e4:,.2f}万"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x != 0 and abs(x) < 1e-4:
        return "<0.0001" if x > 0 else ">−0.0001"
    text = f"{x:.4g}"
    return f"{x:.6f}".rstrip("0").rstrip(".") if "e" in text else text


# --- lifecycle sections ------------------------------------------------------------------------

Stats = dict[str, Any]  # mean, sd, ci_low, ci_high, n (None or NaN where undefined)


def fmt_html(x: float | None) -> str:
    """`fmt` for a page: "<0.0001" escaped."""
    return html.escape(fmt(x))


def number(x: Any) -> float:
    """A summary value as a float: NaN for None, so JSON-safe and raw summaries read alike."""
    return math.nan if x is None else float(x)


def mean_of(values: dict[str, Stats], name: str) -> float:
    """A metric's mean over replicates, NaN when the scenario does not produce it."""
    return number(values.get(name, {}).get("mean"))


def embed(fig: go.Figure | dict[str, Any]) -> str:
    """A figure as an HTML fragment in TEMPLATE (plotly.js is included once by the page),
    written without plotly's checks: a plotly figure made its own as it was built, and the
    figure dicts of the run report are checked through plotly by the tests
    (tests/experiments/report/test_subplots.py)."""
    data = fig if isinstance(fig, dict) else fig.to_plotly_json()
    data = {**data, "layout": {**data.get("layout", {}), "template": _template_json()}}
    return pio.to_html(data, full_html=False, include_plotlyjs=False, validate=False)


def section(anchor: str, title: str, body: str) -> str:
    """A report section with an id, so links and browser tests can find it."""
    return f'<section id="{anchor}">\n<h2>{html.escape(title)}</h2>\n{body}\n</section>'


def not_modelled(what: str) -> str:
    return (f'<p class="note">{html.escape(what)}'
            f'{t(": not modelled in this scenario.", "：本场景未建模。")}</p>')


def mean_daily(metrics: pd.DataFrame) -> pd.DataFrame:
    """Daily metrics averaged over replicates (index: day)."""
    return metrics.drop(columns=["replicate"]).groupby("day").mean(numeric_only=True)


def trend_window(days: int) -> int:
    """Days compared in a KPI's trend: the last 30 against the 30 before (less if short)."""
    return min(30, days // 2)


def period_ratios(daily: pd.DataFrame, name: str) -> pd.Series:
    """A growth-accounting ratio per complete period (on its last day) as the ratio of its
    parts in `daily` (replicate means: the growth-accounting table's reading, not the mean of
    each replicate's ratio, which read 1.434 beside the table's 1.423)."""
    metric = METRICS[name]
    den = daily[metric.denominator]
    return (daily[metric.numerator] / den.where(den != 0)).dropna()


def kpi_series(daily: pd.DataFrame, name: str) -> pd.Series:
    """What a KPI's sparkline draws: its daily values, or a growth-accounting metric's
    values per period (recorded on period ends only; a ratio as the ratio of its parts)."""
    if not name.startswith("ga_"):
        return daily[name]
    if METRICS[name].kind == "ratio":
        return period_ratios(daily, name)
    series = daily[name]
    return series[series.notna() & (series != 0)]


def kpi_value_and_trend(daily: pd.DataFrame, name: str) -> tuple[float, float]:
    """(value over the horizon, relative change of the last window against the one before:
    flows summed, stocks at each window's end, ratios as ratios of sums; NaN if undefined)."""
    metric = METRICS[name]
    value = metric.over_horizon(daily)
    if name.startswith("ga_") and metric.kind == "ratio":  # the trend: the latest period
        ratios = period_ratios(daily, name)  # against the one before
        if len(ratios) < 2 or not ratios.iloc[-2]:
            return value, math.nan
        last, before = float(ratios.iloc[-1]), float(ratios.iloc[-2])
        return value, (last - before) / abs(before)
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
        return f"<span class='flat'>{t('no trend', '无趋势')}</span>"
    good = (change >= 0) != (METRICS[name].good == "down")
    arrow = "▲" if change > 0 else ("▼" if change < 0 else "■")
    css = ("flat" if abs(change) < 0.005 or METRICS[name].good == "neither"
           else ("up" if good else "down"))
    against = (t("the last period against the one before", "最近一期对比上一期")
               if name.startswith("ga_") else
               t(f"last {window} days against the {window} before",
                 f"最近{window}天对比之前{window}天"))
    return (f"<span class='{css}' title='{against}'>"
            f"{arrow} {change:+.1%}</span>")


def _code_name(name: str) -> str:
    """In Chinese, the snake_case name under the Chinese one: what --metrics and files use."""
    return f"<br><small><code>{html.escape(name)}</code></small>" if current() == "zh" else ""


def kpi_tiles(daily: pd.DataFrame, names: tuple[str, ...],
              means: dict[str, Stats] | None = None) -> str:
    """One tile per KPI the run produces: value over the horizon, trend, daily sparkline.
    `means`: summary.json's metrics, whose mean over replicates the tile then shows (a ratio's
    value over the replicate-mean days differs from it: 0.9476 beside the table's 1.399 for a
    quick ratio that still showed its latest period)."""
    tiles = []
    window = trend_window(len(daily))
    for name in names:
        if name not in daily.columns:
            continue
        value, change = kpi_value_and_trend(daily, name)
        if means is not None and name in means:
            value = number(means[name].get("mean"))
        metric = METRICS[name]
        series = kpi_series(daily, name)
        tiles.append(
            f"<div class='tile' data-metric='{name}' title='{html.escape(metric.description)}'>"
            f"<div class='label'>{html.escape(metric_label(name))}{_code_name(name)}</div>"
            f"<div class='value'>{fmt_html(value)} <small>{html.escape(metric_unit(name))}</small>"
            "</div>"
            f"{trend_text(name, change, window)}{sparkline(series)}</div>")
    return f"<div class='tiles'>{''.join(tiles)}</div>"


def metric_group(daily: pd.DataFrame, title: str, names: tuple[str, ...]) -> str:
    """A table of the group's horizon values and a chart of their daily series (present
    metrics only; empty string if the run has none of them)."""
    present = [n for n in names if n in daily.columns]
    if not present:
        return ""
    rows = "".join(f"<tr><td title='{html.escape(METRICS[n].description)}'>"
                   f"{html.escape(metric_label(n))}{_code_name(n)}</td>"
                   f"<td>{html.escape(metric_unit(n))}</td>"
                   f"<td>{fmt_html(METRICS[n].over_horizon(daily))}</td></tr>" for n in present)
    units = list(dict.fromkeys(metric_unit(n, daily=True) for n in present))  # panel per unit
    layout = subplot_grid(len(units), 1, shared_xaxes=True, vertical_spacing=0.08, titles=units)
    layout[axis_key(cell_axes(len(units))["xaxis"])]["title"] = {"text": t("day", "天")}
    layout.update(height=120 + 180 * len(units), margin={"t": 30, "l": 60, "r": 20, "b": 40})
    days = daily.index.to_numpy()
    traces = []
    for i, name in enumerate(present):
        row = units.index(metric_unit(name, daily=True)) + 1
        traces.append({"type": "scatter", **cell_axes(row), "x": days,
                       "y": daily[name].to_numpy(), "mode": "lines", "name": metric_label(name),
                       "line": {"color": PALETTE[i % len(PALETTE)], "width": 1.5}})
    fig = {"data": traces, "layout": layout}
    return (f"<h3>{html.escape(group_title(title))}</h3><div class='pair'><table><thead><tr>"
            f"<th>{t('metric', '指标')}</th><th>{t('unit', '单位')}</th>"
            f"<th>{t('over the horizon', '全周期')}</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<div class='chart'>{embed(fig)}</div></div>")


STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei",
       sans-serif; margin: 24px; color: #222; }
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
/* charts side by side: the columns exist before the charts do, so the first chart drawn is
   not sized to the whole page and then clipped when the second arrives */
.side { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
.side .chart { min-width: 0; }
"""


def page(title: str, header: str, nav: tuple[tuple[str, str], ...], body: str) -> str:
    """A self-contained dashboard page: plotly.js inlined once, a sticky section menu."""
    links = " · ".join(f"<a href='#{anchor}'>{html.escape(label)}</a>" for anchor, label in nav)
    lang = html_lang()
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body>
{header}
<nav>{links}</nav>
{body}
</body></html>
"""
