"""The self-contained HTML report of a run: summary table, daily charts with replicate bands,
and the lifecycle sections a growth team reads (funnel, channels, retention, money).

plotly.js is inlined once, so the file opens offline and can be mailed around. Every section
has an `id`; a section whose mechanics the scenario does not model says so instead of drawing.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from experiments.report.lifecycle import (
    channels_section,
    funnel_section,
    money_section,
    retention_section,
)
from experiments.report.operations import (
    attribution_section,
    growth_section,
    health_section,
    inventory_section,
    operations_section,
    warnings_section,
)
from experiments.report.parts import PALETTE, Stats, embed, fmt, mean_daily, page
from experiments.report.quiet_mechanics import quiet_section
from sim.aggregation import Result
from sim.metrics import METRICS


def daily_bands(frame: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Mean and 5%-95% quantiles of a daily metric across replicates."""
    grouped = frame.groupby([*by, "day"])[metric]
    return pd.DataFrame({
        "mean": grouped.mean(), "low": grouped.quantile(0.05), "high": grouped.quantile(0.95),
    }).reset_index()


def daily_figure(result: Result) -> go.Figure:
    """Every daily metric (by arm with an experiment: channel costs such as ad spend have no
    arm, so they are left out there), growth accounting aside (it has its own section)."""
    with_arms = result.scenario.experiment is not None
    frame = result.arm_metrics if with_arms else result.metrics.assign(arm="all")
    names = [n for n in result.metric_names if not n.startswith("ga_") and n in frame.columns]
    cols = 3
    rows = -(-len(names) // cols)
    titles = [f"{n} ({METRICS[n].daily_unit})" for n in names]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        vertical_spacing=min(0.08, 0.5 / max(rows - 1, 1)),
                        horizontal_spacing=0.06)
    for i, metric in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        bands = daily_bands(frame, metric, ["arm"])
        for j, (arm, band) in enumerate(bands.groupby("arm", sort=False)):
            color = PALETTE[j % len(PALETTE)]
            if result.scenario.replicates > 1:
                fig.add_trace(go.Scatter(
                    x=list(band["day"]) + list(band["day"][::-1]),
                    y=list(band["high"]) + list(band["low"][::-1]),
                    fill="toself", fillcolor=color, opacity=0.2, line={"width": 0},
                    hoverinfo="skip", showlegend=False, legendgroup=str(arm)), row=row, col=col)
            fig.add_trace(go.Scatter(
                x=band["day"], y=band["mean"], mode="lines", line={"color": color, "width": 1.5},
                name=str(arm), legendgroup=str(arm), showlegend=(i == 0 and with_arms)),
                row=row, col=col)
    fig.update_layout(height=280 * rows, margin={"t": 40, "l": 40, "r": 20, "b": 30},
                      template="plotly_white")
    fig.update_xaxes(title_text="day", title_standoff=2)
    return fig


def summary_table(summary: dict[str, Any]) -> str:
    blocks = [("all users", summary["metrics"])]
    blocks += [(f"arm {arm}", values) for arm, values in summary.get("by_arm", {}).items()]
    head = "".join(f"<th colspan=2>{html.escape(label)}</th>" for label, _ in blocks)
    sub = "<th>mean</th><th>95% CI</th>" * len(blocks)
    body = []
    for name in summary["metrics"]:
        cells = []
        for _, values in blocks:
            v = values.get(name, {})
            ci = (f"{fmt(v.get('ci_low'))} … {fmt(v.get('ci_high'))}"
                  if v.get("ci_low") is not None else "–")
            cells.append(f"<td>{fmt(v.get('mean'))}</td><td>{ci}</td>")
        body.append(f"<tr><td title='{html.escape(METRICS[name].description)}'>{name}</td>"
                    f"<td>{html.escape(METRICS[name].zh)}</td>"
                    f"<td>{html.escape(METRICS[name].unit)}</td>{''.join(cells)}</tr>")
    return (f"<table><thead><tr><th>metric</th><th>中文</th><th>unit</th>{head}</tr>"
            f"<tr><th></th><th></th><th></th>{sub}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table>")


