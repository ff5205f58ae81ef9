"""Output folders that are complete or absent: written in a hidden sibling, renamed into place.

Every command that writes a folder (run, sweep, sensitivity, optimize, ab, calibrate, forecast)
goes through here, so an interrupted or failed command never leaves a folder that looks finished.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.scenario import Scenario

BASE_FILE = "scenario.base.yaml"  # the base scenario a sweep, sensitivity or optimisation keeps


def unique_folder(parent: Path, name: str) -> Path:
    """`parent/name`, or `name-2`, `name-3`, ... if that exists (the parent is created)."""
    parent.mkdir(parents=True, exist_ok=True)
    final, n = parent / name, 1
    while final.exists():
        n += 1
        final = parent / f"{name}-{n}"
    return final


@contextmanager
def atomic_folder(final: Path, replace: bool = False) -> Iterator[Path]:
    """Yield a hidden `.partial-…` sibling to fill; when the block ends without an error it
    becomes `final` (replacing an existing folder only when `replace`); otherwise it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".partial-{final.name}-{os.getpid()}"
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir()
        yield partial
        if replace and final.exists():
            os.replace(final, old)
        os.replace(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


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
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)


def new_folder(base: Scenario, prefix: str, write: Callable[[Path], Any], out_root: Path) -> Path:
    """A finished run folder for sensitivity / optimisation: filled in a hidden `.partial` dir
    and renamed into place only when complete."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(base.to_yaml().encode()).hexdigest()[:8]
    final = unique_folder(Path(out_root) / base.name, f"{prefix}-{stamp}-{digest}")
    with atomic_folder(final) as partial:
        write(partial)
    return final
