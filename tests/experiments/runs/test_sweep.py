"""`simctl sweep`: outputs, failures, fail-fast, interruption and resume (serial executor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from experiments.cli.run_cli import _root
from experiments.cli.sweep_cli import optimize, sensitivity, sweep
from experiments.runs import point as point_module
from experiments.runs.design import build_design
from experiments.runs.executors import make_executor
from experiments.runs.sweep import Plan, create_run, load_plan, read_tasks, run_plan
from sim.scenario import Scenario, load_scenario
from tests.conftest import ROOT

REFERENCE = str(ROOT / "scenarios" / "reference.yaml")
SMALL = ["market.size=2000", "days=30"]

app = typer.Typer(pretty_exceptions_enable=False)
app.callback()(_root)
app.command("sweep")(sweep)
app.command("sensitivity")(sensitivity)
app.command("optimize")(optimize)
runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def results_of(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "results.parquet")


def test_grid_sweep_writes_long_results_summary_and_report(tmp_path: Path) -> None:
    done = invoke("sweep", REFERENCE, *SMALL, "--param", "mechanics.acquisition.q=0.1:0.3:0.1",
                  "--param", "mechanics.acquisition.p=0.01,0.02", "--replicates", "3",
                  "--out", str(tmp_path))
    assert done.exit_code == 0, done.output
    run_dir = Path(done.stdout.strip())
    assert run_dir.parent == tmp_path / "reference"
    results = results_of(run_dir)
    assert list(results.columns) == ["point", "replicate", "seed", "mechanics.acquisition.q",
                                     "mechanics.acquisition.p", "metric", "value"]
    assert results["point"].nunique() == 6 and results["replicate"].nunique() == 3
    assert (results["seed"] == 20261124).all()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["points"] == 6 and summary["tasks"] == 18 and summary["failed"] == 0
    first = summary["per_point"][0]["metrics"]["acquired_users"]
    assert first["n"] == 3 and first["ci_low"] <= first["mean"] <= first["ci_high"]
    # common random numbers: more imitation never acquires fewer users, replicate by replicate
    acq = results[(results.metric == "acquired_users") & (results["mechanics.acquisition.p"] ==
                                                          0.01)]
    table = acq.pivot(index="replicate", columns="mechanics.acquisition.q", values="value")
    assert (table.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    html = (run_dir / "report.html").read_text()
    assert "Plotly.newPlot" in html and '"type":"heatmap"' in html
    assert "sweep:" not in done.stdout and f"-> {run_dir}" in done.stderr


def test_one_parameter_sweep_has_response_curves_with_bands(tmp_path: Path) -> None:
    done = invoke("sweep", REFERENCE, *SMALL, "--param", "mechanics.acquisition.p=0.01,0.02",
                  "--replicates", "2", "--out", str(tmp_path), "--json", "--quiet")
    assert done.exit_code == 0
    doc = json.loads(done.stdout)
    assert doc["points"] == 2 and doc["complete"] and done.stderr == ""
    html = (Path(doc["run_dir"]) / "report.html").read_text()
    assert '"fill":"toself"' in html


def test_failed_point_does_not_stop_the_sweep_and_exits_1(tmp_path: Path) -> None:
    # 10^12 users cannot fit in memory: the engine refuses that point when it runs
    done = invoke("sweep", REFERENCE, "days=30", "--param", "market.size=2000,1000000000000,3000",
                  "--out", str(tmp_path), "--json")
    assert done.exit_code == 1
    doc = json.loads(done.stdout)
    assert doc["done"] == 2 and doc["failed"] == 1
    summary = json.loads((Path(doc["run_dir"]) / "summary.json").read_text())
    (failure,) = summary["failures"]
    assert failure["point"] == 1 and failure["params"] == {"market.size": 1000000000000}
    assert "users need about" in failure["error"]
    assert sorted(results_of(Path(doc["run_dir"]))["point"].unique()) == [0, 2]
    assert "1 failure(s)" in done.stderr


def test_fail_fast_stops_at_the_first_failure(tmp_path: Path) -> None:
    done = invoke("sweep", REFERENCE, "days=30", "--param",
                  "market.size=1000000000000,2000,3000", "--out", str(tmp_path), "--json",
                  "--fail-fast")
    assert done.exit_code == 1
    doc = json.loads(done.stdout)
    assert doc["failed"] == 1 and doc["done"] == 0 and not doc["complete"]


@pytest.mark.parametrize("args, fragment", [
    (["--param", "mechanics.acquisition.pp=0.1,0.2"],
     "mechanics.acquisition.pp: unknown field (did you mean 'p'?); expected one of:"),
    (["--param", "mechanics.acquisition.q=5:30:0"], "step must not be 0"),
    (["--param", "mechanics.acquisition.q=30:5:5"], "use step -5"),
    (["--param", "mechanics.acquisition.p=0.1,1.5"], "less than or equal to 1"),
    (["--param", "mechanics.acquisition.p=0.1..0.2"], "a grid takes a list or a range, not bounds"),
    (["--param", "mechanics.acquisition.p=0.1,0.2", "--executor", "threads:2"],
     "unknown executor"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(
        tmp_path: Path, args: list[str], fragment: str) -> None:
    done = invoke("sweep", REFERENCE, *SMALL, *args, "--out", str(tmp_path))
    assert done.exit_code == 2, done.output
    assert fragment in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.output and done.stdout == ""
    assert not any(tmp_path.iterdir())


def _plan(tmp_path: Path) -> Plan:
    base = load_scenario(REFERENCE, [*SMALL, "replicates=2"])
    design, _ = build_design(base, ["mechanics.acquisition.q=0.1,0.2,0.3",
                                    "mechanics.purchase.dropout.a=0.5,1.0"])
    return create_run(base, design, tmp_path, "serial")


def test_interrupted_sweep_keeps_finished_tasks_and_resume_matches_uninterrupted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = run_plan(_plan(tmp_path / "a"), make_executor("serial"))
    expected = results_of(whole.run_dir)

    plan = _plan(tmp_path / "b")

    def stop_after_five(done: int, total: int, failures: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, make_executor("serial"), progress=stop_after_five)
    kept = read_tasks(plan.run_dir)
    assert len(kept) == 5 and all(r["ok"] for r in kept.values())
    assert not (plan.run_dir / "summary.json").exists()  # not mistaken for a finished sweep

    calls: list[tuple[int, int]] = []
    real = point_module.simulate

    def counting(scenario: Scenario, replicate: int = 0,
                 progress: Any = None) -> dict[str, np.ndarray]:
        calls.append((scenario.mechanics["acquisition"].q, replicate))
        return real(scenario, replicate, progress)

    monkeypatch.setattr(point_module, "simulate", counting)
    done = invoke("sweep", "--resume", str(plan.run_dir), "--quiet")
    assert done.exit_code == 0, done.output
    assert len(calls) == 12 - 5  # only what was missing
    pd.testing.assert_frame_equal(results_of(plan.run_dir), expected, check_exact=True)
    summary = json.loads((plan.run_dir / "summary.json").read_text())
    assert summary["complete"] and summary["computed_this_run"] == 7


def test_resume_of_a_folder_that_is_not_a_sweep_is_bad_input(tmp_path: Path) -> None:
    done = invoke("sweep", "--resume", str(tmp_path))
    assert done.exit_code == 2 and "not a sweep run folder" in done.stderr


def test_plan_is_stored_and_reloads_the_same_tasks(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    again = load_plan(plan.run_dir)
    assert [(t.point, t.replicate, t.args) for t in again.tasks()] == [
        (t.point, t.replicate, t.args) for t in plan.tasks()]


def test_a_point_reads_the_same_numbers_as_a_full_result() -> None:
    """A sweep point computes only the whole market's tables (no arm or channel breakdowns):
    its horizon values and market unit economics equal those of the full Result."""
    from sim.aggregation import collect
    from sim.engine import simulate

    scenario = load_scenario(ROOT / "scenarios" / "growth.yaml",
                             ["market.size=3000", "days=40"])
    counters = simulate(scenario, 0)
    full = collect(scenario, {0: counters})
    expected = {k: float(v) for k, v in full.horizon().iloc[0].items() if k != "replicate"}
    economics = full.unit_economics()
    market = economics[economics["channel"] == "all"].iloc[0]
    expected.update({k: float(v) for k, v in market.items()
                     if k not in ("replicate", "channel") and k not in expected})
    got = point_module.market_metrics(scenario, 0, counters)
    assert got.keys() == expected.keys() and len(economics) > 2  # growth has many channels
    np.testing.assert_array_equal(np.array(list(got.values())),
                                  np.array([expected[k] for k in got]))
