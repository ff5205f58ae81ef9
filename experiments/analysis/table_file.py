"""Reading a user's table file (CSV, Excel workbook or Parquet) with located errors:
`FILE:ROW: column: message`, rows counted as in the file (the header is line 1 of a CSV or row 1
of a sheet, so the first data row is 2; Parquet rows are counted from 1). Shared by the observed
metrics of a calibration and the units of an experiment, so both say where a bad value is in the
same words. Many users export from Excel on Chinese Windows, so a CSV may be GBK, separated by
`;` or tabs, end in blank `,,,,` rows, or be a workbook under a `.csv` name: all are read."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError, Problem

MORE_ROWS_SHOWN = 3  # rows listed after the first of a problem that many rows share
BLANKS = ("", "nan", "NaN", "None", "<NA>")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
ZIP_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an Excel 97-2003 .xls
# UTF-8 (with or without BOM) first; else GB18030, a superset of the GBK that Excel's
# "CSV (逗号分隔)" writes on Chinese Windows.
ENCODINGS = ("utf-8", "gb18030")
SEPARATORS = (";", "\t")  # European Excel writes `;`; a table copied from a sheet has tabs
# Money as Chinese users type it: one mark before (¥, and ￥ once made half-width) or 元 after;
# a sign may stand before or after the mark (-¥5, ¥-5).
CURRENCY_BEFORE = r"^([-+]?)\s*(?:[¥$]|RMB|CNY)\s*"
CURRENCY_AFTER = r"\s*元$"
GROUPED = r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?"  # 1,177.00: commas group exactly three digits
# Full-width ASCII (１２３，．－), the ideographic space and ￥ as the ASCII a Chinese input method
# meant; not all of NFKC, which would also read a superscript (10²) or ① as digits. The minus
# sign U+2212, which Word, Excel's formats and typeset reports write, is the ASCII hyphen-minus.
FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20, 0xFFE5: 0xA5,
                                                         0x2212: 0x2D}
PERCENT = r"\s*%$"  # 12.5% is 0.125, as Excel stores it (％ once made half-width)
YES_NO = {"true": 1.0, "false": 0.0, "是": 1.0, "否": 0.0}  # as Excel and Chinese sheets write them


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


def located(source: str, column: str, mask: np.ndarray, first: int,
            say: Callable[[int], str]) -> list[Problem]:
    """Every row of `mask` (one kind of problem) as one Problem: a column of 49,084 bad cells
    is one mistake, so the first row is said (`say` gets its position) and the rest counted,
    rather than twenty lines alike."""
    at = np.flatnonzero(mask)
    if not at.size:
        return []
    return [Problem(source, int(at[0]) + first, column, say(int(at[0]))
                    + more_rows(at[1:] + first))]


def more_rows(rest: np.ndarray) -> str:
    """` (and 49,083 more rows like it: 3, 4, 5, ...)`, or "" when there are none."""
    if not rest.size:
        return ""
    shown = ", ".join(str(int(row)) for row in rest[:MORE_ROWS_SHOWN])
    tail = ", ..." if rest.size > MORE_ROWS_SHOWN else ""
    return f" (and {rest.size:,} more row{'s' if rest.size > 1 else ''} like it: {shown}{tail})"


def numbers(frame: pd.DataFrame, column: str, source: str, first: int, *,
            nonnegative: bool, allow_blank: bool,
            negative_hint: str = "amounts and counts must be >= 0",
            booleans: bool = False, percent: bool = False) -> pd.Series:
    """A column as finite floats (blanks NaN where allowed), each kind of bad value said once
    with its first row. Money as Excel shows it (¥1,177.00, 12元, full-width digits) is read
    exactly; with `booleans`, TRUE/FALSE and 是/否 are 1/0 in a column that is otherwise 0/1;
    with `percent` (a column of shares), 12.5% is 0.125 where every number is a percentage."""
    raw = frame[column]
    text = raw.astype(str).str.strip()
    blank = (text.isin(BLANKS) | raw.isna()).to_numpy(bool)
    values = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(float, copy=True)
    comma = mixed = percents = np.zeros(len(text), dtype=bool)
    why = np.full(len(text), "", dtype=object)
    if (np.isnan(values) & ~blank).any():  # the rare path: written as people write money
        values, comma, mixed, percents, why = _written_numbers(text, values, ~blank, booleans)
    unread = np.isnan(values) & ~blank & ~comma & ~mixed & (why == "")
    plain_too = percents.any() and (~percents & ~blank & ~np.isnan(values)).any()
    kinds: list[tuple[np.ndarray, Callable[[int], str]]] = [
        (blank & (not allow_blank), lambda i: "empty; expected a number"),
        (comma, lambda i: f"{text.iloc[i]!r} is not a number: commas only group thousands "
         "(1,177.00) and decimals take a point (3.5)"),
        (mixed, lambda i: f"{text.iloc[i]!r} is yes/no in a column of other numbers; write "
         "it as 1 or 0 (TRUE/FALSE and 是/否 are read as 1/0 where the column is all 0/1)"),
        (unread, lambda i: f"{text.iloc[i]!r} is not a number"),
        (why != "", lambda i: f"{text.iloc[i]!r} is not a number: {why[i]}"),
        (percents & (not percent), lambda i: f"{text.iloc[i]!r} is a percentage; this column "
         "takes counts or yuan"),
        (percents & (percent and plain_too), lambda i: f"{text.iloc[i]!r} is a percentage in a "
         "column of plain numbers; write every cell the same way (12.5% or 0.125)"),
        (np.isinf(values), lambda i: f"{text.iloc[i]!r} is not a finite number")]
    if nonnegative:
        kinds.append(((values < 0) & ~np.isinf(values),  # -inf is said as not finite
                      lambda i: f"{values[i]:g} is negative; {negative_hint}"))
    problems = [p for mask, say in kinds for p in located(source, column, mask, first, say)]
    if problems:
        raise InputError(problems)
    return pd.Series(values, index=raw.index, name=column)


def _written_numbers(text: pd.Series, values: np.ndarray, filled: np.ndarray,
                     booleans: bool,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells plain parsing missed, read as Chinese users write them: full-width digits and
    ￥, the minus sign −, one currency mark (¥ $ RMB CNY before, 元 after) or a percent sign
    after (12.5% = 0.125, never both), and thousands commas. A comma anywhere else (1,17: 1.17
    or 117?) is refused, never guessed. Returns the values and the masks of misplaced commas,
    of yes/no words in a column that is not 0/1, and of percentages read, and why a cell
    written almost right is refused ("" where it is not)."""
    at = np.flatnonzero(np.isnan(values) & filled)
    written = text.iloc[at].str.translate(FULL_WIDTH).str.strip()
    plain = (written.str.replace(CURRENCY_BEFORE, r"\1", regex=True, case=False)
             .str.replace(CURRENCY_AFTER, "", regex=True))
    money = ((plain != written) | written.str.contains(r"元\s*%$")).to_numpy(bool)  # 12元%
    percent = plain.str.contains(PERCENT, regex=True).to_numpy(bool)
    plain = plain.str.replace(PERCENT, "", regex=True)
    grouped = plain.str.fullmatch(GROUPED).to_numpy(bool)
    bad_comma = plain.str.contains(",", regex=False).to_numpy(bool) & ~grouped
    digits = plain.str.replace(",", "", regex=False).where(~bad_comma & ~(money & percent))
    # the point moved two places in the text, so 0.07% reads as the float nearest 0.0007
    e_percent = (percent & digits.str.contains("e", case=False, na=False)).to_numpy(bool)
    digits = digits.where(~e_percent)
    why = np.full(len(text), "", dtype=object)
    why[at[money & percent]] = "a currency mark and a percent sign together; write yuan " \
        "(¥12) or a share (12%)"
    why[at[e_percent]] = "a percentage in e-notation; write it with a point (0.01%) or as a " \
        "share (0.0001)"
    digits[percent] = digits[percent] + "e-2"
    values = values.copy()
    values[at] = pd.to_numeric(digits, errors="coerce").to_numpy(float)
    comma, mixed = np.zeros(len(text), dtype=bool), np.zeros(len(text), dtype=bool)
    comma[at] = bad_comma
    percents = np.zeros(len(text), dtype=bool)
    percents[at] = percent & ~np.isnan(values[at])
    if booleans:
        words = plain.str.lower().map(YES_NO).to_numpy(float)
        word = ~np.isnan(words)
        if np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():  # the column is 0/1
            values[at[word]] = words[word]
        else:
            mixed[at[word]] = True
    return values, comma, mixed, percents, why
