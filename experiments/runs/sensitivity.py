"""Global sensitivity with SALib: Morris screening (mu*, sigma) then Sobol indices (S1, ST), with
95% bootstrap intervals, on chosen output metrics.

Why both: Morris is cheap (r·(D+1) runs) and says which parameters matter at all; Sobol costs
N·(D+2) runs and apportions the variance, including interactions (ST - S1). Every run keeps the
scenario seed (common random numbers), so the indices measure the parameters' effect rather
than simulation noise; with --replicates R each run is the mean of R replicates.
All simulations go through the same executors as sweeps.
"""

from __future__ import annotations

import json
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from experiments.report.language import current, html_lang, metric_label, metric_title, t
from experiments.report.pages import page
from experiments.report.parts import embed, fmt
from experiments.runs.design import (
    Design,
    ParamSpec,
    check_once,
    current_value,
    parse_param,
    validate_design,
    with_field_types,
)
from experiments.runs.evaluator import Progress
from experiments.runs.folders import BASE_FILE, new_folder
from experiments.runs.outputs import json_safe
from experiments.runs.params import bounds_hint, numeric_field, param_error
from experiments.runs.point import mean_metrics
from experiments.runs.produced import check_metrics
from sim.errors import InputError, Problem
from sim.scenario import Scenario

METHODS = ("morris", "sobol", "both")
# The methods in Chinese, for the page (the option's word stays beside it).
METHODS_ZH = {"morris": "Morris 筛选（morris）", "sobol": "Sobol 指数（sobol）",
              "both": "Morris 筛选与 Sobol 指数（both）"}


OPTIONS = {"calibrate": "--fit"}  # the option that gives a command's parameters, if not --param


def bounds_specs(base: Scenario, params: list[str], command: str,
                 choices: bool = False) -> list[ParamSpec]:
    """`--param path=lo..hi` for every parameter (validated at both ends against the scenario);
    sensitivity, optimisation and calibration vary numbers within bounds. With `choices`
    (optimisation), a list or range is a set of choices too (every one validated)."""
    option = OPTIONS.get(command, "--param")
    if not params:
        raise InputError([Problem(option, None, "", f"give at least one {option} "
                                  "dotted.path=lo..hi, e.g. mechanics.acquisition.p=0.001..0.05")])
    specs = with_field_types([parse_param(p, option) for p in params], base)
    check_once(specs, option)
    for s in specs:
        if s.kind != "bounds" and not choices:
            raise _not_bounds(base, s, command, option)
    validate_design(base, Design(command, specs, []))  # bounds at both ends, every choice
    return specs


def _not_bounds(base: Scenario, spec: ParamSpec, command: str, option: str) -> InputError:
    """Why a list or range is refused where bounds are wanted, with a hint that fits the field:
    bounds around its numbers, or, for a field of words or true/false (which these commands
    cannot vary), the sweep that compares its choices."""
    current = current_value(base, spec)
    if numeric_field(spec, current):
        return param_error(spec.text, f"{command} takes bounds lo..hi; e.g. "
                           f"{spec.path}={bounds_hint(spec, current)}", option)
    return param_error(spec.text, f"{command} takes numeric bounds lo..hi only, and {spec.path} "
                       f"is not a number ({current!r}); compare its choices with simctl sweep "
                       f"SCENARIO --param {spec.text}", option)


