"""The per-user event log, and counters rebuilt from an event log.

`event_table` turns what the recorder logged into a table with columns user, day, event, amount,
channel, campaign, arm and persona (user -1 for channel costs such as ad spend). `counters_from_
events` does the reverse: it aggregates an event table into the same `Counters` the engine
produces, so the metric definitions in `sim.metrics` apply to a log exactly as to a simulation.
Stocks that need per-user history (alive users, WAU, MAU, lifecycle states) are rebuilt from the
acquired, churned and open events.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.metrics import COHORT_EVENTS
from sim.population import Layout
from sim.recorder import COHORT_DAYS, WEEK, Counters

NEW_DAYS = 7
# Levels rebuilt from per-user histories; every other stock (segment sizes, tier counts,
# outstanding points, members, units in stock, ...) is recorded by its mechanic at the end of
# the day and has no event to be rebuilt from.
REBUILT_STOCKS = ("alive_users", "wau", "mau", "new_state_users", "active_state_users",
                  "dormant_state_users")


def log_columns(log: dict[str, Any]) -> dict[str, np.ndarray]:
    """The recorder's logged pieces joined into columns (user int32, day int16, event int16
    code into `log["_event_names"]`, amount, channel and campaign int16)."""
    pieces = log["_pieces"]
    if not pieces:
        return {"user": np.empty(0, np.int32), "day": np.empty(0, np.int16),
                "event": np.empty(0, np.int16), "amount": np.empty(0),
                "channel": np.empty(0, np.int16), "campaign": np.empty(0, np.int16)}
    sizes = [len(piece[0]) for piece in pieces]
    return {"user": np.concatenate([p[0] for p in pieces]),
            "day": np.repeat(np.array([p[1] for p in pieces], np.int16), sizes),
            "event": np.repeat(np.array([p[2] for p in pieces], np.int16), sizes),
            "amount": np.concatenate([p[3] for p in pieces]),
            "channel": np.concatenate([p[4] for p in pieces]),
            "campaign": np.concatenate([p[5] for p in pieces])}


def event_table(counters: Counters, layout: Layout) -> pd.DataFrame:
    """The logged events as a DataFrame (needs a run with log_events=True)."""
    if counters.events is None:
        raise ValueError("this run did not log events; simulate(..., log_events=True)")
    log = log_columns(counters.events)
    users = log["user"].astype(np.int64)
    arm, persona = _row_labels(log["user"], counters.events, layout)
    return pd.DataFrame({
        "user": users, "day": log["day"].astype(np.int32),
        "event": counters.events["_event_names"][log["event"]].astype(str),
        "amount": log["amount"],
        "channel": np.asarray(layout.channels, dtype=object)[log["channel"]].astype(str),
        "campaign": log["campaign"].astype(np.int32),
        "arm": np.asarray([*layout.arms, ""])[arm], "persona": np.asarray(
            [*layout.personas, ""])[persona],
    })


def write_event_log(counters: dict[int, Counters], layout: Layout, path: Path,
                    rows_per_group: int = 1 << 20) -> int:
    """Write every replicate's log to one Parquet file, row group by row group, with names
    dictionary-encoded (event, channel, arm, persona) and compact integers, so writing costs a
    row group on top of the log rather than a table of Python strings. Returns the events."""
    names = sorted({str(n) for c in counters.values() for n in c.events["_event_names"]})  # type: ignore[index]
    labels = {"event": names, "channel": list(layout.channels),
              "arm": [*layout.arms, ""], "persona": [*layout.personas, ""]}
    schema = pa.schema([("user", pa.int32()), ("day", pa.int16()),
                        ("event", pa.dictionary(pa.int16(), pa.string())),
                        ("amount", pa.float64()),
                        ("channel", pa.dictionary(pa.int16(), pa.string())),
                        ("campaign", pa.int16()),
                        ("arm", pa.dictionary(pa.int16(), pa.string())),
                        ("persona", pa.dictionary(pa.int16(), pa.string())),
                        ("replicate", pa.int16())])
    written = 0
    with pq.ParquetWriter(path, schema) as writer:
        for replicate, c in sorted(counters.items()):
            log = c.events
            assert log is not None
            recode = np.array([names.index(str(n)) for n in log["_event_names"]], np.int16)
            for group in _row_groups(log["_pieces"], rows_per_group):
                cols = log_columns({"_pieces": group})
                writer.write_table(_arrow_rows(cols, recode, log, layout, labels, replicate,
                                               schema))
                written += len(cols["user"])
    return written


def _row_groups(pieces: list[tuple], rows: int) -> list[list[tuple]]:
    """Consecutive pieces of at least `rows` rows each (the last may be shorter)."""
    groups: list[list[tuple]] = [[]]
    size = 0
    for piece in pieces:
        if size >= rows:
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += len(piece[0])
    return [g for g in groups if g]


def _row_labels(users: np.ndarray, log: dict[str, Any],
                layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """The arm and persona index of each row's user; the index past the last label ("") for
    a channel's cost, which has no user."""
    known = users >= 0
    arm = np.full(len(users), len(layout.arms), np.int16)
    persona = np.full(len(users), len(layout.personas), np.int16)
    arm[known] = log["_arm"][users[known]]
    persona[known] = log["_persona"][users[known]]
    return arm, persona


