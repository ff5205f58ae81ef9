"""Output folders that are complete or absent: written in a hidden sibling, renamed into place.

Every command that writes a folder (run, sweep, sensitivity, optimize, ab, calibrate, forecast)
goes through here, so an interrupted or failed command never leaves a folder that looks finished.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments.runs.stop_requests import raise_if_requested
from sim.scenario import Scenario

BASE_FILE = "scenario.base.yaml"  # the base scenario a sweep, sensitivity or optimisation keeps


@contextmanager
def _partial(parent: Path, name: str) -> Iterator[Path]:
    """A fresh hidden `.partial-…` folder in `parent` (created), removed afterwards unless it
    was renamed away; the pid keeps parallel commands' partial folders apart."""
    parent.mkdir(parents=True, exist_ok=True)
    partial = parent / f".partial-{name}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir()
        yield partial
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _claim(partial: Path, parent: Path, name: str) -> Path:
    """Rename `partial` to `parent/name` or the first free `name-2`, `name-3`, ...

    A name is taken by mkdir, which only one process can win, and the filled folder then
    replaces that empty one: a folder that appeared since the name was chosen (a parallel
    identical run, even one still empty) is never overwritten, and is no error either."""
    n = 1
    while True:
        final = parent / (name if n == 1 else f"{name}-{n}")
        try:
            final.mkdir()
        except FileExistsError:
            n += 1
            continue
        try:
            os.replace(partial, final)
        except OSError:
            with suppress(OSError):
                final.rmdir()  # our empty placeholder; a folder with content is not ours
            raise
        return final


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a hidden `.partial-…` sibling to fill; when the block ends without an error it
    replaces `final` whole (a redone fit, forecast or export); otherwise it is removed. A new
    folder that must not replace another is `claim_folder`'s."""
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    try:
        with _partial(final.parent, final.name) as partial:
            yield partial
            raise_if_requested()  # a stop a signal asked for, even if it was swallowed
            if final.exists():
                os.replace(final, old)
            os.replace(partial, final)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def claim_folder(parent: Path, name: str, write: Callable[[Path], Any]) -> Path:
    """Let `write` fill a hidden folder in `parent`, rename it to `name` or the next free
    `name-2`, `name-3`, ... and return the folder it became. The name is chosen at the rename,
    not before the (long) write, so parallel identical runs each finish in their own folder."""
    parent = Path(parent)
    with _partial(parent, name) as partial:
        write(partial)
        raise_if_requested()  # a stop a signal asked for, even if it was swallowed
        return _claim(partial, parent, name)


def atomic_file(final: Path, text: str) -> None:
    """Write `text` to a hidden sibling and rename it onto `final`: a complete file or none."""
    atomic_write(final, lambda partial: partial.write_text(text, encoding="utf-8"))


def atomic_write(final: Path, write: Callable[[Path], Any]) -> None:
    """Let `write` fill a hidden sibling, then rename it onto `final` (a complete file or
    none, whatever stops the writer)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".partial-{os.getpid()}-{final.name}"
    try:
        write(partial)
        raise_if_requested()  # a stop a signal asked for, even if it was swallowed
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)


def new_folder(base: Scenario, prefix: str, write: Callable[[Path], Any], out_root: Path) -> Path:
    """A finished run folder for sensitivity / optimisation / ab, returned as the folder it
    became (`claim_folder`: filled hidden, named when complete)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(base.to_yaml().encode()).hexdigest()[:8]
    return claim_folder(Path(out_root) / base.name, f"{prefix}-{stamp}-{digest}", write)
