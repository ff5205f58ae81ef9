"""The self-contained HTML report of a run: summary table, daily charts with replicate bands,
and the lifecycle sections a growth team reads (funnel, channels, retention, money).

plotly.js is inlined once, so the file opens offline and can be mailed around. Every section
has an `id`; a section whose mechanics the scenario does not model says so instead of drawing.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from sim.engine import Result
from sim.metrics import LEDGER, LTV_DAYS, METRICS

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


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


def fmt(x: float | None) -> str:
    """Readable numbers: thousands separators for large values, 4 significant digits else."""
    if x is None or x != x:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


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
                    f"<td>{html.escape(METRICS[name].unit)}</td>{''.join(cells)}</tr>")
    return (f"<table><thead><tr><th>metric</th><th>unit</th>{head}</tr>"
            f"<tr><th></th><th></th>{sub}</tr></thead><tbody>{''.join(body)}</tbody></table>")


# --- lifecycle sections ------------------------------------------------------------------------

Stats = dict[str, Any]  # mean, sd, ci_low, ci_high, n (None or NaN where undefined)


def _number(x: Any) -> float:
    """A summary value as a float: NaN for None, so JSON-safe and raw summaries read alike."""
    return math.nan if x is None else float(x)


def _mean(values: dict[str, Stats], name: str) -> float:
    """A metric's mean over replicates, NaN when the scenario does not produce it."""
    return _number(values.get(name, {}).get("mean"))


def _embed(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False)


def section(anchor: str, title: str, body: str) -> str:
    """A report section with an id, so links and browser tests can find it."""
    return f'<section id="{anchor}">\n<h2>{html.escape(title)}</h2>\n{body}\n</section>'


def not_modelled(what: str) -> str:
    return f'<p class="note">{html.escape(what)}: not modelled in this scenario.</p>'


# funnel


FUNNEL_STAGES = (("visits", "visits"), ("new users", "new_users"),
                 ("first purchases", "first_purchases"), ("repeat purchases", "repeat_purchases"))


def acquisition_stages(metrics: dict[str, Stats]) -> list[tuple[str, float]]:
    """Visits → new users → first → repeat purchases over the horizon, means over replicates;
    stages the scenario does not produce are left out."""
    stages = [(label, _mean(metrics, name)) for label, name in FUNNEL_STAGES]
    return [(label, value) for label, value in stages if not math.isnan(value)]


def checkout_stages(metrics: dict[str, Stats]) -> list[tuple[str, float]]:
    """Checkouts → abandoned → reminded → recovered; empty when no cart was ever abandoned.

    A checkout is either paid at once or abandoned, and recovered carts are counted among the
    purchases, so checkouts = purchases + carts_abandoned - recovered_orders.
    """
    abandoned = _mean(metrics, "carts_abandoned")
    if math.isnan(abandoned) or abandoned <= 0:
        return []
    reminded, recovered = (0.0 if math.isnan(v) else v for v in (
        _mean(metrics, "reminders_sent"), _mean(metrics, "recovered_orders")))
    checkouts = _mean(metrics, "purchases") + abandoned - recovered
    return [("checkouts", checkouts), ("abandoned", abandoned), ("reminded", reminded),
            ("recovered", recovered)]


def funnel_figure(acquisition: list[tuple[str, float]],
                  checkout: list[tuple[str, float]]) -> go.Figure:
    """The acquisition funnel, and beside it the checkout funnel when carts exist."""
    panels = [("acquisition", acquisition)] + ([("checkout", checkout)] if checkout else [])
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels],
                        horizontal_spacing=0.18)
    for col, (title, stages) in enumerate(panels, start=1):
        fig.add_trace(go.Funnel(
            y=[label for label, _ in stages], x=[value for _, value in stages], name=title,
            texttemplate="%{value:,.0f}<br>%{percentInitial:.1%}",
            marker={"color": PALETTE[col - 1]}, showlegend=False), row=1, col=col)
    fig.update_layout(height=360, margin={"t": 40, "l": 120, "r": 20, "b": 30},
                      template="plotly_white")
    return fig


