"""The users: one numpy array per attribute, one row per potential user of the market.

Core columns every scenario has:
- `stage`: POTENTIAL (not yet a user), ALIVE (acquired, not churned) or CHURNED;
- `arm` and `persona`: the experiment arm and the persona the user belongs to;
- `group`: arm * n_personas + persona, the index of the user's parameter variant;
- `channel` / `campaign`: what acquired the user (channel 0 is "none" while potential);
- `cell`: group * n_channels + channel, the key every counter is recorded under;
- `acquired_day`: the day the user was acquired (-1 while potential).
Mechanics add their own columns by declaring them. Stage changes go through `acquire` and
`churn`, which keep per-group stage counts so no mechanic ever has to count a whole column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Protocol

import numpy as np

from sim.calendar import LastDayIndex


class Stage(IntEnum):
    POTENTIAL = 0
    ALIVE = 1
    CHURNED = 2


CORE_COLUMNS: dict[str, np.dtype] = {
    "stage": np.dtype(np.int8),
    "arm": np.dtype(np.int8),
    "persona": np.dtype(np.int8),
    "group": np.dtype(np.int16),
    "channel": np.dtype(np.int8),
    "campaign": np.dtype(np.int16),
    "cell": np.dtype(np.int16),
    "acquired_day": np.dtype(np.int16),
}


class Supply(Protocol):
    """What a catalogue offers the mechanics that sell (set as `Population.supply`): every
    order picks a SKU group, is priced and costed by it, and may be refused by a stock-out."""

    def fulfil(self, rows: np.ndarray, values: np.ndarray, day: int, priced: bool,
               top_up: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sold mask, values, cost of goods) for orders by `rows` worth `values`; with
        `priced`, values are the basket values drawn before the SKU group's price index;
        `top_up(rows, priced values)` gives the final values before costing and stock."""
        ...

    def share_factor(self, rows: np.ndarray) -> np.ndarray | float:
        """Multiplier on the share probability of each row (stock-outs dampen sharing)."""
        ...

    @property
    def logistics(self) -> bool:
        """Whether the carrier's cost of every shipped order is booked (an inventory mechanic's
        logistics_cost), so free-shipping perks must not book it again."""
        ...


def add_count(target: np.ndarray, index: np.ndarray | tuple, step: int = 1) -> None:
    """target[index] += step, repeated indices counted each time (np.add.at), with the step
    in the target's own dtype: a Python int into an int16/int32 array sends ufunc.at down
    numpy's casting path, 20x slower (1.2 ms against 0.06 ms for 20k rows)."""
    np.add.at(target, index, target.dtype.type(step))


@dataclass(frozen=True)
class Layout:
    """How users are split for parameters (arm x persona) and for counters (x channel)."""

    arms: tuple[str, ...]
    personas: tuple[str, ...]
    channels: tuple[str, ...]  # channels[0] == "none"
    # channels of an existing base (users won before the run, `seed_users` with `existing`):
    # their first orders in the run are not new buyers, so CAC and unit economics leave them out
    base_channels: tuple[str, ...] = ()

    @cached_property  # read by every recorded event: computed once
    def n_groups(self) -> int:
        return len(self.arms) * len(self.personas)

    @cached_property
    def n_cells(self) -> int:
        return self.n_groups * len(self.channels)

    def channel_id(self, name: str) -> int:
        return self.channels.index(name)

    def won_channel_ids(self) -> np.ndarray | None:
        """Channel ids of users the run wins (every channel but "none" and the base's); None
        when that is every user's channel (no existing base): the market as a whole."""
        if not self.base_channels:
            return None
        return np.array([k for k, name in enumerate(self.channels)
                         if k > 0 and name not in self.base_channels], dtype=np.int64)

    def cell_arm(self) -> np.ndarray:
        """The arm of every cell (for summing counters by arm)."""
        return np.repeat(np.arange(self.n_groups) // len(self.personas), len(self.channels))

    def cell_persona(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_groups) % len(self.personas), len(self.channels))

    def cell_channel(self) -> np.ndarray:
        return np.tile(np.arange(len(self.channels)), self.n_groups)


