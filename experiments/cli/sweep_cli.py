"""`simctl sweep | sensitivity | optimize`: plain typer command functions (the app in
experiments/cli/commands.py registers them).

stdout is data (the run folder, or one JSON object with --json); stderr is for people: a progress
bar with ETA and failures so far, then one final line. Exit codes: 0 ok, 1 some task failed,
2 bad input (nothing written), 130 interrupted (finished tasks kept; --resume completes them).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from experiments.cli.answers import optimize_answer, sensitivity_answer, sweep_answer
from experiments.cli.cli_common import (
    DaysOption,
    OverridesArg,
    SeedOption,
    check_writable_folder,
    cli_errors,
    command_line_overrides,
    err,
    say_notes,
)
from experiments.report.language import t
from experiments.runs.design import DESIGNS, build_design
from experiments.runs.executors import check_executor, make_executor
from experiments.runs.sweep import Outcome, Plan, create_run, load_plan, run_plan
from sim.errors import InputError, Problem
from sim.scenario import Scenario, load_scenario

# each command's --param help names only the forms that command takes
SweepParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="dotted.path=VALUES: a list 5,10,20 or a range 5:30:5 (start:stop:step) "
    "for a grid; bounds lo..hi for --design lhs|sobol.")]
SensitivityParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="dotted.path=lo..hi: numeric bounds, e.g. "
    "mechanics.acquisition.q=0.1..0.5.")]
OptimizeParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="dotted.path=lo..hi: numeric bounds, e.g. mechanics.gift.value=0..30; "
    "or a range 5:30:5 (its steps, in order), or choices a,b,c tried as unordered options, "
    "e.g. mechanics.funnel.login=one_click,form.")]
ExecutorOpt = Annotated[str | None, typer.Option(
    help="serial | processes:N | dask-local:N | dask://HOST:PORT (default serial).")]
ReplicatesOpt = Annotated[int | None, typer.Option(
    help="Replicates per point (common random numbers across points).")]
OutOpt = Annotated[Path, typer.Option(help="Root folder for run folders.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
QuietOpt = Annotated[bool, typer.Option(help="No progress bar or final line on stderr.")]


class TaskProgress:
    """A rich progress bar on stderr: tasks done, failures so far, elapsed time and ETA."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.enabled, self.label, self.bar, self.task = enabled, label, None, None

    def __call__(self, done: int, total: int, failures: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total} tasks"),
                                TextColumn("{task.fields[failures]} failed"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total, completed=done, failures=0)
        self.bar.update(self.task, completed=done, total=total, failures=failures)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _usage(command: str, message: str) -> InputError:
    return InputError([Problem(f"simctl {command}", None, "", message)])


def _base(command: str, scenario_file: Path | None, overrides: list[str] | None,
          replicates: int | None, days: int | None = None, seed: int | None = None) -> Scenario:
    """The scenario with the common options (--replicates, --days, --seed) as overrides. Its
    notes are not printed here: the command prints them once every option has been checked,
    so a refused command says only why (one line)."""
    if scenario_file is None:
        raise _usage(command, "give a scenario file, e.g. scenarios/reference.yaml")
    return load_scenario(scenario_file, command_line_overrides(
        scenario_file, overrides, replicates=replicates, days=days, seed=seed))


