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
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from experiments.report.parts import (
    embed,
    fmt,
    kpi_tiles,
    metric_group,
    not_modelled,
    section,
    trend_window,
)
from sim.metrics import HEALTH, METRICS, report_groups, report_tiles

GA_USERS = (("ga_new_users", "new", "#2ca02c", 1), ("ga_resurrected_users", "resurrected",
                                                     "#98df8a", 1),
            ("ga_retained_users", "retained", "#1f77b4", 1),
            ("ga_churned_users", "churned", "#d62728", -1))
GA_REVENUE = (("ga_retained_revenue", "retained", "#1f77b4", 1),
              ("ga_expansion_revenue", "expansion", "#aec7e8", 1),
              ("ga_new_revenue", "new", "#2ca02c", 1),
              ("ga_resurrected_revenue", "resurrected", "#98df8a", 1),
              ("ga_contraction_revenue", "contraction", "#ff9896", -1),
              ("ga_churned_revenue", "churned", "#d62728", -1))


def health_section(daily: pd.DataFrame) -> str:
    present = [n for n in HEALTH if n in daily.columns]
    if not present:
        return section("health", "Business health", not_modelled("Business KPIs"))
    window = trend_window(len(daily))
    return section("health", "Business health",
                   f"<p>Over the horizon (flows summed, stocks on the last day, ratios of sums), "
                   f"means over replicates; the trend compares the last {window} days with the "
                   f"{window} before (green: the good direction). Growth-accounting ratios show "
                   "the last complete period, against the period before.</p>"
                   + kpi_tiles(daily, HEALTH))


def growth_periods(daily: pd.DataFrame, period_days: int) -> pd.DataFrame:
    """Growth-accounting metrics of each complete period (rows), from the replicate-mean daily
    metrics: the values recorded on each period's last day."""
    names = [m for m in METRICS if m.startswith("ga_") and m in daily.columns]
    ends = [d for d in range(period_days - 1, len(daily), period_days)]
    table = daily.iloc[ends][names].copy()
    table.index = pd.Index([f"days {d - period_days + 1}–{d}" for d in ends], name="period")
    if "ga_quick_ratio" in table.columns:  # ratio of the means, as the horizon value is
        table["ga_quick_ratio"] = (table["ga_gained_users"]
                                   / table["ga_churned_users"].where(
                                       table["ga_churned_users"] != 0))
        table["ga_revenue_quick_ratio"] = (table["ga_revenue_gained"]
                                           / table["ga_revenue_lost"].where(
                                               table["ga_revenue_lost"] != 0))
    return table


