"""Dates as growthsim reads them from a user's file or option: ISO 8601 dates and timestamps,
freely mixed, in China time where a row carries a UTC offset; anything a guess could misread
(01/02/1997: January or February?) is refused in one located line rather than guessed."""

from __future__ import annotations

import re

import pandas as pd

from experiments.analysis.table_file import rows
from sim.errors import InputError, Problem

ZONE = "Asia/Shanghai"  # times with a UTC offset are converted to this zone's wall clock
AMBIGUOUS = r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}(?:\D.*)?"  # 01/02/1997: which is the month?


def parse_dates(frame: pd.DataFrame, column: str, source: str, first: int) -> pd.Series:
    """A file's date column as naive China-time timestamps; its bad rows located."""
    raw = frame[column]
    text = raw.astype(str).str.strip()
    parsed = raw if pd.api.types.is_datetime64_any_dtype(raw) else iso_dates(text)
    bad = parsed.isna().to_numpy()
    if bad.any():  # a column of 01/02/1997 dates is one problem: said once
        unclear = rows(bad & text.str.fullmatch(AMBIGUOUS, na=False).to_numpy(bool),
                       first)[:1]
        raise InputError([Problem(source, row, column, not_a_date(text.iloc[row - first]))
                          for row in unclear or rows(bad, first)])
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(ZONE).dt.tz_localize(None)
    return parsed


def iso_dates(text: pd.Series) -> pd.Series:
    """ISO dates and timestamps, freely mixed; NaT for anything else, because a guessed format
    reads 01/02/1997 as 2 January or 1 February. Differing UTC offsets end as China time."""
    try:
        return pd.to_datetime(text, errors="coerce", format="ISO8601")
    except ValueError:  # UTC offsets differ between rows, or only some rows have one
        uniques = text.unique()
        return pd.to_datetime(text.map(dict(zip(uniques, map(iso_date, uniques),
                                                strict=True))))


def iso_date(text: str) -> pd.Timestamp:
    """One ISO date or timestamp (NaT if not one), an offset converted to China time."""
    value = pd.to_datetime(text, errors="coerce", format="ISO8601")
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