def funnel_section(metrics: dict[str, Stats]) -> str:
    acquisition = acquisition_stages(metrics)
    if len(acquisition) < 2:
        return section("funnel", "Funnel", not_modelled("The acquisition funnel"))
    checkout = checkout_stages(metrics)
    notes = ["Totals over the horizon, means over replicates; percentages are of the first "
             "stage. Repeat purchases are orders, not users."]
    if _mean(metrics, "visits") == _mean(metrics, "new_users"):
        notes.append("Every visit registers: no registration step is modelled.")
    if not checkout:
        notes.append("Checkout and cart abandonment: not modelled in this scenario.")
    else:
        notes.append("Checkouts = purchases + carts_abandoned − recovered_orders.")
    return section("funnel", "Funnel",
                   f"<p>{' '.join(html.escape(n) for n in notes)}</p>"
                   + _embed(funnel_figure(acquisition, checkout)))


# channels


CHANNEL_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    # header, source ("metrics": horizon metric, "ue": unit economics), key, tooltip
    ("new users", "metrics", "new_users", METRICS["new_users"].description),
    ("new buyers", "metrics", "first_purchases", METRICS["first_purchases"].description),
    ("acquisition spend", "metrics", "acquisition_spend",
     METRICS["acquisition_spend"].description),
    ("CAC", "ue", "cac", "Acquisition spend per new buyer, yuan (unit-economics basis)."),
    *((f"LTV {d}d margin", "ue", f"ltv_{d}d_margin",
       f"Gross margin per new buyer within {d} days of joining, yuan (mature cohorts).")
      for d in LTV_DAYS),
    *((f"LTV {d}d GMV", "ue", f"ltv_{d}d_gmv",
       f"GMV per new buyer within {d} days of joining, yuan (mature cohorts).")
      for d in LTV_DAYS),
    *((f"LTV/CAC {d}d", "ue", f"ltv_cac_{d}d", f"LTV {d}d (margin) / CAC.") for d in LTV_DAYS),
    ("payback days", "ue", "payback_days",
     "First age at which cumulative margin per new buyer reaches CAC (– if not seen)."),
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
    low, high = _number(values.get("ci_low")), _number(values.get("ci_high"))
    ci = (f"<br><small>{fmt(low)} … {fmt(high)}</small>"
          if with_ci and not (math.isnan(low) or math.isnan(high)) else "")
    return f"<td>{fmt(values.get('mean'))}{ci}</td>"


def channel_table(rows: list[tuple[str, dict[str, dict[str, Stats]]]], with_ci: bool) -> str:
    head = "".join(f"<th title='{html.escape(tip)}'>{html.escape(label)}</th>"
                   for label, _, _, tip in CHANNEL_COLUMNS)
    body = []
    for channel, sources in rows:
        cells = "".join(stat_cell(sources[source].get(key), with_ci)
                        for _, source, key, _ in CHANNEL_COLUMNS)
        body.append(f"<tr><td>{html.escape(channel)}</td>{cells}</tr>")
    return (f"<div class='wide'><table><thead><tr><th>channel</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def ltv_points(unit_economics: dict[str, dict[str, Stats]],
               ) -> tuple[int, list[tuple[str, Stats, Stats]]]:
    """(days, [(channel, CAC, LTV)]) at the longest LTV horizon any channel has observed."""
    for days in sorted(LTV_DAYS, reverse=True):
        key = f"ltv_{days}d_margin"
        points = [(channel, v.get("cac", {}), v.get(key, {}))
                  for channel, v in unit_economics.items()
                  if not math.isnan(_mean(v, "cac")) and not math.isnan(_mean(v, key))]
        if points:
            return days, points
    return 0, []


def _error(values: Stats) -> dict[str, Any] | None:
    mean, low, high = (_number(values.get(k)) for k in ("mean", "ci_low", "ci_high"))
    if math.isnan(low) or math.isnan(high):
        return None
    return {"type": "data", "symmetric": False, "array": [high - mean],
            "arrayminus": [mean - low], "thickness": 1}


