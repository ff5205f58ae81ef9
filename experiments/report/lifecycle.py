"""The lifecycle sections of the run report: the funnel, unit economics by channel, retention
by cohort and the money ledger drawn as a waterfall (拉新 to 复购, GMV to contribution)."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd
from plotly.colors import make_colorscale, sequential

from experiments.report.language import metric_label, t
from experiments.report.parts import (
    PALETTE,
    Stats,
    embed,
    fmt,
    fmt_html,
    mean_of,
    not_modelled,
    number,
    section,
)
from experiments.report.subplots import cell_axes, subplot_grid
from sim.aggregation import Result
from sim.metrics import LEDGER, LTV_DAYS, METRICS

# plotly.py's "Blues" (light for 0, dark for 1) as stops: the name alone would reach plotly.js,
# whose own "Blues" runs the other way (dark blue for 0% opened)
BLUES = make_colorscale(sequential.Blues)


# funnel


FUNNEL_STAGES = (("visits", "访问", "visits"), ("new users", "新增用户", "new_users"),
                 ("first purchases", "首单", "first_purchases"),
                 ("repeat purchases", "复购", "repeat_purchases"))


def acquisition_stages(metrics: dict[str, Stats]) -> list[tuple[str, float]]:
    """Visits → new users → first → repeat purchases over the horizon, means over replicates;
    stages the scenario does not produce are left out."""
    stages = [(t(en, zh), mean_of(metrics, name)) for en, zh, name in FUNNEL_STAGES]
    return [(label, value) for label, value in stages if not math.isnan(value)]


def checkout_stages(metrics: dict[str, Stats]) -> list[tuple[str, float]]:
    """Checkouts → abandoned → reminded → recovered; empty when no cart was ever abandoned.

    A checkout is either paid at once or abandoned, and recovered carts are counted among the
    purchases, so checkouts = purchases + carts_abandoned - recovered_orders.
    """
    abandoned = mean_of(metrics, "carts_abandoned")
    if math.isnan(abandoned) or abandoned <= 0:
        return []
    reminded, recovered = (0.0 if math.isnan(v) else v for v in (
        mean_of(metrics, "reminders_sent"), mean_of(metrics, "recovered_orders")))
    checkouts = mean_of(metrics, "purchases") + abandoned - recovered
    return [(t("checkouts", "结算"), checkouts), (t("abandoned", "弃购"), abandoned),
            (t("reminded", "已提醒"), reminded), (t("recovered", "挽回"), recovered)]


def funnel_figure(acquisition: list[tuple[str, float]],
                  checkout: list[tuple[str, float]]) -> dict[str, Any]:
    """The acquisition funnel, and beside it the checkout funnel when carts exist (a figure
    dict: see `subplots`)."""
    panels = [(t("acquisition", "拉新"), acquisition)] + (
        [(t("checkout", "结算"), checkout)] if checkout else [])
    layout = subplot_grid(1, len(panels), titles=[title for title, _ in panels],
                          horizontal_spacing=0.18)
    traces = [{"type": "funnel", **cell_axes(col), "y": [label for label, _ in stages],
               "x": [value for _, value in stages], "name": title,
               "texttemplate": "%{value:,.0f}<br>%{percentInitial:.1%}",
               "marker": {"color": PALETTE[col - 1]}, "showlegend": False}
              for col, (title, stages) in enumerate(panels, start=1)]
    layout.update(height=360, margin={"t": 40, "l": 120, "r": 20, "b": 30})
    return {"data": traces, "layout": layout}


def funnel_section(metrics: dict[str, Stats]) -> str:
    title = t("Funnel", "转化漏斗")
    acquisition = acquisition_stages(metrics)
    if len(acquisition) < 2:
        return section("funnel", title, not_modelled(t("The acquisition funnel", "拉新漏斗")))
    checkout = checkout_stages(metrics)
    notes = [t("Totals over the horizon, means over replicates; percentages are of the first "
               "stage. Repeat purchases are orders, not users.",
               "全周期总量，取各次重复的均值；百分比相对第一层。复购按订单计，不按人数。")]
    if mean_of(metrics, "visits") == mean_of(metrics, "new_users"):
        notes.append(t("Every visit registers: no registration step is modelled.",
                       "每次访问都注册：未建模注册环节。"))
    if not checkout:
        notes.append(t("Checkout and cart abandonment: not modelled in this scenario.",
                       "结算与弃购：本场景未建模。"))
    else:
        notes.append(t("Checkouts = purchases + carts_abandoned − recovered_orders.",
                       "结算 = 购买 + 弃购 − 挽回订单。"))
    return section("funnel", title,
                   f"<p>{' '.join(html.escape(n) for n in notes)}</p>"
                   + embed(funnel_figure(acquisition, checkout)))


# channels


CHANNEL_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    # header, source ("metrics": horizon metric, "ue": unit economics), key, tooltip
    ("new users 新增用户", "metrics", "new_users", METRICS["new_users"].description),
    ("new buyers 新客", "metrics", "won_first_purchases",
     METRICS["won_first_purchases"].description),
    ("acquisition spend 获客费用", "metrics", "acquisition_spend",
     METRICS["acquisition_spend"].description),
    ("CAC 获客成本", "ue", "cac", "Acquisition spend per new buyer, yuan (unit-economics basis)."),
    *((f"LTV {d}d margin 毛利", "ue", f"ltv_{d}d_margin",
       f"Gross margin per new buyer within {d} days of joining, yuan (mature cohorts).")
      for d in LTV_DAYS),
    *((f"LTV {d}d GMV", "ue", f"ltv_{d}d_gmv",
       f"GMV per new buyer within {d} days of joining, yuan (mature cohorts).")
      for d in LTV_DAYS),
    *((f"LTV/CAC {d}d", "ue", f"ltv_cac_{d}d", f"LTV {d}d (margin) / CAC.") for d in LTV_DAYS),
    ("payback days 回本天数", "ue", "payback_days",
     "Age from which the cumulative margin per new buyer covers CAC for good (– if not by "
     "the horizon)."),
    ("ROI", "metrics", "roi", METRICS["roi"].description),
)


def channel_rows(metrics: dict[str, Stats], by_channel: dict[str, dict[str, Stats]],
                 unit_economics: dict[str, dict[str, Stats]],
                 ) -> list[tuple[str, dict[str, dict[str, Stats]]]]:
    """One row per channel, then the whole market ("all"), each with both sources."""
    rows = [(channel, {"metrics": values, "ue": unit_economics.get(channel, {})})
            for channel, values in by_channel.items()]
    rows.append(("all", {"metrics": metrics, "ue": unit_economics.get("all", {})}))
    return rows


def stat_cell(values: Stats | None, with_ci: bool) -> str:
    """Mean, and below it the 95% CI when there is one."""
    values = values or {}
    low, high = number(values.get("ci_low")), number(values.get("ci_high"))
    ci = (f"<br><small>{fmt_html(low)} … {fmt_html(high)}</small>"
          if with_ci and not (math.isnan(low) or math.isnan(high)) else "")
    return f"<td>{fmt_html(values.get('mean'))}{ci}</td>"


def channel_table(rows: list[tuple[str, dict[str, dict[str, Stats]]]], with_ci: bool) -> str:
    head = "".join(f"<th title='{html.escape(tip)}'>{html.escape(label)}</th>"
                   for label, _, _, tip in CHANNEL_COLUMNS)
    body = []
    for channel, sources in rows:
        cells = "".join(stat_cell(sources[source].get(key), with_ci)
                        for _, source, key, _ in CHANNEL_COLUMNS)
        body.append(f"<tr><td>{html.escape(channel)}</td>{cells}</tr>")
    return (f"<div class='wide'><table><thead><tr><th>{t('channel', '渠道')}</th>{head}</tr>"
            "</thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def ltv_points(unit_economics: dict[str, dict[str, Stats]],
               ) -> tuple[int, list[tuple[str, Stats, Stats]]]:
    """(days, [(channel, CAC, LTV)]) at the longest LTV horizon any channel has observed."""
    for days in sorted(LTV_DAYS, reverse=True):
        key = f"ltv_{days}d_margin"
        points = [(channel, v.get("cac", {}), v.get(key, {}))
                  for channel, v in unit_economics.items()
                  if not math.isnan(mean_of(v, "cac")) and not math.isnan(mean_of(v, key))]
        if points:
            return days, points
    return 0, []


def _error(values: Stats) -> dict[str, Any] | None:
    mean, low, high = (number(values.get(k)) for k in ("mean", "ci_low", "ci_high"))
    if math.isnan(low) or math.isnan(high):
        return None
    return {"type": "data", "symmetric": False, "array": [high - mean],
            "arrayminus": [mean - low], "thickness": 1}


def cac_ltv_figure(days: int, points: list[tuple[str, Stats, Stats]]) -> dict[str, Any]:
    """CAC against LTV per channel: above the diagonal LTV = CAC a channel's new buyers have
    paid back their acquisition within `days` days; below it they have not (yet)."""
    values = [number(v.get("mean")) for _, cac, ltv in points for v in (cac, ltv)]
    low, high = min(0.0, *values), max(0.0, *values) * 1.1 or 1.0
    traces: list[dict[str, Any]] = [{
        "type": "scatter", "x": [low, high], "y": [low, high], "mode": "lines",
        "name": "LTV = CAC", "line": {"color": "#888", "dash": "dash", "width": 1}}]
    for i, (channel, cac, ltv) in enumerate(points):
        market = channel == "all"
        traces.append({
            "type": "scatter", "x": [cac["mean"]], "y": [ltv["mean"]], "mode": "markers+text",
            "name": channel, "text": [channel], "textposition": "top center",
            **{key: bar for key, bar in (("error_x", _error(cac)), ("error_y", _error(ltv)))
               if bar is not None},
            "marker": {"size": 12, "symbol": "diamond" if market else "circle",
                       "color": "#222" if market else PALETTE[i % len(PALETTE)]}})
    layout = {"height": 420, "width": 640, "margin": {"t": 30, "l": 60, "r": 20, "b": 50},
              "xaxis": {"title": {"text": t("CAC (yuan per new buyer)",
                                            "获客成本 CAC（元/新买家）")}},
              "yaxis": {"title": {"text": t(f"LTV {days}d, margin (yuan per new buyer)",
                                            f"{days}日 LTV 毛利（元/新买家）")}}}
    return {"data": traces, "layout": layout}


def channels_section(metrics: dict[str, Stats], by_channel: dict[str, dict[str, Stats]],
                     unit_economics: dict[str, dict[str, Stats]], with_ci: bool) -> str:
    title = t("Channels", "渠道")
    if not by_channel:
        return section("channels", title, not_modelled(t("Acquisition channels", "获客渠道")))
    rows = channel_rows(metrics, by_channel, unit_economics)
    parts = [
        "<p>" + t("Per acquisition channel: users and new buyers over the horizon, spend, and "
                  "unit economics per new buyer. LTV counts only cohorts old enough to be "
                  "observed for the whole window; margin basis is net revenue minus cost of "
                  "goods. ", "各获客渠道的全周期新用户、新买家、费用及每位新买家的单位经济。LTV "
                  "只计已完整观察窗口的批次；毛利 = 净收入 − 商品成本。")
        + (t("Means over replicates, 95% CI below.", "取各次重复的均值，下方为 95% 置信区间。")
           if with_ci else t("One replicate: no CI.", "仅一次重复：无置信区间。"))
        + "</p>",
        channel_table(rows, with_ci),
    ]
    days, points = ltv_points(unit_economics)
    if points:
        parts.append("<h3>" + t(f"CAC against LTV ({days} days, margin)",
                                f"CAC 对比 LTV（{days}天，毛利）") + "</h3><p>" + t(
            "Channels above the dashed diagonal earn back what their buyers cost; whiskers are "
            "95% CIs across replicates.", "虚线上方的渠道已收回获客成本；误差线为各次重复的 "
            "95% 置信区间。") + "</p>")
        parts.append(embed(cac_ltv_figure(days, points)))
    else:
        parts.append("<p class='note'>" + t(
            "No channel has both a CAC and an observed LTV (horizon too short for a 30-day "
            "cohort, or no buyers): the chart is left out.",
            "没有渠道同时具备 CAC 与已观察到的 LTV（周期不足 30 天或没有买家），故不画图。")
            + "</p>")
    return section("channels", title, "\n".join(parts))


# retention


def retention_grids(result: Result) -> dict[str, pd.DataFrame]:
    """Cohort retention of the whole market and of each channel (empty without activity)."""
    whole = result.retention()
    if whole.empty:
        return {}
    grids = {t("all channels", "全部渠道"): whole}
    channels = ([] if result.channel_metrics.empty
                else list(result.channel_metrics["channel"].unique()))
    for channel in channels:
        grid = result.retention(str(channel))
        if not grid.empty:
            grids[str(channel)] = grid
    return grids


def retention_figure(grids: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Weekly cohorts (rows) × weeks since acquisition (columns): share with an open; a
    dropdown switches between the market and each channel."""
    traces = [{
        "type": "heatmap", "z": grid.to_numpy(), "x": list(grid.columns), "y": list(grid.index),
        "name": name, "visible": i == 0, "zmin": 0.0, "zmax": 1.0, "colorscale": BLUES,
        "colorbar": {"tickformat": ".0%", "title": {"text": t("opened", "打开")}},
        "hovertemplate": t("cohort week %{y}<br>%{x} weeks since acquisition<br>%{z:.1%} "
                           "opened", "第 %{y} 周批次<br>获客后第 %{x} 周<br>%{z:.1%} 打开")
        + "<extra>" + html.escape(name) + "</extra>"}
        for i, (name, grid) in enumerate(grids.items())]
    layout: dict[str, Any] = {
        "height": 460, "margin": {"t": 60, "l": 60, "r": 20, "b": 50},
        "xaxis": {"title": {"text": t("weeks since acquisition", "获客后周数")}},
        "yaxis": {"title": {"text": t("cohort (week joined)", "批次（加入周）")},
                  "autorange": "reversed"}}
    if len(grids) > 1:
        buttons = [{"label": name, "method": "update",
                    "args": [{"visible": [j == i for j in range(len(grids))]}]}
                   for i, name in enumerate(grids)]
        layout["updatemenus"] = [{"buttons": buttons, "x": 0, "y": 1.12, "xanchor": "left",
                                  "yanchor": "top"}]
    return {"data": traces, "layout": layout}


