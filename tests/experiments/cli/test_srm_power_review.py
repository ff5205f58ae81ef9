"""`simctl srm` never splits a count written with thousands separators silently and says when
the chi-square is not valid; `simctl power` says when an absolute MDE reads like a forgotten
--relative and when the sizes are too small for the normal approximation it uses."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from experiments.cli.checks_cli import _thousands_reading
from experiments.cli.commands import app

runner = CliRunner()


def _flat(text: str) -> str:
    """The text without whitespace: rich wraps long warnings at any column."""
    return "".join(text.split())


@pytest.mark.parametrize(("counts", "example"), [
    ("1,000,2,000", "simctl srm 1000,2000 (or 1000 2000)"),  # read as arms 1, 0, 2, 0
    ("5,042", "simctl srm 5042,"),
    ("1,200,000,800,000", "simctl srm 1200000,800000"),
    ("1,000,2", "simctl srm 1000,2 "),
])
def test_srm_refuses_counts_with_thousands_separators(counts: str, example: str) -> None:
    """A later group of three digits starting with 0 is no count: one line, exit 2, no JSON."""
    result = runner.invoke(app, ["srm", counts, "--json"])
    assert result.exit_code == 2 and result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"COUNTS: {counts!r}: looks like numbers with thousands "
                               "separators"), lines[0]
    assert example in lines[0], lines[0]


def test_srm_refusal_in_chinese() -> None:
    result = runner.invoke(app, ["--lang", "zh", "srm", "1,000,2,000"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("COUNTS: '1,000,2,000'：像是带千位分隔符的数（计数不会写成 "
                                     "000）；请去掉千位分隔符，例如 simctl srm 1000,2000（或 "
                                     "1000 2000）")


def test_srm_says_how_it_read_two_thousands_separated_counts() -> None:
    """'50,137,49,863' is 50,137 and 49,863 from a dashboard: read as four arms, and said."""
    result = runner.invoke(app, ["srm", "50,137,49,863", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"] == [50, 137, 49, 863]
    assert ("note: read as 4 arms (50, 137, 49, 863); for thousands separators write the "
            "counts without them, e.g. 50137,49863") in result.stderr
    zh = runner.invoke(app, ["--lang", "zh", "srm", "50,137,49,863"]).stderr
    assert ("说明：按 4 个组读取（50、137、49、863）；若逗号是千位分隔符，"
            "请去掉它，例如 50137,49863") in zh
    for plain in ("100,100", "3,4,100", "1200,800"):  # no thousands reading of two numbers
        assert "note:" not in runner.invoke(app, ["srm", plain]).stderr, plain


def test_srm_bad_counts_get_no_note_before_the_error() -> None:
    """'1.5,200' printed the thousands note and then refused: two lines for bad input."""
    result = runner.invoke(app, ["srm", "1.5,200"])
    assert result.exit_code == 2 and "counts are whole numbers" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(("thousands", "numbers"), [
    ("821,588,815,482", ["821588", "815482"]), ("50,137,49,863", ["50137", "49863"]),
    ("1,200,000,800,000", ["1200000", "800000"]), ("1,000,2", None), ("1200,800", None),
    ("100,100", ["100100"]),
])
def test_thousands_reading(thousands: str, numbers: list[str] | None) -> None:
    assert _thousands_reading(thousands.split(",")) == numbers


def test_srm_warns_when_an_arm_expects_under_five() -> None:
    """Cochran's rule: the chi-square p-value needs an expected count of at least 5 per arm."""
    both = runner.invoke(app, ["srm", "1,0"])
    assert both.exit_code == 0 and "expected 0.5, 0.5" in both.stderr
    assert ("warning: expected count under 5 in arms 1, 2 (0.5, 0.5); the chi-square test "
            "needs an expected count of at least 5 in every arm (Cochran's rule)") in both.stderr
    one = runner.invoke(app, ["srm", "2,98", "--shares", "0.01,0.99", "--json"])
    doc = json.loads(one.stdout)
    assert one.exit_code == 0 and doc["expected"] == [1.0, 99.0]
    assert doc["warnings"] == ["expected count under 5 in arm 1 (1); the chi-square test needs "
                               "an expected count of at least 5 in every arm (Cochran's rule), "
                               "so this p-value is not reliable: wait for more units or use an "
                               "exact (binomial or multinomial) test"]
    assert json.loads(runner.invoke(app, ["srm", "50,50", "--json"]).stdout)["warnings"] == []
    assert "under 5 in arm 1 (1);" in one.stderr
    zh = runner.invoke(app, ["--lang", "zh", "srm", "1,0"]).stderr
    assert ("警告：第 1、2 组的期望数为 0.5、0.5，低于 5；"
            "卡方检验要求每组的期望数至少为 5（Cochran 规则）") in zh
    assert "warning" not in runner.invoke(app, ["srm", "5,5"]).stderr


