"""Dates as Chinese users write them: 1997年1月1日 (year first, so nothing is guessed) is read;
an Excel date serial number (35431) is refused with how to fix it, not guessed; and a column
of bad dates is one line per kind of problem, the rest of its rows counted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.calibration.dates import parse_dates, parse_day
from experiments.calibration.observed import load_observed
from sim.errors import InputError

HEADER = "customer_id,date,quantity,amount\n"


def _dates(cells: list[str]) -> pd.Series:
    return parse_dates(pd.DataFrame({"date": cells}), "date", "f.csv", 2)


def _problems(cells: list[str]) -> list[str]:
    with pytest.raises(InputError) as caught:
        _dates(cells)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(("cell", "expected"), [
    ("1997年1月1日", "1997-01-01"),
    ("1997年01月01日", "1997-01-01"),
    ("1997 年 1 月 1 日", "1997-01-01"),
    ("１９９７年１月１日", "1997-01-01"),  # full-width digits, as a Chinese input method types
    ("1997年1月1日 10:30:00", "1997-01-01 10:30:00"),
    ("1997年1月1日10:30", "1997-01-01 10:30:00"),
    ("1997/01/01", "1997-01-01"),  # YYYY/MM/DD: year first, read as before
])
def test_chinese_dates_are_read(cell: str, expected: str) -> None:
    assert _dates([cell, "1997-01-02"]).tolist() == [pd.Timestamp(expected),
                                                      pd.Timestamp("1997-01-02")]


def test_a_log_in_chinese_dates_reads_as_the_iso_one(tmp_path: Path) -> None:
    iso = tmp_path / "iso.csv"
    iso.write_text(HEADER + "1,1997-01-01,1,5\n2,1997-01-03,1,5\n1,1997-02-10,1,5\n")
    zh = tmp_path / "zh.csv"
    zh.write_text(HEADER + "1,1997年1月1日,1,5\n2,1997年01月03日,1,5\n1,1997年2月10日,1,5\n",
                  encoding="utf-8")
    a = load_observed(iso, salt_folder=tmp_path)
    b = load_observed(zh, until="1997年2月10日", salt_folder=tmp_path)
    assert a.start == b.start and a.days == b.days == 41
    pd.testing.assert_frame_equal(a.daily, b.daily)
    assert parse_day("1997年7月1日", "--until") == pd.Timestamp("1997-07-01")


@pytest.mark.parametrize("cell", ["1997年13月1日", "97年1月1日", "1997年1月1日 上午"])
def test_a_chinese_date_that_is_no_date_is_refused(cell: str) -> None:
    assert _problems([cell]) == [f"f.csv:2: date: {cell!r} is not a date; expected YYYY-MM-DD "
                                 "(or an ISO timestamp)"]


def test_day_first_dates_stay_refused() -> None:
    assert _problems(["01/02/1997", "1997年1月3日"]) == [
        "f.csv:2: date: 01/02/1997 is ambiguous (day and month order); write dates as "
        "YYYY-MM-DD"]


def test_excel_serial_numbers_are_refused_not_guessed(tmp_path: Path) -> None:
    """35431 is 1997-01-01 in Excel's 1900 system, but only if the workbook used that system:
    the column is to be formatted as a date in Excel, where the user sees what it holds."""
    assert _problems(["35431", "35432", "35433.5", "35434", "35435"]) == [
        "f.csv:2: date: 35431 looks like an Excel date serial number; format the column as a "
        "date (YYYY-MM-DD) in Excel before saving (and 4 more rows like it: 3, 4, 5, ...)"]
    book = tmp_path / "log.xlsx"  # a date column whose cells are plain numbers in the sheet
    pd.DataFrame({"customer_id": [1, 2], "date": [35431, 35433], "quantity": [1, 1],
                  "amount": [5.0, 6.0]}).to_excel(book, index=False)
    with pytest.raises(InputError) as caught:
        load_observed(book, salt_folder=tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"{book}:2: date: 35431 looks like an Excel date serial number; format the column as a "
        "date (YYYY-MM-DD) in Excel before saving (and 1 more row like it: 3)"]


def test_a_column_of_non_dates_is_one_line_per_kind(tmp_path: Path) -> None:
    """A column of 200 unreadable dates once printed twenty lines alike."""
    log = tmp_path / "log.csv"
    log.write_text(HEADER + "".join(f"{i},day {i},1,5\n" for i in range(200)))
    with pytest.raises(InputError) as caught:
        load_observed(log, salt_folder=tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"{log}:2: date: 'day 0' is not a date; expected YYYY-MM-DD (or an ISO timestamp) "
        "(and 199 more rows like it: 3, 4, 5, ...)"]
    assert _problems(["1997-01-01", "", "x", "03/04/1997", "35431", "y", "", "04/05/1997"]) == [
        "f.csv:5: date: 03/04/1997 is ambiguous (day and month order); write dates as "
        "YYYY-MM-DD (and 1 more row like it: 9)",
        "f.csv:6: date: 35431 looks like an Excel date serial number; format the column as a "
        "date (YYYY-MM-DD) in Excel before saving",
        "f.csv:4: date: 'x' is not a date; expected YYYY-MM-DD (or an ISO timestamp) (and 1 "
        "more row like it: 7)",
        "f.csv:3: date: empty; expected a date (YYYY-MM-DD) (and 1 more row like it: 8)"]
