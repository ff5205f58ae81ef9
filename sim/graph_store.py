"""Generated friendship graphs kept on disk, so a graph is built once per (size, parameters,
seed, replicate) on a machine and read back by every later run, replicate, sweep point and
worker process that needs it (issue 17: the build was a fifth of every growth or scale run).

A graph is a pure function of its key, so a stored one gives the same numbers as a rebuilt
one. The key also holds a digest of the generator's source and numpy's version: a changed
generator or random stream never reads an old file. Only markets of `MIN_USERS` or more are
stored (below that the build takes less than reading a file would save). Files are written to
a temporary name and renamed, so parallel workers never read half a file; an unreadable file is
rebuilt; a directory that cannot be written is skipped. The store keeps at most
`GROWTHSIM_GRAPH_CACHE_MB` (default 4096) of files, the least recently used leave first.

`GROWTHSIM_GRAPH_CACHE` names the directory (default `~/.cache/growthsim/graphs`, or under
`$XDG_CACHE_HOME`); `off` turns the store off.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import zipfile
from functools import cache
from pathlib import Path

import numpy as np

from sim import graph, rng
from sim.graph import CommunityGraphParams, SocialGraph, community_graph

MIN_USERS = 200_000
DEFAULT_LIMIT_MB = 4096


def store_dir() -> Path | None:
    """Where graphs are stored, or None when the store is off."""
    named = os.environ.get("GROWTHSIM_GRAPH_CACHE", "")
    if named.lower() == "off":
        return None
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "growthsim" / "graphs"


@cache
def _generator_digest() -> str:
    """The generator's code, its random stream's and numpy's version: what else a stored
    graph depends on."""
    code = "".join(inspect.getsource(f) for f in (graph.community_graph, graph._csr,
                                                   rng.stream, rng.stable_key))
    return hashlib.sha256(f"{code}|{np.__version__}".encode()).hexdigest()[:16]


def graph_key(n: int, params: CommunityGraphParams, seed: int, replicate: int) -> str:
    text = f"{n}|{params.model_dump_json()}|{seed}|{replicate}|{_generator_digest()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def generated_graph(n: int, params: CommunityGraphParams, seed: int,
                    replicate: int) -> tuple[SocialGraph, bool]:
    """The generated graph of a replicate, from the store or built from its own stream (then
    stored). Returns (graph, whether it was read from disk)."""

    def build() -> SocialGraph:
        return community_graph(n, params, rng.stream(seed, replicate, "graph"))

    folder = store_dir()
    if folder is None or n < MIN_USERS:
        return build(), False
    path = folder / f"graph-{graph_key(n, params, seed, replicate)}.npz"
    loaded = _read(path, n)
    if loaded is not None:
        return loaded, True
    built = build()
    _write(path, built)
    return built, False


def _read(path: Path, n: int) -> SocialGraph | None:
    try:
        with np.load(path) as data:
            stored = SocialGraph(data["indptr"], data["indices"], data["community"])
        os.utime(path)  # recently used: pruned last
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # absent, or unreadable: built again and rewritten
    return stored if len(stored.indptr) == n + 1 else None


def _write(path: Path, built: SocialGraph) -> None:
    temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(temporary, indptr=built.indptr, indices=built.indices,
                 community=built.community)
        os.replace(temporary, path)
        _prune(path.parent, keep=path)
    except OSError:  # a full or read-only disk only costs the rebuild
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _prune(folder: Path, keep: Path) -> None:
    """Remove the least recently used graphs beyond the size limit (never the one just kept)."""
    limit = float(os.environ.get("GROWTHSIM_GRAPH_CACHE_MB", DEFAULT_LIMIT_MB)) * 2**20
    files = []
    for item in folder.glob("graph-*.npz"):
        if ".tmp." in item.name:
            continue  # another process's file being written
        try:
            files.append((item.stat().st_mtime, item.stat().st_size, item))
        except OSError:
            continue  # removed by another process meanwhile
    total = sum(size for _, size, _ in files)
    for _, size, item in sorted(files, key=lambda f: f[0]):
        if total <= limit:
            break
        if item != keep:
            item.unlink(missing_ok=True)
            total -= size
