"""How `simctl` stops when asked: Ctrl-C (SIGINT) exits 130, SIGTERM exits 143, each with one
line on stderr and no traceback, at any moment: while the stack imports, while the scenario
builds, while it simulates or writes. Writers fill hidden `.partial-*` folders that are removed
on the way out, so nothing half-written is left visible.

Only the standard library here: this module is imported before anything heavy.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

from experiments.runs.stop_requests import clear, raise_if_requested, request

INTERRUPTED, TERMINATED = 130, 143
_SAID = {"done": False}


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT (a BaseException
    so that library code catching Exception does not swallow it)."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    stop = Terminated()
    request(stop)  # kept, in case Python swallows the raise (stop_requests.py)
    raise stop


def _on_sigint(_signum: int, _frame: object) -> None:
    stop = KeyboardInterrupt()
    request(stop)
    raise stop


def say_stopped(code: int) -> None:
    """The one line for a stop (the command's error handler says it; `guarded` only when no
    command got that far)."""
    _SAID["done"] = True
    word = "interrupted" if code == INTERRUPTED else "terminated"
    sys.stderr.write(f"simctl: {word} (exit {code})\n")
    sys.stderr.flush()


def stop_code(exc: BaseException) -> int:
    return TERMINATED if isinstance(exc, Terminated) else INTERRUPTED


def guarded(load_app: Callable[[], Any]) -> None:
    """Install the handlers, then import and run the app; a stop anywhere -> one line + code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
        signal.signal(signal.SIGINT, _on_sigint)
    _SAID["done"] = False
    clear()
    try:
        app = load_app()
        raise_if_requested()  # a Ctrl-C an import's callback swallowed
        _quiet_arrow()
        code = app(standalone_mode=False, prog_name="simctl")
    except (KeyboardInterrupt, Terminated) as exc:
        code = stop_code(exc)
        if not _SAID["done"]:
            say_stopped(code)
        raise SystemExit(code) from None
    except _usage_error() as exc:  # a wrong flag or argument: one line, exit 2
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "simctl"
        if exc.format_message():  # (empty after the help that a bare `simctl` prints)
            sys.stderr.write(f"{command}: {exc.format_message()} (see {command} --help)\n")
        raise SystemExit(exc.exit_code) from None
    except SystemExit as exc:
        if exc.code in (INTERRUPTED, TERMINATED) and not _SAID["done"]:  # typer's own Ctrl-C
            say_stopped(int(exc.code))  # path, while it parses the command line
        raise
    if code in (INTERRUPTED, TERMINATED) and not _SAID["done"]:
        say_stopped(int(code))
    raise SystemExit(code if isinstance(code, int) else 0)


def _quiet_arrow() -> None:
    """Arrow's own SIGINT handling, while a pandas-on-Arrow operation runs, can consume a Ctrl-C
    so the command goes on to the end (seen about once in eight interrupts of a 1M-user run).
    Off, Arrow finishes the operation at hand and Python's handler stops the command."""
    import pyarrow

    pyarrow.enable_signal_handlers(False)


def _usage_error() -> type[Exception]:
    """Click's ClickException, reached through typer's public BadParameter (typer vendors
    click, so `import click` may name another copy)."""
    import typer

    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
