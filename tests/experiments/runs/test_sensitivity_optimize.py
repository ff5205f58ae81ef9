"""Sensitivity (SALib) and optimisation (Optuna) on cases whose answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.metrics import METRICS
from sim.scenario import load_scenario
from tests.conftest import ROOT
from tests.experiments.runs.test_sweep import REFERENCE, invoke

SMALL = ["market.size=2000", "days=30"]
VALUE = "gmv"  # the order-value flow


def test_default_outputs_are_defined_metrics() -> None:
    """The defaults users get without --outputs must name metrics that exist."""
    import inspect

    from experiments.cli.sweep_cli import sensitivity

    default = inspect.signature(sensitivity).parameters["outputs"].default
    assert [m for m in default.split(",") if m not in METRICS] == []


@pytest.mark.slow
def test_a_parameter_without_effect_gets_zero_indices(tmp_path: Path) -> None:
    # The order value's scale multiplies each order's value after the draw, so it cannot change
    # how many orders are placed (common random numbers): its indices on purchases must be 0,
    # while on the order value it is the dominant parameter.
    done = invoke("sensitivity", REFERENCE, *SMALL,
                  "--param", "mechanics.acquisition.p=0.005..0.02",
                  "--param", "mechanics.purchase.order_value.scale=25..75",
                  "--outputs", f"purchases,{VALUE}", "--points", "32", "--out", str(tmp_path),
                  "--quiet")
    assert done.exit_code == 0, done.output
    run_dir = Path(done.stdout.strip())
    table = pd.read_parquet(run_dir / "indices.parquet").set_index(["method", "metric", "param"])
    scale, p = "mechanics.purchase.order_value.scale", "mechanics.acquisition.p"
    sobol = table.loc["sobol"]
    assert abs(sobol.loc[("purchases", scale), "ST"]) <= sobol.loc[("purchases", scale),
                                                                   "ST_conf"] + 1e-12
    assert sobol.loc[("purchases", p), "ST"] > 0.5
    assert sobol.loc[(VALUE, scale), "ST"] > sobol.loc[(VALUE, p), "ST"]
    morris = table.loc["morris"]
    assert morris.loc[("purchases", scale), "mu_star"] == 0
    assert morris.loc[("purchases", p), "mu_star"] > morris.loc[("purchases", p), "mu_star_conf"]
    assert "Sobol indices" in (run_dir / "report.html").read_text()


def test_optimize_finds_the_obvious_optimum_and_writes_a_valid_best_scenario(
        tmp_path: Path) -> None:
    # More innovation always acquires more users in a short horizon: the best p is near 0.05.
    done = invoke("optimize", REFERENCE, "market.size=2000", "days=10", "--maximize",
                  "acquired_users", "--param", "mechanics.acquisition.p=0.001..0.05",
                  "--trials", "12", "--batch", "4", "--replicates", "2", "--out", str(tmp_path),
                  "--json", "--quiet")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["best_params"]["mechanics.acquisition.p"] > 0.035
    run_dir = Path(doc["run_dir"])
    best = load_scenario(run_dir / "best.yaml")
    assert best.mechanics["acquisition"].p == doc["best_params"]["mechanics.acquisition.p"]
    assert {"study.db", "trials.parquet", "report.html"} <= {p.name for p in run_dir.iterdir()}


@pytest.mark.parametrize("param, chosen", [
    ("mechanics.acquisition.p=0.001,0.05,0.02", (0.001, 0.05, 0.02)),  # numbers as choices
    ("mechanics.acquisition.p=0.01:0.05:0.02", (0.01, 0.03, 0.05)),  # a range, the same
])
def test_optimize_takes_choices_and_writes_the_best_one_as_typed(
        tmp_path: Path, param: str, chosen: tuple[float, ...]) -> None:
    """A list or range is a set of unordered choices (Optuna's categorical distribution): every
    trial is one of them, the best is the best trial's, and best.yaml holds it."""
    done = invoke("optimize", REFERENCE, "market.size=2000", "days=10", "--maximize",
                  "acquired_users", "--param", param, "--trials", "8", "--batch", "4",
                  "--out", str(tmp_path), "--json", "--quiet")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    trials = pd.read_parquet(Path(doc["run_dir"]) / "trials.parquet")
    assert set(trials["mechanics.acquisition.p"]) <= set(chosen)
    best = trials.loc[trials["acquired_users"].idxmax(), "mechanics.acquisition.p"]
    assert doc["best_params"]["mechanics.acquisition.p"] == best
    scenario = load_scenario(Path(doc["run_dir"]) / "best.yaml")
    assert scenario.mechanics["acquisition"].p == best


def test_optimize_over_a_field_of_words(tmp_path: Path) -> None:
    """login=one_click,form: what `sweep` compares, searched together with a number."""
    done = invoke("optimize", str(ROOT / "scenarios" / "cold_start.yaml"), "market.size=2000",
                  "days=20", "--maximize", "new_users", "--param",
                  "mechanics.funnel.login=one_click,form", "--param",
                  "mechanics.gift.value=0..30", "--trials", "6", "--batch", "3",
                  "--out", str(tmp_path), "--json", "--quiet")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    trials = pd.read_parquet(Path(doc["run_dir"]) / "trials.parquet")
    assert set(trials["mechanics.funnel.login"]) <= {"one_click", "form"}
    login = doc["best_params"]["mechanics.funnel.login"]
    assert login == trials.loc[trials["new_users"].idxmax(), "mechanics.funnel.login"]
    scenario = load_scenario(Path(doc["run_dir"]) / "best.yaml")
    assert scenario.mechanics["funnel"].login == login


def test_optimize_respects_constraints(tmp_path: Path) -> None:
    done = invoke("optimize", REFERENCE, "market.size=2000", "days=10", "--maximize",
                  "acquired_users", "--param", "mechanics.acquisition.p=0.001..0.05",
                  "--constraint", "acquired_users<=600", "--trials", "12", "--batch", "6",
                  "--out", str(tmp_path), "--json", "--quiet")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    trials = pd.read_parquet(Path(doc["run_dir"]) / "trials.parquet")
    assert doc["best_value"] <= 600
    assert doc["best_value"] == trials.loc[trials["feasible"], "acquired_users"].max()


@pytest.mark.parametrize("args, fragment", [
    (["--maximize", "happiness", "--param", "mechanics.acquisition.p=0.01..0.02"],
     "unknown metric"),
    (["--maximize", "purchases", "--param", "mechanics.acquisition.p=0.01,2"],
     "mechanics.acquisition.p: Input should be less than or equal to 1 (from --param "
     "mechanics.acquisition.p=2)"),  # every choice is checked before any trial
    (["--maximize", "purchases", "--param", "mechanics.acquisition.p=0.01..0.02",
      "--constraint", "purchases<50"], "expected metric<=value"),
])
def test_optimize_bad_input(tmp_path: Path, args: list[str], fragment: str) -> None:
    done = invoke("optimize", REFERENCE, *SMALL, *args, "--out", str(tmp_path))
    assert done.exit_code == 2 and fragment in done.stderr and not any(tmp_path.iterdir())
