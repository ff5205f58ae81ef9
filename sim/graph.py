"""The friendship graph users share with: CSR arrays, communities exposed.

The default generator reflects WeChat circles: users live in communities (a city block, a
parents' group, an interest circle) whose sizes are heavy-tailed; each user has a heavy-tailed
degree weight (Pareto), draws Poisson(weight) friendship stubs, and ties each stub inside the
community with probability 1 - mixing (to a member picked in proportion to weight, Chung-Lu
style) or else to anyone in the market. Ties are symmetric. Everything is vectorised and weighted
picks use a guide table (O(1) each, O(edges) in all), so 1M users build in about a second and a
half. A real edge list (CSV or Parquet, columns `source`, `target` as row numbers 0..N-1,
optional `community` file) can be loaded instead.

Sharing reaches friends only, through `friends_of`. Communities are exposed for cluster
randomisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from sim.errors import InputError, Problem
from sim.params import StrictModel
from sim.sorted_search import SortedTable


class CommunityGraphParams(StrictModel):
    model: Literal["communities"] = "communities"
    mean_degree: float = Field(12.0, gt=0.0, le=500.0,
                               description="Mean friendship ties drawn per user (repeated ties "
                               "between two users merge, so distinct friends are somewhat "
                               "fewer); friends a share can reach (ASSUMPTION: WeChat friend "
                               "lists are longer, most of them silent).")
    degree_tail: float = Field(2.5, gt=2.0, le=10.0,
                               description="Pareto exponent of degree weights (smaller = "
                               "heavier tail; must exceed 2 for a finite variance).")
    community_size: float = Field(150.0, ge=2.0,
                                  description="Mean community size (Dunbar-like circles).")
    mixing: float = Field(0.1, ge=0.0, le=1.0,
                          description="Share of ties that leave the community.")


class EdgeListGraphParams(StrictModel):
    model: Literal["edge_list"] = "edge_list"
    path: str = Field(description="CSV or Parquet with columns source, target (row numbers "
                      "0..N-1); relative to the scenario file.")
    communities_path: str | None = Field(
        None, description="Optional CSV or Parquet with columns user, community; without it "
        "every connected component is a community.")


@dataclass
class SocialGraph:
    indptr: np.ndarray  # int64, N + 1
    indices: np.ndarray  # int32, friends of row i are indices[indptr[i]:indptr[i+1]]
    community: np.ndarray  # int32 per row
    degree: np.ndarray = field(init=False)  # friends per row, kept (sharing reads it daily)

    def __post_init__(self) -> None:
        self.degree = np.diff(self.indptr).astype(np.int32)

    def friends_of(self, rows: np.ndarray, how_many: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """min(how_many[i], degree) distinct friends of each row, uniformly at random (a share
        sent to k chats reaches k different friends). Returns (sharer, friend) pairs; rows
        without friends reach nobody.

        Offsets into each row's friend list are drawn with replacement and only the repeats
        are drawn again (few, since a share reaches a small part of a friend list); a row
        asking for all its friends takes them all, and one asking for more than half draws
        the friends it leaves out instead."""
        degree = self.degree[rows]
        k = np.minimum(how_many, degree).astype(np.int64)
        dense = 2 * k > degree
        skip = np.where(dense, degree - k, k)  # draw the left-out friends of dense rows
        segment = np.repeat(np.arange(len(rows)), skip)
        offset = _distinct_offsets(segment, degree[segment].astype(np.int64), rng)
        keep = np.ones(int(degree[dense].sum()), dtype=bool)
        dense_rows = np.flatnonzero(dense)
        base = np.cumsum(degree[dense_rows]) - degree[dense_rows]
        where = np.searchsorted(dense_rows, segment[dense[segment]])
        keep[base[where] + offset[dense[segment]]] = False
        sharer = np.concatenate([np.repeat(rows[~dense], k[~dense]),
                                 np.repeat(rows[dense], degree[dense])[keep]])
        start = np.concatenate([np.repeat(self.indptr[rows[~dense]], k[~dense])
                                + offset[~dense[segment]],
                                np.repeat(self.indptr[rows[dense]], degree[dense])[keep]
                                + _ranges(degree[dense])[keep]])
        order = np.argsort(np.concatenate([np.repeat(np.flatnonzero(~dense), k[~dense]),
                                           np.repeat(dense_rows, degree[dense])[keep]]),
                           kind="stable")  # pairs in the order of `rows`
        return sharer[order], self.indices[start[order]]


def _distinct_offsets(segment: np.ndarray, degree: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """One offset in [0, degree) per entry, distinct within each segment: drawn with
    replacement, then every repeat of an offset already taken is drawn again (a segment holds
    fewer than half its degree, so each redraw succeeds with probability over 1/2)."""
    offset = (rng.random(len(segment)) * degree).astype(np.int64)
    width = int(degree.max()) + 1 if len(degree) else 1
    while True:
        key = segment * width + offset
        order = np.argsort(key, kind="stable")
        repeat = np.zeros(len(key), dtype=bool)
        repeat[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not repeat.any():
            return offset
        offset[repeat] = (rng.random(int(repeat.sum())) * degree[repeat]).astype(np.int64)


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """0..k-1 for each k in `lengths`, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - starts


