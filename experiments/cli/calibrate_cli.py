"""`simctl calibrate` and `simctl forecast`: plain typer command functions (the app in
experiments/cli/commands.py registers them). stdout is data (a path, or one JSON object with
--json); stderr is for people."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from experiments.cli.cli_common import (
    SeedOption,
    check_writable_folder,
    cli_errors,
    err,
    flag_overrides,
    say_data_notes,
)
from experiments.cli.sweep_cli import TaskProgress
from experiments.report.language import t
from experiments.runs.executors import CountingExecutor, make_executor
from sim.errors import InputError, Problem
from sim.scenario import load_scenario

if TYPE_CHECKING:  # the calibration modules load on use: `simctl --help` stays quick
    from experiments.calibration.forecast import Forecast

SHOWN_WARNINGS = 5  # the first early warnings on screen; all of them are in forecast.csv


def say(quiet: bool) -> Callable[..., None]:
    """err.print, or nothing with --quiet (errors are still said by cli_errors)."""
    return (lambda *args, **kwargs: None) if quiet else err.print


def calibration_folder(out: Path | None, name: str, resume: bool) -> Path:
    """--resume continues the study in --out; otherwise a folder without one: --out as given
    (refused if it holds a study) or the first free runs/calibrations/<name>[-N]."""
    if resume:
        if out is None or not (out / "study.db").is_file():
            raise InputError([Problem("--resume", None, "", f"nothing to resume in "
                                      f"{out or '(no --out)'}; give --out with the folder of "
                                      "an earlier calibration (it holds study.db)")])
        return out
    if out is not None:
        if (out / "study.db").is_file():
            raise InputError([Problem("--out", None, "", f"{out} holds a calibration "
                                      "(study.db); add --resume to add trials to it, or give "
                                      "another --out")])
        return out
    base = Path("runs") / "calibrations" / name
    folder, n = base, 1
    while (folder / "study.db").is_file():
        n += 1
        folder = base.with_name(f"{name}-{n}")
    return folder


def calibrate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML to fit.")],
    observed: Annotated[Path, typer.Option("--observed", help="Daily metrics table or event "
                                           "log (CSV in UTF-8 or GBK, Excel .xlsx or Parquet).")],
    fit: Annotated[list[str] | None, typer.Option(
        "--fit", help="dotted.path=lo..hi to fit (repeat); default: the scenario's "
        "calibration.fit.")] = None,
    targets: Annotated[str | None, typer.Option(help="metric:weight,... (default: the "
                                                "scenario's calibration.targets, else observed "
                                                "flows the scenario produces, money only when "
                                                "order value is fitted).")] = None,
    until: Annotated[str | None, typer.Option(help="Use observed dates up to this one.")] = None,
    executor: Annotated[str, typer.Option(help="serial | processes:N | dask-local:N | "
                                          "dask://host:port")] = "serial",
    trials: Annotated[int, typer.Option(help="Trials in this call.")] = 60,
    replicates: Annotated[int, typer.Option(help="Replicates per trial (common random "
                                            "numbers).")] = 4,
    optimizer: Annotated[str, typer.Option(help="optuna (CMA-ES, TPE) or scipy "
                                           "(Nelder-Mead).")] = "optuna",
    out: Annotated[Path | None, typer.Option(help="Calibration folder (study.db lives here); "
                                             "default runs/calibrations/<name>, a fresh one "
                                             "each time.")] = None,
    resume: Annotated[bool, typer.Option(help="Add trials to the calibration in --out (and "
                                         "warm-start a refit on new data from it).")] = False,
    design: Annotated[int | None, typer.Option(help="Simulations per posterior round "
                                               "(default 12 x (parameters + 2)).")] = None,
    stages: Annotated[int, typer.Option(help="Posterior regression rounds.")] = 3,
    noise_replicates: Annotated[int, typer.Option(help="Replicates at the best fit (the "
                                                  "report's bands).")] = 16,
    draws: Annotated[int, typer.Option(help="Posterior draws kept for forecasts.")] = 200,
    batch: Annotated[int | None, typer.Option(help="Trials asked at once (default: the "
                                              "CMA-ES population).")] = None,
    check_fit: Annotated[bool, typer.Option(help="Keep only posterior draws whose own "
                                            "simulation fits the data.")] = True,
    method: Annotated[str | None, typer.Option(
        help="msm (simulated moments of the weekly targets) or likelihood (exact "
        "per-customer likelihood of a purchase_dropout mechanic, from an event log); "
        "default: the scenario's calibration.method, else msm.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    quiet: Annotated[bool, typer.Option(help="Nothing on stderr but errors.")] = False,
    seed: SeedOption = None,
) -> None:
    """Fit scenario parameters to observed metrics (simulated moments or likelihood). The
    horizon comes from the observed data, so there is no --days."""
    with cli_errors():
        from experiments.calibration.calibrate import calibrate as run_calibration
        from experiments.calibration.calibrate import planned_simulations
        from experiments.calibration.observed import load_observed

        base = load_scenario(scenario, flag_overrides(seed=seed))
        folder = calibration_folder(out, base.name, resume)
        check_writable_folder(folder)
        data = load_observed(observed, until=until, salt_folder=folder)
        chosen = method or (base.calibration.method if base.calibration else "msm")
        expected = noise_replicates if chosen == "likelihood" else planned_simulations(
            trials, replicates, len(fit or (base.calibration.fit if base.calibration else [])),
            design, stages, noise_replicates, draws)
        bar = TaskProgress(t("calibrate", "校准") + f" {base.name}", enabled=not quiet)
        try:
            with make_executor(executor) as pool:
                result = run_calibration(base, data, fit or [], CountingExecutor(
                    pool, bar, expected), folder, targets_text=targets, trials=trials,
                    replicates=replicates, optimizer=optimizer, design=design, stages=stages,
                    noise_replicates=noise_replicates, draws=draws, method=chosen,
                    batch=batch, check_fit=check_fit)
        finally:
            bar.close()
        say_calibration(result.doc, chosen, quiet)
        path = result.folder / "fitted.yaml"
        typer.echo(json.dumps({**result.doc, "fitted": str(path)}) if as_json else str(path))


def say_calibration(doc: dict[str, Any], chosen: str, quiet: bool) -> None:
    """The calibration's lines on stderr: the fit, then each note on the observed data
    (summary.json's `notes`) and each warning of the posterior."""
    warm = f" warm-started from {doc['warm_start_from']}" if doc["warm_start_from"] else ""
    after = (t("by maximum likelihood", "（最大似然）") if chosen == "likelihood"
             else t(f"after {doc['trials_in_study']} trials",
                    f"（{doc['trials_in_study']} 次试验后）"))
    say(quiet)(t("calibrate", "校准") + f": {doc['study']}"
               f"{t(' resumed', '（续）') if doc['resumed'] else ''}{warm}: "
               + t(f"relative RMSE {doc['relative_rmse']:.4f} {after}; best ",
                   f"相对 RMSE {doc['relative_rmse']:.4f}{after}；最优 ")
               + json.dumps(doc['best'], ensure_ascii=False), markup=False, soft_wrap=True)
    say_data_notes(t("calibrate", "校准"), doc.get("notes", []), quiet)
    for line in doc["posterior"].get("warnings", []):  # e.g. an estimate at its box's end
        say(quiet)(t("calibrate: warning: ", "校准：警告：") + line, markup=False,
                   soft_wrap=True)


def forecast(
    fitted: Annotated[Path, typer.Argument(help="fitted.yaml written by simctl calibrate.")],
    days: Annotated[int, typer.Option(help="Days to forecast past the fitted period.")],
    observed: Annotated[Path | None, typer.Option(help="Observed data to check against the "
                                                  "band (early warning).")] = None,
    draws: Annotated[int, typer.Option(help="Posterior draws.")] = 20,
    replicates: Annotated[int, typer.Option(help="Replicates per draw.")] = 5,
    level: Annotated[float, typer.Option(help="Band coverage, e.g. 0.9.")] = 0.9,
    metrics: Annotated[str | None, typer.Option(help="Metrics to forecast, e.g. "
                                                "repeat_purchases,gmv (default: the fitted "
                                                "targets, purchases and new users).")] = None,
    executor: Annotated[str, typer.Option(help="serial | processes:N | ...")] = "serial",
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    quiet: Annotated[bool, typer.Option(help="Nothing on stderr but errors.")] = False,
    seed: SeedOption = None,
) -> None:
    """Forecast with bands from the posterior and simulation noise; flag reality outside."""
    with cli_errors():
        from experiments.calibration.forecast import default_folder, load_posterior, write_forecast
        from experiments.calibration.forecast import forecast as run_forecast
        from experiments.calibration.observed import load_observed
        from experiments.calibration.pseudonyms import salt_folder_of
        from experiments.runs.outputs import json_safe

        scenario = load_scenario(fitted, flag_overrides(seed=seed))
        posterior, doc = load_posterior(fitted, scenario)
        folder = out or default_folder(fitted, scenario.name, calibrated=bool(doc))
        check_writable_folder(folder)
        if posterior.empty:
            say(quiet)(t("forecast: no posterior beside the fitted scenario: bands hold "
                         "simulation noise only",
                         "预测：拟合场景旁没有后验抽样：区间只含模拟噪声"), markup=False)
        data = None
        if observed is not None:
            salt = salt_folder_of(Path(fitted).parent) if doc else None
            data = load_observed(observed, start=doc.get("observed_start"),
                                 salt_folder=salt or (Path(fitted).parent if doc
                                                      else folder.parent))
        chosen = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        fitted_targets = list(doc.get("targets", {})) or None
        bar = TaskProgress(t("forecast", "预测") + f" {scenario.name}", enabled=not quiet)
        with make_executor(executor) as inner:
            pool = CountingExecutor(inner, bar, draws * replicates)
            result = run_forecast(scenario, posterior, days, pool, draws=draws,
                                  replicates=replicates, level=level, observed=data,
                                  start=doc.get("observed_start"),
                                  metrics=chosen or (None if fitted_targets is None else sorted(
                                      set(fitted_targets) | {"purchases", "new_users"})))
        bar.close()
        folder = write_forecast(result, folder)
        if data is not None:
            data.keep_salt()
        say_forecast(result, quiet)
        typer.echo(json.dumps(json_safe({**result.doc, "folder": str(folder)})) if as_json
                   else str(folder / "forecast.parquet"))


def say_forecast(result: Forecast, quiet: bool) -> None:
    """The forecast's lines on stderr, in the language in force: the notes on the observed
    data, misspecification, the first early warnings, each metric's total and the count."""
    from experiments.calibration.forecast import early_warnings, misspecification
    from experiments.calibration.forecast_totals import total_line

    doc, level = result.doc, result.doc["level"]
    say_data_notes(t("forecast", "预测"), doc.get("notes", []), quiet)
    for line in misspecification(result.table, level):
        say(quiet)(line, markup=False, soft_wrap=True)
    warnings = early_warnings(result.table, level)
    for line in warnings[:SHOWN_WARNINGS]:
        say(quiet)(line, markup=False, soft_wrap=True)
    for metric in doc["metrics"]:
        say(quiet)(total_line(metric, doc), markup=False, soft_wrap=True)
    more = len(warnings) - SHOWN_WARNINGS
    # counted over every metric's weeks: "50 weeks" of a 39-week file read as an error
    seen, metrics = int(result.table["observed"].notna().sum()), len(doc["metrics"])
    say(quiet)(t(f"forecast: {doc['flagged']} of {seen} observed week(s) outside the band "
                 f"(over {metrics} metric(s)), {len(warnings)} early warning(s)",
                 f"预测：{metrics} 个指标共 {seen} 个已观测周中有 {doc['flagged']} 个超出区间，"
                 f"{len(warnings)} 条预警")
               + (t(f" ({more} more in forecast.csv, column `warning`)",
                    f"（另有 {more} 条见 forecast.csv 的 warning 列）") if more > 0 else ""),
               markup=False)
