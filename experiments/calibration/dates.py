"""Dates as growthsim reads them from a user's file or option: ISO 8601 dates and timestamps,
freely mixed, in China time where a row carries a UTC offset, and 1997年1月1日 (year first, so
nothing to guess); anything a guess could misread (01/02/1997: January or February? 35431: an
Excel serial number?) is refused in one located line rather than guessed."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from experiments.analysis.table_file import BLANKS, FULL_WIDTH, located
from sim.errors import InputError, Problem

ZONE = "Asia/Shanghai"  # times with a UTC offset are converted to this zone's wall clock
AMBIGUOUS = r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}(?:\D.*)?"  # 01/02/1997: which is the month?
EXCEL_SERIAL = r"\d{5}(?:\.\d+)?"  # 35431 is 1997-01-01 in a cell not formatted as a date
CHINESE_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(.*)")


def parse_dates(frame: pd.DataFrame, column: str, source: str, first: int) -> pd.Series:
    """A file's date column as naive China-time timestamps; each kind of bad value said once,
    at its first row, with how many more rows share it."""
    raw = frame[column]
    text = raw.astype(str).str.strip()
    parsed = raw if pd.api.types.is_datetime64_any_dtype(raw) else iso_dates(text)
    bad = parsed.isna().to_numpy()
    if bad.any():
        empty = (text.isin(BLANKS) | raw.isna()).to_numpy(bool)
        raise InputError(_date_problems(text, bad & ~empty, bad & empty, source, column, first))
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(ZONE).dt.tz_localize(None)
    return parsed


def _date_problems(text: pd.Series, bad: np.ndarray, empty: np.ndarray, source: str,
                   column: str, first: int) -> list[Problem]:
    """A column of 01/02/1997 dates is one problem, and so is a column of Excel serial
    numbers, of other non-dates or of empty cells: one line each."""
    ambiguous = bad & text.str.fullmatch(AMBIGUOUS).to_numpy(bool)
    serial = bad & text.str.fullmatch(EXCEL_SERIAL).to_numpy(bool)
    return [problem for mask, say in [
        (ambiguous, lambda i: not_a_date(text.iloc[i])),
        (serial, lambda i: f"{text.iloc[i]} looks like an Excel date serial number; format the "
         "column as a date (YYYY-MM-DD) in Excel before saving"),
        (bad & ~ambiguous & ~serial, lambda i: not_a_date(text.iloc[i])),
        (empty, lambda i: "empty; expected a date (YYYY-MM-DD)"),
    ] for problem in located(source, column, mask, first, say)]


def iso_dates(text: pd.Series) -> pd.Series:
    """ISO dates and timestamps, freely mixed; NaT for anything else, because a guessed format
    reads 01/02/1997 as 2 January or 1 February. Differing UTC offsets end as China time."""
    text = chinese_dates(text)
    try:
        return pd.to_datetime(text, errors="coerce", format="ISO8601")
    except ValueError:  # UTC offsets differ between rows, or only some rows have one
        uniques = text.unique()
        return pd.to_datetime(text.map(dict(zip(uniques, map(iso_date, uniques),
                                                strict=True))))


def chinese_dates(text: pd.Series) -> pd.Series:
    """Each 1997年1月1日 (full-width digits too, a time after it kept) as ISO 1997-01-01; other
    cells as they are. Only cells with other than ASCII are looked at (most files have none),
    each distinct one once (a log of a million orders has a few hundred dates)."""
    odd = ~text.str.isascii().to_numpy(bool)
    if not odd.any():
        return text
    spelled = text.copy()
    cells = text[odd]
    spelled[odd] = cells.map({cell: iso_spelling(cell) for cell in cells.unique()})
    return spelled


def iso_spelling(text: str) -> str:
    """1997年1月1日 10:00 as 1997-01-01 10:00 (year, month, day: an order nobody misreads)."""
    text = text.translate(FULL_WIDTH)
    match = CHINESE_DATE.fullmatch(text)
    if match is None:
        return text
    year, month, day, rest = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}" + (f" {rest}" if rest else "")


def iso_date(text: str) -> pd.Timestamp:
    """One ISO date or timestamp (NaT if not one), an offset converted to China time."""
    value = pd.to_datetime(iso_spelling(text), errors="coerce", format="ISO8601")
    return value.tz_convert(ZONE).tz_localize(None) if getattr(value, "tzinfo", None) else value


def not_a_date(text: str) -> str:
    """Why `text` is not read as a date (ambiguous day/month order, or not a date at all)."""
    if re.fullmatch(AMBIGUOUS, str(text)):
        return f"{text} is ambiguous (day and month order); write dates as YYYY-MM-DD"
    return f"{text!r} is not a date; expected YYYY-MM-DD (or an ISO timestamp)"


def parse_day(text: str | None, option: str) -> pd.Timestamp | None:
    """A date given as an option (--until, --start); refused in one line if not ISO."""
    if text is None:
        return None
    value = iso_date(text.strip())
    if pd.isna(value):
        raise InputError([Problem(option, None, "", not_a_date(text.strip()))])
    return pd.Timestamp(value)


def calendar_dates(start: str | pd.Timestamp, days: pd.Series) -> pd.Series:
    """The ISO date of each day number (day 0 = `start`'s date), for tables read by people."""
    origin = pd.Timestamp(start).normalize()
    return (origin + pd.to_timedelta(days.astype(int), unit="D")).dt.date.astype(str)