def cac_ltv_figure(days: int, points: list[tuple[str, Stats, Stats]]) -> go.Figure:
    """CAC against LTV per channel: above the diagonal LTV = CAC a channel's new buyers have
    paid back their acquisition within `days` days; below it they have not (yet)."""
    fig = go.Figure()
    values = [_number(v.get("mean")) for _, cac, ltv in points for v in (cac, ltv)]
    low, high = min(0.0, *values), max(0.0, *values) * 1.1 or 1.0
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="LTV = CAC",
                             line={"color": "#888", "dash": "dash", "width": 1}))
    for i, (channel, cac, ltv) in enumerate(points):
        market = channel == "all"
        fig.add_trace(go.Scatter(
            x=[cac["mean"]], y=[ltv["mean"]], mode="markers+text", name=channel,
            text=[channel], textposition="top center", error_x=_error(cac), error_y=_error(ltv),
            marker={"size": 12, "symbol": "diamond" if market else "circle",
                    "color": "#222" if market else PALETTE[i % len(PALETTE)]}))
    fig.update_layout(height=420, width=640, template="plotly_white",
                      margin={"t": 30, "l": 60, "r": 20, "b": 50},
                      xaxis_title="CAC (yuan per new buyer)",
                      yaxis_title=f"LTV {days}d, margin (yuan per new buyer)")
    return fig


def channels_section(metrics: dict[str, Stats], by_channel: dict[str, dict[str, Stats]],
                     unit_economics: dict[str, dict[str, Stats]], with_ci: bool) -> str:
    if not by_channel:
        return section("channels", "Channels", not_modelled("Acquisition channels"))
    rows = channel_rows(metrics, by_channel, unit_economics)
    parts = [
        "<p>Per acquisition channel: users and new buyers over the horizon, spend, and unit "
        "economics per new buyer. LTV counts only cohorts old enough to be observed for the "
        "whole window; margin basis is net revenue minus cost of goods. "
        + ("Means over replicates, 95% CI below." if with_ci else "One replicate: no CI.")
        + "</p>",
        channel_table(rows, with_ci),
    ]
    cohort_cac, horizon_cac = _mean(unit_economics.get("all", {}), "cac"), _mean(metrics, "cac")
    if not math.isclose(cohort_cac, horizon_cac, rel_tol=0.01):  # also when either is NaN
        parts.append(f"<p class='note'>CAC here comes from the cohort tables ({fmt(cohort_cac)} "
                     f"for the market) and differs from the summary's cac "
                     f"({fmt(horizon_cac)}, spend over all first purchases of the horizon).</p>")
    days, points = ltv_points(unit_economics)
    if points:
        parts.append(f"<h3>CAC against LTV ({days} days, margin)</h3>"
                     "<p>Channels above the dashed diagonal earn back what their buyers cost; "
                     "whiskers are 95% CIs across replicates.</p>")
        parts.append(_embed(cac_ltv_figure(days, points)))
    else:
        parts.append("<p class='note'>No channel has both a CAC and an observed LTV "
                     "(horizon too short for a 30-day cohort, or no buyers).</p>")
    return section("channels", "Channels", "\n".join(parts))


# retention


def retention_grids(result: Result) -> dict[str, pd.DataFrame]:
    """Cohort retention of the whole market and of each channel (empty without activity)."""
    whole = result.retention()
    if whole.empty:
        return {}
    grids = {"all channels": whole}
    channels = ([] if result.channel_metrics.empty
                else list(result.channel_metrics["channel"].unique()))
    for channel in channels:
        grid = result.retention(str(channel))
        if not grid.empty:
            grids[str(channel)] = grid
    return grids


def retention_figure(grids: dict[str, pd.DataFrame]) -> go.Figure:
    """Weekly cohorts (rows) × weeks since acquisition (columns): share with an open; a
    dropdown switches between the market and each channel."""
    fig = go.Figure()
    for i, (name, grid) in enumerate(grids.items()):
        fig.add_trace(go.Heatmap(
            z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index), name=name,
            visible=(i == 0), zmin=0.0, zmax=1.0, colorscale="Blues",
            colorbar={"tickformat": ".0%", "title": {"text": "opened"}},
            hovertemplate="cohort week %{y}<br>%{x} weeks since acquisition"
                          "<br>%{z:.1%} opened<extra>" + html.escape(name) + "</extra>"))
    if len(grids) > 1:
        buttons = [{"label": name, "method": "update",
                    "args": [{"visible": [j == i for j in range(len(grids))]}]}
                   for i, name in enumerate(grids)]
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 0, "y": 1.12,
                                        "xanchor": "left", "yanchor": "top"}])
    fig.update_layout(height=460, template="plotly_white",
                      margin={"t": 60, "l": 60, "r": 20, "b": 50},
                      xaxis_title="weeks since acquisition", yaxis_title="cohort (week joined)",
                      yaxis_autorange="reversed")
    return fig


