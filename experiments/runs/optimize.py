"""Optimisation with Optuna: ask a batch of trials, evaluate them together through the executor,
tell the results; repeat. The study lives in SQLite inside the run folder.

Noise-aware: every trial's objective and constraint metrics are means over R replicates that
share random numbers across trials (the scenario seed is fixed), so two trials differ by their
parameters, not by luck. Constraints (`metric<=value`, `metric>=value`) go to Optuna's
constraints_func (TPESampler supports it); the best trial is the best feasible one.
"""

from __future__ import annotations

import json
import math
import re
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from experiments.report.language import current, html_lang, metric_label, metric_title, t
from experiments.report.pages import page
from experiments.report.parts import embed
from experiments.runs.design import Design, ParamSpec, validate_design
from experiments.runs.evaluator import Progress
from experiments.runs.folders import BASE_FILE, new_folder
from experiments.runs.outputs import json_safe
from experiments.runs.point import replicate_mean, replicate_metrics
from experiments.runs.produced import check_metrics, metric_problem, why_undefined
from experiments.runs.sensitivity import bounds_specs
from experiments.runs.sweep_report import versus
from sim.errors import InputError, Problem
from sim.scenario import Scenario


def parse_constraint(text: str, base: Scenario) -> tuple[str, str, float]:
    """`metric<=50` / `metric>=0.2` -> (metric, op, bound); the metric one the scenario
    produces."""
    match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*", text)
    where = f"--constraint {text.strip()}"
    if not match:
        raise InputError([Problem(where, None, "", "expected metric<=value or metric>=value, "
                                  "e.g. \"churned_users<=500\"")])
    metric, op, raw = match.groups()
    problem = metric_problem(metric, where, base)
    if problem is not None:
        raise InputError([problem])
    try:
        return metric, op, float(raw)
    except ValueError:
        raise InputError([Problem(where, None, "", f"{raw!r} is not a number")]) from None


@dataclass(frozen=True)
class _Request:
    """What to optimise, checked: the parameters' bounds, the objective and the constraints."""

    base: Scenario
    specs: list[ParamSpec]
    metric: str
    maximize: bool
    constraints: list[str]
    limits: list[tuple[str, str, float]]
    trials: int
    batch: int

    @property
    def outputs(self) -> list[str]:
        return list(dict.fromkeys([self.metric, *(m for m, _, _ in self.limits)]))

    @property
    def names(self) -> list[str]:
        return [s.path for s in self.specs]


def check_optimize(base: Scenario, params: list[str], metric: str, maximize: bool,
                   constraints: list[str], trials: int, batch: int) -> _Request:
    """Every option checked against the scenario before any trial: the objective and the
    constraints (metrics the scenario produces), the parameters (numeric bounds lo..hi, or
    choices: a list or a range), --trials and --batch."""
    check_metrics([metric], "--maximize" if maximize else "--minimize", base)
    limits = [parse_constraint(c, base) for c in constraints]
    specs = bounds_specs(base, params, "optimize", choices=True)
    for option, value in (("--trials", trials), ("--batch", batch)):
        if value < 1:
            raise InputError([Problem(f"{option} {value}", None, "", "must be >= 1, e.g. 4")])
    return _Request(base, specs, metric, maximize, constraints, limits, trials, batch)


