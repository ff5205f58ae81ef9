"""The self-contained HTML report of a run: summary table and daily charts with replicate bands.

plotly.js is inlined once, so the file opens offline and can be mailed around.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from sim.engine import Result
from sim.metrics import METRICS

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def daily_bands(frame: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Mean and 5%-95% quantiles of a daily metric across replicates."""
    grouped = frame.groupby([*by, "day"])[metric]
    return pd.DataFrame({
        "mean": grouped.mean(), "low": grouped.quantile(0.05), "high": grouped.quantile(0.95),
    }).reset_index()


def daily_figure(result: Result) -> go.Figure:
    names = result.metric_names
    cols = 3
    rows = -(-len(names) // cols)
    titles = [f"{n} ({METRICS[n].daily_unit})" for n in names]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        vertical_spacing=0.08, horizontal_spacing=0.06)
    with_arms = result.scenario.experiment is not None
    frame = result.arm_metrics if with_arms else result.metrics.assign(arm="all")
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


def write_report(result: Result, summary: dict[str, Any], path: Path) -> None:
    s = result.scenario
    figure = daily_figure(result).to_html(full_html=False, include_plotlyjs=False)
    meta = (f"{s.market.size:,} potential users × {s.days} days × {s.replicates} replicate(s), "
            f"seed {s.seed}, {summary['wall_seconds']} s")
    band_note = ("Lines are means across replicates; bands span the 5th to 95th percentile."
                 if s.replicates > 1 else "One replicate: no band (run with --replicates R).")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>growthsim · {html.escape(s.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 12px; overflow-x: auto; }}
</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body>
<h1>{html.escape(s.name)}</h1>
<p>{html.escape(s.description)}</p>
<p>{html.escape(meta)}</p>
<h2 id="summary">Summary over the horizon</h2>
<p>Flows are summed over the days, stocks read on the last day, ratios are ratios of sums;
the interval is a t interval of the mean across replicates.</p>
{summary_table(summary)}
<h2 id="daily">Daily metrics</h2>
<p>{band_note}</p>
{figure}
<h2 id="scenario">Resolved scenario</h2>
<details><summary>scenario.resolved.yaml</summary><pre>{html.escape(s.to_yaml())}</pre></details>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
