"""Scenario notes (what a shorter horizon left out) follow --lang on screen."""

from __future__ import annotations

from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT


def test_the_cli_says_the_notes_in_the_language_in_force() -> None:
    """A horizon shortened on the command line leaves dated posts out with a located note, in
    Chinese under --lang zh (sim writes both texts; the CLI picks one)."""
    growth = str(ROOT / "scenarios" / "growth.yaml")
    zh = CliRunner().invoke(app, ["--lang", "zh", "validate", growth, "days=7"])
    en = CliRunner().invoke(app, ["validate", growth, "days=7"])
    assert zh.exit_code == en.exit_code == 0, zh.output
    assert "说明: mechanics.kol.posts.1: 已略去：第 63 天在命令行设定的时长 0..6 之外" in zh.stderr
    assert "left out" not in zh.stderr and "left out: day 63 is past" in en.stderr
