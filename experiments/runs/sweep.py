"""Sweeps: a design × replicates run through any Executor, kept on disk task by task.

Why it is built this way:

- A task is (point, replicate) -> horizon metrics. It is pure and idempotent (the point's
  scenario and the replicate number fix every random draw), so an executor may run it twice
  (a Dask worker dies, the scheduler reschedules) and the numbers do not change.
- Common random numbers: every point keeps the scenario seed; replicate r uses stream r. Two
  points differ only by their parameters, not by luck, so response curves are smooth.
- Each finished task is written at once as `tasks/pPPPPPP-rRRRRR.json` (temp file + os.replace)
  by the submitting process, so Ctrl-C or a killed process keeps every finished task, and
  `resume` runs only what is missing. Final tables are built from those files alone, so a
  resumed sweep ends with exactly the numbers of an uninterrupted one.
- A task that raises becomes a failure record; the sweep goes on (unless fail-fast).

Run folder `runs/<scenario>/sweep-<timestamp>-<hash>/`:
    sweep.json           the plan: design, points, replicates, seed, executor (for --resume)
    scenario.base.yaml   the base scenario with overrides and replicates applied
    tasks/               one JSON file per finished task (kept; the source of truth)
    results.parquet      point, replicate, seed, <parameter columns>, metric, value
    summary.parquet      point, <parameter columns>, metric, mean, sd, ci_low, ci_high, n
    summary.json         counts, failures, wall time and the per-point summary
    report.html          response curves / heatmaps with confidence bands
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from experiments.report.report import PALETTE, fmt
from experiments.runs.design import Design, Value, point_scenario
from experiments.runs.executors import describe, map_bounded
from experiments.runs.folders import atomic_folder, unique_folder
from experiments.runs.outputs import _json_safe
from sim.engine import collect, simulate
from sim.errors import InputError, Problem
from sim.scenario import Scenario, load_scenario
from sim.stats import mean_ci

SPEC_FILE, BASE_FILE, TASKS_DIR = "sweep.json", "scenario.base.yaml", "tasks"


# --- tasks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One simulation: a point's validated scenario and a replicate number (picklable)."""

    point: int
    replicate: int
    scenario: Scenario


def run_task(task: Task) -> dict[str, Any]:
    """Simulate one (point, replicate); failures come back as data, never as a lost task."""
    started = time.perf_counter()
    record: dict[str, Any] = {"point": task.point, "replicate": task.replicate,
                              "seed": task.scenario.seed}
    try:
        counters = simulate(task.scenario, task.replicate)
        result = collect(task.scenario, {task.replicate: counters})
        row = result.horizon().iloc[0]
        metrics = {k: float(v) for k, v in row.items() if k != "replicate"}
        economics = result.unit_economics()  # LTV, LTV/CAC, payback of the whole market
        whole = economics[economics["channel"] == "all"].iloc[0]
        metrics.update({k: float(v) for k, v in whole.items()
                        if k not in ("replicate", "channel") and k not in metrics})
        record["metrics"] = metrics
        record["ok"] = True
    except Exception as exc:  # a bad point must not stop the sweep
        message = str(exc).splitlines()[0] if str(exc) else ""
        record["ok"], record["error"] = False, f"{type(exc).__name__}: {message}"[:500]
    record["seconds"] = time.perf_counter() - started
    return record


def map_tasks(executor: Executor, tasks: Iterable[Task],
              on_done: Callable[[Task, dict[str, Any]], bool | None]) -> None:
    """Run sweep tasks through an executor (`map_bounded`), handing `on_done` each record in
    (point, replicate) order within a batch; `on_done` returning True stops the rest
    (fail-fast). A task the executor lost becomes a failure record, never a lost point."""

    def record_of(task: Task, future: Future) -> bool | None:
        try:
            record = future.result()
        except Exception as exc:  # the executor lost it (pool broken, worker retries)
            record = {"point": task.point, "replicate": task.replicate,
                      "seed": task.scenario.seed, "ok": False, "seconds": 0.0,
                      "error": f"{type(exc).__name__}: {exc}"[:500]}
        return on_done(task, record)

    map_bounded(executor, run_task, tasks, record_of, order=lambda t: (t.point, t.replicate))


