"""Reading a user's table file (CSV, Excel workbook or Parquet) with located errors:
`FILE:ROW: column: message`, rows counted as in the file (the header is line 1 of a CSV or row 1
of a sheet, so the first data row is 2; Parquet rows are counted from 1). Shared by the observed
metrics of a calibration and the units of an experiment, so both say where a bad value is in the
same words. Many users export from Excel on Chinese Windows, so a CSV may be GBK, separated by
`;` or tabs, end in blank `,,,,` rows, or be a workbook under a `.csv` name: all are read."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError, Problem

MAX_PROBLEMS = 20  # one bad column can have a million bad rows: say the first few
BLANKS = ("", "nan", "NaN", "None", "<NA>")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
ZIP_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an Excel 97-2003 .xls
# UTF-8 (with or without BOM) first; else GB18030, a superset of the GBK that Excel's
# "CSV (逗号分隔)" writes on Chinese Windows.
ENCODINGS = ("utf-8", "gb18030")
SEPARATORS = (";", "\t")  # European Excel writes `;`; a table copied from a sheet has tabs


def check_table_path(path: Path) -> None:
    """A missing file or a folder, said before anything else is asked of the command line."""
    if not path.exists():
        raise InputError([Problem(str(path), None, "", "no such file")])
    if path.is_dir():
        raise InputError([Problem(str(path), None, "", "is a folder; expected a CSV, Excel "
                                  "(.xlsx) or Parquet file")])


def read_table(path: Path, expected: str) -> tuple[pd.DataFrame, int]:
    """The table (CSV and workbooks read as text) and the file row of its first data row.
    `expected` names the header a user should write, for the message on an empty file. A
    workbook saved under a `.csv` name is read as the workbook it is (its bytes say so)."""
    check_table_path(path)
    source = str(path)
    kind = _kind(path)
    try:
        if kind == "Parquet":
            frame, first = pd.read_parquet(path), 1
        else:
            frame = _read_workbook(path, source) if kind == "Excel" else _read_csv(path, source)
            frame, first = _drop_blank_tail(frame), 2
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError([Problem(source, 1, "", "the file is empty; expected a header row "
                                  f"and data ({expected})")]) from None
    except Exception as exc:  # a broken file is bad input, not a crash
        what = "an Excel workbook" if kind == "Excel" else kind
        raise InputError([Problem(source, None, "", f"cannot read as {what}"
                                  f": {str(exc).splitlines()[0][:200]}")]) from None
    if frame.empty:
        raise InputError([Problem(source, first, "", "the file has a header but no data rows")])
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, first


def _kind(path: Path) -> str:
    """Parquet, Excel or CSV: by the suffix, then by the first bytes, because Excel's "Save
    as" keeps whatever name was typed and a workbook often arrives as `data.csv`."""
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "Parquet"
    if suffix in EXCEL_SUFFIXES:
        return "Excel"
    try:
        with path.open("rb") as handle:
            head = handle.read(len(OLE_MAGIC))
    except OSError:  # unreadable: read_csv says why, located
        return "CSV"
    return "Excel" if head.startswith(ZIP_MAGIC) or head == OLE_MAGIC else "CSV"


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    """A CSV as text, in UTF-8 or else GB18030. A UTF-8 file is read once (plus its header
    line); only a file that fails as UTF-8 is read again."""
    for encoding in ENCODINGS:
        try:
            return _read_csv_as(path, source, encoding)
        except UnicodeDecodeError:
            continue
    raise InputError([Problem(source, None, "", "the file is neither UTF-8 nor GBK/GB18030 "
                              'text; save it from Excel as "CSV UTF-8"')])


def _read_csv_as(path: Path, source: str, encoding: str) -> pd.DataFrame:
    """The raw header line first (pandas renames a repeated name to `name.1`, and a `;` or
    tab file reads as one column), then the table with the separator its header uses."""
    def header(sep: str) -> list[str]:
        return [str(c) for c in pd.read_csv(path, header=None, nrows=1, sep=sep, dtype=str,
                                            keep_default_na=False, encoding=encoding).iloc[0]]
    names, sep = header(","), ","
    if len(names) == 1:
        counts = {s: names[0].count(s) for s in SEPARATORS}
        best = max(counts, key=lambda s: counts[s])
        if counts[best]:
            names, sep = header(best), best
    _check_header(names, source)
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)


def _read_workbook(path: Path, source: str) -> pd.DataFrame:
    """The first sheet as text, as Excel's own CSV export would write it, but with ISO dates:
    downstream parses ids, counts and dates from text, whatever the input format."""
    if path.stat().st_size == 0:
        raise pd.errors.EmptyDataError("empty file")
    try:
        sheet = pd.read_excel(path, sheet_name=0, header=None, dtype=object)
    except ImportError:  # an Excel 97-2003 .xls needs python-calamine or xlrd: not installed
        raise InputError([Problem(source, None, "", "an Excel 97-2003 workbook (.xls) cannot be "
                                  'read here; save it from Excel as .xlsx or "CSV UTF-8"')]
                         ) from None
    if sheet.empty:
        raise pd.errors.EmptyDataError("empty sheet")
    text = sheet.map(_cell_text).astype(str)
    names = list(text.iloc[0])
    _check_header(names, source)
    frame = text.iloc[1:].reset_index(drop=True)
    frame.columns = [name if name.strip() else f"Unnamed: {i}" for i, name in enumerate(names)]
    return frame


def _cell_text(value: object) -> str:
    """One cell as text: "" when empty, 3 (not 3.0) for a whole number, since Excel stores
    every number as a float, and dates as YYYY-MM-DD (with HH:MM:SS when there is a time)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as Excel writes them in a CSV
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.strftime("%Y-%m-%d")
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _check_header(names: list[str], source: str) -> None:
    """A name twice in the header is refused: pandas would quietly read the second as
    `name.1`, and which of the two a command then used would be a guess."""
    stripped = [name.strip() for name in names]
    twice = [name for name, n in Counter(stripped).items() if name and n > 1]
    if twice:
        raise InputError([Problem(source, 1, name, "the column appears twice in the header; "
                                  "keep one") for name in twice])


def _drop_blank_tail(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows after the data whose every cell is blank (Excel leaves `,,,,` rows past the data)
    are dropped, from the end only, so every kept row keeps its file row number."""
    if frame.empty or not _blank_rows(frame.iloc[-1:])[0]:
        return frame  # the usual case: one row looked at
    filled = np.flatnonzero(~_blank_rows(frame))
    return frame.iloc[: filled[-1] + 1 if filled.size else 0]


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Whether each row's every cell is empty or spaces."""
    blank = np.ones(len(frame), dtype=bool)
    for _, values in frame.items():
        blank &= (values.isna() | values.astype(str).str.strip().eq("")).to_numpy()
    return blank


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
