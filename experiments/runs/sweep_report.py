"""A sweep's report.html: response curves with confidence bands (one parameter), heatmaps of the
mean (a two-parameter grid) or mean ± CI against each parameter (sampled designs), the failures
and the base scenario, self-contained (plotly.js inlined). The page is written in the language
in force (`simctl --lang zh`, GROWTHSIM_LANG); summary.json and the parquet files stay English.
`versus` is shared by the optimisation report."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from experiments.report.language import html_lang, metric_label, t
from experiments.report.parts import PALETTE, embed, fmt
from experiments.runs.folders import BASE_FILE
from sim.scenario import Scenario

# The sweep designs in Chinese (the design's own name stays beside it: it is the option).
DESIGNS_ZH = {"grid": "网格（grid）", "lhs": "拉丁超立方（lhs）", "sobol": "Sobol 序列（sobol）"}


def versus(y: str, x: str) -> str:
    """A panel's title, y against x."""
    return t(f"{y} vs {x}", f"{y} 随 {x} 变化")


def _band(fig: go.Figure, x: list, group: pd.DataFrame, row: int, col: int, color: str,
          name: str, legend: bool) -> None:
    if group["ci_low"].notna().any():
        fig.add_trace(go.Scatter(x=x + x[::-1],
                                 y=list(group["ci_high"]) + list(group["ci_low"])[::-1],
                                 fill="toself", fillcolor=color, opacity=0.2, line={"width": 0},
                                 hoverinfo="skip", showlegend=False, legendgroup=name),
                      row=row, col=col)
    fig.add_trace(go.Scatter(x=x, y=list(group["mean"]), mode="lines+markers",
                             line={"color": color}, name=name, legendgroup=name,
                             showlegend=legend), row=row, col=col)


def _gap(rows: int, wanted: float) -> float:
    """Vertical spacing between subplot rows that plotly accepts for any number of rows."""
    return min(wanted, 0.5 / max(rows - 1, 1))


def _heatmaps(summary: pd.DataFrame, names: list[str], metrics: list[str]) -> go.Figure:
    """A two-parameter grid: one heatmap of the mean per metric."""
    cols = 3
    rows = -(-len(metrics) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[metric_label(m) for m in metrics],
                        horizontal_spacing=0.08, vertical_spacing=_gap(rows, 0.1))
    mean = t("mean", "均值")
    for i, metric in enumerate(metrics):
        table = summary[summary["metric"] == metric].pivot_table(
            index=names[1], columns=names[0], values="mean", aggfunc="first")
        fig.add_trace(go.Heatmap(
            z=table.to_numpy(), x=[str(c) for c in table.columns],
            y=[str(v) for v in table.index], coloraxis=None, showscale=False,
            hovertemplate=f"{names[0]}=%{{x}}<br>{names[1]}=%{{y}}<br>{mean}=%{{z}}"
            "<extra></extra>", colorscale="Viridis"), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(title_text=names[0])
    fig.update_yaxes(title_text=names[1])
    fig.update_layout(height=320 * rows)
    return fig


def sweep_figure(summary: pd.DataFrame, names: list[str], design: str) -> go.Figure | None:
    """1 parameter: response curves with 95% CI bands. 2-parameter grid: heatmaps of the mean.
    Otherwise (sampled designs, more parameters): mean ± CI against each parameter."""
    if summary.empty:
        return None
    empty = undrawn(summary)
    metrics = [m for m in dict.fromkeys(summary["metric"]) if m not in empty]
    if not metrics:
        return None
    if len(names) == 2 and design == "grid":
        return _heatmaps(summary, names, metrics)
    panels = [(m, n) for m in metrics for n in names]
    cols = 3 if len(names) == 1 else len(names)
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols,
                        subplot_titles=[versus(metric_label(m), n) for m, n in panels],
                        horizontal_spacing=0.07, vertical_spacing=_gap(rows, 0.08))
    for i, (metric, name) in enumerate(panels):
        group = summary[summary["metric"] == metric].sort_values(name, kind="stable")
        row, col = i // cols + 1, i % cols + 1
        if len(names) == 1:
            _band(fig, list(group[name]), group, row, col, PALETTE[0], metric_label(metric),
                  False)
        else:
            half = (group["ci_high"] - group["mean"]).fillna(0)
            fig.add_trace(go.Scatter(x=group[name], y=group["mean"], mode="markers",
                                     marker={"color": PALETTE[0], "size": 6},
                                     error_y={"type": "data", "array": half, "visible": True},
                                     showlegend=False), row=row, col=col)
    fig.update_layout(height=280 * rows,
                      margin={"t": 40, "l": 40, "r": 20, "b": 30})
    return fig