# --- the run folder ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What a sweep is: enough to (re)build every task in any process, fresh or on resume."""

    run_dir: Path
    base: Scenario
    spec: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return list(self.spec["param_names"])

    @property
    def points(self) -> list[dict[str, Value]]:
        return list(self.spec["design"]["points"])

    @property
    def replicates(self) -> int:
        return int(self.spec["replicates"])

    def scenarios(self) -> list[Scenario]:
        data = self.base.model_dump(mode="python")
        return [point_scenario(self.base, p, data) for p in self.points]

    def tasks(self) -> list[Task]:
        return [Task(i, r, s) for i, s in enumerate(self.scenarios())
                for r in range(self.replicates)]


def create_run(base: Scenario, design: Design, out_root: Path, executor: str,
               extra: dict[str, Any] | None = None, prefix: str = "sweep") -> Plan:
    """Write the plan into a new run folder, atomically (hidden .partial dir, then rename)."""
    spec = {"kind": prefix, "scenario": base.name, "source": base._source,
            "seed": base.seed, "replicates": base.replicates, "executor": executor,
            "design": design.to_json(), "param_names": design.names,
            "growthsim_version": version("growthsim"), **(extra or {})}
    text = json.dumps(spec, indent=2)
    digest = hashlib.sha256((text + base.to_yaml()).encode()).hexdigest()[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = unique_folder(Path(out_root) / base.name, f"{prefix}-{stamp}-{digest}")
    with atomic_folder(final) as partial:
        (partial / TASKS_DIR).mkdir()
        (partial / BASE_FILE).write_text(base.to_yaml(), "utf-8")
        (partial / SPEC_FILE).write_text(text + "\n", "utf-8")
    return load_plan(final)


def load_plan(run_dir: Path) -> Plan:
    """Read a run folder's plan (for --resume); a folder that is not a sweep is an InputError."""
    run_dir = Path(run_dir)
    spec_path = run_dir / SPEC_FILE
    if not spec_path.is_file() or not (run_dir / BASE_FILE).is_file():
        raise InputError([Problem(str(run_dir), None, "", f"not a sweep run folder (no "
                                  f"{SPEC_FILE} and {BASE_FILE}); give the folder that "
                                  "`simctl sweep` printed")])
    try:
        spec = json.loads(spec_path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError([Problem(str(spec_path), None, "", f"cannot read: {exc}")]) from None
    base = load_scenario(run_dir / BASE_FILE)
    (run_dir / TASKS_DIR).mkdir(exist_ok=True)
    return Plan(run_dir, base, spec)


def _task_path(run_dir: Path, point: int, replicate: int) -> Path:
    return run_dir / TASKS_DIR / f"p{point:06d}-r{replicate:05d}.json"


def write_task(run_dir: Path, record: dict[str, Any]) -> None:
    """Keep one finished task on disk, atomically: a reader never sees half a file."""
    path = _task_path(run_dir, record["point"], record["replicate"])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record), "utf-8")
    os.replace(tmp, path)


