"""Folders are complete or absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.runs.folders import atomic_folder


def test_a_failure_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "run") as partial:
        (partial / "half.txt").write_text("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_success_renames_and_a_redo_swaps_the_whole_folder(tmp_path: Path) -> None:
    with atomic_folder(tmp_path / "fit") as partial:
        (partial / "a.txt").write_text("1")
    with atomic_folder(tmp_path / "fit") as partial:
        (partial / "b.txt").write_text("2")
    assert [p.name for p in (tmp_path / "fit").iterdir()] == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["fit"]
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "fit") as partial:
        (partial / "c.txt").write_text("3")
        raise RuntimeError("interrupted")
    assert [p.name for p in (tmp_path / "fit").iterdir()] == ["b.txt"]  # the old one stays
    assert [p.name for p in tmp_path.iterdir()] == ["fit"]