def _arrow_rows(cols: dict[str, np.ndarray], recode: np.ndarray, log: dict[str, Any],
                layout: Layout, labels: dict[str, list[str]], replicate: int,
                schema: pa.Schema) -> pa.Table:
    """One row group: names as dictionary indices, the arm and persona of each row."""
    users = cols["user"]
    arm, persona = _row_labels(users, log, layout)

    def coded(indices: np.ndarray, key: str) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int16)),
                                              pa.array(labels[key], pa.string()))

    return pa.Table.from_arrays([
        pa.array(users), pa.array(cols["day"]), coded(recode[cols["event"]], "event"),
        pa.array(cols["amount"]), coded(cols["channel"], "channel"),
        pa.array(cols["campaign"]), coded(arm, "arm"), coded(persona, "persona"),
        pa.array(np.full(len(users), replicate, np.int16))], schema=schema)


def counters_from_events(events: pd.DataFrame, layout: Layout, days: int,
                         dormant_after_days: int | None = None,
                         declared: Collection[str] = (),
                         declared_costs: Collection[str] = ()) -> Counters:
    """Aggregate an event table into engine-shaped counters (the same tables, same keys).
    `declared`: user events the scenario can record (`sim.planning.user_events`), so that one
    that never happened is a table of zeros, as in the engine, not a missing column; likewise
    `declared_costs` for channel events (`sim.planning.channel_events`)."""
    channels = {name: i for i, name in enumerate(layout.channels)}
    arms = {name: i for i, name in enumerate(layout.arms)}
    personas = {name: i for i, name in enumerate(layout.personas)}
    n_cells, n_channels = layout.n_cells, len(layout.channels)
    weeks = -(-days // WEEK)
    users = events[events["user"] >= 0]
    costs = events[events["user"] < 0]
    chan = users["channel"].map(channels).to_numpy()
    group = users["arm"].map(arms).to_numpy() * len(layout.personas) + users["persona"].map(
        personas).to_numpy()
    cell = group * n_channels + chan
    day = users["day"].to_numpy()
    amount = users["amount"].to_numpy()
    names = users["event"].to_numpy()

    counts: dict[str, np.ndarray] = {}
    amounts: dict[str, np.ndarray] = {}
    for name in sorted(set(np.unique(names)) | set(declared)):
        pick = names == name
        flat = day[pick] * n_cells + cell[pick]
        counts[name] = np.bincount(flat, minlength=days * n_cells).reshape(days, n_cells) * 1.0
        amounts[name] = np.bincount(  # float even when it never happened (numpy gives ints)
            flat, weights=amount[pick], minlength=days * n_cells).reshape(days, n_cells) * 1.0
    channel_amounts = _channel_costs(costs, channels, days, declared_costs)

    # Who joined when and through which channel: from the acquired events (one per user).
    joined = users[users["event"] == "acquired"]
    acquired_day = pd.Series(joined["day"].to_numpy(), index=joined["user"].to_numpy())
    user_cell = pd.Series(cell[names == "acquired"], index=joined["user"].to_numpy())
    acq = users["user"].map(acquired_day).to_numpy()
    cohort_counts, cohort_amounts = {}, {}
    is_user = ~np.isnan(acq)
    age = np.where(is_user, day - np.nan_to_num(acq), -1).astype(np.int64)
    young = is_user & (age >= 0) & (age < COHORT_DAYS)
    for name in COHORT_EVENTS:
        pick = young & (names == name)
        flat = ((acq[pick].astype(np.int64) // WEEK) * n_channels + chan[pick]) * COHORT_DAYS \
            + age[pick]
        shape = (weeks, n_channels, COHORT_DAYS)
        if name in counts:
            cohort_counts[name] = np.bincount(flat, minlength=np.prod(shape)).reshape(shape) * 1.0
            cohort_amounts[name] = np.bincount(flat, weights=amount[pick],
                                               minlength=np.prod(shape)).reshape(shape)

    stocks = _stocks(users, day, cell, names, acquired_day, user_cell, days, n_cells,
                     dormant_after_days)
    active = _active_weeks(users, names, acq, chan, weeks, n_channels)
    return Counters(counts, amounts, stocks, channel_amounts, cohort_counts, cohort_amounts,
                    active, None)


def _channel_costs(costs: pd.DataFrame, channels: dict[str, int], days: int,
                   declared_costs: Collection[str]) -> dict[str, np.ndarray]:
    """Costs with no user (ad and KOL spend, ...) per (day, channel); declared ones that never
    happened are zeros, as in the engine."""
    channel_amounts = {name: np.zeros((days, len(channels))) for name in declared_costs}
    for name, frame in costs.groupby("event"):
        table = np.zeros((days, len(channels)))
        np.add.at(table, (frame["day"].to_numpy(), frame["channel"].map(channels).to_numpy()),
                  frame["amount"].to_numpy())
        channel_amounts[str(name)] = table
    return channel_amounts


def _stocks(users: pd.DataFrame, day: np.ndarray, cell: np.ndarray, names: np.ndarray,
            acquired_day: pd.Series, user_cell: pd.Series, days: int, n_cells: int,
            dormant_after_days: int | None) -> dict[str, np.ndarray]:
    """Levels at the end of each day, from per-user histories."""
    def per_day(event_days: np.ndarray, event_cells: np.ndarray) -> np.ndarray:
        flat = event_days * n_cells + event_cells
        return np.bincount(flat, minlength=days * n_cells).reshape(days, n_cells) * 1.0

    joins = per_day(day[names == "acquired"], cell[names == "acquired"])
    leaves = per_day(day[names == "churned"], cell[names == "churned"])
    stocks = {"alive_users": np.cumsum(joins - leaves, axis=0)}
    if not (names == "open").any():
        return stocks
    opened = pd.DataFrame({"user": users["user"].to_numpy()[names == "open"],
                           "day": day[names == "open"]}).drop_duplicates()
    churned = pd.Series(day[names == "churned"], index=users["user"].to_numpy()[names == "churned"])
    ids = acquired_day.index.to_numpy()
    index = pd.Index(ids)
    opens = np.zeros((len(ids), days), dtype=bool)
    opens[index.get_indexer(opened["user"]), opened["day"].to_numpy()] = True
    # last open on or before each day, per user (-1 before the first)
    last = np.where(opens, np.arange(days), -1)
    last = np.maximum.accumulate(last, axis=1)
    cells = user_cell.reindex(ids).to_numpy()
    t = np.arange(days)
    seen = last >= 0
    stocks["wau"] = _sum_by_cell(seen & (last >= t - 6), cells, n_cells)
    stocks["mau"] = _sum_by_cell(seen & (last >= t - 29), cells, n_cells)
    gone = churned.reindex(ids).fillna(days).to_numpy()[:, None]
    alive = (acquired_day.reindex(ids).to_numpy()[:, None] <= t) & (t < gone)
    if dormant_after_days is not None:
        new = alive & (t - acquired_day.reindex(ids).to_numpy()[:, None] < NEW_DAYS)
        dormant = alive & ~new & (last <= t - dormant_after_days)
        stocks["new_state_users"] = _sum_by_cell(new, cells, n_cells)
        stocks["dormant_state_users"] = _sum_by_cell(dormant, cells, n_cells)
        stocks["active_state_users"] = _sum_by_cell(alive & ~new & ~dormant, cells, n_cells)
    return stocks


def _sum_by_cell(mask: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
    out = np.zeros((mask.shape[1], n_cells))
    for c in np.unique(cells):
        out[:, c] = mask[cells == c].sum(axis=0)
    return out


def _active_weeks(users: pd.DataFrame, names: np.ndarray, acq: np.ndarray, chan: np.ndarray,
                  weeks: int, n_channels: int) -> np.ndarray:
    """Retention grid: users with an open in each week since acquisition, by weekly cohort."""
    pick = (names == "open") & ~np.isnan(acq)
    frame = pd.DataFrame({"user": users["user"].to_numpy()[pick],
                          "cohort": acq[pick].astype(np.int64) // WEEK, "channel": chan[pick],
                          "week": (users["day"].to_numpy()[pick] - acq[pick].astype(np.int64))
                          // WEEK}).drop_duplicates(["user", "week"])
    grid = np.zeros((weeks, n_channels, weeks))
    np.add.at(grid, (frame["cohort"].to_numpy(), frame["channel"].to_numpy(),
                     frame["week"].to_numpy()), 1.0)
    return grid