def read_tasks(run_dir: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """Every finished task record on disk (unreadable leftovers are ignored and rerun)."""
    records = {}
    for path in sorted((Path(run_dir) / TASKS_DIR).glob("p*-r*.json")):
        try:
            record = json.loads(path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        records[(record["point"], record["replicate"])] = record
    return records


# --- running ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    run_dir: Path
    points: int
    tasks: int
    done: int
    computed: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    complete: bool = False
    stopped: bool = False


Progress = Callable[[int, int, int], None]  # (tasks done, tasks in total, failures so far)


def run_plan(plan: Plan, executor: Executor, *, fail_fast: bool = False,
             progress: Progress | None = None,
             on_record: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    """Run every task not yet on disk (failed ones are retried), then write the final outputs.

    KeyboardInterrupt propagates after in-flight futures are cancelled; what finished is kept.
    """
    started = time.perf_counter()
    tasks = plan.tasks()
    records = read_tasks(plan.run_dir)
    todo = [t for t in tasks if not records.get((t.point, t.replicate), {}).get("ok")]
    done_before = len(tasks) - len(todo)
    state = {"done": done_before, "failed": 0, "computed": 0, "stopped": False}
    if progress:
        progress(state["done"], len(tasks), 0)

    def handle(task: Task, record: dict[str, Any]) -> bool:
        write_task(plan.run_dir, record)
        state["done"] += 1
        state["computed"] += 1
        if not record["ok"]:
            state["failed"] += 1
        if progress:
            progress(state["done"], len(tasks), state["failed"])
        if on_record:
            on_record(record)
        if fail_fast and not record["ok"]:
            state["stopped"] = True
            return True
        return False

    map_tasks(executor, todo, handle)
    wall = time.perf_counter() - started
    outcome = finish(plan, wall, describe(executor), state["computed"])
    outcome.stopped = state["stopped"]
    return outcome


def finish(plan: Plan, wall: float, executor: str = "", computed: int = 0) -> Outcome:
    """Build results, summary and report from the task files alone (so resume == fresh)."""
    records = read_tasks(plan.run_dir)
    names = plan.params
    points = plan.points
    n_tasks = len(points) * plan.replicates
    ok = [r for key, r in sorted(records.items()) if r["ok"] and key[0] < len(points)]
    failures = [{"point": r["point"], "replicate": r["replicate"],
                 "params": points[r["point"]], "error": r["error"]}
                for key, r in sorted(records.items()) if not r["ok"]]
    results = results_frame(ok, points, names)
    summary = summary_frame(results, names)
    doc = _json_safe({
        "kind": plan.spec.get("kind", "sweep"), "scenario": plan.base.name,
        "seed": plan.base.seed, "design": plan.spec["design"]["kind"], "params": names,
        "points": len(points), "replicates": plan.replicates, "tasks": n_tasks,
        "done": len(ok), "failed": len(failures), "complete": len(ok) == n_tasks,
        "failures": failures, "executor": executor, "wall_seconds": round(wall, 3),
        "compute_seconds": round(sum(r["seconds"] for r in ok), 3),
        "computed_this_run": computed, "growthsim_version": version("growthsim"),
        "per_point": per_point(summary, names),
    })
    _atomic(plan.run_dir / "results.parquet", lambda p: results.to_parquet(p, index=False))
    _atomic(plan.run_dir / "summary.parquet", lambda p: summary.to_parquet(p, index=False))
    _atomic(plan.run_dir / "report.html", lambda p: write_report(plan, summary, doc, p))
    _atomic(plan.run_dir / "summary.json",
            lambda p: p.write_text(json.dumps(doc, indent=2), "utf-8"))
    return Outcome(plan.run_dir, len(points), n_tasks, len(ok), computed, failures, wall,
                   len(ok) == n_tasks)


def _atomic(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def results_frame(records: list[dict[str, Any]], points: list[dict[str, Value]],
                  names: list[str]) -> pd.DataFrame:
    """Long format: one row per (point, replicate, metric)."""
    rows = []
    for r in records:
        params = points[r["point"]]
        for metric, value in r["metrics"].items():
            rows.append({"point": r["point"], "replicate": r["replicate"], "seed": r["seed"],
                         **{n: params[n] for n in names}, "metric": metric, "value": value})
    columns = ["point", "replicate", "seed", *names, "metric", "value"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"point": "int64", "replicate": "int64", "seed": "int64",
                         "value": "float64"})


def summary_frame(results: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Mean and 95% t interval across replicates, per point and metric."""
    rows = []
    for (point, metric), group in results.groupby(["point", "metric"], sort=False):
        first = group.iloc[0]
        rows.append({"point": point, **{n: first[n] for n in names}, "metric": metric,
                     **mean_ci(group["value"].to_numpy())})
    columns = ["point", *names, "metric", "mean", "sd", "ci_low", "ci_high", "n"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["point"], kind="stable").reset_index(drop=True)


def per_point(summary: pd.DataFrame, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for point, group in summary.groupby("point", sort=True):
        first = group.iloc[0]
        out.append({"point": int(point), "params": {n: _plain(first[n]) for n in names},
                    "metrics": {row.metric: {k: float(getattr(row, k)) for k in
                                             ("mean", "sd", "ci_low", "ci_high", "n")}
                                for row in group.itertuples()}})
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- convenience for code and notebooks ----------------------------------------------------


def sweep(base: Scenario, design: Design, executor: Executor, out_root: Path, *,
          fail_fast: bool = False, progress: Progress | None = None) -> Outcome:
    """Create the run folder for a validated design and run it to the end."""
    plan = create_run(base, design, out_root, describe(executor))
    return run_plan(plan, executor, fail_fast=fail_fast, progress=progress)


def evaluate(executor: Executor, scenarios: list[Scenario], replicates: int,
             metrics: list[str], on_task: Callable[[bool], None] | None = None,
             ) -> tuple[np.ndarray, list[str]]:
    """Mean over replicates (common random numbers) of each metric at each scenario, without a
    run folder: for sensitivity and optimisation. Failed points give NaN and an error text."""
    values = np.full((len(scenarios), replicates, len(metrics)), np.nan)
    errors: list[str] = []

    def keep(task: Task, record: dict[str, Any]) -> None:
        if record["ok"]:
            values[task.point, task.replicate] = [record["metrics"].get(m, np.nan)
                                                  for m in metrics]
        else:
            errors.append(f"point {task.point} replicate {task.replicate}: {record['error']}")
        if on_task:
            on_task(not record["ok"])

    tasks = [Task(i, r, s) for i, s in enumerate(scenarios) for r in range(replicates)]
    map_tasks(executor, tasks, keep)
    with warnings.catch_warnings():  # a point whose every replicate failed is NaN, no noise
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=1), errors


# --- report -------------------------------------------------------------------------------


def _band(fig: go.Figure, x: list, group: pd.DataFrame, row: int, col: int, color: str,
          name: str, legend: bool) -> None:
    if group["ci_low"].notna().any():
        fig.add_trace(go.Scatter(x=x + x[::-1],
                                 y=list(group["ci_high"]) + list(group["ci_low"])[::-1],
                                 fill="toself", fillcolor=color, opacity=0.2, line={"width": 0},
                                 hoverinfo="skip", showlegend=False, legendgroup=name),
                      row=row, col=col)
    fig.add_trace(go.Scatter(x=x, y=list(group["mean"]), mode="lines+markers",
                             line={"color": color}, name=name, legendgroup=name,
                             showlegend=legend), row=row, col=col)


def _gap(rows: int, wanted: float) -> float:
    """Vertical spacing between subplot rows that plotly accepts for any number of rows."""
    return min(wanted, 0.5 / max(rows - 1, 1))


def sweep_figure(summary: pd.DataFrame, names: list[str], design: str) -> go.Figure | None:
    """1 parameter: response curves with 95% CI bands. 2-parameter grid: heatmaps of the mean.
    Otherwise (sampled designs, more parameters): mean ± CI against each parameter."""
    if summary.empty:
        return None
    metrics = list(dict.fromkeys(summary["metric"]))
    cols = 3
    if len(names) == 2 and design == "grid":
        rows = -(-len(metrics) // cols)
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=metrics,
                            horizontal_spacing=0.08, vertical_spacing=_gap(rows, 0.1))
        for i, metric in enumerate(metrics):
            table = summary[summary["metric"] == metric].pivot_table(
                index=names[1], columns=names[0], values="mean", aggfunc="first")
            fig.add_trace(go.Heatmap(
                z=table.to_numpy(), x=[str(c) for c in table.columns],
                y=[str(v) for v in table.index], coloraxis=None, showscale=False,
                hovertemplate=f"{names[0]}=%{{x}}<br>{names[1]}=%{{y}}<br>mean=%{{z}}"
                "<extra></extra>", colorscale="Viridis"), row=i // cols + 1, col=i % cols + 1)
        fig.update_xaxes(title_text=names[0])
        fig.update_yaxes(title_text=names[1])
        fig.update_layout(height=320 * rows, template="plotly_white")
        return fig
    panels = [(m, n) for m in metrics for n in names]
    cols = 3 if len(names) == 1 else len(names)
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{m} vs {n}" for m, n in panels],
                        horizontal_spacing=0.07, vertical_spacing=_gap(rows, 0.08))
    for i, (metric, name) in enumerate(panels):
        group = summary[summary["metric"] == metric].sort_values(name, kind="stable")
        row, col = i // cols + 1, i % cols + 1
        if len(names) == 1:
            _band(fig, list(group[name]), group, row, col, PALETTE[0], metric, False)
        else:
            half = (group["ci_high"] - group["mean"]).fillna(0)
            fig.add_trace(go.Scatter(x=group[name], y=group["mean"], mode="markers",
                                     marker={"color": PALETTE[0], "size": 6},
                                     error_y={"type": "data", "array": half, "visible": True},
                                     showlegend=False), row=row, col=col)
    fig.update_layout(height=280 * rows, template="plotly_white",
                      margin={"t": 40, "l": 40, "r": 20, "b": 30})
    return fig


def write_report(plan: Plan, summary: pd.DataFrame, doc: dict[str, Any], path: Path) -> None:
    """Self-contained HTML (plotly.js inlined): curves / heatmaps, failures, the plan."""
    names = plan.params
    fig = sweep_figure(summary, names, doc["design"])
    body = fig.to_html(full_html=False, include_plotlyjs=False) if fig else "<p>No results.</p>"
    failures = "".join(
        f"<tr><td>{f['point']}</td><td>{f['replicate']}</td>"
        f"<td>{html.escape(json.dumps(f['params']))}</td><td>{html.escape(f['error'])}</td></tr>"
        for f in doc["failures"])
    fail_block = (f"<h2>Failures ({doc['failed']})</h2><table><tr><th>point</th><th>replicate"
                  f"</th><th>parameters</th><th>error</th></tr>{failures}</table>"
                  if failures else "<p>No failures.</p>")
    meta = (f"{doc['design']} design over {', '.join(names)}: {doc['points']} points × "
            f"{doc['replicates']} replicate(s), seed {doc['seed']} (common random numbers "
            f"across points); {doc['done']}/{doc['tasks']} tasks done; wall "
            f"{fmt(doc['wall_seconds'])} s on {doc['executor'] or '?'}.")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>growthsim sweep · {html.escape(plan.base.name)}
</title><style>body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }}
pre {{ background: #f6f6f6; padding: 12px; overflow-x: auto; }}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head><body>
<h1>Sweep: {html.escape(plan.base.name)}</h1><p>{html.escape(meta)}</p>
<p>Each metric is taken over the horizon (flows summed, stocks on the last day, ratios of sums).
Lines and colours are means across replicates; bands and error bars are 95% t intervals of the
mean.</p>
{body}
{fail_block}
<h2>Base scenario</h2><details><summary>{BASE_FILE}</summary>
<pre>{html.escape(plan.base.to_yaml())}</pre></details>
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def new_folder(base: Scenario, prefix: str, write: Callable[[Path], Any], out_root: Path) -> Path:
    """A finished run folder for sensitivity / optimisation: filled in a hidden `.partial` dir
    and renamed into place only when complete."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(base.to_yaml().encode()).hexdigest()[:8]
    final = unique_folder(Path(out_root) / base.name, f"{prefix}-{stamp}-{digest}")
    with atomic_folder(final) as partial:
        write(partial)
    return final


def page(title: str, intro: str, body: str) -> str:
    """A self-contained HTML page with plotly.js inlined (opens offline)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 12px; overflow-x: auto; }}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>
{body}
</body></html>
"""