def _finish_line(outcome: Outcome, name: str, quiet: bool, json_out: bool) -> None:
    if not quiet:
        stop = (t(" (stopped at the first failure: --fail-fast)",
                  "（--fail-fast：首次失败即停止）") if outcome.stopped else "")
        reps = outcome.tasks // max(outcome.points, 1)
        err.print(t(f"{name}: {outcome.points} points × {reps} replicate(s), {outcome.done}/"
                    f"{outcome.tasks} tasks ok, {len(outcome.failures)} failure(s){stop}, "
                    f"{outcome.wall_seconds:.1f} s -> {outcome.run_dir}",
                    f"{name}：{outcome.points} 个点 × {reps} 次重复，{outcome.done}/"
                    f"{outcome.tasks} 个任务完成，{len(outcome.failures)} 个失败{stop}，"
                    f"{outcome.wall_seconds:.1f} 秒 -> {outcome.run_dir}"),
                  markup=False, soft_wrap=True)
        for f in outcome.failures[:5]:
            err.print(f"  failed: point {f['point']} replicate {f['replicate']} "
                      f"{json.dumps(f['params'])}: {f['error']}", markup=False, soft_wrap=True)
        if outcome.complete:
            _say_answer(*sweep_answer(outcome.run_dir))
    if json_out:
        typer.echo(json.dumps({
            "run_dir": str(outcome.run_dir), "points": outcome.points, "tasks": outcome.tasks,
            "done": outcome.done, "failed": len(outcome.failures),
            "complete": outcome.complete, "wall_seconds": round(outcome.wall_seconds, 3)}))
    else:
        typer.echo(str(outcome.run_dir))


def _run(plan: Plan, executor: Executor, fail_fast: bool, quiet: bool) -> Outcome:
    progress = TaskProgress(plan.base.name, enabled=not quiet)
    try:
        return run_plan(plan, executor, fail_fast=fail_fast, progress=progress)
    except KeyboardInterrupt:
        progress.close()
        err.print(f"interrupted: finished tasks are kept in {plan.run_dir}; complete them "
                  f"with: simctl sweep --resume {plan.run_dir}", markup=False, soft_wrap=True)
        raise
    finally:
        progress.close()


def sweep(
    scenario_file: Annotated[Path | None, typer.Argument(help="Scenario YAML file.")] = None,
    overrides: OverridesArg = None,
    param: SweepParamOpt = None,
    design: Annotated[str, typer.Option(help=f"{' | '.join(DESIGNS)}.")] = "grid",
    points: Annotated[int | None, typer.Option(help="Points of an lhs / sobol design.")] = None,
    replicates: ReplicatesOpt = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    executor: ExecutorOpt = None,
    out: OutOpt = Path("runs"),
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first failed task.")] = False,
    resume: Annotated[Path | None, typer.Option(
        help="Complete an interrupted sweep in this run folder.")] = None,
) -> None:
    """Run a scenario over a design of parameter values × replicates; prints the run folder."""
    with cli_errors():
        if resume is not None:
            if scenario_file is not None or param:
                raise _usage("sweep", "--resume RUN_DIR takes no scenario or --param: the plan "
                             "is stored in the run folder")
            plan = load_plan(resume)
            spec = executor or plan.spec.get("executor") or "serial"
        else:
            check_writable_folder(out)
            base = _base("sweep", scenario_file, overrides, replicates, days, seed)
            spec = executor or "serial"
            check_executor(spec)
            built, _ = build_design(base, param or [], design, points)
            plan = None
        started = time.perf_counter()
        with make_executor(spec) as ex:  # a bad executor fails before any folder is made
            if plan is None:
                say_notes(base)  # every option checked: now what loading noted
                for warning in built.warnings:
                    err.print(f"{t('warning', '警告')}: {warning}", markup=False,
                              soft_wrap=True)
                plan = create_run(base, built, out, spec)
            outcome = _run(plan, ex, fail_fast, quiet)
        outcome.wall_seconds = time.perf_counter() - started
        _finish_line(outcome, plan.base.name, quiet, json_out)
        if outcome.failures or not outcome.complete:
            raise typer.Exit(1)