def growth_figure(periods: pd.DataFrame, title: str = "") -> go.Figure:
    """Stacked bars of where each period's buyers and revenue came from (losses below zero),
    with the quick ratio on a second axis."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        specs=[[{"secondary_y": True}], [{"secondary_y": True}]],
                        subplot_titles=[f"{title}buyers per period", f"{title}revenue per period "
                                        "(yuan)"])
    x = list(periods.index)
    for row, parts, ratio in ((1, GA_USERS, "ga_quick_ratio"),
                              (2, GA_REVENUE, "ga_revenue_quick_ratio")):
        for name, label, color, sign in parts:
            fig.add_trace(go.Bar(x=x, y=sign * periods[name], name=label, marker_color=color,
                                 legendgroup=label, showlegend=row == 1 or name in (
                                     "ga_expansion_revenue", "ga_contraction_revenue")),
                          row=row, col=1)
        fig.add_trace(go.Scatter(x=x, y=periods[ratio], mode="lines+markers",
                                 name="quick ratio" if row == 1 else "revenue quick ratio",
                                 line={"color": "#222", "width": 1.5}),
                      row=row, col=1, secondary_y=True)
        fig.update_yaxes(title_text="quick ratio", secondary_y=True, row=row, col=1,
                         rangemode="tozero")
    fig.update_layout(barmode="relative", height=640, template="plotly_white",
                      margin={"t": 40, "l": 60, "r": 60, "b": 40})
    return fig


def growth_table(periods: pd.DataFrame) -> str:
    columns = [("ga_active_users", "active"), ("ga_new_users", "new"),
               ("ga_retained_users", "retained"), ("ga_resurrected_users", "resurrected"),
               ("ga_churned_users", "churned"), ("ga_quick_ratio", "quick ratio"),
               ("ga_revenue", "revenue"), ("ga_expansion_revenue", "expansion"),
               ("ga_contraction_revenue", "contraction"), ("ga_churned_revenue",
                                                           "churned revenue"),
               ("ga_revenue_quick_ratio", "revenue quick ratio")]
    head = "".join(f"<th title='{html.escape(METRICS[n].description)}'>{label}</th>"
                   for n, label in columns)
    body = "".join(f"<tr><td>{html.escape(str(period))}</td>"
                   + "".join(f"<td>{fmt(row[n])}</td>" for n, _ in columns) + "</tr>"
                   for period, row in periods.iterrows())
    return (f"<div class='wide'><table><thead><tr><th>period</th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def growth_section(daily: pd.DataFrame, period_days: int) -> str:
    title = "Growth accounting"
    if "ga_active_users" not in daily.columns:
        return section("growth", title, not_modelled("Growth accounting (a run from before "
                                                     "it existed)"))
    periods = growth_periods(daily, period_days)
    if periods.empty or periods["ga_active_users"].sum() == 0:
        return section("growth", title, f"<p class='note'>No complete {period_days}-day period "
                       "with a buyer in this run (set growth_accounting.period_days or a "
                       "longer horizon).</p>")
    return section("growth", title,
                   f"<p>Buyers active in each {period_days}-day period (at least one order) "
                   "split into new (first order ever), retained (active the period before too) "
                   "and resurrected (ordered before, not the period before); churned buyers "
                   "were active the period before but not in this one. Revenue: retained = "
                   "min(this, last period) per retained buyer, expansion and contraction the "
                   "rest. Quick ratio = (new + resurrected) / churned; revenue quick ratio = "
                   "(new + resurrected + expansion) / (churned + contraction). Means over "
                   "replicates.</p>" + embed(growth_figure(periods)) + growth_table(periods))


def inventory_section(daily: pd.DataFrame) -> str:
    body = "".join(metric_group(daily, title, names)
                   for title, names in report_groups("inventory"))
    if not body:
        return section("inventory", "Inventory health", not_modelled("Inventory and fulfilment"))
    return section("inventory", "Inventory health",
                   "<p>Stock, fill rate, stock-out days, days of cover and turnover, means over "
                   "replicates.</p>" + kpi_tiles(daily, report_tiles("inventory")) + body)


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
                   + "".join(f"<td>{fmt(float(v))}</td>" for v in line) + "</tr>"
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
        parts.append(f"<h3>RFM transitions ({html.escape(mechanic)})</h3><p>Users moving from "
                     "the segment at one recomputation (rows) to the next (columns), summed "
                     "over the run, mean over replicates.</p>"
                     + matrix_table(matrix, labels, labels, "from \\ to"))
    return "".join(parts)


RULE_COLUMNS = ("sends", "reads", "cost", "conversions", "conversion_gmv")


def rule_tables(tables: dict[str, list]) -> str:
    parts = []
    for mechanic, names in _by_mechanic(tables, "rule_names"):
        columns = [c for c in RULE_COLUMNS if f"{mechanic}.rule_{c}" in tables]
        totals = [[sum(tables[f"{mechanic}.rule_{c}"][i]) for c in columns]
                  for i in range(len(names))]
        parts.append(f"<h3>Automation rules ({html.escape(mechanic)})</h3><p>Per rule over the "
                     "horizon: sends, reads, cost (yuan: sends and gifts), conversions and their "
                     "order value, mean over replicates.</p>"
                     + matrix_table(totals, [str(n) for n in names], columns, "rule"))
    return "".join(parts)


def operations_section(daily: pd.DataFrame, tables: dict[str, list]) -> str:
    body = rule_tables(tables) + rfm_tables(tables) + "".join(
        metric_group(daily, title, names) for title, names in report_groups("operations"))
    if not body:
        return section("operations", "Retention operations",
                       not_modelled("Segments, automations, tiers, points, paid membership, "
                                    "community and live streams"))
    return section("operations", "Retention operations",
                   "<p>Segments, automations, tiers, points, paid membership, community groups "
                   "and live streams: whichever this scenario runs; means over replicates.</p>"
                   + body)


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
                     + matrix_table(matrix, rows, cols, "model \\ touch point"))
    if not parts:
        return section("attribution", "Attribution", not_modelled("Multi-touch attribution"))
    return section("attribution", "Attribution",
                   "<p>Orders, first orders and GMV credited to each touch point by each "
                   "attribution model (first touch, last touch, position-based ...), side by "
                   "side, mean over replicates.</p>" + "".join(parts))


def warnings_section(forecast: dict[str, Any] | None) -> str:
    """The early-warning panel: weeks a forecast flagged, or how to attach a forecast."""
    title = "Early warning"
    if forecast is None:
        return section("warnings", title,
                       "<p class='note'>No forecast attached. Fit and forecast with "
                       "<code>simctl calibrate</code> and <code>simctl forecast FITTED "
                       "--observed DATA</code>, then attach its folder: <code>simctl run ... "
                       "--forecast DIR</code> or <code>simctl dashboard RUN_DIR --forecast "
                       "DIR</code>.</p>")
    return section("warnings", title, early_warning_panel(forecast))


def early_warning_panel(forecast: dict[str, Any]) -> str:
    """Flagged weeks of a forecast (`doc` of summary.json with `flags`: metric, week, first_day,
    observed, lo, hi, flag, warning), warnings first."""
    flags = sorted(forecast.get("flags", []), key=lambda f: (not f["warning"], f["metric"],
                                                              f["week"]))
    intro = (f"<p>Forecast of {html.escape(str(forecast.get('scenario', '')))}: weeks whose "
             f"observed value left the {forecast.get('level', 0.9):.0%} band. Red: in the bad "
             "direction (an early warning); grey: outside in the other direction.</p>")
    if not flags:
        return intro + "<p class='ok'>No observed week left its band.</p>"
    rows = "".join(
        f"<tr class='{'warn-row' if f['warning'] else ''}'><td>{html.escape(f['metric'])}</td>"
        f"<td>{f['week']}</td><td>{f['first_day']}</td><td>{fmt(f['observed'])}</td>"
        f"<td>{fmt(f['lo'])} … {fmt(f['hi'])}</td><td>{html.escape(f['flag'])}</td>"
        f"<td>{'warning' if f['warning'] else ''}</td></tr>" for f in flags)
    return (intro + "<table><thead><tr><th>metric</th><th>week</th><th>first day</th>"
            "<th>observed</th><th>band</th><th>outside</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
