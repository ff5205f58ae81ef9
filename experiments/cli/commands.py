"""`simctl`: the command line.

stdout is data (a path, or exactly one JSON object with --json); stderr is for people (progress,
tables, one-line errors). Exit codes: 0 ok, 1 failed, 2 bad input, 130 interrupted. A traceback
is shown only with --debug.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from experiments.calibration.forecast import load_forecast
from experiments.cli.ab_cli import ab
from experiments.cli.analyze_cli import analyze, units
from experiments.cli.calibrate_cli import calibrate, forecast
from experiments.cli.checks_cli import adjust, srm
from experiments.cli.cli_common import (
    STATE,
    DaysOption,
    LangOption,
    LazyProgress,
    OverridesArg,
    SeedOption,
    StrictOption,
    check_writable_file,
    check_writable_folder,
    choose_language,
    cli_errors,
    enforce_compliance,
    err,
    flag_overrides,
    say_notes,
)
from experiments.cli.customers_cli import customers
from experiments.cli.export_cli import export
from experiments.cli.init_cli import init
from experiments.cli.power_cli import power
from experiments.cli.sweep_cli import optimize, sensitivity, sweep
from experiments.report.dashboard import load_runs, write_dashboard
from experiments.report.language import metric_label, metric_unit, set_language, t
from experiments.report.parts import fmt
from experiments.runs.outputs import write_run
from sim.engine import run
from sim.errors import InputError
from sim.memory import human
from sim.metrics import HEADLINE
from sim.planning import check_memory, memory_estimate
from sim.scenario import Scenario, load_scenario, scenario_schema

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
        extra = flag_overrides(days=days, seed=seed, replicates=replicates)
        scenario = say_notes(load_scenario(scenario_file, [*(overrides or []), *extra]))
        warnings = load_forecast(forecast_dir) if forecast_dir is not None else None
        enforce_compliance(scenario, strict)
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


@app.command("validate")
def validate_command(
    items: Annotated[list[str], typer.Argument(help="Scenario files, then any overrides.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    strict: StrictOption = False,
) -> None:
    """Check scenarios: every problem as FILE:LINE: path: message, and platform-rule findings
    (warnings; errors with --strict); exit 2 if any problem."""
    with cli_errors():
        files = [i for i in items if "=" not in i or _is_file(i)]
        overrides = [i for i in items if i not in files]
        if not files:
            raise InputError([_usage("validate", "give at least one scenario file")])
        report: dict[str, object] = {}
        failed = False
        for name in files:
            try:
                scenario = say_notes(load_scenario(name, overrides))
                warnings = enforce_compliance(scenario, strict)
                check_memory(scenario)
            except InputError as exc:
                failed = True
                for problem in exc.problems:
                    err.print(str(problem), markup=False, soft_wrap=True)
                report[name] = {"ok": False, "problems": [str(p) for p in exc.problems]}
                continue
            need = memory_estimate(scenario)
            err.print(f"{name}: ok ({scenario.market.size:,} users × {scenario.days} days, "
                      f"mechanics: {', '.join(scenario.mechanics)}; about {human(need)})",
                      markup=False, soft_wrap=True)
            report[name] = {"ok": True, "memory_bytes": need,
                            "warnings": [str(w) for w in warnings]}
        if json_out:
            typer.echo(json.dumps(report))
        if failed:
            raise typer.Exit(2)


def _is_file(text: str) -> bool:
    """A file name that happens to hold '='; an override too long for a file name is not one."""
    try:
        return Path(text).is_file()
    except OSError:
        return False


def _usage(command: str, message: str) -> object:
    from sim.errors import Problem

    return Problem(f"simctl {command}", None, "", message)


@app.command("schema")
def schema_command(
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write the JSON Schema of scenario files (for editor completion and checking)."""
    with cli_errors():
        if out is not None:
            check_writable_file(out)
        text = json.dumps(scenario_schema(), indent=2)
        if out is None:
            typer.echo(text)
        else:
            out.write_text(text + "\n", encoding="utf-8")
            err.print(f"wrote {out}", markup=False)


@app.command("dashboard")
def dashboard_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders written by simctl run.")],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("dashboard.html"),
    forecast_dir: ForecastOption = None,
    lang: LangOption = None,
) -> None:
    """What differs between runs (with 95% intervals), business health and growth accounting
    side by side, one self-contained HTML page (prints its path). A folder that is not a run:
    one line each, exit 2, nothing written."""
    with cli_errors():
        if lang is not None:
            choose_language(lang)
        check_writable_file(out)
        runs = load_runs(run_dirs)
        warnings = load_forecast(forecast_dir) if forecast_dir is not None else None
        path = write_dashboard(runs, out, warnings)
        err.print(t(f"dashboard of {len(runs)} run(s) -> {path}",
                    f"{len(runs)} 个运行的对比看板 -> {path}"), markup=False, soft_wrap=True)
        typer.echo(str(path))


# the commands of their own modules, in the order `simctl --help` lists them
for _command in (power, sweep, sensitivity, optimize, ab, analyze, units, srm, adjust, export,
                 init, calibrate, forecast, customers):
    app.command(_command.__name__)(_command)


def main() -> None:
    app()

