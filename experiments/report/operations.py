"""The operations sections of the run report: business health, growth accounting, inventory,
retention operations, attribution and early warnings. Which metrics each section draws comes
from the metrics themselves (`health`, `good`) and from the mechanics (`Mechanic.report`
and their metrics' `group`): a new mechanic's groups appear without an edit here; a section
whose mechanics the scenario does not run says so instead of drawing.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from experiments.report.language import metric_label, t
from experiments.report.parts import (
    Stats,
    embed,
    fmt_html,
    kpi_tiles,
    metric_group,
    not_modelled,
    period_ratios,
    section,
    trend_window,
)
from experiments.report.subplots import axis_key, cell_axes, subplot_grid
from sim.metrics import HEALTH, METRICS, report_groups, report_tiles

# Growth accounting's parts: (metric, English, 中文, colour, sign in the stacked bars).
GA_USERS = (("ga_new_users", "new", "新增", "#2ca02c", 1),
            ("ga_resurrected_users", "resurrected", "回流", "#98df8a", 1),
            ("ga_retained_users", "retained", "留存", "#1f77b4", 1),
            ("ga_churned_users", "churned", "流失", "#d62728", -1))
GA_REVENUE = (("ga_retained_revenue", "retained", "留存", "#1f77b4", 1),
              ("ga_expansion_revenue", "expansion", "扩张", "#aec7e8", 1),
              ("ga_new_revenue", "new", "新增", "#2ca02c", 1),
              ("ga_resurrected_revenue", "resurrected", "回流", "#98df8a", 1),
              ("ga_contraction_revenue", "contraction", "收缩", "#ff9896", -1),
              ("ga_churned_revenue", "churned", "流失", "#d62728", -1))


def health_section(daily: pd.DataFrame, metrics: dict[str, Stats] | None = None) -> str:
    title = t("Business health", "经营健康")
    present = [n for n in HEALTH if n in daily.columns]
    if not present:
        return section("health", title, not_modelled(t("Business KPIs", "经营指标")))
    window = trend_window(len(daily))
    intro = t(f"Over the horizon (flows summed, stocks on the last day, ratios of sums), "
              f"means over replicates; the trend compares the last {window} days with the "
              f"{window} before (green: the good direction). A growth-accounting ratio's "
              "trend compares the latest complete period with the one before.",
              f"全周期数值（流量求和，存量取最后一天，比率为总量之比），取各次重复的均值；趋势为最近"
              f"{window}天对比之前{window}天（绿色表示向好）。增长核算比率的趋势为最近一个完整周期"
              "对比上一周期。")
    return section("health", title, f"<p>{intro}</p>" + kpi_tiles(daily, HEALTH, metrics))


def growth_periods(daily: pd.DataFrame, period_days: int) -> pd.DataFrame:
    """Growth-accounting metrics of each complete period (rows), from the replicate-mean daily
    metrics: the values recorded on each period's last day."""
    names = [m for m in METRICS if m.startswith("ga_") and m in daily.columns]
    ends = [d for d in range(period_days - 1, len(daily), period_days)]
    table = daily.iloc[ends][names].copy()
    table.index = pd.Index([t(f"days {d - period_days + 1}–{d}", f"第{d - period_days + 1}–{d}天")
                            for d in ends], name="period")
    for ratio in ("ga_quick_ratio", "ga_revenue_quick_ratio"):  # ratio of the means, as the
        if ratio in table.columns:  # horizon value and the health tile are
            table[ratio] = period_ratios(daily, ratio).reindex(daily.index[ends]).to_numpy()
    return table


