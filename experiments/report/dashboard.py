"""The dashboard of a set of runs: what differs between them, with intervals, then business
health and growth accounting side by side.

Read from run folders only (summary.json, metrics.parquet, scenario.resolved.yaml), so runs made
at different times, or on other machines, can be compared, e.g. one scenario with different
overrides. Each run is labelled, in one short line, by the settings in which it differs from
the others. A folder that is not a run is a located, one-line error and nothing is written.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import yaml

from experiments.report.dashboard_labels import label_runs
from experiments.report.differences import differences_section
from experiments.report.language import Lang, metric_label, metric_unit, t, use
from experiments.report.operations import growth_figure, growth_periods, warnings_section
from experiments.report.parts import (
    PALETTE,
    embed,
    fmt,
    fmt_html,
    kpi_series,
    kpi_value_and_trend,
    mean_daily,
    not_modelled,
    page,
    section,
    sparkline,
    trend_text,
    trend_window,
)
from experiments.runs.folders import atomic_file
from sim.errors import InputError, Problem
from sim.growth_accounting import GrowthAccountingParams
from sim.metrics import HEALTH, METRICS, horizon_values

RUN_FILES = ("summary.json", "metrics.parquet", "scenario.resolved.yaml")


@dataclass
class RunFolder:
    folder: Path
    summary: dict[str, Any]
    scenario: dict[str, Any]  # the resolved scenario, as plain YAML data
    daily: pd.DataFrame  # daily metrics, mean over replicates (index: day)
    horizon: pd.DataFrame  # one row per replicate: each metric over the horizon
    label: str = ""

    @property
    def period_days(self) -> int:
        ga = self.scenario.get("growth_accounting") or {}
        return int(ga.get("period_days", GrowthAccountingParams().period_days))


def load_run(folder: Path) -> RunFolder:
    """A run folder written by `simctl run`; InputError (located at the folder) otherwise."""
    folder = Path(folder)

    def bad(message: str) -> InputError:
        return InputError([Problem(str(folder), None, "", f"{message}; give a folder written "
                                   "by simctl run (runs/<scenario>/<time>-<hash>/)")])

    if not folder.is_dir():
        raise bad("no such folder")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise bad(f"not a run folder (no {', '.join(missing)})")
    try:
        summary = json.loads((folder / "summary.json").read_text("utf-8"))
        scenario = yaml.safe_load((folder / "scenario.resolved.yaml").read_text("utf-8"))
        metrics = pd.read_parquet(folder / "metrics.parquet")
    except (ValueError, OSError, yaml.YAMLError) as exc:
        raise bad(f"unreadable run files ({type(exc).__name__}: {exc})") from None
    if not isinstance(summary, dict) or "metrics" not in summary or not isinstance(
            scenario, dict) or not {"replicate", "day"} <= set(metrics.columns):
        raise bad("not a run folder (summary.json or metrics.parquet has the wrong shape)")
    known = [c for c in metrics.columns if c in METRICS or c in ("replicate", "day")]
    metrics = metrics[known]
    horizon = pd.DataFrame([horizon_values(frame.drop(columns="replicate").set_index("day"))
                            for _, frame in metrics.groupby("replicate", sort=True)])
    return RunFolder(folder, summary, scenario, mean_daily(metrics), horizon)


def load_runs(folders: list[Path]) -> list[RunFolder]:
    """Every folder, or an InputError listing every one that is not a run."""
    runs, problems = [], []
    for folder in folders:
        try:
            runs.append(load_run(folder))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    label_runs(runs)
    return runs


def runs_section(runs: list[RunFolder]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r.label)}</td>"
        f"<td>{r.summary.get('market_size', 0):,} × {r.summary.get('days', '?')} × "
        f"{r.summary.get('replicates', '?')}</td><td><a href='"
        f"{html.escape((r.folder.resolve() / 'report.html').as_uri())}'>"
        f"{html.escape(str(r.folder))}</a></td></tr>" for r in runs)
    head = (f"<th>{t('run', '运行')}</th><th>{t('users × days × replicates', '用户 × 天 × 重复')}"
            f"</th><th>{t('folder', '目录')}</th>")
    notes = "".join(f"<p class='warn' data-note='{kind}'>{html.escape(text)}</p>"
                    for kind, text in _unlike(runs))
    return section("runs", t("Runs", "运行"), f"<table><thead><tr>{head}</tr></thead>"
                   f"<tbody>{rows}</tbody></table>{notes}")


def _days(run: RunFolder) -> Any:
    return run.scenario.get("days", run.summary.get("days"))


def _market_size(run: RunFolder) -> Any:
    return (run.scenario.get("market") or {}).get("size", run.summary.get("market_size"))


def _unlike(runs: list[RunFolder]) -> list[tuple[str, str]]:
    """(setting, sentence) for each way the runs' totals are not like for like: a different
    horizon or market size makes every difference mix it with the effect of the settings,
    which the differences table cannot show (a 60-day run reads less GMV than a 90-day one,
    whatever its settings did)."""
    notes = []
    for kind, read, unit, unit_zh, what, what_zh in (
            ("days", _days, "days", "天", "length", "时长"),
            ("market.size", _market_size, "users", "用户", "market size", "市场规模")):
        groups: dict[str, list[str]] = {}
        for i, run in enumerate(runs):
            value = read(run)
            text = fmt(value) if isinstance(value, int | float) else str(value)
            groups.setdefault(text, []).append(f"#{i + 1}")
        if len(groups) < 2:
            continue
        listed = "; ".join(f"{', '.join(n)}: {v} {unit}" for v, n in groups.items())
        listed_zh = "；".join(f"{'、'.join(n)}：{v} {unit_zh}" for v, n in groups.items())
        notes.append((kind, t(
            f"Runs of different {what}s ({listed}): each run's values are totals (and ratios "
            f"of totals) over its own horizon and market, so the differences mix the {what} "
            f"with the effect of the settings; compare runs of the same {what} ({kind}).",
            f"运行的{what_zh}不同（{listed_zh}）：各运行的数值是各自周期与市场内的合计（及合计之比），"
            f"差异混合了{what_zh}与设置本身的效果；请比较{what_zh}相同的运行（{kind}）。")))
    return notes


def comparison_notes(runs: list[RunFolder]) -> list[str]:
    """The page's notes on runs that are not like for like, as plain lines a command can also
    print on stderr (`dashboard: note: ...`)."""
    return [text for _, text in _unlike(runs)]


def health_comparison(runs: list[RunFolder]) -> str:
    """KPIs (rows) by run (columns): value over the horizon, trend and a daily sparkline. The
    value is the mean over replicates of each replicate's horizon value (horizon_values), the
    number Differences, summary.json and `simctl run`'s table show: a quick ratio here once
    read its latest period, another number under the same name."""
    title = t("Business health", "经营健康")
    names = [n for n in HEALTH if any(n in r.daily.columns for r in runs)]
    if not names:
        return section("health", title, not_modelled(t("Business KPIs", "经营指标")))
    head = "".join(f"<th>#{i + 1}</th>" for i in range(len(runs)))
    body = []
    for name in names:
        cells = []
        for run in runs:
            if name not in run.daily.columns or name not in run.horizon.columns:
                cells.append("<td>–</td>")
                continue
            _, change = kpi_value_and_trend(run.daily, name)  # the trend only
            cells.append(f"<td data-metric='{name}'>{fmt_html(run.horizon[name].mean())}<br>"
                         f"{trend_text(name, change, trend_window(len(run.daily)))}"
                         f"{sparkline(kpi_series(run.daily, name), 120, 26)}</td>")
        body.append(f"<tr><td title='{html.escape(METRICS[name].description)}'>"
                    f"{html.escape(metric_label(name))}<br>"
                    f"<small>{html.escape(metric_unit(name))}</small></td>{''.join(cells)}</tr>")
    return section("health", title,
                   f"<p>{_health_intro()}</p><div class='wide'><table><thead><tr><th>"
                   f"{t('KPI', '指标')}</th>{head}</tr></thead>"
                   f"<tbody>{''.join(body)}</tbody></table></div>")


def _health_intro() -> str:
    return t(
        "Per run (numbered as in Runs): value over the horizon, the mean over replicates, as in "
        "Differences, summary.json and the table of simctl run (flows summed, stocks on the "
        "last day, ratios of sums). A growth-accounting quick ratio is the ratio of the sums "
        "over the complete periods after the first (the first has no period before it to lose "
        "buyers from); its trend compares the latest period with the one before. Other trends "
        "compare each run's last 30 days (or half its horizon) with the same span before.",
        "各运行（编号同“运行”）的全周期数值，取各次重复的均值，与“差异”、summary.json 及 "
        "simctl run 的表格一致（流量求和，存量取最后一天，比率为总量之比）。增长快速比率为"
        "首个周期之后各完整周期的总量之比（首个周期之前没有周期，无从流失）；其趋势为最近一期"
        "对比上一期。其他趋势为每个运行最近 30 天"
        "（或模拟期的一半）对比之前同样长度。")


def quick_ratio_figure(periods: list[tuple[str, pd.DataFrame]]) -> go.Figure:
    fig = go.Figure()
    for i, (label, table) in enumerate(periods):
        fig.add_trace(go.Scatter(x=list(table.index), y=table["ga_quick_ratio"],
                                 mode="lines+markers", name=label,
                                 line={"color": PALETTE[i % len(PALETTE)]}))
    fig.add_hline(y=1.0, line_dash="dash", line_color="#888")
    fig.update_layout(height=340, xaxis_title=t("period", "周期"),
                      yaxis_title=t("quick ratio (users)", "快速比率（用户）"),
                      legend={"orientation": "h", "y": -0.25},
                      margin={"t": 30, "l": 60, "r": 20, "b": 40})
    return fig


def growth_comparison(runs: list[RunFolder]) -> str:
    tables = [(f"#{i + 1}", growth_periods(r.daily, r.period_days), r)
              for i, r in enumerate(runs) if "ga_active_users" in r.daily.columns]
    tables = [(label, table, r) for label, table, r in tables
              if not table.empty and table["ga_active_users"].sum() > 0]
    title = t("Growth accounting", "增长核算")
    if not tables:
        return section("growth", title, not_modelled(t(
            "Growth accounting (runs from before it existed, or no complete period)",
            "增长核算（旧版本的运行，或没有完整周期）")))
    intro = t("Buyers and revenue of each run by period: new, retained, resurrected and "
              "churned (below zero), quick ratio = (new + resurrected) / churned. Above 1 (the "
              "dashed line) the active base grows.", "各运行每期的买家与收入：新增、留存、回流与"
              "流失（零以下）；快速比率 = (新增 + 回流) / 流失，高于 1（虚线）时活跃用户在增长。")
    parts = [f"<p>{intro}</p>",
             embed(quick_ratio_figure([(run.label, table) for _, table, run in tables])),
             "<div class='side'>"]
    for _, table, run in tables:
        periods = t(f"{run.period_days}-day periods", f"{run.period_days} 天一期")
        parts.append(f"<div class='chart'><h3>{html.escape(run.label)} ({periods})</h3>"
                     + embed(growth_figure(table)) + "</div>")
    parts.append("</div>")
    return section("growth", title, "".join(parts))


NAV = (("runs", "runs", "运行"), ("differences", "differences", "差异"),
       ("health", "business health", "经营健康"), ("growth", "growth accounting", "增长核算"),
       ("warnings", "early warning", "预警"))


def dashboard_html(runs: list[RunFolder], forecast: dict[str, Any] | None = None,
                   lang: Lang | None = None) -> str:
    with use(lang):
        names = sorted({str(r.scenario.get("name", "?")) for r in runs})
        title = f"growthsim · {len(runs)} {t('run(s)', '个运行')} · {', '.join(names)}"
        header = f"<h1>{html.escape(title)}</h1><p>" + t(
            f"What differs between {len(runs)} runs, with 95% intervals, then business health "
            "and growth accounting side by side; each run's own report has every section.",
            f"{len(runs)} 个运行之间的差异（含 95% 置信区间），以及经营健康与增长核算的并排对比；"
            "每个运行自己的报告有全部章节。") + "</p>"
        body = "\n".join([runs_section(runs), differences_section(runs),
                          health_comparison(runs), growth_comparison(runs),
                          warnings_section(forecast)])
        return page(title, header, tuple((a, t(en, zh)) for a, en, zh in NAV), body)


def write_dashboard(runs: list[RunFolder], out: Path, forecast: dict[str, Any] | None = None,
                    lang: Lang | None = None) -> Path:
    """Write the page atomically (a complete file or none) and return its path."""
    text = dashboard_html(runs, forecast, lang)
    atomic_file(Path(out), text)
    return Path(out)
