"""Forecasts with bands from parameter uncertainty and simulation noise, and an early warning
when reality leaves the band.

Each of K posterior draws (stored beside the fitted scenario by `calibrate`) is simulated with R
replicates of its own (distinct replicate numbers, so the noise is independent across draws);
the band of a metric on a week is the central quantile range of those K*R simulated values, so
it holds both what we do not know about the parameters and the luck of a market of this size.

Early warning: with observed data, every fully observed week whose value falls outside the band
is flagged `below` or `above`; a flag in the bad direction (sales, users, revenue below; churn,
refunds, abandoned carts above) is a warning, printed on stderr by the CLI. The sentences
(warnings, misspecification) are kept in English in summary.json and said on screen in the
language in force (`early_warnings`, `misspecification`; experiments/report/language.py).
"""

from __future__ import annotations

import json
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from experiments.calibration.fitted import POSTERIOR, SUMMARY
from experiments.calibration.forecast_totals import (
    add_cumulative,
    add_dates,
    band,
    cumulative_figure,
    series_columns,
    simulations_frame,
    weekly_values,
)
from experiments.calibration.objective import WEEK, run_series
from experiments.calibration.observed import Observed
from experiments.report.language import html_lang, metric_label, t, use
from experiments.report.operations import early_warning_panel
from experiments.report.pages import page
from experiments.report.parts import embed
from experiments.runs.design import point_scenario
from experiments.runs.folders import atomic_folder
from experiments.runs.outputs import json_safe
from experiments.runs.produced import produced_metrics
from sim.errors import InputError, Problem
from sim.metrics import METRICS
from sim.scenario import Scenario

BAD_WHEN_HIGH = {"churned_users", "refunds", "carts_abandoned", "coupon_cost", "cac"}
DEFAULT_METRICS = ("new_users", "purchases", "first_purchases", "repeat_purchases", "gmv",
                   "churned_users")


@dataclass
class Forecast:
    table: pd.DataFrame  # weekly: metric, week, first_day, observed?, mean, lo, median, hi, flags
    warnings: list[str]  # plus cum_* over the forecast weeks and week_start when dated
    folder: Path | None
    doc: dict[str, Any]
    simulations: pd.DataFrame | None = None  # every simulation's weekly values


