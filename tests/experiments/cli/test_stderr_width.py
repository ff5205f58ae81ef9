"""Tables on stderr that is a file or a pipe (a log, CI, a notebook's `!simctl`) keep their
numbers whole: rich's 80 columns there had cut `20,000` to `20,0…` in `simctl ab`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from experiments.cli import cli_common


def test_a_pipe_gets_room_for_whole_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    console = cli_common._stderr_console()
    assert not console.is_terminal and console.width == cli_common.LOG_WIDTH
    monkeypatch.setenv("COLUMNS", "90")  # a width the user set still decides
    assert cli_common._stderr_console().width == 90


def test_a_wide_table_in_a_pipe_is_not_cut() -> None:
    table = ", ".join(f"'column {i}'" for i in range(10))
    code = ("from experiments.cli.cli_common import err\nfrom rich.table import Table\n"
            f"t = Table({table})\nt.add_row(*['1,234,567.89'] * 10)\nerr.print(t)")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert "…" not in done.stderr and done.stderr.count("1,234,567.89") == 10
