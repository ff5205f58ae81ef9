"""A stop asked for by a signal, remembered until the command ends.

The signal handlers (experiments/cli/stopping.py) raise KeyboardInterrupt or Terminated at
once, but Python drops an exception raised where it cannot propagate: a Ctrl-C that lands
while an import's module-lock callback runs is printed as "Exception ignored in ..." and the
command went on to write its whole run (seen once in a suite run). So the request is also
kept here, and whatever commits output checks it first (experiments/runs/folders.py): a stop
that was swallowed still stops the command before anything becomes visible.

Only the standard library: the signal handling imports this before the scientific stack.
"""

from __future__ import annotations

_REQUESTED: list[BaseException] = []


def request(stop: BaseException) -> None:
    """Remember a stop (the handler raises it too)."""
    _REQUESTED.append(stop)


def raise_if_requested() -> None:
    """Raise the stop a signal asked for, if any (again, in case it was swallowed)."""
    if _REQUESTED:
        raise _REQUESTED[-1]


def clear() -> None:
    """A new command: nothing asked yet."""
    _REQUESTED.clear()
