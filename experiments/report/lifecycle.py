"""The lifecycle sections of the run report: the funnel, unit economics by channel, retention
by cohort and the money ledger drawn as a waterfall (拉新 to 复购, GMV to contribution)."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from experiments.report.parts import (
    PALETTE,
    Stats,
    embed,
    fmt,
    mean_of,
    not_modelled,
    number,
    section,
)
from sim.aggregation import Result
from sim.metrics import LEDGER, LTV_DAYS, METRICS

# funnel


FUNNEL_STAGES = (("visits", "visits"), ("new users", "new_users"),
                 ("first purchases", "first_purchases"), ("repeat purchases", "repeat_purchases"))


def acquisition_stages(metrics: dict[str, Stats]) -> list[tuple[str, float]]:
    """Visits → new users → first → repeat purchases over the horizon, means over replicates;
    stages the scenario does not produce are left out."""
    stages = [(label, mean_of(metrics, name)) for label, name in FUNNEL_STAGES]
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
    if mean_of(metrics, "visits") == mean_of(metrics, "new_users"):
        notes.append("Every visit registers: no registration step is modelled.")
    if not checkout:
        notes.append("Checkout and cart abandonment: not modelled in this scenario.")
    else:
        notes.append("Checkouts = purchases + carts_abandoned − recovered_orders.")
    return section("funnel", "Funnel",
                   f"<p>{' '.join(html.escape(n) for n in notes)}</p>"
                   + embed(funnel_figure(acquisition, checkout)))


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
    low, high = number(values.get("ci_low")), number(values.get("ci_high"))
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


def cac_ltv_figure(days: int, points: list[tuple[str, Stats, Stats]]) -> go.Figure:
    """CAC against LTV per channel: above the diagonal LTV = CAC a channel's new buyers have
    paid back their acquisition within `days` days; below it they have not (yet)."""
    fig = go.Figure()
    values = [number(v.get("mean")) for _, cac, ltv in points for v in (cac, ltv)]
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
    cohort_cac, horizon_cac = mean_of(unit_economics.get("all", {}), "cac"), mean_of(metrics, "cac")
    if not math.isclose(cohort_cac, horizon_cac, rel_tol=0.01):  # also when either is NaN
        parts.append(f"<p class='note'>CAC here comes from the cohort tables ({fmt(cohort_cac)} "
                     f"for the market) and differs from the summary's cac "
                     f"({fmt(horizon_cac)}, spend over all first purchases of the horizon).</p>")
    days, points = ltv_points(unit_economics)
    if points:
        parts.append(f"<h3>CAC against LTV ({days} days, margin)</h3>"
                     "<p>Channels above the dashed diagonal earn back what their buyers cost; "
                     "whiskers are 95% CIs across replicates.</p>")
        parts.append(embed(cac_ltv_figure(days, points)))
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
                   + embed(retention_figure(grids)))


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
                   + embed(money_waterfall([s for s in steps if s[0] not in zero])))
