"""`read_table` on the files Chinese analysts really export from Excel: GBK CSV, workbooks
(also under a `.csv` name), trailing `,,,,` rows, `;` or tab separators and a repeated header
name; each read as text with file row numbers, or refused in one located line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.analysis.table_file import read_table
from experiments.cli.commands import app
from sim.errors import InputError

runner = CliRunner()


def _units(n: int = 300) -> pd.DataFrame:
    """A units table as a Chinese export has it: user, 组别 (对照组 / 实验组), gmv."""
    rng = np.random.default_rng(7)
    return pd.DataFrame({"user": np.arange(2 * n),
                         "组别": np.repeat(["对照组", "实验组"], n),
                         "gmv": np.round(rng.normal(100, 20, 2 * n), 2)})


def _analyze(path: Path) -> None:
    """The whole command reads the file and gives a decision (exit 0)."""
    result = runner.invoke(app, ["analyze", str(path), "--metric", "gmv", "--arm-column",
                                 "组别", "--control", "对照组"])
    assert result.exit_code == 0, result.output
    assert "decision" in result.stderr


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        read_table(path, "arm,gmv")
    return [str(p) for p in caught.value.problems]


def test_gbk_csv_is_read_as_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"  # Excel's "CSV (逗号分隔)" on Chinese Windows
    path.write_bytes(_units().to_csv(index=False).encode("gb18030"))
    frame, first = read_table(path, "arm,gmv")
    assert first == 2 and list(frame.columns) == ["user", "组别", "gmv"]
    assert frame["组别"].iloc[0] == "对照组" and frame["组别"].iloc[-1] == "实验组"
    _analyze(path)


def test_neither_utf8_nor_gbk_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_bytes(b"arm,gmv\n\x80\xff,1\n")  # bytes no text encoding of ours can hold
    assert _problems(path) == [f'{path}: the file is neither UTF-8 nor GBK/GB18030 text; '
                               'save it from Excel as "CSV UTF-8"']


def test_xlsx_first_sheet_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    table = _units()
    table["gmv"] = table["gmv"].where(table.index != 1, 3.0)  # an integer-valued float cell
    table["day"] = dt.datetime(2024, 5, 1)
    table.loc[2, "day"] = dt.datetime(2024, 5, 1, 8, 30)
    table["note"] = None
    table.loc[3, "note"] = "退款"
    with pd.ExcelWriter(path) as writer:
        table.to_excel(writer, sheet_name="units", index=False)
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="other", index=False)
    frame, first = read_table(path, "arm,gmv")
    assert first == 2 and list(frame.columns) == ["user", "组别", "gmv", "day", "note"]
    assert list(frame["user"].iloc[:3]) == ["0", "1", "2"] and frame["gmv"].iloc[1] == "3"
    assert list(frame["day"].iloc[1:3]) == ["2024-05-01", "2024-05-01 08:30:00"]
    assert list(frame["note"].iloc[2:4]) == ["", "退款"] and len(frame) == 600
    _analyze(path)


def test_workbook_saved_under_a_csv_name_is_read_as_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    _units().to_excel(path, index=False, engine="openpyxl")
    assert path.read_bytes().startswith(b"PK\x03\x04")
    frame, first = read_table(path, "arm,gmv")
    assert first == 2 and frame["组别"].iloc[0] == "对照组" and frame["user"].iloc[5] == "5"


def test_xls_without_a_reader_is_one_line(tmp_path: Path) -> None:
    """growthsim installs no .xls reader (python-calamine or xlrd): should one come in with
    another package, this test says so, and the .xls path can then read the workbook."""
    path = tmp_path / "units.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    assert _problems(path) == [f"{path}: an Excel 97-2003 workbook (.xls) cannot be read "
                               'here; save it from Excel as .xlsx or "CSV UTF-8"']


def test_trailing_blank_rows_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(_units().to_csv(index=False) + ",,\n" * 5 + " , ,\n", encoding="utf-8")
    frame, first = read_table(path, "arm,gmv")
    assert first == 2 and len(frame) == 600
    _analyze(path)
    inner = tmp_path / "inner.csv"  # a blank row inside the data stays, at its file row
    inner.write_text("user,组别,gmv\n1,对照组,3\n,,\n2,实验组,4\n,,\n", encoding="utf-8")
    frame, _ = read_table(inner, "arm,gmv")
    assert list(frame["user"]) == ["1", "", "2"]
    result = runner.invoke(app, ["analyze", str(inner), "--metric", "gmv", "--arm-column",
                                 "组别", "--control", "对照组"])
    assert result.exit_code == 2 and f"{inner}:3: 组别: empty arm" in result.stderr


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated_csv(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "units.csv"
    path.write_text(f"user{sep}组别{sep}gmv\n1{sep}对照组{sep}3,5\n2{sep}实验组{sep}4\n",
                    encoding="utf-8")
    frame, first = read_table(path, "arm,gmv")
    assert first == 2 and list(frame.columns) == ["user", "组别", "gmv"]
    assert frame.to_dict("list") == {"user": ["1", "2"], "组别": ["对照组", "实验组"],
                                     "gmv": ["3,5", "4"]}


def test_a_column_twice_in_the_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("user,组别,gmv,组别\n1,对照组,3,x\n", encoding="utf-8")
    assert _problems(path) == [f"{path}:1: 组别: the column appears twice in the header; "
                               "keep one"]
    book = tmp_path / "units.xlsx"
    pd.DataFrame([["1", "对照组", "3", "4"]], columns=["user", "组别", "gmv", " gmv"]
                 ).to_excel(book, index=False)
    assert _problems(book) == [f"{book}:1: gmv: the column appears twice in the header; "
                               "keep one"]
