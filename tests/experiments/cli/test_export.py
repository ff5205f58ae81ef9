"""`simctl export`: a run's tables in Excel or CSV, equal to the run's own files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT

runner = CliRunner()


def test_xlsx_and_csv_hold_the_runs_tables(tmp_path: Path) -> None:
    ran = runner.invoke(app, ["run", str(ROOT / "scenarios" / "reference.yaml"),
                              "market.size=2000", "--days", "10", "--replicates", "2",
                              "--quiet", "--out", str(tmp_path)])
    assert ran.exit_code == 0, ran.stderr
    run_dir = Path(ran.stdout.strip())
    book = runner.invoke(app, ["export", str(run_dir)])
    assert book.exit_code == 0, book.stderr
    sheets = pd.read_excel(run_dir / "export.xlsx", sheet_name=None)
    assert list(sheets)[:2] == ["summary", "unit_economics"]
    daily = pd.read_parquet(run_dir / "metrics.parquet")
    pd.testing.assert_frame_equal(sheets["metrics"], daily, check_dtype=False)
    summary = json.loads((run_dir / "summary.json").read_text())["metrics"]
    row = sheets["summary"].set_index("metric").loc["new_users"]
    assert row["中文"].startswith("新增用户") and row["mean"] == summary["new_users"]["mean"]
    folder = runner.invoke(app, ["export", str(run_dir), "--format", "csv", "--out",
                                 str(tmp_path / "csv")])
    assert folder.exit_code == 0, folder.stderr
    assert (tmp_path / "csv" / "summary.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM
    again = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    pd.testing.assert_frame_equal(again, daily, check_dtype=False)