FORGOT_RELATIVE = ["power", "--metric", "proportion", "--baseline", "0.05", "--mde", "0.5",
                   "--power", "0.8"]


def test_power_warns_of_an_absolute_mde_that_reads_as_a_forgotten_relative() -> None:
    """--mde 0.5 on a 5% rate is +1000%: 12 per arm, with no word that 0.5 was absolute."""
    doc = json.loads(runner.invoke(app, [*FORGOT_RELATIVE, "--json"]).stdout)
    assert doc["n_control_units"] == 12 and doc["n_control"] == pytest.approx(11.9345, abs=1e-4)
    assert doc["warnings"] == [
        "MDE 0.5 reads as an absolute difference of 50 percentage points (0.05 -> 0.55, a "
        "+1000% lift); if you meant a 50% relative lift (0.05 -> 0.075), add --relative",
        "in the control arm n*p = 12 x 0.05 = 0.6, under 10 (n*p and n*(1-p) of each arm should "
        "be at least 10): the normal approximation behind this answer is not trustworthy; plan "
        "an exact test (Fisher's) or a larger design"]
    screen = runner.invoke(app, FORGOT_RELATIVE)
    assert screen.exit_code == 0
    assert _flat("warning: MDE 0.5 reads as an absolute difference of 50 percentage points") \
        in _flat(screen.stderr)  # warnings are for people: stderr
    zh = runner.invoke(app, ["--lang", "zh", *FORGOT_RELATIVE]).stderr
    for words in ("警告: MDE 0.5 按绝对差读取，即 50 个百分点（0.05 -> 0.55，相对提升 +1000%）；"
                  "若本意是相对提升 50%（0.05 -> 0.075），请加 --relative",
                  "警告: 对照组的 n*p = 12 x 0.05 = 0.6，低于 10（每组的 n*p 与 n*(1-p) 都应至少为 "
                  "10）：此结果所依据的正态近似不可靠；"
                  "请改用精确检验（Fisher 精确检验）或更大的样本设计"):
        assert _flat(words) in _flat(zh), words


@pytest.mark.parametrize(("args", "units", "warned"), [
    (["--baseline", "0.05", "--mde", "0.5", "--relative", "--power", "0.8"], 1471, []),
    (["--baseline", "0.95", "--mde", "0.04", "--power", "0.8"], 285,
     ["in the treatment arm n*(1-p) = 285 x 0.01 = 2.85, under 10"]),
    # solved for the MDE: 0.36 was not typed, so no word of --relative
    (["--baseline", "0.05", "--n", "20", "--power", "0.8"], 20,
     ["in the control arm n*p = 20 x 0.05 = 1, under 10"]),
])
def test_power_warns_when_a_rate_is_too_rare_for_the_normal_approximation(
        args: list[str], units: int, warned: list[str]) -> None:
    doc = json.loads(runner.invoke(app, ["power", "--metric", "proportion", *args,
                                         "--json"]).stdout)
    assert doc["n_control_units"] == units
    assert len(doc["warnings"]) == len(warned)
    for warning, start in zip(doc["warnings"], warned, strict=True):
        assert warning.startswith(start), warning


def test_power_warns_of_a_mean_under_30_per_arm() -> None:
    small = json.loads(runner.invoke(app, ["power", "--metric", "mean", "--sd", "1", "--mde",
                                           "1", "--power", "0.8", "--json"]).stdout)
    assert small["n_control_units"] == 16
    assert small["warnings"] == [
        "only 16 units in the control arm, under 30: the normal approximation behind this "
        "answer is not trustworthy unless the metric itself is normal; plan an exact "
        "(permutation) test or a larger design"]
    zh = runner.invoke(app, ["--lang", "zh", "power", "--metric", "mean", "--sd", "1", "--mde",
                             "1", "--power", "0.8"]).stderr
    assert _flat("警告: 对照组只有 16 个样本，低于 30：除非指标本身服从正态分布，此结果所依据的正态"
                 "近似不可靠；请改用精确检验（置换检验）或更大的样本设计") in _flat(zh)
    large = json.loads(runner.invoke(app, ["power", "--metric", "mean", "--sd", "1", "--mde",
                                           "0.5", "--power", "0.8", "--json"]).stdout)
    assert large["n_control_units"] == 63 and large["warnings"] == []
