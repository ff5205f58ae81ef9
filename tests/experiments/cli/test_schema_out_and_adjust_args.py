"""`simctl schema --out` writes only a .json file (never over a scenario), makes a missing
folder, refuses in one line (exit 2); `simctl adjust` takes p-values as `srm` takes counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from sim.scenario import scenario_schema

runner = CliRunner()


@pytest.mark.parametrize("name", ["victim.yaml", "notes.html"])
def test_schema_out_writes_only_json(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    target.write_text("name: mine\n")
    done = runner.invoke(app, ["schema", "--out", str(target)])
    assert done.exit_code == 2, done.output
    assert done.stderr == (f"--out: {name}: this command writes .json files; give a name "
                           "ending so, e.g. scenario.schema.json\n")
    assert target.read_text() == "name: mine\n"


def test_schema_out_folder_names_a_schema_file(tmp_path: Path) -> None:
    done = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert done.exit_code == 2
    assert done.stderr == (f"--out: {tmp_path} is a folder; give a file name, e.g. "
                           f"{tmp_path / 'scenario.schema.json'}\n")


def test_schema_out_makes_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "scenario.schema.json"
    done = runner.invoke(app, ["schema", "--out", str(target)])
    assert done.exit_code == 0, done.output
    assert json.loads(target.read_text()) == scenario_schema()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no partial left


def test_schema_out_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    done = runner.invoke(app, ["schema", "--out", str(tmp_path / "afile" / "s.json")])
    assert done.exit_code == 2 and len(done.stderr.splitlines()) == 1, done.output
    assert done.stderr.startswith("--out: ") and "Traceback" not in done.output


@pytest.mark.parametrize("args", [["0.01", "0.04", "0.03"], ["0.01,0.04,0.03"],
                                  ["0.01,", "0.04", "0.03"]])
def test_adjust_takes_p_values_comma_or_space_separated(args: list[str]) -> None:
    done = runner.invoke(app, ["adjust", *args, "--correction", "holm", "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["p_values"] == [0.01, 0.04, 0.03]
    assert doc["adjusted"] == pytest.approx([0.03, 0.06, 0.06])


def test_adjust_space_separated_bad_values_are_one_line() -> None:
    done = runner.invoke(app, ["adjust", "0.2", "1.5"])
    assert done.exit_code == 2
    assert done.stderr == "P_VALUES: '0.2,1.5': p-values lie between 0 and 1\n"