def run_optimize(base: Scenario, params: list[str], metric: str, maximize: bool,
                 constraints: list[str], trials: int, batch: int, executor: Executor,
                 out_root: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Run the study, then write best.yaml, trials.parquet, study.db and report.html."""
    request = check_optimize(base, params, metric, maximize, constraints, trials, batch)
    result: dict[str, Any] = {
        "kind": "optimize", "scenario": base.name, "seed": base.seed,
        "replicates": base.replicates, "objective": metric,
        "direction": "maximize" if maximize else "minimize", "constraints": constraints,
        "params": request.names, "trials": trials, "batch": batch,
        "choices": [s.path for s in request.specs if s.kind != "bounds"],
        "bounds": {s.path: [s.low, s.high] for s in request.specs if s.kind == "bounds"}}
    failures: list[str] = []

    def write(folder: Path) -> None:
        rows = _run_study(folder, request, executor, failures, progress)
        _write_outputs(folder, request, pd.DataFrame(rows), result, failures)

    run_dir = new_folder(base, "optimize", write, out_root)
    result["failed"] = len(failures)
    headline = _headline(result, metric, trials)
    return {**json_safe(result), "run_dir": str(run_dir), "headline": headline}


def _headline(result: dict[str, Any], metric: str, trials: int) -> str:
    """The one line on stderr, in the language in force: the best trial, or why there is none
    (an objective or a constraint metric without a value in any trial, or constraints no
    trial met)."""
    if result["best_params"] is not None:
        where, value = json.dumps(result["best_params"], ensure_ascii=False), result["best_value"]
        return t(f"best {metric} {value:.6g} at {where} after {trials} trials",
                 f"{trials} 次试验中最佳 {metric_label(metric)} {value:.6g}，参数 {where}")
    never = [m for m, count in result["undefined"].items() if count == trials]
    if metric in never:
        en, zh = why_undefined(metric)
        return t(f"{metric} has no value in any of the {trials} trials ({en}): nothing to "
                 "optimise; choose another objective",
                 f"{metric_label(metric)} 在全部 {trials} 次试验中都没有值（{zh}）：无可优化，"
                 "请换一个目标")
    if never:
        en, zh = why_undefined(never[0])
        return t(f"{never[0]} has no value in any of the {trials} trials ({en}): its "
                 "constraint can never be checked; drop it or constrain another metric",
                 f"{metric_label(never[0])} 在全部 {trials} 次试验中都没有值（{zh}）：这个约束"
                 "永远无法检验；请去掉它或约束另一个指标")
    return t(f"no trial met every constraint in {trials} trials (see the report)",
             f"{trials} 次试验中没有一次满足全部约束（见报告）")


def _run_study(folder: Path, request: _Request, executor: Executor, failures: list[str],
               progress: Progress | None) -> list[dict[str, Any]]:
    """Ask a batch, evaluate it through the executor (means over replicates), tell; one row
    per trial. The study lives in the run folder's study.db."""
    base, trials = request.base, request.trials
    # Constraints are set on each trial (Trial.set_constraint); TPE reads them (Optuna >= 5).
    sampler = optuna.samplers.TPESampler(
        seed=base.seed % 2**32, n_startup_trials=min(10, max(request.batch, trials // 3)))
    storage = optuna.storages.RDBStorage(f"sqlite:///{folder / 'study.db'}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=base.name, storage=storage, sampler=sampler,
                                direction="maximize" if request.maximize else "minimize")
    distributions = {s.path: _distribution(s) for s in request.specs}
    rows: list[dict[str, Any]] = []
    while len(rows) < trials:
        asked = [study.ask(distributions)
                 for _ in range(min(request.batch, trials - len(rows)))]
        points = [{s.path: _point_value(s, t.params[s.path]) for s in request.specs}
                  for t in asked]
        scenarios = validate_design(base, Design("optimize", request.specs, points))
        values, ran, errors = replicate_metrics(
            executor, scenarios, base.replicates, request.outputs,
            _so_far(progress, len(rows) * base.replicates, trials * base.replicates,
                    len(failures)))
        failures.extend(errors)
        found, told = replicate_mean(values, ran), _told(values, ran, request, scenarios)
        rows += [_tell(study, trial, point, *means, request)
                 for trial, point, *means in zip(asked, points, found, told, strict=True)]
    storage.engine.dispose()
    return rows


def _distribution(spec: ParamSpec) -> optuna.distributions.BaseDistribution:
    """Bounds are a number range (whole numbers for int fields); a range start:stop:step is
    the ordered steps' positions 0, 1, 2 ... (TPE learns that 20 lies between 10 and 30, and
    each value is exactly the step typed; study.db holds the positions); a list is a set of
    unordered choices (login=one_click,form), Optuna's categorical distribution."""
    if spec.kind == "list":
        return optuna.distributions.CategoricalDistribution(spec.values)
    if spec.kind == "range":
        return optuna.distributions.IntDistribution(0, len(spec.values) - 1)
    if spec.integer:
        return optuna.distributions.IntDistribution(int(spec.low), int(spec.high))
    return optuna.distributions.FloatDistribution(spec.low, spec.high)


def _point_value(spec: ParamSpec, value: Any) -> Any:
    """A trial's value (Optuna's) as the scenario takes it: a range's step at that position,
    else as `_typed`."""
    return spec.values[int(value)] if spec.kind == "range" else _typed(spec, value)


def _typed(spec: ParamSpec, value: Any) -> Any:
    """A value of the trials table (numpy and pandas types) as the scenario takes it: a whole
    number or a float within bounds, else the value as typed (a numpy.bool_ is `true`)."""
    if spec.kind == "bounds":
        return int(value) if spec.integer else float(value)
    return next(choice for choice in spec.values if choice == value)


def _so_far(progress: Progress | None, done: int, total: int, failed: int) -> Progress | None:
    """A batch's progress as progress of the whole study."""
    if progress is None:
        return None
    return lambda d, _, f: progress(done + d, total, failed + f)


# A replicate without a value of these did not get there within its horizon of D days: its
# value is above any a run can give (at most D - 1). The sampler is told the mean with D in
# its place, a lower bound of the true mean that ranks a trial that never gets there past
# every trial that does, whichever the direction (TPE reads ranks). The trials table keeps
# NaN, and such a trial is never the best.
CENSORED_AT_HORIZON = ("payback_days", "viral_cycle_days")


def _told(values: np.ndarray, ran: np.ndarray, request: _Request,
          scenarios: list[Scenario]) -> np.ndarray:
    """The means the sampler is told: censored replicates of CENSORED_AT_HORIZON metrics
    count as their horizon; other missing values stay NaN."""
    horizon = np.array([float(s.days) for s in scenarios])[:, None, None]
    censored = np.isin(request.outputs, CENSORED_AT_HORIZON)[None, None, :] & np.isnan(values)
    return replicate_mean(np.where(censored, horizon, values), ran)


def _tell(study: optuna.Study, trial: optuna.Trial, point: dict[str, Any], found: np.ndarray,
          told: np.ndarray, request: _Request) -> dict[str, Any]:
    """Tell the study a trial's objective and constraint slacks (`told`: see
    CENSORED_AT_HORIZON; a `<=` constraint on a censored mean is never met); a trial with a
    metric without even a told value FAILs (e.g. ROI without spend). The row holds `found`."""
    found_by = dict(zip(request.outputs, (float(v) for v in found), strict=True))
    told_by = dict(zip(request.outputs, (float(v) for v in told), strict=True))
    slack = [_slack(told_by[m], op, b, censored=math.isnan(found_by[m]))
             for m, op, b in request.limits]
    undefined = any(math.isnan(v) for v in told_by.values())
    row = {"trial": trial.number, **point, **found_by,  # feasible: a candidate for the best
           "feasible": not undefined and not math.isnan(found_by[request.metric])
           and all(s <= 0 for s in slack)}
    if undefined:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return row
    for text, value in zip(request.constraints, slack, strict=True):
        trial.set_constraint(text, value)
    study.tell(trial, told_by[request.metric])
    return row


def _slack(value: float, op: str, bound: float, censored: bool) -> float:
    """A constraint's violation (<= 0: met). A censored mean is only a lower bound: it meets
    `>=` when the bound does, never `<=` (violated by at least one unit)."""
    if op == ">=":
        return bound - value
    return max(value - bound, 1.0) if censored else value - bound


def _write_outputs(folder: Path, request: _Request, table: pd.DataFrame,
                   result: dict[str, Any], failures: list[str]) -> None:
    """trials.parquet, the base scenario, best.yaml (if a trial is feasible), summary.json and
    report.html; `result` gets the best trial."""
    base, metric = request.base, request.metric
    table.to_parquet(folder / "trials.parquet", index=False)
    (folder / BASE_FILE).write_text(base.to_yaml(), "utf-8")
    ok = table[table["feasible"] & table[metric].notna()]
    result["undefined_trials"] = int(table[metric].isna().sum())
    result["undefined"] = {m: int(table[m].isna().sum()) for m in request.outputs
                           if table[m].isna().any()}
    if ok.empty:  # the folder still shows every trial; no best.yaml
        result.update(best_params=None, best_value=None, best_trial=None)
    else:
        best = ok.loc[ok[metric].idxmax() if request.maximize else ok[metric].idxmin()]
        best_point = {s.path: _typed(s, best[s.path]) for s in request.specs}
        best_scenario = validate_design(base, Design("best", request.specs, [best_point]))[0]
        (folder / "best.yaml").write_text(best_scenario.to_yaml(), "utf-8")
        result.update(best_params=best_point, best_value=float(best[metric]),
                      best_trial=int(best["trial"]))
    doc = json_safe({**result, "failures": failures[:100]})
    (folder / "summary.json").write_text(json.dumps(doc, indent=2), "utf-8")
    (folder / "report.html").write_text(
        _report(base, table, doc, request), "utf-8")


def _tradeoff_figure(table: pd.DataFrame, doc: dict[str, Any], xs: list[str],
                     limits: list[tuple[str, str, float]]) -> go.Figure:
    """The objective against each constraint metric and each parameter: feasible trials in
    colour, the best starred, each constraint's bound dashed."""
    metric = doc["objective"]
    fig = make_subplots(rows=1, cols=len(xs),
                        subplot_titles=[versus(metric_label(metric), metric_label(x)) for x in xs])
    colour = np.where(table["feasible"], "#1f77b4", "#bbbbbb")
    trial = t("trial", "试验")
    for i, x in enumerate(xs):
        fig.add_trace(go.Scatter(x=table[x], y=table[metric], mode="markers",
                                 marker={"color": colour, "size": 7},
                                 text=[f"{trial} {n}" for n in table["trial"]], showlegend=False),
                      row=1, col=i + 1)
        if x in (doc.get("best_params") or {}):
            fig.add_trace(go.Scatter(x=[doc["best_params"][x]], y=[doc["best_value"]],
                                     mode="markers", marker={"symbol": "star", "size": 14,
                                                             "color": "#d62728"},
                                     showlegend=False), row=1, col=i + 1)
        for m, _, b in limits:
            if m == x:
                fig.add_vline(x=b, line_dash="dash", line_color="#d62728", row=1, col=i + 1)
        fig.update_xaxes(title_text=metric_label(x), row=1, col=i + 1)
    fig.update_layout(height=420)
    return fig


def _intro(doc: dict[str, Any], names: list[str], trials: int) -> str:
    """The study in one line: direction, objective, parameters, trials, the best trial."""
    metric, best = doc["objective"], json.dumps(doc.get("best_params"))
    direction = {"maximize": "最大化", "minimize": "最小化"}.get(doc["direction"], doc["direction"])
    found = (f"最优：{best} -> {doc.get('best_value')}。" if doc.get("best_params") is not None
             else "最优：无（没有试验满足全部约束）。")
    return t(f"{doc['direction']} {metric} over {', '.join(names)}; {trials} trials in "
             f"batches of {doc['batch']}, {doc['replicates']} replicate(s) each with common "
             f"random numbers. Grey = infeasible. Best: {best} -> {doc.get('best_value')}.",
             f"{direction} {metric_title(metric)}，参数 {'、'.join(names)}；{trials} 次试验，"
             f"每批 {doc['batch']} 次，每次试验 {doc['replicates']} 次重复（共同随机数）。"
             f"灰色 = 不可行（未满足约束）。{found}")


def _trials_table(table: pd.DataFrame, outputs: list[str]) -> str:
    """Every trial; in Chinese the word headers and the metric names read in Chinese (the
    parameters keep their dotted paths, as in trials.parquet)."""
    if current() == "zh":
        words = {"trial": "试验", "feasible": "可行"} | {m: metric_title(m) for m in outputs}
        table = table.rename(columns=words)
    return table.to_html(index=False, float_format=lambda v: f"{v:.5g}")


def _report(base: Scenario, table: pd.DataFrame, doc: dict[str, Any], request: _Request) -> str:
    """Trade-off plot: objective against each constraint metric (feasible in colour) and
    against each parameter; then every trial. In the language in force."""
    xs = [m for m, _, _ in request.limits] + request.names
    body = (embed(_tradeoff_figure(table, doc, xs, request.limits))
            + _trials_table(table, request.outputs))
    return page(t("Optimise: ", "优化：") + base.name, _intro(doc, request.names, len(table)),
                body, lang=html_lang())