def retention_section(result: Result) -> str:
    title = t("Cohort retention", "批次留存")
    grids = retention_grids(result)
    if not grids:
        return section("retention", title, not_modelled(t("App opens (activity)", "打开（活跃）")))
    cohorts = max(len(grid) for grid in grids.values())
    if cohorts < 2 or max(len(grid.columns) for grid in grids.values()) < 2:
        return section("retention", title, "<p class='note'>" + t(
            f"{cohorts} weekly cohort(s) observed for under two weeks: too few for a "
            "retention heatmap (run a longer horizon).",
            f"只有 {cohorts} 个周批次且观察不足两周，无法绘制留存热力图（请延长周期）。") + "</p>")
    return section("retention", title, "<p>" + t(
        "Share of each weekly cohort with at least one open in each week since it joined, mean "
        "over replicates; cells not yet fully observed are blank.",
        "每个周批次在加入后各周至少打开一次的占比，取各次重复的均值；尚未完整观察的格子留空。")
        + "</p>" + embed(retention_figure(grids)))


# money


WATERFALL = LEDGER  # the ledger's own order: the drawing cannot leave a line out


def waterfall_steps(metrics: dict[str, Stats]) -> list[tuple[str, str, float]]:
    """(metric, measure, value) from gmv to contribution, horizon means: costs enter negative,
    income (membership fees) positive, both as plotly "relative" steps; totals carry the
    metric's own mean so the drawn sums can be checked against it."""
    steps = []
    for name, measure in WATERFALL:
        value = mean_of(metrics, name)
        value = 0.0 if math.isnan(value) else value
        if measure == "income":
            steps.append((name, "relative", value))
        else:
            steps.append((name, measure, -value if measure == "relative" and value else value))
    return steps


