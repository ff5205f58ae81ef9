"""Output folders that are complete or absent: written in a hidden sibling, renamed into place.

Every command that writes a folder (run, sweep, sensitivity, optimize, ab, calibrate, forecast)
goes through here, so an interrupted or failed command never leaves a folder that looks finished.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".partial-{final.name}-{os.getpid()}"
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