def growth_figure(periods: pd.DataFrame, title: str = "") -> dict[str, Any]:
    """Stacked bars of where each period's buyers and revenue came from (losses below zero),
    with the quick ratio on a second axis (a figure dict: see `subplots`)."""
    layout = subplot_grid(2, 1, shared_xaxes=True, vertical_spacing=0.12, secondary_y=True,
                          titles=[title + t("buyers per period", "每期买家"),
                                  title + t("revenue per period (yuan)", "每期收入（元）")])
    x = list(periods.index)
    traces: list[dict[str, Any]] = []
    for row, parts, ratio in ((1, GA_USERS, "ga_quick_ratio"),
                              (2, GA_REVENUE, "ga_revenue_quick_ratio")):
        for name, en, zh, color, sign in parts:
            label = t(en, zh)
            traces.append({"type": "bar", **cell_axes(row, secondary_y=True), "x": x,
                           "y": (sign * periods[name]).to_numpy(), "name": label,
                           "marker": {"color": color}, "legendgroup": label,
                           "showlegend": row == 1 or name in ("ga_expansion_revenue",
                                                              "ga_contraction_revenue")})
        right = cell_axes(row, secondary_y=True, second=True)
        traces.append({"type": "scatter", **right, "x": x, "y": periods[ratio].to_numpy(),
                       "mode": "lines+markers",
                       "name": t("quick ratio", "快速比率") if row == 1
                       else t("revenue quick ratio", "收入快速比率"),
                       "line": {"color": "#222", "width": 1.5}})
        layout[axis_key(right["yaxis"])].update(title={"text": t("quick ratio", "快速比率")},
                                                rangemode="tozero")
    layout.update(barmode="relative", height=680, legend={"orientation": "h", "y": -0.08},
                  margin={"t": 40, "l": 60, "r": 60, "b": 40})
    return {"data": traces, "layout": layout}


