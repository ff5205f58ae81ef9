"""`simctl`: the command line (the commands live in experiments/cli/commands.py).

This package stays light on purpose: `main` installs the signal handling before the scientific
stack is imported, so Ctrl-C or SIGTERM in the first seconds of a command exits 130 (143) with
one line instead of a traceback from somewhere inside an import.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    """The console entry point `simctl` (also `python -m experiments.cli`)."""
    from experiments.cli.stopping import guarded

    guarded(_app)


def _app() -> Any:
    from experiments.cli.commands import app

    return app


def __getattr__(name: str) -> Any:
    """`from experiments.cli import app` still works, importing the commands on first use."""
    if name in ("app", "_root"):
        from experiments.cli import commands

        return getattr(commands, name)
    raise AttributeError(f"module 'experiments.cli' has no attribute {name!r}")
