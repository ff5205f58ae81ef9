"""`simctl init`: a commented scenario for a stage and a market size that loads as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from experiments.cli.init_cli import STAGES
from sim.scenario import load_scenario

runner = CliRunner()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_writes_a_commented_scenario_that_loads(tmp_path: Path, stage: str) -> None:
    target = tmp_path / "mine.yaml"
    result = runner.invoke(app, ["init", "--stage", stage, "--users", "30000", "--out",
                                 str(target)])
    assert result.exit_code == 0, result.stderr
    text = target.read_text(encoding="utf-8")
    assert text.startswith(f"# Written by `simctl init --stage {stage} --users 30000`")
    assert sum("#" in line for line in text.splitlines()) > 20  # the example's comments kept
    assert f"simctl run scenarios/{STAGES[stage][0]}" not in text  # its commands are not ours
    scenario = load_scenario(target)
    assert scenario.name == "mine" and scenario.market.size == 30000
    assert scenario.market.reference_size == 30000  # rescaled at load, recorded as done


def test_init_never_overwrites_and_refuses_unknown_stages(tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    target.write_text("mine\n")
    kept = runner.invoke(app, ["init", "--stage", "growth", "--users", "100", "--out",
                               str(target)])
    assert kept.exit_code == 2 and "init never overwrites" in kept.stderr
    assert target.read_text() == "mine\n"
    wrong = runner.invoke(app, ["init", "--stage", "viral", "--users", "100", "--out",
                                str(tmp_path / "x.yaml")])
    assert wrong.exit_code == 2 and "expected one of cold_start, growth" in wrong.stderr
    assert not (tmp_path / "x.yaml").exists()
    missing = runner.invoke(app, ["init", "--stage", "growth", "--out", str(tmp_path / "y.yaml")])
    assert missing.exit_code == 2 and "--users" in missing.stderr  # no terminal: no prompt
    assert "missing (no terminal to ask in)" in missing.stderr
    bare = runner.invoke(app, ["init", "--users", "100", "--out", str(tmp_path / "z.yaml")])
    assert bare.stderr.startswith("--stage: missing (no terminal to ask in); expected one of")
    assert "None" not in bare.stderr


def test_the_stages_chinese_names_are_accepted(tmp_path: Path) -> None:
    """The help lists 冷启动, 增长, 精细化运营 and 规模化 beside the English names; each
    gives the same scenario as the English one."""
    from experiments.cli.init_cli import STAGE_NAMES_ZH

    for chinese, english in STAGE_NAMES_ZH.items():
        result = runner.invoke(app, ["init", "--stage", chinese, "--users", "30000", "--out",
                                     str(tmp_path / f"{english}.yaml")])
        assert result.exit_code == 0, result.stderr
        text = (tmp_path / f"{english}.yaml").read_text(encoding="utf-8")
        assert text.startswith(f"# Written by `simctl init --stage {english} --users 30000`")


def test_a_chinese_file_name_names_the_scenario(tmp_path: Path) -> None:
    """`--out 冷启动.yaml` wrote `name: ___`, so every Chinese-named scenario ran into runs/___."""
    target = tmp_path / "冷启动.yaml"
    done = runner.invoke(app, ["init", "--stage", "cold_start", "--users", "2000", "--out",
                               str(target)])
    assert done.exit_code == 0, done.stderr
    assert load_scenario(target).name == "冷启动"