def ledger_gaps(steps: list[tuple[str, str, float]]) -> dict[str, float]:
    """Totals whose metric value differs from the running sum of the steps before them."""
    running, gaps = 0.0, {}
    for name, measure, value in steps:
        if measure == "absolute":
            running = value
        elif measure == "relative":
            running += value
        elif not math.isclose(running, value, rel_tol=1e-9, abs_tol=1e-6):
            gaps[name] = running - value
    return gaps


def money_waterfall(steps: list[tuple[str, str, float]]) -> dict[str, Any]:
    """GMV down to contribution: what discounts, refunds, goods and acquisition take."""
    labels = [metric_label(name) if measure != "relative" else f"− {metric_label(name)}"
              for name, measure, _ in steps]
    waterfall = {
        "type": "waterfall", "x": labels, "y": [value for _, _, value in steps],
        "measure": [measure for _, measure, _ in steps],
        "text": [fmt(value) for _, _, value in steps], "textposition": "outside",
        "connector": {"line": {"color": "#bbb", "width": 1}},
        "increasing": {"marker": {"color": PALETTE[2]}},
        "decreasing": {"marker": {"color": PALETTE[1]}},
        "totals": {"marker": {"color": PALETTE[0]}}}
    return {"data": [waterfall],
            "layout": {"height": 420, "showlegend": False,
                       "margin": {"t": 30, "l": 60, "r": 20, "b": 90},
                       "yaxis": {"title": {"text": t("yuan", "元")}}}}


def money_section(metrics: dict[str, Stats]) -> str:
    title = t("Money", "资金")
    if "gmv" not in metrics:
        return section("money", title, not_modelled(t("Orders and money", "订单与资金")))
    steps = waterfall_steps(metrics)
    zero = [name for name, measure, value in steps if measure == "relative" and value == 0]
    notes = [t("From GMV to contribution over the horizon, means over replicates (yuan).",
               "全周期从 GMV 到贡献利润，取各次重复的均值（元）。")]
    if zero:
        notes.append(t("Zero in this run (no mechanic books them, or none was incurred): ",
                       "本次为零（没有机制记账或未发生）：")
                     + t(", ", "、").join(metric_label(name) for name in zero) + t(".", "。"))
    gaps = ledger_gaps(steps)
    warning = ("".join(f"<p class='warn'>Ledger check failed: {html.escape(name)} differs from "
                       f"the sum of its steps by {fmt_html(gap)} yuan.</p>"
                       for name, gap in gaps.items()))
    return section("money", title,
                   f"<p>{html.escape(' '.join(notes))}</p>{warning}"
                   + embed(money_waterfall([s for s in steps if s[0] not in zero])))
