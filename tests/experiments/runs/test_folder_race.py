"""A run folder's name is claimed when the folder is complete, so parallel identical runs (same
second, same scenario hash) each finish in their own folder and report the one they got."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from experiments.cli import app
from experiments.runs import outputs
from experiments.runs.folders import claim_folder
from tests.conftest import ROOT

REFERENCE = str(ROOT / "scenarios" / "reference.yaml")


def _other_run_lands(folder: Path, files: tuple[str, ...] = ("summary.json",)) -> None:
    """What a parallel identical run does between our choosing a name and renaming into it."""
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("theirs")


@pytest.mark.parametrize("files", [("summary.json",), ()], ids=["full", "empty"])
def test_a_name_taken_meanwhile_gives_the_next_free_one(tmp_path: Path,
                                                        files: tuple[str, ...]) -> None:
    def write(partial: Path) -> None:
        (partial / "summary.json").write_text("ours")
        _other_run_lands(tmp_path / "run", files)

    final = claim_folder(tmp_path, "run", write)
    assert final == tmp_path / "run-2"
    assert (final / "summary.json").read_text() == "ours"
    assert [p.name for p in (tmp_path / "run").iterdir()] == list(files)  # theirs, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run-2"]  # no .partial left


def test_a_claim_skips_every_taken_suffix(tmp_path: Path) -> None:
    def write(partial: Path) -> None:
        for name in ("run", "run-2", "run-3"):
            _other_run_lands(tmp_path / name)

    assert claim_folder(tmp_path, "run", write) == tmp_path / "run-4"


def test_run_reports_the_folder_it_finished_in(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`simctl run --json` when an identical run takes the name while this one is writing."""
    original = outputs.write_report

    def report_then_collide(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        _other_run_lands(tmp_path / "reference" / "stamp-hash")

    monkeypatch.setattr(outputs, "run_folder_name", lambda result: "stamp-hash")
    monkeypatch.setattr(outputs, "write_report", report_then_collide)
    done = CliRunner().invoke(app, ["run", REFERENCE, "market.size=2000", "--days", "10",
                                    "--quiet", "--json", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    run_dir = Path(json.loads(done.stdout)["run_dir"])
    assert run_dir == tmp_path / "reference" / "stamp-hash-2"
    assert json.loads((run_dir / "summary.json").read_text())["scenario"] == "reference"
    assert (tmp_path / "reference" / "stamp-hash" / "summary.json").read_text() == "theirs"


def test_a_sweep_plan_lands_in_the_next_free_folder(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A parallel identical sweep that takes the name while this one writes its plan: this one
    lands in `-2` and loads its own plan from there (before: the rename failed)."""
    from experiments.runs import sweep
    from experiments.runs.design import make_design, parse_param
    from sim.scenario import Scenario, load_scenario

    base = load_scenario(REFERENCE, ["market.size=500", "days=5"])
    design = make_design([parse_param("mechanics.acquisition.q=0.1,0.2")])
    written = Scenario.to_yaml

    def to_yaml_while_another_lands(self: Scenario) -> str:
        for partial in (tmp_path / base.name).glob(".partial-*"):  # the plan is being written
            _other_run_lands(tmp_path / base.name / partial.name.split("-", 1)[1].rsplit(
                "-", 1)[0])
        return written(self)

    monkeypatch.setattr(Scenario, "to_yaml", to_yaml_while_another_lands)
    plan = sweep.create_run(base, design, tmp_path, "serial")
    assert plan.run_dir.name.endswith("-2") and (plan.run_dir / sweep.SPEC_FILE).is_file()
