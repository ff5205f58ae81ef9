"""`simctl srm` and `simctl adjust` on numbers a team already has."""

from __future__ import annotations

import json

import pytest
from scipy import stats
from typer.testing import CliRunner

from experiments.cli.commands import app

runner = CliRunner()


def test_srm_of_dashboard_counts_matches_the_chi_square_by_hand() -> None:
    """821,588 vs 815,482 planned 50/50: chi-square = 2 x 3,053^2 / 818,535 = 22.77."""
    result = runner.invoke(app, ["srm", "821588,815482", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["statistic"] == pytest.approx(2 * 3053**2 / 818535)
    assert doc["p_value"] == pytest.approx(stats.chi2.sf(2 * 3053**2 / 818535, 1))
    assert doc["mismatch"] and "SAMPLE RATIO MISMATCH" in result.stderr
    fine = json.loads(runner.invoke(app, ["srm", "2010,7990", "--shares", "0.2,0.8",
                                          "--json"]).stdout)
    assert not fine["mismatch"] and fine["expected"] == [2000.0, 8000.0]


def test_adjust_benjamini_hochberg_by_hand() -> None:
    """Sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.02, 0.04, 0.04 (p m / rank, monotone)."""
    result = runner.invoke(app, ["adjust", "0.01,0.04,0.03,0.005", "--correction", "bh", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["adjusted"] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    holm = json.loads(runner.invoke(app, ["adjust", "0.01,0.04,0.03,0.005", "--json"]).stdout)
    assert holm["adjusted"] == pytest.approx([0.03, 0.06, 0.06, 0.02])


@pytest.mark.parametrize(("args", "fragment"), [
    (["srm", "5,x"], "expected whole numbers"),
    (["srm", "5.5,4"], "counts are whole numbers"),
    (["srm", "0,0"], "no units in any arm"),  # printed nan, and NaN in --json
    (["srm", "50,50", "--shares", "1,0"], "one positive share per arm"),
    (["srm", "100,100", "--threshold", "2"], "expected a p-value threshold in (0, 1)"),
    (["srm", "100,100", "--threshold", "nan"], "expected a p-value threshold in (0, 1)"),
    (["adjust", "0.2,1.5"], "p-values lie between 0 and 1"),
    (["adjust", "0.2,0.5", "--correction", "fdr"], "expected bonferroni, holm, sidak or bh"),
])
def test_bad_numbers_exit_2_in_one_line(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_srm_lines_say_small_expectations_and_speak_chinese() -> None:
    """1,0 expects 0.5 per arm (it read 'expected 0, 0'); with --lang zh the line is Chinese and
    the next command without it is English again."""
    result = runner.invoke(app, ["srm", "1,0"])
    assert result.exit_code == 0 and "expected 0.5, 0.5" in result.stderr
    zh = runner.invoke(app, ["--lang", "zh", "srm", "821588,815482"])
    for words in ("样本比例不匹配", "卡方 22.77", "期望 818,535, 818,535"):
        assert words in zh.stderr, words
    assert "sample ratio ok" in runner.invoke(app, ["srm", "100,100"]).stderr


def test_srm_takes_counts_apart_or_with_spaces_and_says_a_likely_thousands_separator() -> None:
    """'821588, 815482' (a space after the comma) was an unexpected extra argument, and
    '821,588,815,482' copied from a dashboard silently read as four arms."""
    spaced, apart = (json.loads(runner.invoke(app, ["srm", *args, "--json"]).stdout)
                     for args in (["821588,", "815482"], ["821588", "815482"]))
    assert spaced["counts"] == apart["counts"] == [821588, 815482]
    four = runner.invoke(app, ["srm", "821,588,815,482"])
    assert four.exit_code == 0 and "note: read as 4 arms (821, 588, 815, 482)" in four.stderr
    assert "note:" not in runner.invoke(app, ["srm", "821588,815482"]).stderr
