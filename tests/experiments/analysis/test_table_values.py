"""`numbers` on the values Chinese analysts really type: one located line per kind of bad value
in a column (not twenty alike), money with ¥/￥/元/RMB marks and thousands commas read exactly,
misplaced commas refused, and TRUE/FALSE or 是/否 read as 1/0 where a units column is 0/1."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis.table_file import more_rows, numbers, read_table
from experiments.analysis.units import MetricSpec, load_arms
from experiments.calibration.observed import load_observed
from sim.errors import InputError


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """A CSV as Excel writes it: a cell with a comma is quoted (the csv module does the same)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _read(cells: list[str], **options: bool) -> pd.Series:
    frame = pd.DataFrame({"amount": cells})
    return numbers(frame, "amount", "f.csv", 2, nonnegative=options.get("nonnegative", True),
                   allow_blank=options.get("allow_blank", False),
                   booleans=options.get("booleans", False),
                   percent=options.get("percent", False))


def _problems(cells: list[str], **options: bool) -> list[str]:
    with pytest.raises(InputError) as caught:
        _read(cells, **options)
    return [str(p) for p in caught.value.problems]


# --- 1. one bad column, one line --------------------------------------------------------------


def test_a_column_of_bad_values_is_one_line_with_the_rest_counted(tmp_path: Path) -> None:
    """49,086 rows of '11.77块' once printed twenty lines alike; now one, the rest counted."""
    rows = [[i, f"1997-01-{1 + i % 28:02d}", 1, f"{10 + i % 7}.5块"] for i in range(50)]
    path = _csv(tmp_path / "kuai.csv", ["customer_id", "date", "quantity", "amount"], rows)
    with pytest.raises(InputError) as caught:
        load_observed(path, salt_folder=tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2: amount: '10.5块' is not a number (and 49 more rows like it: 3, 4, 5, ...)"]


def test_distinct_problems_stay_separate_lines() -> None:
    cells = ["5", "lots", "-3", "inf", "none", "-4", "1,17", "", "7,5", "-inf"]
    assert _problems(cells) == [
        "f.csv:9: amount: empty; expected a number",
        "f.csv:8: amount: '1,17' is not a number: commas only group thousands (1,177.00) and "
        "decimals take a point (3.5) (and 1 more row like it: 10)",
        "f.csv:3: amount: 'lots' is not a number (and 1 more row like it: 6)",
        "f.csv:5: amount: 'inf' is not a finite number (and 1 more row like it: 11)",
        "f.csv:4: amount: -3 is negative; amounts and counts must be >= 0 (and 1 more row like "
        "it: 7)"]


def test_more_rows_wording() -> None:
    assert more_rows(np.array([], dtype=int)) == ""
    assert more_rows(np.array([7])) == " (and 1 more row like it: 7)"
    assert more_rows(np.array([3, 4, 5])) == " (and 3 more rows like it: 3, 4, 5)"
    assert more_rows(np.arange(3, 1_003)) == " (and 1,000 more rows like it: 3, 4, 5, ...)"


# --- 2. money and counts as Chinese users write them -----------------------------------------


MONEY = {"¥1,177.00": 1177.0, "￥1,177.00": 1177.0, "1,177.00元": 1177.0, "RMB 1,177": 1177.0,
         "CNY12.5": 12.5, "cny 12.5": 12.5, "$3.25": 3.25, "¥ 40.47": 40.47,
         "12,345,678.90": 12345678.9, "１，１７７．５": 1177.5, "１２元": 12.0, "1,000": 1000.0,
         "40.47": 40.47, "0.1": 0.1}


def test_money_is_read_exactly_from_a_quoted_csv(tmp_path: Path) -> None:
    path = _csv(tmp_path / "money.csv", ["amount"], [[cell] for cell in MONEY])
    assert '"¥1,177.00"' in path.read_text(encoding="utf-8")  # quoted, as Excel quotes it
    frame, first = read_table(path, "amount")
    values = numbers(frame, "amount", str(path), first, nonnegative=True, allow_blank=False)
    assert values.tolist() == list(MONEY.values())  # exact: the float of the plain digits


def test_money_is_read_from_xlsx_text_and_number_cells(tmp_path: Path) -> None:
    path = tmp_path / "money.xlsx"
    pd.DataFrame({"amount": [*MONEY, 1177.0, 3]}).to_excel(path, index=False)
    frame, first = read_table(path, "amount")
    values = numbers(frame, "amount", str(path), first, nonnegative=True, allow_blank=False)
    assert values.tolist() == [*MONEY.values(), 1177.0, 3.0]


def test_a_log_with_yuan_amounts_reads_as_the_plain_one(tmp_path: Path) -> None:
    plain = [[1, "1997-01-01", 1, "1177.00"], [2, "1997-01-02", 1, "11.77"],
             [1, "1997-01-05", 2, "2500"]]
    written = [[1, "1997-01-01", 1, "¥1,177.00"], [2, "1997-01-02", 1, "11.77元"],
               [1, "1997-01-05", "２", "RMB 2,500"]]
    header = ["customer_id", "date", "quantity", "amount"]
    a = load_observed(_csv(tmp_path / "a.csv", header, plain), salt_folder=tmp_path)
    b = load_observed(_csv(tmp_path / "b.csv", header, written), salt_folder=tmp_path)
    pd.testing.assert_frame_equal(a.daily, b.daily)


@pytest.mark.parametrize("cell", ["1,17", "3,5", "1,1777", "12,34,567", ",5", "1,177.00.0"])
def test_a_comma_other_than_thousands_is_refused(cell: str) -> None:
    """1,17 could be 1.17 (a European decimal) or 117 (a slip): refused, never guessed."""
    assert _problems([cell]) == [f"f.csv:2: amount: {cell!r} is not a number: commas only "
                                 "group thousands (1,177.00) and decimals take a point (3.5)"]


@pytest.mark.parametrize("cell", ["10²", "①", "¥", "¥5$", "--5", "1 177", "5块"])
def test_what_is_not_plainly_a_number_stays_refused(cell: str) -> None:
    assert _problems([cell]) == [f"f.csv:2: amount: {cell!r} is not a number"]


PERCENT = {"12%": 0.12, "12.5％": 0.125, "0.07%": 0.0007, "1,200%": 12.0, "-3.5 %": -0.035,
           "−5%": -0.05, "１２％": 0.12}


def test_percentages_are_read_as_excel_stores_them_in_a_column_of_shares() -> None:
    """A share typed as 12.5% is 0.125 (the float nearest, as 0.07% is 0.0007 exactly, not
    0.07 / 100)."""
    read = _read(list(PERCENT), nonnegative=False, percent=True)
    assert read.tolist() == list(PERCENT.values())


def test_the_minus_sign_is_a_minus() -> None:
    """− (U+2212) is what formatted reports and typeset tables write."""
    assert _read(["−5", "−¥5", "－5", "-5"], nonnegative=False).tolist() == [-5.0] * 4


def test_a_percentage_where_counts_or_yuan_are_wanted_is_refused() -> None:
    assert _problems(["12", "50%", "7"]) == [
        "f.csv:3: amount: '50%' is a percentage; this column takes counts or yuan"]


def test_percentages_and_plain_numbers_in_one_column_are_refused() -> None:
    """12.5% beside 30: is 30 a share of 30 or of 0.3? Refused, never guessed."""
    assert _problems(["12.5%", "30", "40%"], percent=True) == [
        "f.csv:2: amount: '12.5%' is a percentage in a column of plain numbers; write every "
        "cell the same way (12.5% or 0.125) (and 1 more row like it: 4)"]


@pytest.mark.parametrize("cell", ["12%%", "%", "12% 5"])
def test_a_percent_with_other_marks_is_refused(cell: str) -> None:
    assert _problems([cell], percent=True) == [f"f.csv:2: amount: {cell!r} is not a number"]


@pytest.mark.parametrize("cell, why", [
    ("¥12%", "a currency mark and a percent sign together; write yuan (¥12) or a share (12%)"),
    ("12元%", "a currency mark and a percent sign together; write yuan (¥12) or a share (12%)"),
    ("1e2%", "a percentage in e-notation; write it with a point (0.01%) or as a share "
     "(0.0001)"),
])
def test_a_cell_written_almost_right_says_what_to_write(cell: str, why: str) -> None:
    """Money with a percent sign, or a percentage in e-notation: said, not just refused."""
    for percent in (True, False):
        assert _problems([cell], percent=percent) == [
            f"f.csv:2: amount: {cell!r} is not a number: {why}"]


def test_a_negative_amount_with_a_currency_mark_is_negative() -> None:
    assert _problems(["-¥5"]) == ["f.csv:2: amount: -5 is negative; amounts and counts must "
                                  "be >= 0"]
    assert _read(["-¥5", "¥-5.5"], nonnegative=False).tolist() == [-5.0, -5.5]


# --- 4. yes/no columns ------------------------------------------------------------------------


def test_yes_no_words_are_1_0_in_a_0_1_column_only() -> None:
    cells = ["TRUE", "false", "True", "是", "否", "1", "0", "FALSE"]
    assert _read(cells, booleans=True).tolist() == [1, 0, 1, 1, 0, 1, 0, 0]
    assert _problems(["TRUE", "2.5", "FALSE"], booleans=True) == [
        "f.csv:2: amount: 'TRUE' is yes/no in a column of other numbers; write it as 1 or 0 "
        "(TRUE/FALSE and 是/否 are read as 1/0 where the column is all 0/1) (and 1 more row "
        "like it: 4)"]
    assert _problems(["TRUE", "1"]) == ["f.csv:2: amount: 'TRUE' is not a number"]  # an amount


@pytest.mark.parametrize("words", [("TRUE", "FALSE"), ("true", "false"), ("是", "否")])
def test_a_yes_no_units_column_is_a_proportion(tmp_path: Path, words: tuple[str, str]) -> None:
    rng = np.random.default_rng(3)
    converted = rng.random(400) < 0.3
    arms = np.repeat(["control", "treatment"], 200)
    ones = _csv(tmp_path / "ones.csv", ["user", "arm", "converted"],
                [[i, a, int(c)] for i, (a, c) in enumerate(zip(arms, converted, strict=True))])
    said = _csv(tmp_path / "said.csv", ["user", "arm", "converted"],
                [[i, a, words[0] if c else words[1]]
                 for i, (a, c) in enumerate(zip(arms, converted, strict=True))])
    spec = [MetricSpec("converted")]
    expected, read = load_arms(ones, spec), load_arms(said, spec)
    assert read.kinds == expected.kinds == {"converted": "proportion"}
    assert read.statistics == expected.statistics


def test_excel_true_false_cells_are_a_proportion(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    pd.DataFrame({"user": range(6), "arm": ["a", "a", "a", "b", "b", "b"],
                  "converted": [True, False, True, False, False, True]}).to_excel(path,
                                                                                 index=False)
    data = load_arms(path, [MetricSpec("converted")])
    assert data.kinds == {"converted": "proportion"}
    assert data.statistics["converted"]["a"].sum == 2 and data.statistics["converted"]["b"].n == 3


def test_a_units_metric_of_percentages_reads_as_shares(tmp_path: Path) -> None:
    shares = _csv(tmp_path / "pct.csv", ["user", "arm", "discount"],
                  [[i, "ab"[i % 2], f"{10 + i % 3}%"] for i in range(12)])
    plain = _csv(tmp_path / "plain.csv", ["user", "arm", "discount"],
                 [[i, "ab"[i % 2], (10 + i % 3) / 100] for i in range(12)])
    spec = [MetricSpec("discount")]
    assert load_arms(shares, spec).statistics == load_arms(plain, spec).statistics


def test_a_daily_count_written_as_a_percentage_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path / "daily.csv", ["date", "new_users", "purchases"],
                [["2026-01-01", "50%", 3], ["2026-01-02", 40, 5]])
    with pytest.raises(InputError) as caught:
        load_observed(path, salt_folder=tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2: new_users: '50%' is a percentage; this column takes counts or yuan"]
