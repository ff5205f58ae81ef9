"""Pieces every `simctl` command shares: the stderr console, error handling and progress.

Errors: bad input -> located one-line messages and exit 2; Ctrl-C -> 130; anything else -> a
one-line failure and exit 1 (the traceback only with --debug).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sim.compliance import check_compliance
from sim.errors import InputError, Problem
from sim.scenario import Scenario

err = Console(stderr=True, highlight=False)
STATE = {"debug": False}

@contextmanager
def cli_errors() -> Iterator[None]:
    """Bad input -> its located one-line messages and exit 2; Ctrl-C -> 130; bugs -> 1."""
    try:
        yield
    except InputError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("simctl: interrupted", markup=False)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if STATE["debug"]:
            raise
        err.print(f"simctl: failed: {type(exc).__name__}: {exc} (run with --debug for the "
                  "traceback)", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


class LazyProgress:
    """A progress bar on stderr that appears only once work has taken more than a second."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.done, self.start, self.bar = 0, time.perf_counter(), None

    def __call__(self, advance: int) -> None:
        self.done += advance
        if not self.enabled:
            return
        if self.bar is None and time.perf_counter() - self.start > 1.0:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total} days"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.done)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(help="Overrides as dotted.path=value, e.g. market.size=1000000."),
]


def enforce_compliance(scenario: Scenario, strict: bool) -> list[Problem]:
    """Platform-rule and legal findings: errors stop the command (exit 2), warnings are shown on
    stderr, or stop it too with --strict. Returns the warnings that were let through."""
    findings = check_compliance(scenario)
    stopping = [f for f in findings if f.severity == "error" or strict]
    if stopping:
        raise InputError([Problem(f.source, f.line, f.path, f.message, "error")
                          for f in stopping])
    for warning in findings:
        err.print(str(warning), markup=False, soft_wrap=True)
    return findings


StrictOption = Annotated[bool, typer.Option(
    "--strict", help="Treat platform-rule warnings (e.g. induced sharing) as errors.")]
