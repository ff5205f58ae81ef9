"""`simctl`: the command line.

stdout is data (a path, or exactly one JSON object with --json); stderr is for people (progress,
tables, one-line errors). Exit codes: 0 ok, 1 failed, 2 bad input, 130 interrupted. A traceback
is shown only with --debug.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from experiments.cli.ab_cli import ab
from experiments.cli.analyze_cli import analyze, units
from experiments.cli.calibrate_cli import calibrate, forecast
from experiments.cli.checks_cli import adjust, srm
from experiments.cli.cli_common import (
    LangOption,
    StrictOption,
    check_writable_file,
    choose_language,
    cli_errors,
    command_line_overrides,
    enforce_compliance,
    err,
    say_data_notes,
    say_notes,
)
from experiments.cli.customers_cli import customers
from experiments.cli.export_cli import export
from experiments.cli.init_cli import init
from experiments.cli.power_cli import power
from experiments.cli.run_cli import ForecastOption, _forecast_warnings, app
from experiments.cli.sweep_cli import optimize, sensitivity, sweep
from experiments.report.dashboard import comparison_notes, load_runs, write_dashboard
from experiments.report.language import current, t
from experiments.runs.folders import atomic_file
from sim.errors import InputError
from sim.memory import human
from sim.planning import check_memory, memory_estimate
from sim.scenario import load_scenario, scenario_schema


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
                scenario = say_notes(load_scenario(name, command_line_overrides(
                    name, overrides)))
                warnings = enforce_compliance(scenario, strict)
                check_memory(scenario)
            except InputError as exc:
                failed = True
                for problem in exc.problems:
                    err.print(problem.text(current() == "zh"), markup=False, soft_wrap=True)
                report[name] = {"ok": False, "problems": [str(p) for p in exc.problems]}
                continue
            need = memory_estimate(scenario)
            err.print(t(f"{name}: ok ({scenario.market.size:,} users × {scenario.days} days, "
                        f"mechanics: {', '.join(scenario.mechanics)}; about {human(need)})",
                        f"{name}：通过（{scenario.market.size:,} 用户 × {scenario.days} 天，机制："
                        f"{'、'.join(scenario.mechanics)}；约 {human(need)} 内存）"),
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
    out: Annotated[Path | None, typer.Option(
        help="Write to this .json file (its folder is made if missing) instead of stdout.")
    ] = None,
) -> None:
    """Write the JSON Schema of scenario files (for editor completion and checking)."""
    with cli_errors():
        if out is not None:  # .json only: a scenario .yaml given by mistake is never replaced
            check_writable_file(out, suffixes=(".json",), example="scenario.schema.json")
        text = json.dumps(scenario_schema(), indent=2)
        if out is None:
            typer.echo(text)
        else:
            atomic_file(out, text + "\n")  # a complete file or none; missing folders made
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
        check_writable_file(out, suffixes=(".html", ".htm"))
        runs = load_runs(run_dirs)
        warnings = _forecast_warnings(forecast_dir)
        path = write_dashboard(runs, out, warnings)
        say_data_notes("dashboard", comparison_notes(runs), quiet=False)  # as on the page
        err.print(t(f"dashboard of {len(runs)} run(s) -> {path}",
                    f"{len(runs)} 个运行的对比看板 -> {path}"), markup=False, soft_wrap=True)
        typer.echo(str(path))


# the commands of their own modules, in the order `simctl --help` lists them
for _command in (power, sweep, sensitivity, optimize, ab, analyze, units, srm, adjust, export,
                 init, calibrate, forecast, customers):
    app.command(_command.__name__)(_command)


def _one_line_summaries() -> None:
    """`simctl --help` lists each command by its docstring's first paragraph; Typer's rich
    help keeps that paragraph's line breaks, which cut the list's rows mid-sentence. Each
    command gets the paragraph as one line, as its short help."""
    for info in app.registered_commands:
        if info.short_help is None and info.callback is not None and info.callback.__doc__:
            first = info.callback.__doc__.strip().split("\n\n")[0]
            info.short_help = " ".join(first.split())


_one_line_summaries()


def main() -> None:
    app()