def community_graph(n: int, params: CommunityGraphParams, rng: np.random.Generator) -> SocialGraph:
    # communities: geometric sizes around the mean (heavy enough, and quick to draw)
    sizes = rng.geometric(1.0 / params.community_size, size=max(1, int(n / params.community_size
                                                                        * 1.2) + 8))
    bounds = np.cumsum(sizes)
    bounds = bounds[: np.searchsorted(bounds, n) + 1]
    bounds[-1] = n
    community = np.repeat(np.arange(len(bounds), dtype=np.int32),
                          np.diff(np.concatenate([[0], bounds])))
    community = community[rng.permutation(n)]  # communities are not blocks of row numbers
    # heavy-tailed degree weights with the requested mean
    alpha = params.degree_tail - 1.0
    weight = (rng.pareto(alpha, size=n) + 1.0)
    weight *= (params.mean_degree / 2.0) / weight.mean()  # each tie adds 2 to the degree sum
    stubs = rng.poisson(weight)
    source = np.repeat(np.arange(n, dtype=np.int64), stubs)
    inside = rng.random(len(source)) >= params.mixing
    target = np.empty(len(source), dtype=np.int64)
    # outside ties: anyone, in proportion to weight
    cum_all = np.cumsum(weight)
    outside = ~inside
    picks = SortedTable(cum_all, "right", 1)
    target[outside] = picks.search(rng.random(outside.sum()) * cum_all[-1])
    # inside ties: a member of the same community, in proportion to weight
    order = np.argsort(community, kind="stable")
    cum_in = np.cumsum(weight[order])
    first = np.searchsorted(community[order], np.arange(community.max() + 2))
    start_w = np.concatenate([[0.0], cum_in])[first[:-1]]
    end_w = np.concatenate([[0.0], cum_in])[first[1:]]
    c = community[source[inside]]
    u = start_w[c] + rng.random(inside.sum()) * (end_w[c] - start_w[c])
    target[inside] = order[np.minimum(SortedTable(cum_in, "right", 1).search(u), n - 1)]
    keep = source != target
    return _csr(n, source[keep], target[keep], community)


def _csr(n: int, source: np.ndarray, target: np.ndarray, community: np.ndarray) -> SocialGraph:
    """Symmetric CSR from directed pairs (each tie stored both ways, repeated ties merged):
    scipy's COO -> CSR conversion is a counting sort in C."""
    from scipy.sparse import coo_matrix

    both_src = np.concatenate([source, target]).astype(np.int32)
    both_dst = np.concatenate([target, source]).astype(np.int32)
    ones = np.ones(len(both_src), dtype=np.int8)
    matrix = coo_matrix((ones, (both_src, both_dst)), shape=(n, n)).tocsr()
    matrix.sum_duplicates()
    return SocialGraph(matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32),
                       community.astype(np.int32))


EDGES_EXPECTED = ("expected an edge list: CSV or Parquet with whole-number columns source, "
                  "target (row numbers 0..N-1, N = market.size)")
COMMUNITIES_EXPECTED = ("expected CSV or Parquet with whole-number columns user (row numbers "
                        "0..N-1, N = market.size) and community (0 or more)")


class _GraphFileError(Exception):
    """What is wrong with a graph file, and the field of market.graph that named it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def edge_list_graph(n: int, params: EdgeListGraphParams, base_dir: Path,
                    source_name: str) -> SocialGraph:
    """Load a real edge list; a problem names the scenario field that points at the file, and
    the file's row (scenario validation reads the files first, so this rarely fires)."""
    try:
        src, dst, community = _read_edge_list(n, params, base_dir)
    except _GraphFileError as exc:
        raise InputError([Problem(source_name, None, f"market.graph.{exc.field}",
                                  exc.message)]) from None
    keep = src != dst
    return _csr(n, src[keep].astype(np.int64), dst[keep].astype(np.int64), community)


