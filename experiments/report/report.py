"""The self-contained HTML report of a run: summary table, daily charts with replicate bands,
and the lifecycle sections a growth team reads (funnel, channels, retention, money).

plotly.js is inlined once, so the file opens offline and can be mailed around. Every section
has an `id`; a section whose mechanics the scenario does not model says so instead of drawing.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.report.language import Lang, metric_label, metric_unit, t, use
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
from experiments.report.parts import (
    PALETTE,
    Stats,
    embed,
    fmt_html,
    mean_daily,
    page,
)
from experiments.report.quiet_mechanics import quiet_section
from experiments.report.subplots import cell_axes, subplot_grid, x_axes
from sim.aggregation import Result
from sim.metrics import METRICS


def daily_bands(frame: pd.DataFrame, metrics: list[str],
                with_quantiles: bool) -> dict[str, tuple[np.ndarray, pd.DataFrame, pd.DataFrame,
                                                        pd.DataFrame]]:
    """Per arm (in order): its days and, across replicates, the mean and the 5%-95% quantiles
    of every metric by day (frames with a column per metric), grouped once for all metrics
    and arms: a groupby or a frame per metric cost most of a large report."""
    grouped = frame.groupby(["arm", "day"])[metrics]
    mean = grouped.mean()
    low = grouped.quantile(0.05) if with_quantiles else mean
    high = grouped.quantile(0.95) if with_quantiles else mean
    arms = mean.index.get_level_values("arm")
    return {str(arm): (mean.index.get_level_values("day")[arms == arm].to_numpy(),
                       mean[arms == arm], low[arms == arm], high[arms == arm])
            for arm in arms.unique()}


def drawn_metrics(frame: pd.DataFrame, names: list[str]) -> tuple[list[str], list[str]]:
    """(metrics worth a chart, metrics left out): a series that is empty (NaN throughout) or
    the same every day would draw an empty panel or an axis of 99.999k-100.001k."""
    drawn, flat = [], []
    for name in names:
        values = frame[name].dropna()
        (drawn if values.nunique() > 1 else flat).append(name)
    return drawn, flat


def daily_figure(result: Result, names: list[str]) -> dict[str, Any]:
    """The daily metrics `names` (by arm with an experiment: channel costs such as ad spend
    have no arm, so they are left out there), as a figure dict: a subplot grid and plain
    trace dicts on its cells, so a hundred panels cost milliseconds instead of plotly's
    per-trace checks (tests check the figure through plotly)."""
    with_arms = result.scenario.experiment is not None
    frame = result.arm_metrics if with_arms else result.metrics.assign(arm="all")
    cols = 3
    rows = -(-len(names) // cols)
    titles = [f"{metric_label(n)} ({metric_unit(n, daily=True)})" for n in names]
    layout = subplot_grid(rows, cols, titles=titles, horizontal_spacing=0.06,
                          vertical_spacing=min(0.08, 0.5 / max(rows - 1, 1)))
    for axis in x_axes(layout):
        axis["title"] = {"text": t("day", "天"), "standoff": 2}
    layout.update(height=280 * rows, margin={"t": 40, "l": 40, "r": 20, "b": 30})
    traces = []
    replicated = result.scenario.replicates > 1
    all_bands = daily_bands(frame, names, with_quantiles=replicated)
    for i, metric in enumerate(names):
        axes = cell_axes(i + 1)
        for j, (arm, (days, means, lows, highs)) in enumerate(all_bands.items()):
            mean, low, high = (f[metric].to_numpy() for f in (means, lows, highs))
            kept = ~(np.isnan(mean) | np.isnan(low) | np.isnan(high))  # a ratio with no
            day, mean, low, high = days[kept], mean[kept], low[kept], high[kept]  # denominator
            color = PALETTE[j % len(PALETTE)]  # that day: a gap, not a wedge
            if replicated:
                traces.append({
                    "type": "scatter", **axes, "x": np.concatenate([day, day[::-1]]),
                    "y": np.concatenate([high, low[::-1]]),
                    "fill": "toself", "fillcolor": color, "opacity": 0.2, "line": {"width": 0},
                    "hoverinfo": "skip", "showlegend": False, "legendgroup": arm})
            traces.append({
                "type": "scatter", **axes, "x": day, "y": mean,
                "mode": "lines", "line": {"color": color, "width": 1.5}, "name": arm,
                "legendgroup": arm, "showlegend": i == 0 and with_arms})
    return {"data": traces, "layout": layout}


def daily_section(result: Result) -> str:
    """Every daily metric but growth accounting (it has its own section); flat or empty series
    are named in one line instead of drawn."""
    with_arms = result.scenario.experiment is not None
    frame = result.arm_metrics if with_arms else result.metrics
    names = [n for n in result.metric_names if not n.startswith("ga_") and n in frame.columns]
    drawn, flat = drawn_metrics(frame, names)
    band = (t("Lines are means across replicates; bands span the 5th to 95th percentile.",
              "线为各次重复的均值，阴影为 5%–95% 分位。") if result.scenario.replicates > 1 else
            t("One replicate: no band (run with --replicates R).",
              "仅一次重复：无阴影带（可用 --replicates R）。"))
    parts = [f"<p>{band} " + t("Growth-accounting metrics (ga_*) are in their own section.",
                               "增长核算指标（ga_*）见其专节。") + "</p>"]
    if flat:
        parts.append("<p class='note'>" + t(
            "Not drawn, the same every day (or never recorded): ", "未画图（每天相同或从未记录）：")
            + html.escape(", ".join(metric_label(n) for n in flat)) + ".</p>")
    if drawn:
        parts.append(embed(daily_figure(result, drawn)))
    return (f'<h2 id="daily">{t("Daily metrics", "每日指标")}</h2>\n' + "\n".join(parts))


def summary_table(summary: dict[str, Any]) -> str:
    blocks = [(t("all users", "全部用户"), summary["metrics"])]
    blocks += [(t(f"arm {arm}", f"实验组 {arm}"), values)
               for arm, values in summary.get("by_arm", {}).items()]
    head = "".join(f"<th colspan=2>{html.escape(label)}</th>" for label, _ in blocks)
    sub = f"<th>{t('mean', '均值')}</th><th>{t('95% CI', '95% 置信区间')}</th>" * len(blocks)
    body = []
    for name in summary["metrics"]:
        cells = []
        for _, values in blocks:
            v = values.get(name, {})
            ci = (f"{fmt_html(v.get('ci_low'))} … {fmt_html(v.get('ci_high'))}"
                  if v.get("ci_low") is not None else "–")
            cells.append(f"<td>{fmt_html(v.get('mean'))}</td><td>{ci}</td>")
        body.append(f"<tr><td title='{html.escape(METRICS[name].description)}'>{name}</td>"
                    f"<td>{html.escape(METRICS[name].zh)}</td>"
                    f"<td>{html.escape(metric_unit(name))}</td>{''.join(cells)}</tr>")
    return (f"<table><thead><tr><th>{t('metric', '指标')}</th><th>中文</th>"
            f"<th>{t('unit', '单位')}</th>{head}</tr>"
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


# Section anchors and their menu labels (English, 中文): the anchors are the same in both.
NAV = (("health", "business health", "经营健康"), ("growth", "growth accounting", "增长核算"),
       ("funnel", "funnel", "转化漏斗"), ("channels", "unit economics by channel", "渠道"),
       ("retention", "retention", "留存"), ("inventory", "inventory", "库存"),
       ("operations", "retention operations", "精细化运营"), ("attribution", "attribution", "归因"),
       ("money", "money", "资金"), ("warnings", "early warning", "预警"),
       ("daily", "daily metrics", "每日指标"), ("summary", "every metric", "全部指标"),
       ("scenario", "scenario", "场景"))


def nav(entries: tuple[tuple[str, str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((anchor, t(en, zh)) for anchor, en, zh in entries)


def _few_replicates(replicates: int) -> str:
    if replicates >= 5:
        return ""
    return " " + t(f"With {replicates} replicate(s) the intervals are rough (or absent): run "
                   "with --replicates 5 or more before comparing close numbers.",
                   f"仅 {replicates} 次重复，区间粗略（或没有）：比较相近数字前请用 --replicates 5 "
                   "或更多。")


def write_report(result: Result, summary: dict[str, Any], path: Path,
                 forecast: dict[str, Any] | None = None, lang: Lang | None = None) -> None:
    """The run's operations dashboard; `forecast` (a forecast's summary with its flagged weeks,
    see `experiments.calibration.forecast.load_forecast`) fills the early-warning panel."""
    path.write_text(report_html(result, summary, forecast, lang), encoding="utf-8")


def report_html(result: Result, summary: dict[str, Any],
                forecast: dict[str, Any] | None = None, lang: Lang | None = None) -> str:
    """The page in `lang` (None: the language in force, see experiments.report.language)."""
    with use(lang):
        return _report_html(result, summary, forecast)


def _report_html(result: Result, summary: dict[str, Any],
                 forecast: dict[str, Any] | None) -> str:
    s = result.scenario
    meta = t(f"{s.market.size:,} potential users × {s.days} days × {s.replicates} replicate(s), "
             f"seed {s.seed}, {summary['wall_seconds']} s",
             f"潜在用户 {s.market.size:,} × {s.days} 天 × {s.replicates} 次重复，"
             f"随机种子 {s.seed}，用时 {summary['wall_seconds']} 秒")
    metrics = summary["metrics"]
    daily = mean_daily(result.metrics)
    tables = summary.get("tables", {})
    by_channel, unit_economics = _channel_summaries(result, summary)
    sections = "\n".join([
        health_section(daily, metrics),
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
    every = t("Flows are summed over the days, stocks read on the last day, ratios are ratios of "
              "sums; the interval is a t interval of the mean across replicates, kept inside "
              "what the metric can take (a count never below 0).",
              "流量按天求和，存量取最后一天，比率为总量之比；区间为各次重复均值的 t 区间，并限制在"
              "指标可取的范围内（计数不小于 0）。")
    body = f"""{sections}
{daily_section(result)}
<h2 id="summary">{t("Every metric over the horizon", "全部指标（全周期）")}</h2>
<p>{every}{_few_replicates(s.replicates)}</p>
<details><summary>{t(f"{len(metrics)} metrics: open the table", f"{len(metrics)} 个指标：展开表格")}
</summary>
{summary_table(summary)}
</details>
<h2 id="scenario">{t("Resolved scenario", "解析后的场景")}</h2>
<details><summary>scenario.resolved.yaml</summary><pre>{html.escape(s.to_yaml())}</pre></details>
"""
    return page(f"growthsim · {s.name}", header, nav(NAV), body)
