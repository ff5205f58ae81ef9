"""`simctl run`: simulate a scenario and write its run folder, report and summary table.

Its own module, with the root options, so that `simctl run` imports only what a run needs
(`experiments.cli._app` picks this app when the command is `run`; every other command goes
through experiments/cli/commands.py, which adds its commands to the same app): about 0.7 s
less start-up than importing every command's stack.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from experiments.cli.cli_common import (
    STATE,
    DaysOption,
    LangOption,
    LazyProgress,
    OverridesArg,
    SeedOption,
    StrictOption,
    check_writable_folder,
    choose_language,
    cli_errors,
    command_line_overrides,
    enforce_compliance,
    err,
    say_notes,
)
from experiments.report.language import metric_label, metric_unit, set_language, t
from experiments.report.parts import fmt
from experiments.runs.outputs import write_run
from sim.engine import run
from sim.errors import InputError
from sim.metrics import HEADLINE
from sim.planning import check_memory
from sim.scenario import Scenario, load_scenario

MAX_EVENT_LOG_USERS = 5_000_000  # about 28 bytes an event at peak (benchmarks/bench_events.py)
ForecastOption = Annotated[Path | None, typer.Option(
    "--forecast", help="A folder written by `simctl forecast --observed`: its flagged weeks "
    "fill the dashboard's early-warning panel.")]

app = typer.Typer(
    name="simctl",
    help="growthsim: simulate growth mechanics of a social e-commerce mini-program.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
    lang: LangOption = None,
) -> None:
    STATE["debug"] = debug
    with cli_errors():
        choose_language(lang)
    ctx.call_on_close(lambda: set_language(None))  # the language ends with the command


@app.command("run")
def run_command(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    overrides: OverridesArg = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    replicates: Annotated[int | None, typer.Option(help="Independent replicates.")] = None,
    out: Annotated[Path, typer.Option(help="Root folder for run folders.")] = Path("runs"),
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress or table on stderr.")] = False,
    events: Annotated[bool, typer.Option(
        help=f"Also write events.parquet (user, day, event, amount, channel, campaign); "
        f"markets up to {MAX_EVENT_LOG_USERS:,} users.")] = False,
    strict: StrictOption = False,
    forecast_dir: ForecastOption = None,
    all_metrics: Annotated[bool, typer.Option(
        "--all-metrics", help="Every metric in the stderr table, not only the headline ones "
        "(all are always in summary.json and report.html).")] = False,
    lang: LangOption = None,
) -> None:
    """Simulate a scenario and write runs/<name>/<timestamp>-<hash>/ (prints its path); its
    report.html is the operations dashboard (模拟并生成经营报告)."""
    with cli_errors():
        if lang is not None:
            choose_language(lang)
        check_writable_folder(out)
        given = command_line_overrides(scenario_file, overrides, days=days, seed=seed,
                                       replicates=replicates)
        scenario = say_notes(load_scenario(scenario_file, given))
        warnings = _forecast_warnings(forecast_dir)
        enforce_compliance(scenario, strict)
        if warnings is not None and warnings.get("scenario") != scenario.name and not quiet:
            theirs = warnings.get("scenario")
            err.print(t(f"warning: --forecast {forecast_dir} forecasts scenario {theirs!r}, not "
                        f"{scenario.name!r}: its early warnings are about another model",
                        f"警告：--forecast {forecast_dir} 预测的是场景 {theirs!r}，不是 "
                        f"{scenario.name!r}：其预警说的是另一个模型"), markup=False,
                      soft_wrap=True)
        check_memory(scenario)
        if events and scenario.market.size > MAX_EVENT_LOG_USERS:
            raise InputError([scenario.problem(
                ("market", "size"), f"--events logs every user event; use at most "
                f"{MAX_EVENT_LOG_USERS:,} users (market.size={MAX_EVENT_LOG_USERS}) or drop "
                "--events")])
        progress = LazyProgress(scenario.days * scenario.replicates,
                                f"{scenario.name}", enabled=not quiet)
        started = time.perf_counter()
        try:
            result = run(scenario, progress=progress, log_events=events)
        finally:
            progress.close()
        wall = time.perf_counter() - started
        run_dir = write_run(result, out, wall, events=events, forecast=warnings)
        summary = result.summary()
        if not quiet:
            err.print(summary_table(scenario, summary, headline_only=not all_metrics))
            err.print(t(f"{scenario.name}: {scenario.market.size:,} users × {scenario.days} "
                        f"days × {scenario.replicates} replicate(s) in {wall:.2f} s -> {run_dir}",
                        f"{scenario.name}：{scenario.market.size:,} 用户 × {scenario.days} 天 × "
                        f"{scenario.replicates} 次重复，用时 {wall:.2f} 秒 -> {run_dir}"),
                      markup=False, soft_wrap=True)
        if json_out:
            means = {k: _finite(v["mean"]) for k, v in summary.items()}
            typer.echo(json.dumps({"run_dir": str(run_dir), "summary": means}))
        else:
            typer.echo(str(run_dir))


def _forecast_warnings(folder: Path | None) -> dict | None:
    """The early warnings of a forecast folder, if one is named: the forecast module (a
    second of imports) is loaded only then."""
    if folder is None:
        return None
    from experiments.calibration.forecast import load_forecast

    return load_forecast(folder)


# The stderr table's default rows: what a growth lead reads first (the rest, often a hundred
# metrics with every mechanic on, are in summary.json, report.html and --all-metrics).
def summary_table(scenario: Scenario, summary: dict[str, dict[str, float]],
                  headline_only: bool = False) -> Table:
    shown = {k: v for k, v in summary.items() if not headline_only or k in HEADLINE}
    hidden = len(summary) - len(shown)
    note = t(f" ({hidden} more metrics: --all-metrics, summary.json)",
             f"（另有 {hidden} 个指标：--all-metrics、summary.json）") if hidden else ""
    table = Table(title=t(f"{scenario.name}: over {scenario.days} days{note}",
                          f"{scenario.name}：{scenario.days} 天合计{note}"),
                  title_justify="left")
    table.add_column(t("metric", "指标"))
    table.add_column(t("unit", "单位"))
    table.add_column(t("mean", "均值"), justify="right")
    table.add_column(t("95% CI", "95% 置信区间"), justify="right")
    for name, values in shown.items():
        ci = ("–" if math.isnan(values["ci_low"])
              else f"{fmt(values['ci_low'])} … {fmt(values['ci_high'])}")
        label = metric_label(name) + (f" {name}" if metric_label(name) != name else "")
        table.add_row(label, metric_unit(name), fmt(values["mean"]), ci)
    return table


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
