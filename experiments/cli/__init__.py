"""`simctl`: the command line (the commands live in experiments/cli/commands.py).

This package stays light on purpose: `main` installs the signal handling before the scientific
stack is imported, so Ctrl-C or SIGTERM in the first seconds of a command exits 130 (143) with
one line instead of a traceback from somewhere inside an import.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any


def main() -> None:
    """The console entry point `simctl` (also `python -m experiments.cli`)."""
    from experiments.cli.stopping import guarded

    try:
        guarded(_app)
    except SystemExit as done:
        if _command_name(sys.argv[1:]) == "run" and isinstance(done.code, int):
            _leave_now(done.code)
        raise


def _leave_now(code: int) -> None:
    """End a finished `simctl run` without the interpreter's teardown: clearing the modules of
    the scientific stack and freeing a 1M-user run's objects one by one took 0.13-0.15 s of a
    1M-user run (paired whole processes), a fifth of what the command spends around its
    simulation (benchmarks/bench_cli.py). The run's files are closed by now; the exit handlers
    still run and stdout/stderr are flushed.
    Only for `run`, whose work is all in this thread (no executor threads to wait for).
    `atexit._run_exitfuncs` is what the interpreter itself calls at exit."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): as the interpreter would
            code = code or 120
    os._exit(code)


def _app(argv: list[str] | None = None) -> Any:
    """The app for this command line: `simctl run ...` gets the app of experiments/cli/run_cli.py
    alone (0.7 s less start-up: the power calculator, calibration and A/B stacks stay out),
    anything else every command."""
    if _command_name(sys.argv[1:] if argv is None else argv) == "run":
        from experiments.cli.run_cli import app as run_app

        return run_app
    from experiments.cli.commands import app

    return app


def _command_name(args: list[str]) -> str | None:
    """The first word that is not one of the root options (--debug, --lang X, --lang=X)."""
    words = iter(args)
    for word in words:
        if word == "--lang":
            next(words, None)
        elif word != "--debug" and not word.startswith("--lang="):
            return word
    return None


def __getattr__(name: str) -> Any:
    """`from experiments.cli import app` still works, importing the commands on first use."""
    if name == "app":
        from experiments.cli.commands import app

        return app
    if name == "_root":
        from experiments.cli.run_cli import _root

        return _root
    raise AttributeError(f"module 'experiments.cli' has no attribute {name!r}")
