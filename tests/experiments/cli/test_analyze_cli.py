"""`simctl units` then `simctl analyze`: a simulated test's export read as if it were real,
with its plan, on screen, as one JSON object and as a page."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT

runner = CliRunner()
AB = str(ROOT / "scenarios" / "ab_referral.yaml")
SMALL = ["market.size=20000", "mechanics.seed.count=600"]


def test_units_then_analyze_with_the_scenario_as_plan(tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    made = runner.invoke(app, ["units", AB, *SMALL, "--out", str(units)])
    assert made.exit_code == 0, made.stderr
    frame = pd.read_csv(units)
    assert set(frame.arm) == {"control", "reward_20"} and len(frame) == 20_000
    assert {"new_users", "purchases", "referral_cost"} <= set(frame.columns)
    page = tmp_path / "reading.html"
    read = runner.invoke(app, ["analyze", str(units), "--plan", AB, "--json", "--out",
                               str(page)])
    assert read.exit_code == 0, read.stderr
    doc = json.loads(read.stdout)  # exactly one JSON object on stdout
    assert doc["control"] == "control" and doc["plan"]["shares"] == {"control": 0.5,
                                                                     "reward_20": 0.5}
    roles = [(c["metric"], c["role"]) for c in doc["comparisons"]]
    assert roles == [("new_users", "primary"), ("purchases", "guardrail"),
                     ("referral_cost", "guardrail")]
    assert "sample ratio ok" in read.stderr and "decision:" in read.stderr
    assert doc["decisions"]["reward_20"].split(":")[0] in read.stderr
    assert "Relative lift" in page.read_text() and "Corrections applied" in page.read_text()


def test_power_plan_gives_alpha_allocation_and_correction(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    planned = runner.invoke(app, ["power", "--metric", "mean", "--baseline", "10", "--sd", "5",
                                  "--mde", "0.5", "--power", "0.8", "--arms", "3",
                                  "--correction", "bonferroni", "--alpha", "0.1", "--json"])
    assert planned.exit_code == 0, planned.stderr
    plan.write_text(planned.stdout)
    rows = [{"arm": arm, "gmv": 10 + i + (j % 5)} for i, arm in enumerate(["a", "b", "control"])
            for j in range(40)]
    units = tmp_path / "units.parquet"
    pd.DataFrame(rows).to_parquet(units)
    read = runner.invoke(app, ["analyze", str(units), "--plan", str(plan), "--metric", "gmv",
                               "--json"])
    assert read.exit_code == 0, read.stderr
    doc = json.loads(read.stdout)
    assert doc["plan"]["alpha"] == 0.1 and doc["corrections"][0].startswith("bonferroni")
    assert not doc["srm"]["mismatch"]
