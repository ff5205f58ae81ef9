"""The disk store of generated graphs: a stored graph is the built one, keys separate what
differs, and a broken file, an unwritable folder or a full store never stops a run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from sim import graph_store
from sim.graph import CommunityGraphParams, community_graph
from sim.graph_store import generated_graph, graph_key
from sim.rng import stream

N = 3_000
PARAMS = CommunityGraphParams(mean_degree=8.0, community_size=50.0)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GROWTHSIM_GRAPH_CACHE", str(tmp_path))
    monkeypatch.setattr(graph_store, "MIN_USERS", 1_000)
    return tmp_path


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("indptr", "indices", "community"))


def test_a_stored_graph_is_the_built_one_and_is_read_back(store: Path) -> None:
    first, from_disk = generated_graph(N, PARAMS, seed=7, replicate=1)
    assert not from_disk and len(list(store.glob("graph-*.npz"))) == 1
    again, from_disk = generated_graph(N, PARAMS, seed=7, replicate=1)
    assert from_disk and _same(first, again)
    assert _same(first, community_graph(N, PARAMS, stream(7, 1, "graph")))
    assert np.array_equal(again.degree, first.degree)


def test_keys_differ_in_every_part() -> None:
    base = graph_key(N, PARAMS, 7, 1)
    others = {graph_key(N + 1, PARAMS, 7, 1), graph_key(N, PARAMS, 8, 1),
              graph_key(N, PARAMS, 7, 2),
              graph_key(N, CommunityGraphParams(mean_degree=9.0, community_size=50.0), 7, 1)}
    assert base not in others and len(others) == 4


def test_small_markets_and_a_store_turned_off_write_nothing(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated_graph(500, PARAMS, seed=7, replicate=0)
    monkeypatch.setenv("GROWTHSIM_GRAPH_CACHE", "off")
    generated_graph(N, PARAMS, seed=7, replicate=0)
    assert not list(store.iterdir())


def test_a_broken_file_is_rebuilt(store: Path) -> None:
    built, _ = generated_graph(N, PARAMS, seed=3, replicate=0)
    (path,) = store.glob("graph-*.npz")
    path.write_bytes(b"not a graph")
    again, from_disk = generated_graph(N, PARAMS, seed=3, replicate=0)
    assert not from_disk and _same(built, again)
    assert generated_graph(N, PARAMS, seed=3, replicate=0)[1]  # rewritten whole


def test_an_unwritable_folder_only_costs_the_build(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    monkeypatch.setenv("GROWTHSIM_GRAPH_CACHE", str(blocker / "graphs"))
    monkeypatch.setattr(graph_store, "MIN_USERS", 1_000)
    built, from_disk = generated_graph(N, PARAMS, seed=3, replicate=0)
    assert not from_disk and len(built.indptr) == N + 1


def test_the_store_keeps_its_size_limit_dropping_the_least_recently_used(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated_graph(N, PARAMS, seed=1, replicate=0)
    one_file = next(store.glob("graph-*.npz")).stat().st_size
    monkeypatch.setenv("GROWTHSIM_GRAPH_CACHE_MB", str(2.5 * one_file / 2**20))
    generated_graph(N, PARAMS, seed=2, replicate=0)
    for item in store.glob("graph-*.npz"):  # both written long ago (file times are coarse)
        os.utime(item, (time.time() - 100, time.time() - 100))
    generated_graph(N, PARAMS, seed=1, replicate=0)  # read: now the most recently used
    generated_graph(N, PARAMS, seed=3, replicate=0)  # the third file pushes seed 2 out
    names = {p.name for p in store.glob("graph-*.npz")}
    assert len(names) == 2
    assert f"graph-{graph_key(N, PARAMS, 2, 0)}.npz" not in names
