"""Errors that carry enough context to be printed as one helpful line.

Bad input must never surface as a traceback: every problem found in a scenario, an override or a
data file becomes a `Problem` that knows its file, line and dotted field path.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as we can."""

    source: str
    line: int | None
    path: str
    message: str
    severity: str = "error"
    zh: str = ""  # the message in Chinese, where one is written (the CLI's --lang zh)

    def __str__(self) -> str:
        return self.text()

    def text(self, chinese: bool = False) -> str:
        """The located line; in Chinese where asked and a Chinese message is written."""
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        field = f" {self.path}:" if self.path else ""
        if chinese and self.zh:
            tag = {"error": "", "note": " 说明:", "warning": " 警告:"}.get(self.severity, "")
            return f"{where}:{tag}{field} {self.zh}"
        tag = "" if self.severity == "error" else f" {self.severity}:"
        return f"{where}:{tag}{field} {self.message}"


class InputError(Exception):
    """Bad input from the user: one or more located problems (CLI exit code 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest of `choices` to a misspelt name, else ''."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
