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


def test_a_sweep_folder_exports_its_own_tables(tmp_path: Path) -> None:
    """A sweep (like sensitivity, optimize and ab folders) has no per-metric summary: its
    Parquet and CSV tables go out as they are, summary first (it failed: KeyError 'metrics')."""
    swept = runner.invoke(app, ["sweep", str(ROOT / "scenarios" / "reference.yaml"),
                                "market.size=1000", "--days", "10", "-p",
                                "mechanics.acquisition.q=0.2,0.4", "--quiet", "--out",
                                str(tmp_path)])
    assert swept.exit_code == 0, swept.output
    folder = Path(swept.stdout.strip().splitlines()[-1])
    book = runner.invoke(app, ["export", str(folder), "--out", str(tmp_path / "s.xlsx")])
    assert book.exit_code == 0, book.output
    sheets = pd.read_excel(tmp_path / "s.xlsx", sheet_name=None)
    assert list(sheets) == ["summary", "results"]
    pd.testing.assert_frame_equal(sheets["results"], pd.read_parquet(folder / "results.parquet"),
                                  check_dtype=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "summary.json").write_text('{"kind": "sweep"}')
    bare = runner.invoke(app, ["export", str(tmp_path / "empty")])
    assert bare.exit_code == 2 and "no tables to export" in bare.stderr
    assert not (tmp_path / "empty" / "export.xlsx").exists()