def edge_list_problems(n: int, params: EdgeListGraphParams,
                       base_dir: Path) -> list[tuple[str, str]]:
    """(field of market.graph, message) for scenario validation. A file is read once per
    version (size, modification time), so validating many design points costs one read."""
    files = [base_dir / name for name in (params.path, params.communities_path) if name]
    return list(_checked(n, params, base_dir.resolve(), tuple(_stamp(f) for f in files)))


@lru_cache(maxsize=16)
def _checked(n: int, params: EdgeListGraphParams, base_dir: Path,
             stamps: tuple) -> tuple[tuple[str, str], ...]:
    try:
        _read_edge_list(n, params, base_dir)
    except _GraphFileError as exc:
        return ((exc.field, exc.message),)
    return ()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _read_edge_list(n: int, params: EdgeListGraphParams,
                    base_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source and target rows, and each row's community; _GraphFileError if a file is not
    what the scenario says it is."""
    path = base_dir / params.path
    edges = _read_table(path, ["source", "target"], "path", EDGES_EXPECTED)
    src = edges["source"].to_numpy()
    dst = edges["target"].to_numpy()
    bad = np.flatnonzero((src < 0) | (src >= n) | (dst < 0) | (dst >= n))
    if len(bad):
        row = int(bad[0])
        found = src[row] if not 0 <= src[row] < n else dst[row]
        raise _GraphFileError("path", f"{_where(path, row)}: source/target: row numbers must "
                              f"be in 0..{n - 1} (market.size={n}), found {_shown(found)}; "
                              f"{EDGES_EXPECTED}")
    if params.communities_path:
        community = _read_communities(n, base_dir / params.communities_path)
    else:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        matrix = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        community = connected_components(matrix, directed=False)[1].astype(np.int32)
    return src, dst, community


def _read_communities(n: int, path: Path) -> np.ndarray:
    table = _read_table(path, ["user", "community"], "communities_path", COMMUNITIES_EXPECTED)
    user = table["user"].to_numpy()
    label = table["community"].to_numpy()
    bad = np.flatnonzero((user < 0) | (user >= n))
    if len(bad):
        raise _GraphFileError("communities_path", f"{_where(path, int(bad[0]))}: user: row "
                              f"numbers must be in 0..{n - 1} (market.size={n}), found "
                              f"{_shown(user[bad[0]])}; {COMMUNITIES_EXPECTED}")
    bad = np.flatnonzero((label < 0) | (label > np.iinfo(np.int32).max))
    if len(bad):
        raise _GraphFileError("communities_path", f"{_where(path, int(bad[0]))}: community: "
                              f"{_shown(label[bad[0]])} is not in 0..{np.iinfo(np.int32).max}; "
                              f"{COMMUNITIES_EXPECTED}")
    community = np.zeros(n, dtype=np.int32)
    community[user] = label
    return community


def _read_table(path: Path, columns: list[str], field: str, expected: str) -> pd.DataFrame:
    """The file as a table with whole-number `columns`; else _GraphFileError naming `field`."""
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except FileNotFoundError:
        raise _GraphFileError(field, f"no such file {path}; {expected}") from None
    except Exception as exc:  # not a table (a text or binary file, a folder): say which and why
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _GraphFileError(field, f"cannot read {path} as a table ({reason}); "
                              f"{expected}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(str(c) for c in frame.columns[:5]) or "none"
        raise _GraphFileError(field, f"{_where(path, -1)}: {', '.join(missing)}: missing "
                              f"column(s) (found: {found}); {expected}")
    for column in columns:
        row = _first_non_integer(frame[column])
        if row is not None:
            raise _GraphFileError(field, f"{_where(path, row)}: {column}: expected a whole "
                                  f"number, found {_shown(frame[column].iloc[row])}; {expected}")
    return frame


def _first_non_integer(values: pd.Series) -> int | None:
    """Position of the first value that is not a whole number (None if all are)."""
    if pd.api.types.is_bool_dtype(values):
        return 0
    if pd.api.types.is_integer_dtype(values) or values.empty:
        return None
    number = pd.to_numeric(values, errors="coerce")
    rows = np.flatnonzero(number.isna() | (number != number.round()))
    return int(rows[0]) if len(rows) else 0  # decimals such as 1.0: the column is not integer


def _shown(value: object) -> str:
    """A cell as a message quotes it: numpy scalars as plain numbers, text quoted."""
    plain = value.item() if isinstance(value, np.generic) else value
    return repr(plain) if isinstance(plain, str) else str(plain)


def _where(path: Path, row: int) -> str:
    """A data row of a table file: its line in a CSV (line 1 is the header), else its index."""
    if path.suffix == ".parquet":
        return f"{path} (header)" if row < 0 else f"{path} row {row}"
    return f"{path}:{row + 2}"