def load_posterior(fitted_path: Path, scenario: Scenario) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Posterior draws and the calibration summary beside a fitted scenario (empty if none:
    then bands hold simulation noise only)."""
    folder = Path(fitted_path).parent
    doc: dict[str, Any] = {}
    if (folder / SUMMARY).exists():
        doc = json.loads((folder / SUMMARY).read_text("utf-8"))
    if (folder / POSTERIOR).exists():
        return pd.read_parquet(folder / POSTERIOR), doc
    return pd.DataFrame(), doc


def forecast(scenario: Scenario, posterior: pd.DataFrame, days: int, executor: Executor, *,
             draws: int = 20, replicates: int = 5, level: float = 0.9,
             observed: Observed | None = None, metrics: list[str] | None = None,
             fit_days: int | None = None, start: str | None = None) -> Forecast:
    """Simulate K draws x R replicates over the fitted days plus `days` more; weekly bands."""
    for option, value in (("--days", days), ("--draws", draws), ("--replicates", replicates)):
        if value < 1:
            raise InputError([Problem(option, None, "", f"{value}; expected a whole number "
                                      ">= 1")])
    if not 0 < level < 1:
        raise InputError([Problem("--level", None, "", f"{level}: expected a share in (0, 1), "
                                  "e.g. 0.9")])
    fit_days = fit_days or scenario.days
    horizon = fit_days + days
    if observed is not None:
        _check_overlap(observed, horizon)
    produced = produced_metrics(scenario)
    names = [m for m in (metrics or DEFAULT_METRICS) if m in produced]
    unknown = [m for m in (metrics or []) if m not in produced]
    if unknown:
        raise InputError([Problem("--metrics", None, m, "not produced by this scenario")
                          for m in unknown])
    points = (posterior.sample(n=draws, replace=len(posterior) < draws,
                               random_state=scenario.seed % 2**31).to_dict("records")
              if not posterior.empty else [{}] * draws)
    columns = series_columns(names)
    frames = _simulated_days(scenario, points, replicates, horizon, columns, executor)
    weekly = weekly_values(frames, names, horizon)
    seen = None if observed is None else observed_days(observed, horizon, columns)
    seen_weekly = None if seen is None else weekly_values([seen], names, horizon)[0]
    table = pd.DataFrame(_band_rows(weekly, seen_weekly, names, fit_days, level))
    first = table["first_day"].to_numpy()  # a week straddling the fit's end holds both
    table.insert(4, "forecast_days", np.clip(np.minimum(first + WEEK, horizon)
                                             - np.maximum(first, fit_days), 0, None))
    totals = add_cumulative(table, frames, seen, names, fit_days, level)
    add_dates(table, start if start is not None else getattr(observed, "start", None))
    with use("en"):  # summary.json's sentences; the CLI says them in the language in force
        warnings = early_warnings(table, level)
        misfit = misspecification(table, level)
    doc = {"kind": "forecast", "scenario": scenario.name, "fit_days": fit_days,
           "forecast_days": days, "draws": len(points), "replicates": replicates,
           "level": level, "parameter_uncertainty": not posterior.empty,
           "metrics": names, "metric_kinds": {m: METRICS[m].kind for m in names},
           "warnings": warnings, "flagged": int((table["flag"] != "").sum()), "totals": totals,
           "misspecification": misfit, "notes": [] if observed is None else list(observed.notes),
           "start": None if "week_start" not in table else table["week_start"].iloc[0]}
    return Forecast(table, warnings, None, doc, simulations_frame(weekly, names))


def _check_overlap(observed: Observed, horizon: int) -> None:
    """Observed data from another period (2026 orders against a 1997 fit) left every week
    unobserved and the check said "0 weeks outside the band": refused, with both periods."""
    seen = observed.daily.notna().any(axis=1).to_numpy()
    if seen[:horizon].any():
        return
    start = pd.Timestamp(observed.start)
    days = np.flatnonzero(seen)
    covers = (f"{(start + pd.Timedelta(days=int(days[0]))).date()}.."
              f"{(start + pd.Timedelta(days=int(days[-1]))).date()}" if days.size else "no day")
    end = (start + pd.Timedelta(days=horizon - 1)).date()
    raise InputError([Problem(observed.source, None, "", f"no observed value falls in the "
                              f"forecast's days {start.date()}..{end} (the file covers "
                              f"{covers}); give the data of the fitted period")])


def _simulated_days(scenario: Scenario, points: list[dict[str, Any]], replicates: int,
                    horizon: int, columns: list[str], executor: Executor) -> list[pd.DataFrame]:
    """K*R daily frames (days x columns): R replicates of their own (distinct numbers) per
    draw."""
    longer = point_scenario(scenario, {"days": horizon})
    jobs = []
    for k, point in enumerate(points):
        s = point_scenario(longer, {key: _plain(v) for key, v in point.items()})
        jobs += [(s, 50_000 + k * replicates + r) for r in range(replicates)]
    return [pd.DataFrame(series, columns=columns)
            for series in run_series(executor, jobs, columns)]


def observed_days(observed: Observed, horizon: int, columns: list[str]) -> pd.DataFrame:
    """The observed daily values on days 0..horizon-1, NaN where not observed (what a log
    cannot see is NaN already: `observed._metrics_of`)."""
    frame = observed.daily.reindex(range(horizon)).reindex(columns=columns).astype(float)
    return frame.reset_index(drop=True)


def _band_rows(weekly: np.ndarray, seen: np.ndarray | None, names: list[str], fit_days: int,
               level: float) -> list[dict[str, Any]]:
    """One row per (metric, week): the band, and the observed value with its flag (where the
    data give the metric on every day it needs)."""
    rows = []
    for j, metric in enumerate(names):
        for k, first in enumerate(range(0, weekly.shape[1] * WEEK, WEEK)):
            mean, lo, median, hi = band(weekly[:, k, j], level)
            row = {"metric": metric, "week": k + 1, "first_day": int(first),
                   "period": "fit" if first + WEEK <= fit_days else "forecast",
                   "mean": mean, "lo": lo, "median": median, "hi": hi,
                   "observed": np.nan, "flag": "", "warning": False}
            if seen is not None and np.isfinite(seen[k, j]):
                _flag(row, float(seen[k, j]))
            rows.append(row)
    return rows


def misspecification(table: pd.DataFrame, level: float) -> list[str]:
    """Per metric, a sentence (in the language in force) when more observed weeks lie outside
    the band than chance allows (binomial tail below 0.001 at the rate 1 - level): the data
    vary more than the fitted model can produce, so its weekly bands are too narrow and its
    week-by-week warnings partly say that rather than a change."""
    from scipy import stats  # here: scipy.stats is half a second of import
    out = []
    for metric, rows in table[table["observed"].notna()].groupby("metric", sort=False):
        outside, weeks = int((rows["flag"] != "").sum()), len(rows)
        if weeks and stats.binom.sf(outside - 1, weeks, 1 - level) < 0.001:
            expected = f"{(1 - level) * weeks:.0f}"
            out.append(t(f"misspecification: {metric}: {outside} of {weeks} observed weeks lie "
                         f"outside the {level:.0%} band (about {expected} expected): the data "
                         "vary more from week to week than the fitted model can produce "
                         "(promotions, seasonality); trust the band of the total more than "
                         "each week's",
                         f"模型设定偏差：{metric_label(str(metric))}：{weeks} 个有实际值的周中有 "
                         f"{outside} 周落在 {level:.0%} 区间外（按随机波动预期约 {expected} 周）："
                         "数据逐周的波动大于拟合模型所能产生的（促销、季节性）；总量的区间比单周的更可信"))
    return out


def _flag(row: dict[str, Any], value: float) -> None:
    """Put an observed week on its row: below / above the band, and a warning when that is
    the bad direction for the metric."""
    row["observed"] = value
    if value < row["lo"]:
        row["flag"] = "below"
    elif value > row["hi"]:
        row["flag"] = "above"
    row["warning"] = row["flag"] == ("above" if row["metric"] in BAD_WHEN_HIGH else "below")


def early_warnings(table: pd.DataFrame, level: float) -> list[str]:
    """The early warning of each week flagged in the bad direction, in the language in force
    (with the week's first date where the table has one: `add_dates`)."""
    out = []
    for row in table[table["warning"].astype(bool)].itertuples():
        value, lo, hi = (f"{v:,.6g}" for v in (row.observed, row.lo, row.hi))
        date = getattr(row, "week_start", None)
        out.append(t(f"early warning: {row.metric} week {row.week}"
                     f"{'' if date is None else f' (from {date})'} = {value} is {row.flag} "
                     f"the {level:.0%} band [{lo}, {hi}]",
                     f"预警：{metric_label(str(row.metric))} 第 {row.week} 周"
                     f"{'' if date is None else f'（{date} 起）'} = {value}，"
                     f"{'低于' if row.flag == 'below' else '高于'} {level:.0%} 区间 [{lo}, {hi}]"))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def write_forecast(result: Forecast, out: Path) -> Path:
    """forecast.parquet, forecast.csv, simulations.parquet, forecast.html, summary.json,
    atomically."""
    out = Path(out)
    with atomic_folder(out) as partial:
        result.table.to_parquet(partial / "forecast.parquet", index=False)
        result.table.to_csv(partial / "forecast.csv", index=False)
        if result.simulations is not None:
            result.simulations.to_parquet(partial / "simulations.parquet", index=False)
        (partial / "summary.json").write_text(json.dumps(json_safe(result.doc), indent=2),
                                              "utf-8")
        (partial / "forecast.html").write_text(forecast_report(result), "utf-8")
    result.folder = out
    return out


def default_folder(fitted_path: Path, name: str, calibrated: bool) -> Path:
    """Beside fitted.yaml for a calibration; runs/forecasts/<name>/ for a plain scenario (never
    inside the scenarios folder a team keeps under version control)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    parent = Path(fitted_path).parent if calibrated else Path("runs") / "forecasts" / name
    return parent / f"forecast-{stamp}"


def forecast_report(result: Forecast) -> str:
    """forecast.html, in the language in force (summary.json stays English)."""
    table, doc = result.table, result.doc
    metrics = list(dict.fromkeys(table["metric"]))
    fig = make_subplots(rows=len(metrics), cols=1,
                        subplot_titles=[metric_label(m) for m in metrics])
    x = "week_start" if "week_start" in table else "week"  # calendar dates when known
    names = (t(f"{doc['level']:.0%} band", f"{doc['level']:.0%} 区间"), t("median", "中位数"),
             t("observed", "实际"))
    for i, m in enumerate(metrics, start=1):
        g = table[table["metric"] == m]
        fig.add_trace(go.Scatter(x=list(g[x]) + list(g[x][::-1]),
                                 y=list(g["hi"]) + list(g["lo"][::-1]), fill="toself",
                                 fillcolor="rgba(31,119,180,0.2)", line={"width": 0},
                                 name=names[0], showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Scatter(x=g[x], y=g["median"], name=names[1],
                                 line={"color": "#1f77b4"}, showlegend=i == 1), row=i, col=1)
        seen = g[g["observed"].notna()]
        colour = np.where(seen["warning"], "#d62728", np.where(seen["flag"] != "", "#ff7f0e",
                                                                "#222"))
        fig.add_trace(go.Scatter(x=seen[x], y=seen["observed"], mode="markers",
                                 marker={"color": colour}, name=names[2],
                                 showlegend=i == 1), row=i, col=1)
        boundary = g[g["period"] == "forecast"][x]
        if len(boundary):
            start = boundary.iloc[0]
            fig.add_vline(x=start if x == "week_start" else float(start) - 0.5,
                          line_dash="dash", row=i, col=1)
    fig.update_layout(height=300 * len(metrics))
    panel = early_warning_panel({**doc, "flags": flagged_weeks(table)})
    cumulative = ("" if "cum_median" not in table or table["cum_median"].isna().all() else
                  embed(cumulative_figure(table, doc["level"])))
    return page(t("Forecast: ", "预测：") + doc["scenario"], _report_intro(result),
                embed(fig) + cumulative + '<section id="warnings"><h2>'
                + t("Early warnings", "预警") + f"</h2>{panel}</section>",
                lang=html_lang())


def _report_intro(result: Forecast) -> str:
    """What the page's bands are made of and how its colours read, then any misspecification
    sentence, in the language in force."""
    doc = result.doc
    draws, replicates = doc["draws"], doc["replicates"]
    parameters = doc["parameter_uncertainty"]
    en_noise = ("parameter uncertainty and " if parameters else "") + "simulation noise"
    zh_noise = ("参数不确定性与" if parameters else "") + "模拟噪声"
    intro = t(f"Weekly forecast: {draws} posterior draws x {replicates} replicates ({en_noise}); "
              "the dashed line ends the fitted period. Red: observed outside the band in the "
              "bad direction (early warning); orange: outside in the other direction.",
              f"逐周预测：{draws} 个后验抽样 × {replicates} 次重复（{zh_noise}）；虚线为拟合期的"
              "结束。红色：实际值在不利方向超出区间（预警）；橙色：在另一方向超出。")
    return " ".join([intro, *misspecification(result.table, doc["level"])])


FLAG_FIELDS = ("metric", "week", "first_day", "observed", "lo", "hi", "flag", "warning")


def flagged_weeks(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The weeks whose observed value left the band, as plain records (for the panels)."""
    if table.empty or "flag" not in table.columns:
        return []
    rows = table[table["flag"] != ""]
    return [{"metric": str(r.metric), "week": int(r.week), "first_day": int(r.first_day),
             "observed": float(r.observed), "lo": float(r.lo), "hi": float(r.hi),
             "flag": str(r.flag), "warning": bool(r.warning)} for r in rows.itertuples()]


def load_forecast(folder: Path) -> dict[str, Any]:
    """A forecast folder's summary with its flagged weeks (`flags`), for a run dashboard's
    early-warning panel; a located error if the folder is not one `simctl forecast` wrote."""
    folder = Path(folder)
    summary, table = folder / "summary.json", folder / "forecast.parquet"
    problem = None
    if not folder.is_dir():
        problem = "no such folder"
    elif not summary.exists() or not table.exists():
        problem = "not a forecast folder (needs summary.json and forecast.parquet)"
    else:
        try:
            doc = json.loads(summary.read_text("utf-8"))
        except ValueError as exc:
            problem = f"summary.json is not JSON ({exc})"
        else:
            if not isinstance(doc, dict) or doc.get("kind") != "forecast":
                problem = "summary.json is not a forecast's (kind != forecast)"
    if problem:
        raise InputError([Problem(str(folder), None, "--forecast", f"{problem}; give a folder "
                                  "written by simctl forecast")])
    return {**doc, "flags": flagged_weeks(pd.read_parquet(table))}