# --- the page ----------------------------------------------------------------------------------


def _channel_summaries(result: Result, summary: dict[str, Any],
                       ) -> tuple[dict[str, dict[str, Stats]], dict[str, dict[str, Stats]]]:
    """By-channel metrics and unit economics: from summary.json when it has them, so the page
    and the file agree, else from the result."""
    by_channel = summary.get("by_channel")
    if by_channel is None:
        by_channel = {} if result.channel_metrics.empty else result.channel_summary()
    unit_economics = summary.get("unit_economics")
    if unit_economics is None:
        unit_economics = result.unit_economics_summary() if result.counters else {}
    return by_channel, unit_economics


NAV = (("health", "business health 经营健康"), ("growth", "growth accounting 增长核算"),
       ("funnel", "funnel 漏斗"), ("channels", "unit economics by channel 渠道"),
       ("retention", "retention 留存"), ("inventory", "inventory 库存"),
       ("operations", "retention operations 精细化运营"), ("attribution", "attribution 归因"),
       ("money", "money 资金"), ("warnings", "early warning 预警"),
       ("daily", "daily metrics 每日指标"), ("summary", "every metric 全部指标"),
       ("scenario", "scenario 场景"))


def _few_replicates(replicates: int) -> str:
    if replicates >= 5:
        return ""
    return (f" With {replicates} replicate(s) the intervals are rough (or absent): run with "
            "--replicates 5 or more before comparing close numbers.")


def write_report(result: Result, summary: dict[str, Any], path: Path,
                 forecast: dict[str, Any] | None = None) -> None:
    """The run's operations dashboard; `forecast` (a forecast's summary with its flagged weeks,
    see `experiments.calibration.forecast.load_forecast`) fills the early-warning panel."""
    path.write_text(report_html(result, summary, forecast), encoding="utf-8")


def report_html(result: Result, summary: dict[str, Any],
                forecast: dict[str, Any] | None = None) -> str:
    s = result.scenario
    figure = embed(daily_figure(result))
    meta = (f"{s.market.size:,} potential users × {s.days} days × {s.replicates} replicate(s), "
            f"seed {s.seed}, {summary['wall_seconds']} s")
    band_note = ("Lines are means across replicates; bands span the 5th to 95th percentile."
                 if s.replicates > 1 else "One replicate: no band (run with --replicates R).")
    metrics = summary["metrics"]
    daily = mean_daily(result.metrics)
    tables = summary.get("tables", {})
    by_channel, unit_economics = _channel_summaries(result, summary)
    sections = "\n".join([
        health_section(daily),
        growth_section(daily, s.growth_accounting.period_days),
        quiet_section(s, metrics),
        funnel_section(metrics),
        channels_section(metrics, by_channel, unit_economics, s.replicates > 1),
        retention_section(result),
        inventory_section(daily),
        operations_section(daily, tables),
        attribution_section(tables),
        money_section(metrics),
        warnings_section(forecast),
    ])
    header = (f"<h1>{html.escape(s.name)}</h1>\n<p>{html.escape(s.description)}</p>\n"
              f"<p>{html.escape(meta)}</p>")
    body = f"""{sections}
<h2 id="daily">Daily metrics</h2>
<p>{band_note} Growth-accounting metrics (ga_*) are in their own section.</p>
{figure}
<h2 id="summary">Every metric over the horizon (全部指标)</h2>
<p>Flows are summed over the days, stocks read on the last day, ratios are ratios of sums;
the interval is a t interval of the mean across replicates, kept inside what the metric can
take (a count never below 0).{_few_replicates(s.replicates)}</p>
<details><summary>{len(summary["metrics"])} metrics: open the table</summary>
{summary_table(summary)}
</details>
<h2 id="scenario">Resolved scenario</h2>
<details><summary>scenario.resolved.yaml</summary><pre>{html.escape(s.to_yaml())}</pre></details>
"""
    return page(f"growthsim · {s.name}", header, NAV, body)