def _rows(specs: list[ParamSpec], x: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    x = x.copy()
    for j, s in enumerate(specs):
        if s.integer:
            x[:, j] = np.rint(x[:, j])
    points = [{s.path: (int(v) if s.integer else float(v)) for s, v in zip(specs, row, strict=True)}
              for row in x]
    return x, points


def _run(base: Scenario, specs: list[ParamSpec], x: np.ndarray, metrics: list[str],
         executor: Executor, progress: Progress | None) -> tuple[np.ndarray, np.ndarray,
                                                                 list[str]]:
    x, points = _rows(specs, x)
    scenarios = validate_design(base, Design("sample", specs, points))
    y, errors = mean_metrics(executor, scenarios, base.replicates, metrics, progress)
    return x, y, errors


def check_sensitivity(base: Scenario, params: list[str], metrics: list[str], method: str,
                      points: int) -> list[ParamSpec]:
    """Every option checked against the scenario before any simulation: the method, the base
    samples, the outputs (ones the scenario produces) and the parameters' bounds."""
    if method not in METHODS:
        raise InputError([Problem(f"--method {method}", None, "", "unknown method; expected "
                                  f"one of: {', '.join(METHODS)}")])
    if points < 2:
        raise InputError([Problem(f"--points {points}", None, "", "need --points >= 2, e.g. 16")])
    check_metrics(metrics, "--outputs", base)
    if method in ("sobol", "both") and points & (points - 1):
        raise InputError([Problem(f"--points {points}", None, "", "Sobol indices need a power "
                                  f"of 2, e.g. {1 << int(np.ceil(np.log2(points)))}")])
    return bounds_specs(base, params, "sensitivity")


def _morris(problem: dict[str, Any], x: np.ndarray, y: np.ndarray, metrics: list[str],
            seed: int) -> list[dict[str, Any]]:
    """mu*, its bootstrap interval, sigma and mu per metric and parameter (a metric with a
    failed run is left out: Morris needs every trajectory)."""
    indices = []
    for k, metric in enumerate(metrics):
        if np.isnan(y[:, k]).any():
            continue
        si = morris_analyze.analyze(problem, x, y[:, k], conf_level=0.95, num_levels=4,
                                    seed=seed)
        for j, name in enumerate(problem["names"]):
            indices.append({"method": "morris", "metric": metric, "param": name,
                            "mu_star": si["mu_star"][j], "mu_star_conf": si["mu_star_conf"][j],
                            "sigma": si["sigma"][j], "mu": si["mu"][j]})
    return indices


def _sobol(problem: dict[str, Any], y: np.ndarray, metrics: list[str],
           seed: int) -> list[dict[str, Any]]:
    """S1 and ST with bootstrap intervals per metric and parameter."""
    indices = []
    for k, metric in enumerate(metrics):
        if np.isnan(y[:, k]).any():
            continue  # undefined in some run (said in `undefined`): no variance to apportion
        if np.ptp(y[:, k]) == 0:
            for name in problem["names"]:  # no variance at all: nothing to apportion
                indices.append({"method": "sobol", "metric": metric, "param": name,
                                "S1": 0.0, "S1_conf": 0.0, "ST": 0.0, "ST_conf": 0.0})
            continue
        si = sobol_analyze.analyze(problem, y[:, k], calc_second_order=False,
                                   conf_level=0.95, seed=seed)
        for j, name in enumerate(problem["names"]):
            indices.append({"method": "sobol", "metric": metric, "param": name,
                            "S1": si["S1"][j], "S1_conf": si["S1_conf"][j],
                            "ST": si["ST"][j], "ST_conf": si["ST_conf"][j]})
    return indices


def run_sensitivity(base: Scenario, params: list[str], metrics: list[str], method: str,
                    points: int, executor: Executor, out_root: Path,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Sample, simulate through the executor, analyse, and write the run folder."""
    specs = check_sensitivity(base, params, metrics, method, points)
    problem = {"num_vars": len(specs), "names": [s.path for s in specs],
               "bounds": [[s.low, s.high] for s in specs]}
    seed = base.seed % 2**32
    samples, indices, errors = [], [], []
    if method in ("morris", "both"):
        x = morris_sample.sample(problem, points, num_levels=4, seed=seed)
        x, y, errs = _run(base, specs, x, metrics, executor, progress)
        errors += errs
        samples.append(_frame("morris", specs, x, y, metrics))
        indices += _morris(problem, x, y, metrics, seed)
    if method in ("sobol", "both"):
        x = sobol_sample.sample(problem, points, calc_second_order=False, seed=seed)
        x, y, errs = _run(base, specs, x, metrics, executor, progress)
        errors += errs
        samples.append(_frame("sobol", specs, x, y, metrics))
        indices += _sobol(problem, y, metrics, seed)
    table = pd.DataFrame(indices)
    runs = pd.concat(samples, ignore_index=True)
    # outputs with no value in some simulation (ROI without spend, a failed run): no index
    undefined = {m: int(runs[m].isna().sum()) for m in metrics if runs[m].isna().any()}
    doc = json_safe({"kind": "sensitivity", "scenario": base.name, "seed": base.seed,
                      "replicates": base.replicates, "method": method, "points": points,
                      "params": problem["names"], "bounds": problem["bounds"],
                      "outputs": metrics, "simulations": len(runs) * base.replicates,
                      "failed": len(errors), "failures": errors[:100],
                      "undefined": undefined, "spread": _spread(runs, metrics),
                      "indices": [{k: v for k, v in r.items() if v == v}  # drop NaN
                                  for r in table.to_dict(orient="records")]})
    run_dir = new_folder(base, "sensitivity", lambda f: _write(f, base, runs, table, doc),
                         out_root)
    return {**doc, "run_dir": str(run_dir),
            "headline": t(f"{method} on {', '.join(metrics)} over {len(specs)} parameter(s), "
                          f"{doc['simulations']} simulations",
                          f"{method}：{'、'.join(metric_label(m) for m in metrics)}，"
                          f"{len(specs)} 个参数，{doc['simulations']} 次模拟")}


def _write(folder: Path, base: Scenario, runs: pd.DataFrame, table: pd.DataFrame,
           doc: dict[str, Any]) -> None:
    (folder / BASE_FILE).write_text(base.to_yaml(), "utf-8")
    runs.to_parquet(folder / "samples.parquet", index=False)
    table.to_parquet(folder / "indices.parquet", index=False)
    (folder / "summary.json").write_text(json.dumps(doc, indent=2), "utf-8")
    (folder / "report.html").write_text(_report(base, table, doc), "utf-8")


def _frame(method: str, specs: list[ParamSpec], x: np.ndarray, y: np.ndarray,
           metrics: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(x, columns=[s.path for s in specs])
    for k, m in enumerate(metrics):
        frame[m] = y[:, k]
    frame.insert(0, "method", method)
    return frame


def _bars(table: pd.DataFrame, value: str, conf: str, title: str) -> go.Figure:
    """One panel per metric: the indices of each parameter with their 95% intervals."""
    metrics = list(dict.fromkeys(table["metric"]))
    fig = make_subplots(rows=1, cols=len(metrics),
                        subplot_titles=[metric_label(m) for m in metrics])
    for i, metric in enumerate(metrics):
        rows = table[table["metric"] == metric]
        for j, (col, cc) in enumerate(zip(value.split(","), conf.split(","), strict=True)):
            fig.add_trace(go.Bar(x=rows["param"], y=rows[col], name=col, legendgroup=col,
                                 showlegend=i == 0, marker_color=["#1f77b4", "#d62728"][j],
                                 error_y={"type": "data", "array": rows[cc], "visible": True}),
                          row=1, col=i + 1)
    fig.update_layout(title=title, barmode="group", height=380)
    return fig


def _spread(runs: pd.DataFrame, metrics: list[str]) -> dict[str, dict[str, float]]:
    """Each output's least, greatest and mean value over the simulations: an output that
    hardly moves in the box (saturated, or never defined but as 0) has indices of noise."""
    return {m: {"min": float(runs[m].min()), "max": float(runs[m].max()),
                "mean": float(runs[m].mean())} for m in metrics if runs[m].notna().any()}


def _table(frame: pd.DataFrame) -> str:
    """The indices as a table; in Chinese the word headers and the metric names read in
    Chinese (the index symbols mu_star, S1, ST ... stay, as in indices.parquet)."""
    if current() == "zh":
        frame = frame.assign(metric=[metric_title(m) for m in frame["metric"]]).rename(
            columns={"method": "方法", "metric": "指标", "param": "参数"})
    frame = frame.drop(columns=[c for c in frame if frame[c].isna().all()])  # Morris: no S1
    return frame.to_html(index=False, float_format=fmt)  # 261,000 rather than 2.61e+05


def _morris_words() -> str:
    return t("<h2>Morris screening</h2><p>mu* is the mean absolute elementary effect (with its "
             "95% bootstrap interval); sigma large relative to mu* means non-linear effects or "
             "interactions.</p>",
             "<h2>Morris 筛选</h2><p>mu* 为基本效应绝对值的均值（附 95% 自助法区间）；sigma 相对"
             " mu* 较大，说明存在非线性效应或交互作用。</p>")


def _sobol_words() -> str:
    return t("<h2>Sobol indices</h2><p>S1: share of the output variance from the parameter "
             "alone; ST: including all its interactions. Error bars are 95% bootstrap intervals; "
             "ST near 0 within its interval = no influence.</p>",
             "<h2>Sobol 指数</h2><p>S1（一阶指数）：仅由该参数带来的输出方差占比；"
             "ST（总效应指数）：包括它的全部交互作用在内的占比。误差线为 95% 自助法区间；"
             "ST 在其区间内接近 0 = 没有影响。</p>")


def _intro(doc: dict[str, Any]) -> str:
    """The study in one line: method, parameters, outputs, simulations, seed, replicates."""
    return t(f"{doc['method']} over {', '.join(doc['params'])}; outputs "
             f"{', '.join(doc['outputs'])}; {doc['simulations']} simulations, seed "
             f"{doc['seed']} (common random numbers), {doc['replicates']} replicate(s) each.",
             f"{METHODS_ZH.get(doc['method'], doc['method'])}，参数 {'、'.join(doc['params'])}；"
             f"输出指标 {'、'.join(metric_title(m) for m in doc['outputs'])}；"
             f"{doc['simulations']} 次模拟，随机种子 {doc['seed']}（共同随机数），每个采样点 "
             f"{doc['replicates']} 次重复。")


def _report(base: Scenario, table: pd.DataFrame, doc: dict[str, Any]) -> str:
    """report.html in the language in force: Morris and Sobol bars and tables."""
    parts = []
    if not table.empty and (table["method"] == "morris").any():
        morris = table[table["method"] == "morris"]
        parts.append(_morris_words())
        parts.append(embed(_bars(morris, "mu_star", "mu_star_conf",
                                 t("mu* (± 95% CI)", "mu*（± 95% 置信区间）"))))
        parts.append(_table(morris))
    if not table.empty and (table["method"] == "sobol").any():
        sobol = table[table["method"] == "sobol"]
        parts.append(_sobol_words())
        parts.append(embed(_bars(sobol, "S1,ST", "S1_conf,ST_conf",
                                 t("S1 and ST (± 95% CI)", "S1 与 ST（± 95% 置信区间）"))))
        parts.append(_table(sobol))
    return page(t("Sensitivity: ", "敏感性分析：") + base.name, _intro(doc), "\n".join(parts),
                lang=html_lang())