def retention_section(result: Result) -> str:
    grids = retention_grids(result)
    if not grids:
        return section("retention", "Cohort retention", not_modelled("App opens (activity)"))
    return section("retention", "Cohort retention",
                   "<p>Share of each weekly cohort with at least one open in each week since it "
                   "joined, mean over replicates; cells not yet fully observed are blank.</p>"
                   + _embed(retention_figure(grids)))


# money


WATERFALL = LEDGER  # the ledger's own order: the drawing cannot leave a line out


def waterfall_steps(metrics: dict[str, Stats]) -> list[tuple[str, str, float]]:
    """(metric, measure, value) from gmv to contribution, horizon means: costs enter negative,
    income (membership fees) positive, both as plotly "relative" steps; totals carry the
    metric's own mean so the drawn sums can be checked against it."""
    steps = []
    for name, measure in WATERFALL:
        value = _mean(metrics, name)
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


def money_waterfall(steps: list[tuple[str, str, float]]) -> go.Figure:
    """GMV down to contribution: what discounts, refunds, goods and acquisition take."""
    labels = [name if measure != "relative" else f"− {name}" for name, measure, _ in steps]
    fig = go.Figure(go.Waterfall(
        x=labels, y=[value for _, _, value in steps],
        measure=[measure for _, measure, _ in steps],
        text=[fmt(value) for _, _, value in steps], textposition="outside",
        connector={"line": {"color": "#bbb", "width": 1}},
        increasing={"marker": {"color": PALETTE[2]}}, decreasing={"marker": {"color": PALETTE[1]}},
        totals={"marker": {"color": PALETTE[0]}}))
    fig.update_layout(height=420, template="plotly_white", showlegend=False,
                      margin={"t": 30, "l": 60, "r": 20, "b": 90}, yaxis_title="yuan")
    return fig


def money_section(metrics: dict[str, Stats]) -> str:
    if "gmv" not in metrics:
        return section("money", "Money", not_modelled("Orders and money"))
    steps = waterfall_steps(metrics)
    zero = [name for name, measure, value in steps if measure == "relative" and value == 0]
    notes = ["From GMV to contribution over the horizon, means over replicates (yuan)."]
    if zero:
        notes.append(f"Zero in this run (no mechanic books them, or none was incurred): "
                     f"{', '.join(zero)}.")
    gaps = ledger_gaps(steps)
    warning = ("".join(f"<p class='warn'>Ledger check failed: {html.escape(name)} differs from "
                       f"the sum of its steps by {fmt(gap)} yuan.</p>"
                       for name, gap in gaps.items()))
    return section("money", "Money",
                   f"<p>{html.escape(' '.join(notes))}</p>{warning}"
                   + _embed(money_waterfall([s for s in steps if s[0] not in zero])))


# --- the operations dashboard: business health, growth accounting, inventory, operations,
# attribution and early warnings. Each section is driven by a declarative list of metric
# names, so a new mechanic's metrics appear by adding their names here; a metric the run does
# not produce is left out, and a section with none says "not modelled in this scenario".

HEALTH_KPIS: tuple[str, ...] = ("gmv", "net_revenue", "contribution", "new_users", "dau_mau",
                                "churned_users", "ga_quick_ratio")
BAD_WHEN_UP = {"churned_users", "ga_churned_users", "refunds", "cac", "stockout_days",
               "lost_sales", "lost_sales_value", "backorders", "logistics_cost_per_order",
               "holding_cost", "points_liability", "community_churn_rate", "other_churn_rate"}
INVENTORY_METRICS: tuple[str, ...] = (
    "units_in_stock", "fill_rate", "stockout_days", "days_of_cover", "inventory_turnover",
    "lost_sales", "lost_sales_value", "backorders", "units_received", "units_shipped",
    "logistics_cost", "logistics_cost_per_order", "holding_cost", "late_deliveries",
    "private_label_share")
