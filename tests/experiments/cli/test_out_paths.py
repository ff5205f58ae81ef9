"""`--out` never loses data: not over the command's own input, not over the data or report
of a folder simctl wrote, a csv export never empties a folder it did not write, the name says
what is written, and a place that cannot be written is bad input (exit 2) before any work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli.cli_common import check_writable_file, check_writable_folder
from experiments.cli.commands import app
from sim.errors import InputError
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ran = runner.invoke(app, ["run", str(ROOT / "scenarios" / "reference.yaml"),
                              "market.size=300", "--days", "10", "--quiet", "--out",
                              str(tmp_path_factory.mktemp("runs"))])
    assert ran.exit_code == 0, ran.stderr
    return Path(ran.stdout.strip())


def _refused(args: list[str], said: str) -> None:
    done = runner.invoke(app, args)
    assert done.exit_code == 2, (done.stderr, done.exception)
    assert done.stderr.startswith("--out: ") and said in done.stderr, done.stderr
    assert done.stdout == ""


def test_a_reading_is_never_written_over_its_data(tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    units.write_text("user,arm,gmv\n" + "".join(f"{i},{'ab'[i % 2]},{i % 7}\n"
                                                for i in range(40)))
    before = units.read_bytes()
    _refused(["analyze", str(units), "--metric", "gmv", "--control", "a", "--out", str(units)],
             "this command writes .html or .htm files")
    _refused(["analyze", str(units), "--metric", "gmv", "--out", str(units / "r.html")],
             f"{units} is a file, so {units / 'r.html'} cannot be written")
    assert units.read_bytes() == before


def test_the_data_and_report_of_a_run_folder_are_not_written_over(run_dir: Path) -> None:
    report = (run_dir / "report.html").read_bytes()
    _refused(["dashboard", str(run_dir), "--out", str(run_dir / "report.html")],
             "is part of the folder")
    _refused(["dashboard", str(run_dir), "--out", str(run_dir / "summary.json")],
             "this command writes .html or .htm files")
    assert (run_dir / "report.html").read_bytes() == report
    done = runner.invoke(app, ["dashboard", str(run_dir), "--out", str(run_dir / "both.html")])
    assert done.exit_code == 0, done.stderr  # a new page beside the run is fine


def test_a_csv_export_replaces_only_an_earlier_export(run_dir: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    _refused(["export", str(run_dir), "--format", "csv", "--out", str(mine)],
             "holds other files (notes.txt, ...)")
    assert (mine / "notes.txt").read_text() == "keep me"
    _refused(["export", str(run_dir), "--format", "csv", "--out", str(run_dir)],
             "an export replaces the whole folder")
    assert (run_dir / "summary.json").is_file()
    target = tmp_path / "csv"
    for _ in range(2):  # the second export replaces the first
        done = runner.invoke(app, ["export", str(run_dir), "--format", "csv", "--out",
                                   str(target)])
        assert done.exit_code == 0, done.stderr
    assert sorted(p.name for p in target.iterdir())[:2] == ["channel_metrics.csv", "metrics.csv"]
    _refused(["export", str(run_dir), "--out", str(tmp_path / "book.csv")],
             "this command writes .xlsx files")
    (tmp_path / "a_file").write_text("mine")
    _refused(["export", str(run_dir), "--format", "csv", "--out", str(tmp_path / "a_file")],
             f"{tmp_path / 'a_file'} is a file; give a folder")
    assert (tmp_path / "a_file").read_text() == "mine"


def test_a_damaged_run_folder_is_bad_input_for_export(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"metrics": {"new_users": ')
    done = runner.invoke(app, ["export", str(tmp_path)])
    assert done.exit_code == 2 and "the folder is damaged" in done.stderr, done.stderr
    assert not (tmp_path / "export.xlsx").exists()


def test_an_input_is_refused_by_name_or_by_another_path_to_it(tmp_path: Path) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("x\n1\n")
    os.symlink(data, tmp_path / "link.csv")
    for out in (data, tmp_path / "link.csv", tmp_path / "." / "orders.csv"):
        with pytest.raises(InputError, match="is what this command reads"):
            check_writable_file(out, inputs=(None, data), suffixes=(".csv",))
    check_writable_file(tmp_path / "risk.csv", inputs=(None, data), suffixes=(".csv",))


def test_a_place_no_file_can_be_made_is_refused_even_for_root() -> None:
    """`os.access` says root may write anywhere; /proc takes no new file all the same (it
    failed with exit 1 at the last step, after the work)."""
    with pytest.raises(InputError, match="cannot write in /proc"):
        check_writable_folder(Path("/proc/runs"))
    done = runner.invoke(app, ["units", str(ROOT / "scenarios" / "ab_referral.yaml"), "--out",
                               "/proc/u.csv"])
    assert done.exit_code == 2 and "cannot write in /proc" in done.stderr, done.stderr
