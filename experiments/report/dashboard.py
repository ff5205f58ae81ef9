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

from experiments.report.differences import differences_section
from experiments.report.language import Lang, metric_label, metric_unit, t, use
from experiments.report.operations import growth_figure, growth_periods, warnings_section
from experiments.report.parts import (
    PALETTE,
    embed,
    fmt,
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


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out
    if isinstance(data, list):
        out = {}
        for i, value in enumerate(data):
            out.update(_leaves(value, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): data}


LABEL_SETTINGS = 3  # settings named in a run's label; the rest are counted
FIRST = ("market.size", "days", "seed", "replicates")  # named first when they differ


def _short(key: str, keys: list[str]) -> str:
    """The shortest tail of at least two parts of a dotted key that no other differing key
    shares (`mechanics.gift.value` -> `gift.value`)."""
    parts = key.split(".")
    for n in range(min(2, len(parts)), len(parts) + 1):
        tail = ".".join(parts[-n:])
        if not any((other != key and other.endswith("." + tail)) or other == tail
                   for other in keys):
            return tail
    return key


def _value(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 16 else text[:15] + "…"


def label_runs(runs: list[RunFolder]) -> None:
    """Label each run, in one short line, by its scenario name (when the names differ) and the
    settings that differ between the runs: `gift.value=20, seed=2 (+3)`. Settings the engine
    derived from another one (a rescaled budget after market.size) count in the "+n"."""
    leaves = [_leaves(r.scenario) for r in runs]
    keys = sorted({k for leaf in leaves for k in leaf})
    differing = [k for k in keys if len({json.dumps(leaf.get(k), default=str)
                                         for leaf in leaves}) > 1 and k != "description"]
    differing.sort(key=lambda k: (k not in FIRST, FIRST.index(k) if k in FIRST else 0,
                                  k.count("."), k))
    several_names = len({str(r.scenario.get("name", "")) for r in runs}) > 1
    for i, (run, leaf) in enumerate(zip(runs, leaves, strict=True)):
        name = str(run.scenario.get("name", run.folder.name))
        shown = ", ".join(f"{k if k in FIRST else _short(k, differing)}={_value(leaf.get(k, '–'))}"
                          for k in differing[:LABEL_SETTINGS])
        more = f" (+{len(differing) - LABEL_SETTINGS})" if len(differing) > LABEL_SETTINGS else ""
        if not differing:
            label = f"{name} ({run.folder.name})"
        else:
            label = f"{name}: {shown}{more}" if several_names else shown + more
        run.label = f"#{i + 1} {label}"


def runs_section(runs: list[RunFolder]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r.label)}</td>"
        f"<td>{r.summary.get('market_size', 0):,} × {r.summary.get('days', '?')} × "
        f"{r.summary.get('replicates', '?')}</td><td><a href='"
        f"{html.escape((r.folder.resolve() / 'report.html').as_uri())}'>"
        f"{html.escape(str(r.folder))}</a></td></tr>" for r in runs)
    head = (f"<th>{t('run', '运行')}</th><th>{t('users × days × replicates', '用户 × 天 × 重复')}"
            f"</th><th>{t('folder', '目录')}</th>")
    return section("runs", t("Runs", "运行"), f"<table><thead><tr>{head}</tr></thead>"
                   f"<tbody>{rows}</tbody></table>")


def health_comparison(runs: list[RunFolder]) -> str:
    """KPIs (rows) by run (columns): value over the horizon, trend and a daily sparkline."""
    title = t("Business health", "经营健康")
    names = [n for n in HEALTH if any(n in r.daily.columns for r in runs)]
    if not names:
        return section("health", title, not_modelled(t("Business KPIs", "经营指标")))
    head = "".join(f"<th>#{i + 1}</th>" for i in range(len(runs)))
    body = []
    for name in names:
        cells = []
        for run in runs:
            if name not in run.daily.columns:
                cells.append("<td>–</td>")
                continue
            value, change = kpi_value_and_trend(run.daily, name)
            series = run.daily[name]
            if name.startswith("ga_"):
                series = series[series.notna() & (series != 0)]
            cells.append(f"<td data-metric='{name}'>{fmt(value)}<br>"
                         f"{trend_text(name, change, trend_window(len(run.daily)))}"
                         f"{sparkline(series, 120, 26)}</td>")
        body.append(f"<tr><td title='{html.escape(METRICS[name].description)}'>"
                    f"{html.escape(metric_label(name))}<br>"
                    f"<small>{html.escape(metric_unit(name))}</small></td>{''.join(cells)}</tr>")
    intro = t("Per run (numbered as in Runs): value over the horizon, means over replicates; "
              "the trend compares each run's last 30 days (or half its horizon) with the same "
              "span before.", "各运行（编号同“运行”）的全周期数值，取各次重复的均值；趋势为每个"
              "运行最近 30 天（或半个周期）对比之前同样长度。")
    return section("health", title,
                   f"<p>{intro}</p><div class='wide'><table><thead><tr><th>"
                   f"{t('KPI', '指标')}</th>{head}</tr></thead>"
                   f"<tbody>{''.join(body)}</tbody></table></div>")


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
