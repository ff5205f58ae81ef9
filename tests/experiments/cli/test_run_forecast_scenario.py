"""`simctl run --forecast` with a forecast of another scenario: its early warnings describe
another model, and the run says so (it used to attach them without a word)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT
from tests.experiments.report.test_report_dashboard import _forecast


def test_a_forecast_of_another_scenario_is_warned_about(tmp_path: Path) -> None:
    folder = _forecast(tmp_path)  # a forecast of scenario "s"
    run = CliRunner().invoke(app, ["run", str(ROOT / "scenarios" / "reference.yaml"),
                                   "market.size=500", "--days", "20", "--out",
                                   str(tmp_path / "runs"), "--forecast", str(folder)])
    assert run.exit_code == 0, run.output
    assert f"warning: --forecast {folder} forecasts scenario 's', not 'reference'" in run.stderr
