"""Reading a user's table file (CSV or Parquet) with located errors: `FILE:ROW: column: message`,
rows counted as in the file (the header is line 1 of a CSV, so the first data row is 2; Parquet
rows are counted from 1). Shared by the observed metrics of a calibration and the units of an
experiment, so both say where a bad value is in the same words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError, Problem

MAX_PROBLEMS = 20  # one bad column can have a million bad rows: say the first few
BLANKS = ("", "nan", "NaN", "None", "<NA>")


def check_table_path(path: Path) -> None:
    """A missing file or a folder, said before anything else is asked of the command line."""
    if not path.exists():
        raise InputError([Problem(str(path), None, "", "no such file")])
    if path.is_dir():
        raise InputError([Problem(str(path), None, "", "is a folder; expected a CSV or "
                                  "Parquet file")])


def read_table(path: Path, expected: str) -> tuple[pd.DataFrame, int]:
    """The table (CSV read as text) and the file row of its first data row. `expected` names
    the header a user should write, for the message on an empty file."""
    check_table_path(path)
    source = str(path)
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            frame, first = pd.read_parquet(path), 1
        else:
            frame, first = pd.read_csv(path, dtype=str, keep_default_na=False), 2
    except pd.errors.EmptyDataError:
        raise InputError([Problem(source, 1, "", "the file is empty; expected a header row "
                                  f"and data ({expected})")]) from None
    except Exception as exc:  # a broken file is bad input, not a crash
        raise InputError([Problem(source, None, "", f"cannot read as "
                                  f"{'Parquet' if parquet else 'CSV'}"
                                  f": {str(exc).splitlines()[0][:200]}")]) from None
    if frame.empty:
        raise InputError([Problem(source, first, "", "the file has a header but no data rows")])
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, first


def rows(mask: np.ndarray, first: int) -> list[int]:
    """File rows of the first few True entries of `mask`."""
    return [int(i) + first for i in np.flatnonzero(mask)[:MAX_PROBLEMS]]


def numbers(frame: pd.DataFrame, column: str, source: str, first: int, *,
            nonnegative: bool, allow_blank: bool,
            negative_hint: str = "amounts and counts must be >= 0") -> pd.Series:
    """A column as finite floats (blanks NaN where allowed), every bad row located."""
    raw = frame[column]
    text = raw.astype(str).str.strip()
    blank = text.isin(BLANKS) | raw.isna()
    values = pd.to_numeric(text.where(~blank), errors="coerce")
    unreadable = (values.isna() & ~blank).to_numpy().copy()
    if not allow_blank:
        unreadable |= blank.to_numpy()
    infinite = ~np.isfinite(values.fillna(0.0).to_numpy())
    problems = [Problem(source, row, column, f"{text.iloc[row - first]!r} is not a number")
                for row in rows(unreadable, first)]
    problems += [Problem(source, row, column, f"{text.iloc[row - first]!r} is not a finite "
                         "number") for row in rows(infinite, first)]
    if nonnegative:
        negative = (values < 0).to_numpy()
        problems += [Problem(source, row, column, f"{values.iloc[row - first]:g} is negative; "
                             f"{negative_hint}") for row in rows(negative, first)]
    if problems:
        raise InputError(problems[:MAX_PROBLEMS])
    return values.astype(float)