def growth_table(periods: pd.DataFrame) -> str:
    columns = [("ga_active_users", t("active", "活跃")), ("ga_new_users", t("new", "新增")),
               ("ga_retained_users", t("retained", "留存")),
               ("ga_resurrected_users", t("resurrected", "回流")),
               ("ga_churned_users", t("churned", "流失")),
               ("ga_quick_ratio", t("quick ratio", "快速比率")),
               ("ga_revenue", t("revenue", "收入")),
               ("ga_expansion_revenue", t("expansion", "扩张")),
               ("ga_contraction_revenue", t("contraction", "收缩")),
               ("ga_churned_revenue", t("churned revenue", "流失收入")),
               ("ga_revenue_quick_ratio", t("revenue quick ratio", "收入快速比率"))]
    head = "".join(f"<th title='{html.escape(METRICS[n].description)}'>{label}</th>"
                   for n, label in columns)
    body = "".join(f"<tr><td>{html.escape(str(period))}</td>"
                   + "".join(f"<td>{fmt_html(row[n])}</td>" for n, _ in columns) + "</tr>"
                   for period, row in periods.iterrows())
    return (f"<div class='wide'><table><thead><tr><th>{t('period', '周期')}</th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def growth_section(daily: pd.DataFrame, period_days: int) -> str:
    title = t("Growth accounting", "增长核算")
    if "ga_active_users" not in daily.columns:
        return section("growth", title, not_modelled(t(
            "Growth accounting (a run from before it existed)", "增长核算（旧版本的运行）")))
    periods = growth_periods(daily, period_days)
    if periods.empty or periods["ga_active_users"].sum() == 0:
        return section("growth", title, "<p class='note'>" + t(
            f"No complete {period_days}-day period with a buyer in this run (set "
            "growth_accounting.period_days or a longer horizon).",
            f"本次运行没有含买家的完整{period_days}天周期（调整 growth_accounting.period_days "
            "或延长周期）。") + "</p>")
    intro = t(f"Buyers active in each {period_days}-day period (at least one order) "
              "split into new (first order ever), retained (active the period before too) "
              "and resurrected (ordered before, not the period before); churned buyers "
              "were active the period before but not in this one. Revenue: retained = "
              "min(this, last period) per retained buyer, expansion and contraction the "
              "rest. Quick ratio = (new + resurrected) / churned; revenue quick ratio = "
              "(new + resurrected + expansion) / (churned + contraction). Means over "
              "replicates.",
              f"每个{period_days}天周期内有下单的买家分为：新增（首次下单）、留存（上一期也活跃）、"
              "回流（以前下过单、上一期未下单）；流失为上一期活跃、本期未下单的买家。收入：留存 = "
              "每位留存买家本期与上期的较小值，其余为扩张或收缩。快速比率 = (新增 + 回流) / 流失；"
              "收入快速比率 = (新增 + 回流 + 扩张) / (流失 + 收缩)。取各次重复的均值。")
    return section("growth", title, f"<p>{intro}</p>" + embed(growth_figure(periods))
                   + growth_table(periods))


def inventory_section(daily: pd.DataFrame) -> str:
    body = "".join(metric_group(daily, title, names)
                   for title, names in report_groups("inventory"))
    title = t("Inventory health", "库存健康")
    if not body:
        return section("inventory", title, not_modelled(t("Inventory and fulfilment",
                                                          "库存与履约")))
    return section("inventory", title, "<p>" + t(
        "Stock, fill rate, stock-out days, days of cover and turnover, means over replicates.",
        "库存、满足率、缺货天数、可售天数与周转，取各次重复的均值。") + "</p>"
        + kpi_tiles(daily, report_tiles("inventory")) + body)


def labelled(tables: dict[str, list], mechanic: str, size: int, *names: str) -> list[str]:
    """Labels for a table axis of `size`: a label list of that length from the same mechanic
    (first of `names` found), else 0..size-1."""
    for name in names:
        labels = tables.get(f"{mechanic}.{name}")
        if isinstance(labels, list) and len(labels) == size and all(
                isinstance(v, str) for v in labels):
            return labels
    return [str(i) for i in range(size)]


def matrix_table(values: list, rows: list[str], cols: list[str], corner: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(f"<tr><td>{html.escape(r)}</td>"
                   + "".join(f"<td>{fmt_html(float(v))}</td>" for v in line) + "</tr>"
                   for r, line in zip(rows, values, strict=True))
    return (f"<div class='wide'><table><thead><tr><th>{html.escape(corner)}</th>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table></div>")


def _by_mechanic(tables: dict[str, list], suffix: str) -> list[tuple[str, list]]:
    return [(key.rsplit(".", 1)[0], value) for key, value in sorted(tables.items())
            if key.endswith(f".{suffix}")]


def rfm_tables(tables: dict[str, list]) -> str:
    from sim.mechanics.segments import RFM_SEGMENTS

    parts = []
    for mechanic, matrix in _by_mechanic(tables, "rfm_transitions"):
        labels = list(RFM_SEGMENTS)[:len(matrix)]
        parts.append(f"<h3>{t('RFM transitions', 'RFM 分层迁移')} ({html.escape(mechanic)})</h3>"
                     "<p>" + t("Users moving from the segment at one recomputation (rows) to "
                               "the next (columns), summed over the run, mean over replicates.",
                               "每次重算时用户从一个分层（行）迁移到下一个分层（列）的人数，"
                               "全周期求和，取各次重复的均值。") + "</p>"
                     + matrix_table(matrix, labels, labels, t("from \\ to", "从 \\ 到")))
    return "".join(parts)


RULE_COLUMNS = ("sends", "reads", "cost", "conversions", "conversion_gmv")


def rule_tables(tables: dict[str, list]) -> str:
    parts = []
    for mechanic, names in _by_mechanic(tables, "rule_names"):
        columns = [c for c in RULE_COLUMNS if f"{mechanic}.rule_{c}" in tables]
        totals = [[sum(tables[f"{mechanic}.rule_{c}"][i]) for c in columns]
                  for i in range(len(names))]
        parts.append(f"<h3>{t('Automation rules', '自动化规则')} ({html.escape(mechanic)})</h3>"
                     "<p>" + t("Per rule over the horizon: sends, reads, cost (yuan: sends and "
                               "gifts), conversions and their order value, mean over replicates.",
                               "每条规则的全周期发送、阅读、成本（元：发送与赠礼）、转化及其订单"
                               "金额，取各次重复的均值。") + "</p>"
                     + matrix_table(totals, [str(n) for n in names], columns, t("rule", "规则")))
    return "".join(parts)


def operations_section(daily: pd.DataFrame, tables: dict[str, list]) -> str:
    body = rule_tables(tables) + rfm_tables(tables) + "".join(
        metric_group(daily, title, names) for title, names in report_groups("operations"))
    title = t("Retention operations", "精细化运营")
    what = t("Segments, automations, tiers, points, paid membership, community groups and live "
             "streams", "用户分层、自动化触达、会员等级、积分、付费会员、社群与直播")
    if not body:
        return section("operations", title, not_modelled(what))
    return section("operations", title, f"<p>{what}" + t(
        ": whichever this scenario runs; means over replicates.",
        "：本场景运行的部分，取各次重复的均值。") + "</p>" + body)


def attribution_section(tables: dict[str, list]) -> str:
    """Every end-of-run table named attribution* / attributed* (by mechanic), generically:
    2-D tables with their row and column labels when the mechanic gives lists that fit."""
    parts = []
    for key in sorted(tables):
        mechanic, _, name = key.rpartition(".")
        value = tables[key]
        if not name.startswith("attribut") or not isinstance(value, list) or not value:
            continue
        if all(isinstance(v, str) for v in value):
            continue  # a label list
        matrix = value if isinstance(value[0], list) else [value]
        if matrix and isinstance(matrix[0], list) and matrix[0] and isinstance(matrix[0][0],
                                                                               list):
            continue  # deeper than 2-D: not drawn
        rows = labelled(tables, mechanic, len(matrix), "attribution_models", "models")
        cols = labelled(tables, mechanic, len(matrix[0]), "touchpoint_names", "touchpoints")
        parts.append(f"<h3>{html.escape(name)} ({html.escape(mechanic)})</h3>"
                     + matrix_table(matrix, rows, cols, t("model \\ touch point",
                                                          "模型 \\ 触点")))
    title = t("Attribution", "归因")
    if not parts:
        return section("attribution", title, not_modelled(t("Multi-touch attribution",
                                                            "多触点归因")))
    return section("attribution", title, "<p>" + t(
        "Orders, first orders and GMV credited to each touch point by each attribution model "
        "(first touch, last touch, position-based ...), side by side, mean over replicates.",
        "各归因模型（首次触点、末次触点、位置加权……）分给每个触点的订单、首单与 GMV，并排比较，"
        "取各次重复的均值。") + "</p>" + "".join(parts))


def warnings_section(forecast: dict[str, Any] | None) -> str:
    """The early-warning panel: weeks a forecast flagged, or how to attach a forecast."""
    title = t("Early warning", "预警")
    if forecast is None:
        return section("warnings", title, "<p class='note'>" + t(
            "No forecast attached. Fit and forecast with", "未附预测。先用") +
            " <code>simctl calibrate</code> " + t("and", "和") + " <code>simctl forecast FITTED "
            "--observed DATA</code>" + t(", then attach its folder:", " 拟合并预测，再附上其目录：")
            + " <code>simctl run ... --forecast DIR</code> " + t("or", "或") + " <code>simctl "
            "dashboard RUN_DIR --forecast DIR</code>.</p>")
    return section("warnings", title, early_warning_panel(forecast))


def early_warning_panel(forecast: dict[str, Any]) -> str:
    """Flagged weeks of a forecast (`doc` of summary.json with `flags`: metric, week, first_day,
    observed, lo, hi, flag, warning), warnings first."""
    flags = sorted(forecast.get("flags", []), key=lambda f: (not f["warning"], f["metric"],
                                                              f["week"]))
    name, level = html.escape(str(forecast.get('scenario', ''))), forecast.get('level', 0.9)
    intro = "<p>" + t(f"Forecast of {name}: weeks whose observed value left the {level:.0%} "
                      "band. Red: in the bad direction (an early warning); grey: outside in the "
                      "other direction.",
                      f"{name} 的预测：实际值超出 {level:.0%} 区间的周。红色：向坏的方向（预警）；"
                      "灰色：向另一方向超出。") + "</p>"
    if not flags:
        return intro + "<p class='ok'>" + t("No observed week left its band.",
                                            "没有一周超出区间。") + "</p>"
    rows = "".join(
        f"<tr class='{'warn-row' if f['warning'] else ''}'>"
        f"<td>{html.escape(metric_label(f['metric']))}</td>"
        f"<td>{f['week']}</td><td>{f['first_day']}</td><td>{fmt_html(f['observed'])}</td>"
        f"<td>{fmt_html(f['lo'])} … {fmt_html(f['hi'])}</td><td>{html.escape(f['flag'])}</td>"
        f"<td>{t('warning', '预警') if f['warning'] else ''}</td></tr>" for f in flags)
    head = "".join(f"<th>{h}</th>" for h in (
        t("metric", "指标"), t("week", "周"), t("first day", "首日"), t("observed", "实际"),
        t("band", "区间"), t("outside", "超出方向"), ""))
    return intro + f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