def undrawn(summary: pd.DataFrame) -> list[str]:
    """Metrics with no value at any point (LTV at 90 days over a 90-day horizon): an empty
    panel each said nothing; the page names them instead."""
    if summary.empty:
        return []
    seen = summary.groupby("metric", sort=False)["mean"].apply(lambda v: v.notna().any())
    return [str(m) for m, any_value in seen.items() if not any_value]


def _undrawn_note(summary: pd.DataFrame) -> str:
    names = undrawn(summary)
    if not names:
        return ""
    listed = html.escape(", ".join(names))
    return "<p>" + t(f"Not drawn, no value at any point (a cohort metric needs a longer "
                     f"horizon, or a ratio has nothing to divide by): {listed}.",
                     "未绘制（所有点都没有数值：cohort 指标需要更长的时间范围，"
                     f"或比率的分母为 0）：{listed}。") + "</p>"


def _failures(doc: dict[str, Any]) -> str:
    """The failed tasks as a table (point, replicate, parameters, error), or a line saying
    there were none."""
    rows = "".join(
        f"<tr><td>{f['point']}</td><td>{f['replicate']}</td>"
        f"<td>{html.escape(json.dumps(f['params']))}</td><td>{html.escape(f['error'])}</td></tr>"
        for f in doc["failures"])
    if not rows:
        return f"<p>{t('No failures.', '没有失败。')}</p>"
    head = "".join(f"<th>{h}</th>" for h in (t("point", "点"), t("replicate", "重复"),
                                              t("parameters", "参数"), t("error", "错误")))
    failed = doc["failed"]
    return (f"<h2>{t(f'Failures ({failed})', f'失败（{failed}）')}</h2>"
            f"<table><tr>{head}</tr>{rows}</table>")


def _meta(names: list[str], doc: dict[str, Any]) -> str:
    """The plan in one line: design, points × replicates, seed, tasks done, wall time."""
    design, executor = doc["design"], doc["executor"] or "?"
    return t(f"{design} design over {', '.join(names)}: {doc['points']} points × "
             f"{doc['replicates']} replicate(s), seed {doc['seed']} (common random numbers "
             f"across points); {doc['done']}/{doc['tasks']} tasks done; wall "
             f"{fmt(doc['wall_seconds'])} s on {executor}.",
             f"{DESIGNS_ZH.get(design, design)}设计，参数 {'、'.join(names)}：{doc['points']} "
             f"个点 × {doc['replicates']} 次重复，随机种子 {doc['seed']}（各点使用共同随机数）；"
             f"{doc['done']}/{doc['tasks']} 个任务完成；用时 {fmt(doc['wall_seconds'])} 秒，"
             f"执行器 {executor}。")


def _how_to_read() -> str:
    return t("Each metric is taken over the horizon (flows summed, stocks on the last day, "
             "ratios of sums).\nLines and colours are means across replicates; bands and error "
             "bars are 95% t intervals of the\nmean.",
             "每个指标取全周期的值（流量按天求和，存量取最后一天，比率为总量之比）。线与颜色为各次"
             "重复的均值；阴影带与误差线为均值的 95% t 置信区间。")


def write_report(base: Scenario, names: list[str], summary: pd.DataFrame, doc: dict[str, Any],
                 path: Path) -> None:
    """Self-contained HTML (plotly.js inlined): curves / heatmaps, failures, the plan."""
    fig = sweep_figure(summary, names, doc["design"])
    body = (embed(fig) if fig else f"<p>{t('No results.', '没有结果。')}</p>") \
        + _undrawn_note(summary)
    name = html.escape(base.name)
    title = t("growthsim sweep", "growthsim 参数扫描")
    page = f"""<!DOCTYPE html>
<html lang="{html_lang()}"><head><meta charset="utf-8"><title>{title} · {name}
</title><style>body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }}
pre {{ background: #f6f6f6; padding: 12px; overflow-x: auto; }}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head><body>
<h1>{t('Sweep: ', '参数扫描：')}{name}</h1><p>{html.escape(_meta(names, doc))}</p>
<p>{_how_to_read()}</p>
{body}
{_failures(doc)}
<h2>{t('Base scenario', '基础场景')}</h2><details><summary>{BASE_FILE}</summary>
<pre>{html.escape(base.to_yaml())}</pre></details>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
