"""The dashboard of a set of runs: business health and growth accounting side by side.

Read from run folders only (summary.json, metrics.parquet, scenario.resolved.yaml), so runs made
at different times, or on other machines, can be compared, e.g. one scenario with different
overrides. Each run is labelled by the settings in which it differs from the others. A folder
that is not a run is a located, one-line error and nothing is written.
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
from sim.metrics import HEALTH, METRICS

RUN_FILES = ("summary.json", "metrics.parquet", "scenario.resolved.yaml")


@dataclass
class RunFolder:
    folder: Path
    summary: dict[str, Any]
    scenario: dict[str, Any]  # the resolved scenario, as plain YAML data
    daily: pd.DataFrame  # daily metrics, mean over replicates (index: day)
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
    return RunFolder(folder, summary, scenario, mean_daily(metrics[known]))


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


def label_runs(runs: list[RunFolder]) -> None:
    """Label each run by its scenario name and the settings that differ between the runs
    (description and seeds of the stories aside, e.g. `mechanics.gift.value=20`)."""
    leaves = [_leaves(r.scenario) for r in runs]
    keys = sorted({k for leaf in leaves for k in leaf})
    differing = [k for k in keys if len({json.dumps(leaf.get(k), default=str)
                                         for leaf in leaves}) > 1 and k != "description"]
    for run, leaf in zip(runs, leaves, strict=True):
        settings = ", ".join(f"{k}={leaf.get(k, '–')}" for k in differing[:6])
        more = f" (+{len(differing) - 6} more)" if len(differing) > 6 else ""
        run.label = f"{run.scenario.get('name', run.folder.name)}" + (
            f": {settings}{more}" if settings else f" ({run.folder.name})")


def runs_section(runs: list[RunFolder]) -> str:
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{html.escape(r.label)}</td>"
        f"<td>{r.summary.get('market_size', 0):,} × {r.summary.get('days', '?')} days × "
        f"{r.summary.get('replicates', '?')}</td><td><a href='"
        f"{html.escape((r.folder.resolve() / 'report.html').as_uri())}'>"
        f"{html.escape(str(r.folder))}</a></td></tr>" for i, r in enumerate(runs))
    return section("runs", "Runs", "<table><thead><tr><th>#</th><th>run</th><th>users × days × "
                   f"replicates</th><th>folder</th></tr></thead><tbody>{rows}</tbody></table>")


def health_comparison(runs: list[RunFolder]) -> str:
    """KPIs (rows) by run (columns): value over the horizon, trend and a daily sparkline."""
    names = [n for n in HEALTH if any(n in r.daily.columns for r in runs)]
    if not names:
        return section("health", "Business health", not_modelled("Business KPIs"))
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
        body.append(f"<tr><td title='{html.escape(METRICS[name].description)}'>{name}<br>"
                    f"<small>{html.escape(METRICS[name].unit)}</small></td>{''.join(cells)}</tr>")
    return section("health", "Business health",
                   "<p>Per run (numbered as in Runs): value over the horizon, means over "
                   "replicates; the trend compares each run's last 30 days (or half its "
                   "horizon) with the same span before.</p>"
                   f"<div class='wide'><table><thead><tr><th>KPI</th>{head}</tr></thead>"
                   f"<tbody>{''.join(body)}</tbody></table></div>")


def quick_ratio_figure(periods: list[tuple[str, pd.DataFrame]]) -> go.Figure:
    fig = go.Figure()
    for i, (label, table) in enumerate(periods):
        fig.add_trace(go.Scatter(x=list(range(1, len(table) + 1)), y=table["ga_quick_ratio"],
                                 mode="lines+markers", name=label,
                                 line={"color": PALETTE[i % len(PALETTE)]}))
    fig.add_hline(y=1.0, line_dash="dash", line_color="#888")
    fig.update_layout(height=340, template="plotly_white", xaxis_title="period",
                      yaxis_title="quick ratio (users)", legend={"orientation": "h", "y": -0.25},
                      margin={"t": 30, "l": 60, "r": 20, "b": 40})
    return fig


def growth_comparison(runs: list[RunFolder]) -> str:
    tables = [(f"#{i + 1}", growth_periods(r.daily, r.period_days), r)
              for i, r in enumerate(runs) if "ga_active_users" in r.daily.columns]
    tables = [(label, t, r) for label, t, r in tables
              if not t.empty and t["ga_active_users"].sum() > 0]
    if not tables:
        return section("growth", "Growth accounting",
                       not_modelled("Growth accounting (runs from before it existed, or no "
                                    "complete period)"))
    parts = ["<p>Buyers and revenue of each run by period: new, retained, resurrected and "
             "churned (below zero), quick ratio = (new + resurrected) / churned. Above 1 (the "
             "dashed line) the active base grows.</p>",
             embed(quick_ratio_figure([(label, t) for label, t, _ in tables])),
             "<div class='pair'>"]
    for label, table, run in tables:
        parts.append(f"<div class='chart'><h3>{html.escape(label)} · "
                     f"{html.escape(run.label)} ({run.period_days}-day periods)</h3>"
                     + embed(growth_figure(table)) + "</div>")
    parts.append("</div>")
    return section("growth", "Growth accounting", "".join(parts))


NAV = (("runs", "runs"), ("health", "business health"), ("growth", "growth accounting"),
       ("warnings", "early warning"))


def dashboard_html(runs: list[RunFolder], forecast: dict[str, Any] | None = None) -> str:
    names = sorted({str(r.scenario.get("name", "?")) for r in runs})
    title = f"growthsim · {len(runs)} run(s) · {', '.join(names)}"
    header = (f"<h1>{html.escape(title)}</h1><p>Business health and growth accounting of "
              f"{len(runs)} run folder(s) side by side; each run's own report has every "
              "section.</p>")
    body = "\n".join([runs_section(runs), health_comparison(runs), growth_comparison(runs),
                      warnings_section(forecast)])
    return page(title, header, NAV, body)


def write_dashboard(runs: list[RunFolder], out: Path,
                    forecast: dict[str, Any] | None = None) -> Path:
    """Write the page atomically (a complete file or none) and return its path."""
    text = dashboard_html(runs, forecast)
    atomic_file(Path(out), text)
    return Path(out)
