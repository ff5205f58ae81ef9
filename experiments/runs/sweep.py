"""Sweeps: a design × replicates run through any Executor, kept on disk task by task.

Why it is built this way:

- A task is (point, replicate) -> horizon metrics (`experiments.runs.point`). It is pure and
  idempotent (the point's scenario and the replicate number fix every random draw), so it may
  run twice (a worker dies, the evaluator runs it again) and the numbers do not change.
- Common random numbers: every point keeps the scenario seed; replicate r uses stream r. Two
  points differ only by their parameters, not by luck, so response curves are smooth.
- Tasks go through the one evaluator (`experiments.runs.evaluator`): a bounded window in
  flight, a task that raises becomes a failure record and the sweep goes on (unless
  fail-fast), a task whose worker was lost is run again.
- Each finished task is written at once as `tasks/pPPPPPP-rRRRRR.json` (temp file + os.replace)
  by the submitting process, so Ctrl-C or a killed process keeps every finished task, and
  `resume` runs only what is missing. Final tables are built from those files alone, so a
  resumed sweep ends with exactly the numbers of an uninterrupted one.

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
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.runs.design import Design, Value, point_scenario
from experiments.runs.evaluator import Progress, Task, TaskOutcome, evaluate
from experiments.runs.executors import describe
from experiments.runs.folders import BASE_FILE, claim_folder
from experiments.runs.outputs import json_safe
from experiments.runs.point import point_task
from experiments.runs.sweep_report import write_report
from sim.errors import InputError, Problem
from sim.metrics import COHORT_METRICS, cohort_mean, metric_bounds
from sim.scenario import Scenario, load_scenario
from sim.stats import mean_ci

SPEC_FILE, TASKS_DIR = "sweep.json", "tasks"


# --- task records --------------------------------------------------------------------------


def record_of(outcome: TaskOutcome) -> dict[str, Any]:
    """A finished task as its file keeps it: metrics, or the error (a failure is data)."""
    task = outcome.task
    scenario: Scenario = task.args[0]
    record: dict[str, Any] = {"point": task.point, "replicate": task.replicate,
                              "seed": scenario.seed}
    if outcome.ok:
        record.update(metrics=outcome.value, ok=True)
    else:
        record.update(ok=False, error=outcome.error)
    record["seconds"] = outcome.seconds
    return record


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
        return [point_task(i, r, s) for i, s in enumerate(self.scenarios())
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

    def fill(partial: Path) -> None:
        (partial / TASKS_DIR).mkdir()
        (partial / BASE_FILE).write_text(base.to_yaml(), "utf-8")
        (partial / SPEC_FILE).write_text(text + "\n", "utf-8")

    # the name is taken at the rename, so parallel identical sweeps each get their own folder
    return load_plan(claim_folder(Path(out_root) / base.name, f"{prefix}-{stamp}-{digest}",
                                  fill))


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
    state = {"done": len(tasks) - len(todo), "failed": 0, "computed": 0, "stopped": False}
    if progress:
        progress(state["done"], len(tasks), 0)

    def keep(outcome: TaskOutcome) -> bool:
        record = record_of(outcome)
        write_task(plan.run_dir, record)
        state["done"] += 1
        state["computed"] += 1
        state["failed"] += not record["ok"]
        if progress:
            progress(state["done"], len(tasks), state["failed"])
        if on_record:
            on_record(record)
        state["stopped"] = fail_fast and not record["ok"]
        return state["stopped"]

    evaluate(executor, todo, on_outcome=keep)
    outcome = finish(plan, time.perf_counter() - started, describe(executor), state["computed"])
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
    doc = json_safe({
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
    _atomic(plan.run_dir / "report.html", lambda p: write_report(plan.base, names, summary, doc, p))
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
                     **(cohort_mean(metric, group["value"].to_numpy())
                        if metric in COHORT_METRICS else  # payback: not of those that paid
                        mean_ci(group["value"].to_numpy(), bounds=metric_bounds(metric)))})
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
