"""Options renamed so that one idea has one name across commands (analyze's arm split is
`--shares`, as in srm; adjust's multiple-testing rule is `--correction`, as in power and
analyze): the old names still work with a note, and both at once is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app

runner = CliRunner()


def _units(tmp_path: Path) -> Path:
    rows = [{"arm": arm, "gmv": 10 + i + (j % 5)} for i, arm in enumerate(["control", "b"])
            for j in range(60)]
    path = tmp_path / "units.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_analyze_shares_is_the_arm_split_and_allocation_still_works(tmp_path: Path) -> None:
    units = str(_units(tmp_path))
    args = ["analyze", units, "--metric", "gmv", "--json"]
    new = runner.invoke(app, [*args, "--shares", "control=1,b=3"])
    old = runner.invoke(app, [*args, "--allocation", "control=1,b=3"])
    assert new.exit_code == 0 and old.exit_code == 0, (new.stderr, old.stderr)
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert json.loads(new.stdout)["plan"]["shares"] == {"control": 1.0, "b": 3.0}
    assert "--allocation is now --shares" in old.stderr and "now" not in new.stderr
    assert "--allocation" not in runner.invoke(app, ["analyze", "--help"]).output


def test_analyze_refuses_both_names_and_names_the_option_typed(tmp_path: Path) -> None:
    units = str(_units(tmp_path))
    both = runner.invoke(app, ["analyze", units, "--metric", "gmv", "--shares", "control=1,b=1",
                               "--allocation", "control=1,b=1"])
    assert both.exit_code == 2 and "give only --shares" in both.stderr
    bad = runner.invoke(app, ["analyze", units, "--metric", "gmv", "--allocation", "control=x"])
    assert bad.exit_code == 2 and bad.stderr.startswith("--allocation: 'control=x'")
    assert "now --shares" not in bad.stderr  # the error alone, before any note


def test_adjust_correction_and_its_old_name() -> None:
    new = runner.invoke(app, ["adjust", "0.01,0.04,0.03", "--correction", "bh", "--json"])
    old = runner.invoke(app, ["adjust", "0.01,0.04,0.03", "--method", "bh", "--json"])
    assert new.exit_code == 0 and old.exit_code == 0
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert json.loads(new.stdout)["adjusted"] == pytest.approx([0.03, 0.04, 0.04])  # BH
    assert "--method is now --correction" in old.stderr and "now" not in new.stderr
    both = runner.invoke(app, ["adjust", "0.01,0.2", "--method", "bh", "--correction", "holm"])
    assert both.exit_code == 2 and "give only --correction" in both.stderr
    bad = runner.invoke(app, ["adjust", "0.01,0.2", "--correction", "fdr"])
    assert bad.exit_code == 2 and bad.stderr.startswith("--correction: 'fdr'")


def test_both_names_are_refused_before_the_value_is_read_and_empty_is_not_a_default(
        tmp_path: Path) -> None:
    both = runner.invoke(app, ["adjust", "0.01,0.2", "--method", "bh", "--correction", "bogus"])
    assert both.exit_code == 2 and both.stderr.startswith("--method: given with --correction")
    for option in ("--correction", "--method"):  # '' used to read as holm
        empty = runner.invoke(app, ["adjust", "0.01,0.2", option, ""])
        assert empty.exit_code == 2 and empty.stderr.startswith(f"{option}: ''; expected")
    units = str(_units(tmp_path))
    mixed = runner.invoke(app, ["analyze", units, "--metric", "gmv", "--shares", "bogus",
                                "--allocation", "control=1,b=1"])
    assert mixed.exit_code == 2 and mixed.stderr.startswith("--allocation: given with --shares")