class Population:
    def __init__(self, layout: Layout, arm: np.ndarray, persona: np.ndarray,
                 columns: dict[str, np.dtype]) -> None:
        self.layout = layout
        self.size = len(arm)
        self.n_groups = layout.n_groups
        self.n_channels = len(layout.channels)
        self.arm, self.persona = arm, persona
        self.group = (arm.astype(np.int16) * len(layout.personas) + persona).astype(np.int16)
        self.stage = np.zeros(self.size, dtype=np.int8)
        self.channel = np.zeros(self.size, dtype=np.int8)
        self.campaign = np.full(self.size, -1, dtype=np.int16)
        self.cell = (self.group * self.n_channels).astype(np.int16)
        self.acquired_day = np.full(self.size, -1, dtype=np.int16)
        # ids of an existing base's channels (None: none), for `base_first_order`
        self.base_channel_ids = np.array([layout.channel_id(c) for c in layout.base_channels],
                                         dtype=np.int8) if layout.base_channels else None
        self.columns: dict[str, np.ndarray] = {
            name: np.zeros(self.size, dtype=dtype)
            for name, dtype in columns.items() if name not in CORE_COLUMNS
        }
        self.stage_counts = np.zeros((len(Stage), layout.n_cells), dtype=np.int64)
        self.stage_counts[Stage.POTENTIAL] = np.bincount(self.cell, minlength=layout.n_cells)
        # Rows of each parameter group, to draw arrivals from without scanning the market.
        order = np.argsort(self.group, kind="stable").astype(np.int32)
        bounds = np.searchsorted(self.group[order], np.arange(self.n_groups + 1))
        self._group_rows = [order[bounds[g]:bounds[g + 1]] for g in range(self.n_groups)]
        # whether each of them is still potential, in the same order (a view per group), and
        # where each user sits in it: a draw tests its picks in this small contiguous mask
        # instead of gathering rows and then their stage from two market-wide columns
        self._pool_position = np.empty(self.size, dtype=np.int32)
        self._pool_position[order] = np.arange(self.size, dtype=np.int32)
        self._pool_potential = np.ones(self.size, dtype=bool)
        self._group_potential = [self._pool_potential[bounds[g]:bounds[g + 1]]
                                 for g in range(self.n_groups)]
        # one group: its rows are 0..N-1 in order, so a pick is its row and a row its position
        self._one_pool = self.n_groups == 1
        self.today: dict[str, list[np.ndarray]] = {}
        self.visits: list[tuple[np.ndarray, int, int]] = []  # today's (rows, channel, campaign)
        self._stamp = np.full(self.size, np.iinfo(np.int32).max, dtype=np.int32)  # `distinct`
        self._joined: list[np.ndarray] = []  # every acquisition batch, in order
        self._cursors: dict[str, int] = {}
        self.funnel = False  # set by the engine when a funnel mechanic turns visits into users
        self.graph = None  # a sim.graph.SocialGraph when a mechanic shares along friendships
        self.supply: Supply | None = None  # set by a catalogue mechanic (sim/mechanics/catalogue)
        self._day_indexes: dict[str, LastDayIndex] = {}  # see `day_index`
        # (rate column, event) of every member price a mechanic grants, in stage order; set by
        # the engine from the mechanics' `member_price` (sim/orders.py takes them off orders)
        self.member_prices: list[tuple[str, str]] = []
        self.today_values: dict[str, list[np.ndarray]] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    # --- counts -------------------------------------------------------------------------------
    def count(self, stage: Stage) -> np.ndarray:
        """Users in a stage, per counter cell."""
        return self.stage_counts[stage]

    def potential_of_group(self, group: int) -> int:
        """Potential users of a parameter group (they all sit in the group's channel-0 cell)."""
        return int(self.stage_counts[Stage.POTENTIAL, group * self.n_channels])

    def cells_of(self, rows: np.ndarray, channel: int | None = None) -> np.ndarray:
        """The counter cell of each row; `channel` overrides the users' own channel (a visit is
        credited to the channel that brought it)."""
        if channel is None:
            return self.cell[rows]
        return self.group[rows].astype(np.int64) * self.n_channels + channel

    def day_index(self, column: str, keep_days: int) -> LastDayIndex:
        """The shared LastDayIndex of a day column (who holds a given recent day, without a
        scan): the mechanic that writes the column records into it, the others only read, so
        it is kept once however many read it; it keeps the longest `keep_days` asked for."""
        index = self._day_indexes.get(column)
        if index is None:
            index = self._day_indexes[column] = LastDayIndex(self[column], keep_days)
        index.keep_at_least(keep_days)
        return index

    # --- stage changes ------------------------------------------------------------------------
    def distinct(self, rows: np.ndarray) -> np.ndarray:
        """Rows without repeats, in first-occurrence order, in O(n) with no sort or hashing:
        each row's stamp becomes the smallest position it occurs at (ufunc.at is unbuffered,
        so repeated rows are well defined), and a position is kept if it holds that stamp."""
        if len(rows) < 2:
            return rows
        return rows[self.first_seen(rows)]

    def first_seen(self, rows: np.ndarray) -> np.ndarray:
        """Whether each entry is its row's first occurrence in `rows` (see `distinct`)."""
        order = np.arange(len(rows), dtype=np.int32)
        np.minimum.at(self._stamp, rows, order)
        keep = self._stamp[rows] == order
        self._stamp[rows] = np.iinfo(np.int32).max
        return keep

    def among(self, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
        """`np.isin(rows, others)` for user rows, in O(len(rows) + len(others)) by marking
        `others` in the scratch (np.isin sorts or builds a table over the whole id range:
        0.3-0.5 ms a call for a day's buyers)."""
        if not len(others):
            return np.zeros(len(rows), dtype=bool)
        never = np.iinfo(np.int32).max
        self._stamp[others] = 0
        try:
            return self._stamp[rows] != never
        finally:  # the scratch stays clean even if `rows` is bad: distinct relies on it
            self._stamp[others] = never

    def distinct_then(self, rows: np.ndarray, more: np.ndarray) -> np.ndarray:
        """`distinct(concatenate([rows, more]))` when `more` has no repeats of its own (a due
        scan's rows): only `rows` are deduplicated, and `more` loses those among them by one
        gather (0.40 against 0.69 ms for activity's 110k due users a day)."""
        head = self.distinct(rows)
        return np.concatenate([head, more[~self.among(more, head)]])

    def draw_potential(self, group: int, k: int, rng: np.random.Generator) -> np.ndarray:
        """k uniformly random potential users of a group (all of them if fewer remain).

        Sequential uniform draws from the group's rows, keeping potential users not yet taken:
        each accepted user is uniform among those left, so the result is a uniformly random
        k-subset, as k independent "does this user join?" trials conditioned on the count give.
        Visitors who do not register stay potential and can be drawn again later.
        """
        rows, still = self._group_rows[group], self._group_potential[group]
        left = self.potential_of_group(group)
        if k <= 0 or left == 0:
            return np.empty(0, dtype=np.int32)
        if k >= left:
            return rows[still]
        if 4 * k > left:  # a large share of those left: one scan, then a uniform subset
            potential = rows[still]
            return potential[rng.choice(len(potential), size=k, replace=False)]
        taken = np.empty(0, dtype=np.int32)
        while len(taken) < k:
            need = k - len(taken)
            picks = rng.integers(0, len(rows), size=int(need * len(rows) / left * 1.2) + 16)
            picks = picks[still[picks]]
            batch = picks.astype(np.int32) if self._one_pool else rows[picks]
            taken = self.distinct(np.concatenate([taken, batch]))[:k]
        return taken

    def acquire(self, rows: np.ndarray, day: int, channel: int, campaign: int = -1) -> None:
        """Potential users become users, remembering the channel and campaign that won them."""
        self._register(rows[self.stage[rows] == Stage.POTENTIAL], day, channel, campaign)

    def arrive(self, rows: np.ndarray, day: int, channel: int, campaign: int = -1) -> None:
        """Potential users visit through a channel. With a funnel they wait for it to register
        them; without one, every visit registers at once."""
        self.arrive_potential(rows[self.stage[rows] == Stage.POTENTIAL], day, channel, campaign)

    def arrive_potential(self, rows: np.ndarray, day: int, channel: int,
                         campaign: int = -1) -> None:
        """`arrive` for rows the caller has just kept to potential users (no second check)."""
        if self.funnel:
            self.visits.append((rows, channel, campaign))
        else:
            self._register(rows, day, channel, campaign)

    def _register(self, rows: np.ndarray, day: int, channel: int, campaign: int) -> None:
        """`acquire` of rows that are all potential users."""
        n_cells = self.layout.n_cells
        self.stage_counts[Stage.POTENTIAL] -= np.bincount(self.cell[rows], minlength=n_cells)
        self.stage[rows] = Stage.ALIVE
        self._pool_potential[rows if self._one_pool else self._pool_position[rows]] = False
        self.acquired_day[rows] = day
        self.channel[rows] = channel
        self.campaign[rows] = campaign
        cell = self.group[rows] * self.n_channels + channel
        self.cell[rows] = cell
        self.stage_counts[Stage.ALIVE] += np.bincount(cell, minlength=n_cells)
        self.emit("acquired", rows)
        if len(rows):
            self._joined.append(rows)

    def churn(self, rows: np.ndarray) -> None:
        rows = rows[self.stage[rows] == Stage.ALIVE]
        self.stage[rows] = Stage.CHURNED
        moved = np.bincount(self.cell[rows], minlength=self.layout.n_cells)
        self.stage_counts[Stage.ALIVE] -= moved
        self.stage_counts[Stage.CHURNED] += moved
        self.emit("churned", rows)

    # --- today's events: how mechanics hear about each other's work ---------------------------
    def new_users(self, reader: str) -> np.ndarray:
        """Users acquired since `reader` last asked (today's, and any that joined after its
        stage yesterday: a referee who registers in the virality stage is seen by the purchase
        stage the next day, never missed)."""
        start = self._cursors.get(reader, 0)
        self._cursors[reader] = len(self._joined)
        batches = self._joined[start:]
        if not batches:
            return np.empty(0, dtype=np.int32)
        return batches[0] if len(batches) == 1 else np.concatenate(batches)

    def begin_day(self) -> None:
        """Today's event rows start empty; queued visits stay until a funnel registers them."""
        self.today = {}
        self.today_values = {}

    def emit(self, event: str, rows: np.ndarray) -> None:
        self.today.setdefault(event, []).append(rows)

    def emit_values(self, event: str, rows: np.ndarray, values: np.ndarray) -> None:
        """Today's rows of an event with a number each (e.g. the value of each order)."""
        self.emit(event, rows)
        self.today_values.setdefault(event, []).append(values)

    def values_today(self, event: str) -> np.ndarray:
        parts = self.today_values.get(event)
        if not parts:
            return np.empty(0)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def draw_alive(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """k distinct uniformly random alive users (all of them if fewer are alive)."""
        alive = int(self.stage_counts[Stage.ALIVE].sum())
        if k <= 0 or alive == 0:
            return np.empty(0, dtype=np.int32)
        if k >= alive:
            return np.flatnonzero(self.stage == Stage.ALIVE).astype(np.int32)
        taken = np.empty(0, dtype=np.int32)
        while len(taken) < k:
            need = k - len(taken)
            batch = rng.integers(0, self.size, size=int(need * self.size / alive * 1.2) + 16)
            batch = batch[self.stage[batch] == Stage.ALIVE].astype(np.int32)
            taken = self.distinct(np.concatenate([taken, batch]))[:k]
        return taken

    def rows_today(self, event: str) -> np.ndarray:
        parts = self.today.get(event)
        if not parts:
            return np.empty(0, dtype=np.int32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