def sensitivity(
    scenario_file: Annotated[Path | None, typer.Argument(help="Scenario YAML file.")] = None,
    overrides: OverridesArg = None,
    param: SensitivityParamOpt = None,
    outputs: Annotated[str, typer.Option(help="Metrics to analyse, comma separated.")] = (
        "acquired_users,gmv"),
    method: Annotated[str, typer.Option(help="morris | sobol | both (Morris, then Sobol).")] = (
        "both"),
    points: Annotated[int, typer.Option(help="Base samples: Morris trajectories / Sobol N "
                                        "(a power of 2).")] = 16,
    replicates: ReplicatesOpt = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    executor: ExecutorOpt = None,
    out: OutOpt = Path("runs"),
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Morris screening then Sobol indices (with CIs) of chosen outputs; prints the run folder."""
    from experiments.runs.sensitivity import check_sensitivity, run_sensitivity

    with cli_errors():
        check_writable_folder(out)
        base = _base("sensitivity", scenario_file, overrides, replicates, days, seed)
        metrics = [m.strip() for m in outputs.split(",") if m.strip()]
        check_executor(executor or "serial")
        check_sensitivity(base, param or [], metrics, method, points)
        progress = TaskProgress(f"{base.name} sensitivity", enabled=not quiet)
        started = time.perf_counter()
        with make_executor(executor or "serial") as ex:
            say_notes(base)  # every option checked: now what loading noted
            try:
                doc = run_sensitivity(base, param or [], metrics, method, points, ex, out,
                                      progress)
            finally:
                progress.close()
        if not quiet:
            _say_answer(*sensitivity_answer(doc))
        _report_doc("sensitivity", doc, started, quiet, json_out)


def optimize(
    scenario_file: Annotated[Path | None, typer.Argument(help="Scenario YAML file.")] = None,
    overrides: OverridesArg = None,
    maximize: Annotated[str | None, typer.Option(help="Metric to maximise.")] = None,
    minimize: Annotated[str | None, typer.Option(help="Metric to minimise.")] = None,
    param: OptimizeParamOpt = None,
    constraint: Annotated[list[str] | None, typer.Option(
        help='Constraint on a metric, e.g. "aov>=90" or "churned_users<=500".')] = None,
    trials: Annotated[int, typer.Option(help="Trials in total.")] = 32,
    batch: Annotated[int, typer.Option(help="Trials asked and evaluated together.")] = 4,
    replicates: ReplicatesOpt = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    executor: ExecutorOpt = None,
    out: OutOpt = Path("runs"),
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Optuna search (ask/tell in batches through the executor); writes best.yaml and plots."""
    from experiments.runs.optimize import check_optimize, run_optimize

    with cli_errors():
        check_writable_folder(out)
        base = _base("optimize", scenario_file, overrides, replicates, days, seed)
        if (maximize is None) == (minimize is None):
            raise _usage("optimize", "give exactly one of --maximize METRIC or --minimize METRIC")
        check_executor(executor or "serial")
        check_optimize(base, param or [], maximize or minimize or "", maximize is not None,
                       constraint or [], trials, batch)
        progress = TaskProgress(f"{base.name} optimize", enabled=not quiet)
        started = time.perf_counter()
        with make_executor(executor or "serial") as ex:
            say_notes(base)  # every option checked: now what loading noted
            try:
                doc = run_optimize(base, param or [], maximize or minimize or "",
                                   maximize is not None, constraint or [], trials, batch, ex,
                                   out, progress)
            finally:
                progress.close()
        if not quiet:
            _say_answer(*optimize_answer(doc, base.market.size))
        _report_doc("optimize", doc, started, quiet, json_out)


def _say_answer(table: Table | None, warnings: list[str]) -> None:
    if table is not None:
        err.print(table)
    for line in warnings:
        err.print(f"{t('warning', '警告')}: {line}", markup=False, soft_wrap=True)


def _report_doc(command: str, doc: dict[str, Any], started: float, quiet: bool,
                json_out: bool) -> None:
    wall = time.perf_counter() - started
    if not quiet:
        err.print(t(f"{command}: {doc['headline']}, {doc.get('failed', 0)} failure(s), "
                    f"{wall:.1f} s -> {doc['run_dir']}",
                    f"{command}：{doc['headline']}，{doc.get('failed', 0)} 个失败，{wall:.1f} 秒 "
                    f"-> {doc['run_dir']}"), markup=False, soft_wrap=True)
    if json_out:
        typer.echo(json.dumps({k: v for k, v in doc.items() if k != "headline"}))
    else:
        typer.echo(doc["run_dir"])
    if doc.get("failed") or (doc.get("kind") == "optimize" and doc.get("best_params") is None):
        raise typer.Exit(1)  # failed tasks, or no trial to recommend