# (group title, metrics drawn over time and listed with their horizon values)
OPERATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Segment sizes", ("seg_high_value_users", "seg_potential_users", "seg_at_risk_users",
                       "seg_lost_users", "seg_high_spend_users", "seg_low_spend_users")),
    ("Lifecycle states", ("new_state_users", "active_state_users", "dormant_state_users",
                          "reactivated_users")),
    ("Automations", ("automation_sends", "automation_cost", "automation_conversions",
                     "automation_conversion_rate", "sms_optouts")),
    ("Membership tiers", tuple(f"tier_{k}_users" for k in range(1, 5))),
    ("Points", ("points_issued", "points_redeemed", "points_outstanding", "points_liability")),
    ("Paid membership", ("paid_members", "new_paid_members", "paid_renewals", "paid_lapses",
                         "paid_renewal_rate", "membership_fees")),
    ("Community groups vs other users", ("community_members", "community_groups",
                                         "community_churn_rate", "other_users",
                                         "other_churn_rate")),
    ("Live streams", ("live_viewers", "live_buyers", "live_gmv", "live_viewer_to_buyer")),
    ("Recommendations", ("rec_warmed_users", "recommender_cost")),
)
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


def _trend_text(name: str, change: float, window: int) -> str:
    if math.isnan(change):
        return "<span class='flat'>no trend</span>"
    good = (change >= 0) != (name in BAD_WHEN_UP)
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
            f"{_trend_text(name, change, window)}{sparkline(series)}</div>")
    return f"<div class='tiles'>{''.join(tiles)}</div>"


def health_section(daily: pd.DataFrame) -> str:
    present = [n for n in HEALTH_KPIS if n in daily.columns]
    if not present:
        return section("health", "Business health", not_modelled("Business KPIs"))
    window = trend_window(len(daily))
    return section("health", "Business health",
                   f"<p>Over the horizon (flows summed, stocks on the last day, ratios of sums), "
                   f"means over replicates; the trend compares the last {window} days with the "
                   f"{window} before (green: the good direction). Growth-accounting ratios show "
                   "the last complete period, against the period before.</p>"
                   + kpi_tiles(daily, HEALTH_KPIS))


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
                   "replicates.</p>" + _embed(growth_figure(periods)) + growth_table(periods))


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
            f"<div class='chart'>{_embed(fig)}</div></div>")


def inventory_section(daily: pd.DataFrame) -> str:
    body = metric_group(daily, "Stock and service", INVENTORY_METRICS)
    if not body:
        return section("inventory", "Inventory health", not_modelled("Inventory and fulfilment"))
    return section("inventory", "Inventory health",
                   "<p>Stock, fill rate, stock-out days, days of cover and turnover, means over "
                   "replicates.</p>" + kpi_tiles(daily, INVENTORY_METRICS[:5]) + body)


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
        metric_group(daily, title, names) for title, names in OPERATIONS)
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


NAV = (("summary", "summary"), ("health", "business health"), ("growth", "growth accounting"),
       ("funnel", "funnel"), ("channels", "unit economics by channel"),
       ("retention", "retention"), ("inventory", "inventory"),
       ("operations", "retention operations"), ("attribution", "attribution"),
       ("money", "money"), ("warnings", "early warning"), ("daily", "daily metrics"),
       ("scenario", "scenario"))


def write_report(result: Result, summary: dict[str, Any], path: Path,
                 forecast: dict[str, Any] | None = None) -> None:
    """The run's operations dashboard; `forecast` (a forecast's summary with its flagged weeks,
    see `experiments.calibration.forecast.load_forecast`) fills the early-warning panel."""
    path.write_text(report_html(result, summary, forecast), encoding="utf-8")


def report_html(result: Result, summary: dict[str, Any],
                forecast: dict[str, Any] | None = None) -> str:
    s = result.scenario
    figure = _embed(daily_figure(result))
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
    body = f"""<h2 id="summary">Summary over the horizon</h2>
<p>Flows are summed over the days, stocks read on the last day, ratios are ratios of sums;
the interval is a t interval of the mean across replicates.</p>
{summary_table(summary)}
{sections}
<h2 id="daily">Daily metrics</h2>
<p>{band_note} Growth-accounting metrics (ga_*) are in their own section.</p>
{figure}
<h2 id="scenario">Resolved scenario</h2>
<details><summary>scenario.resolved.yaml</summary><pre>{html.escape(s.to_yaml())}</pre></details>
"""
    return page(f"growthsim · {s.name}", header, NAV, body)
