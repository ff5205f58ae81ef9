"""What happened each day: events counted (and their amounts summed) per counter cell.

Every counter is an event: `event(name, day, rows, amount)` adds one event per user row, so the
same call fills the daily counters (count and amount per cell), the cohort tables (by the
user's acquisition week, channel and age) and, when asked, the per-user event log. Metrics are
computed from these tables only, so the engine's numbers and those recomputed from the event
log go through the same definitions. Costs with no user (ad and KOL spend) are channel events;
levels (alive users, WAU) are stocks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.population import Layout, Population

COHORT_DAYS = 181  # ages 0..180 days: LTV at 30, 90 and 180 days
WEEK = 7


@dataclass
class Counters:
    """The tables one replicate produces (all float64, all summable across replicates)."""

    counts: dict[str, np.ndarray]  # event -> (days, cells)
    amounts: dict[str, np.ndarray]  # event -> (days, cells)
    stocks: dict[str, np.ndarray]  # stock -> (days, cells)
    channel_amounts: dict[str, np.ndarray]  # event -> (days, channels)
    cohort_counts: dict[str, np.ndarray]  # event -> (weeks, channels, ages)
    cohort_amounts: dict[str, np.ndarray]  # event -> (weeks, channels, ages)
    cohort_active: np.ndarray  # (weeks, channels, weeks since acquisition): users with an open
    events: dict[str, np.ndarray] | None = field(default=None)  # the event log, if recorded
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # mechanics' end-of-run tables


class Recorder:
    def __init__(self, layout: Layout, pop: Population, days: int, events: list[str],
                 channel_events: list[str], stocks: list[str], log_events: bool = False,
                 cohort_events: Collection[str] = (), retention_grid: bool = True) -> None:
        self.layout, self.pop, self.days = layout, pop, days
        cells, channels = layout.n_cells, len(layout.channels)
        weeks = -(-days // WEEK)
        self.counts = {e: np.zeros((days, cells)) for e in events}
        self.amounts = {e: np.zeros((days, cells)) for e in events}
        self.stocks = {s: np.zeros((days, cells)) for s in stocks}
        self.channel_amounts = {e: np.zeros((days, channels)) for e in channel_events}
        tracked = [e for e in events if e in cohort_events]  # sim.metrics.COHORT_EVENTS
        self.cohort_counts = {e: np.zeros((weeks, channels, COHORT_DAYS)) for e in tracked}
        self.cohort_amounts = {e: np.zeros((weeks, channels, COHORT_DAYS)) for e in tracked}
        self.cohort_active = np.zeros((weeks, channels, weeks))
        # retention grid: the day each user's next week since acquisition starts (0: counts at
        # the first open); days fit int16 (the horizon is at most 3650 days)
        self._next_active_week = np.zeros(pop.size, dtype=np.int16) \
            if "open" in events and retention_grid else None
        self._log: list[tuple] | None = [] if log_events else None
        self._event_codes: dict[str, int] = {}  # event name -> its code in the log
        # with one parameter group and a single acquisition channel, every event of a user is
        # in cell 1 (potential users only visit, and visits name their channel)
        self._one_user_cell = 1 if layout.n_groups == 1 and channels == 2 else None

    def event(self, name: str, day: int, rows: np.ndarray,
              amount: np.ndarray | float | None = None, channel: int | None = None,
              cells: np.ndarray | None = None) -> None:
        """One `name` event per row on `day` (with an amount per row, if money is involved).
        `cells`: the rows' counter cells, when the caller has already gathered them."""
        if len(rows) == 0:
            return
        n_cells = self.layout.n_cells
        if amount is None:
            weights = None
        elif isinstance(amount, np.ndarray) and amount.shape == rows.shape:
            weights = amount.astype(np.float64, copy=False)  # the common case, no view made
        else:
            weights = np.broadcast_to(np.asarray(amount, dtype=np.float64), rows.shape)
        if n_cells == 1 or (self._one_user_cell is not None and channel is None):
            # one arm, one persona, one acquisition channel: every user event is in one cell
            cell = 0 if n_cells == 1 else self._one_user_cell
            self.counts[name][day, cell] += len(rows)
            if weights is not None:
                self.amounts[name][day, cell] += weights.sum()
        else:
            if cells is None or channel is not None:
                cells = self.pop.cells_of(rows, channel)
            self.counts[name][day] += np.bincount(cells, minlength=n_cells)
            if weights is not None:
                self.amounts[name][day] += np.bincount(cells, weights=weights,
                                                       minlength=n_cells)
        if name in self.cohort_counts:
            self._cohorts(name, day, rows, weights)
        elif name == "open" and self._next_active_week is not None:
            self._count_active_week(day, rows)
        if self._log is not None:
            chan = self.pop.channel[rows] if channel is None else np.full(len(rows), channel)
            self._log.append((rows.astype(np.int32), day, self._code(name),
                              np.zeros(len(rows)) if weights is None else weights.copy(),
                              chan.astype(np.int16), self.pop.campaign[rows].copy()))

    def events_on_days(self, name: str, days: np.ndarray, rows: np.ndarray) -> None:
        """One `name` event per row on its own (past) day, no amounts: what `event` per day
        would record, in one call (30-day repurchases land on their first order's day, up to
        30 days a call: most of a run's calls before). The event log, cohort tables and the
        retention grid keep their per-day path."""
        if len(rows) == 0:
            return
        if self._log is not None or name in self.cohort_counts or name == "open":
            self.events_day_by_day(name, days, rows)
            return
        cells = self.pop.cell[rows].astype(np.int64)
        np.add.at(self.counts[name], (days, cells), 1.0)

    def events_day_by_day(self, name: str, days: np.ndarray, rows: np.ndarray) -> None:
        """`events_on_days` as one `event` call per day (for what keeps per-day state)."""
        for day in np.unique(days):
            self.event(name, int(day), rows[days == day])

    def channel_event(self, name: str, day: int, channel: int, amount: float) -> None:
        """A cost or count that belongs to a channel, not to any user (e.g. ad spend)."""
        self.channel_amounts[name][day, channel] += amount
        if self._log is not None and amount:
            self._log.append((np.array([-1], np.int32), day, self._code(name),
                              np.array([amount]), np.array([channel], dtype=np.int16),
                              np.array([-1], np.int16)))

    def _code(self, name: str) -> int:
        return self._event_codes.setdefault(name, len(self._event_codes))

    def stock(self, name: str, day: int, per_cell: np.ndarray) -> None:
        self.stocks[name][day] = per_cell

    def _cohorts(self, name: str, day: int, rows: np.ndarray, weights: np.ndarray | None) -> None:
        acquired = self.pop.acquired_day[rows].astype(np.int64)  # int16 would overflow the keys
        keep = (acquired >= 0) & (day - acquired < COHORT_DAYS)  # users, young enough
        if not keep.all():
            rows, acquired = rows[keep], acquired[keep]
            weights = None if weights is None else weights[keep]
        if not len(rows):
            return
        table = self.cohort_counts[name]
        channels = table.shape[1]
        flat = ((acquired // WEEK) * channels + self.pop.channel[rows].astype(np.int64)) \
            * COHORT_DAYS + (day - acquired)
        _accumulate(table, flat, None)
        if weights is not None:
            _accumulate(self.cohort_amounts[name], flat, weights)

    def _count_active_week(self, day: int, rows: np.ndarray) -> None:
        """Retention grid: a user counts once per week since acquisition in which they opened
        (`rows`: today's opens, distinct). Only a user's first open of such a week is looked
        at further: one gather and a comparison for the others."""
        first = self._next_active_week[rows] <= day
        rows = rows[first]
        acquired = self.pop.acquired_day[rows].astype(np.int64)
        age_week = (day - acquired) // WEEK
        self._next_active_week[rows] = acquired + (age_week + 1) * WEEK
        grid = self.cohort_active
        flat = ((acquired // WEEK) * grid.shape[1] + self.pop.channel[rows].astype(np.int64)) \
            * grid.shape[2] + age_week
        _accumulate(grid, flat, None)

    def finish(self) -> Counters:
        return Counters(self.counts, self.amounts, self.stocks, self.channel_amounts,
                        self.cohort_counts, self.cohort_amounts, self.cohort_active,
                        self._event_log())

    def _event_log(self) -> dict[str, Any] | None:
        """The logged pieces as recorded (one per call: user int32 rows, day, an int16 event
        code into `_event_names`, amounts, channel and campaign int16; about 24 bytes an
        event), joined into columns only when asked (`sim.events.log_columns`) and written to
        Parquet piece by piece (`sim.events.write_event_log`)."""
        if self._log is None:
            return None
        return {"_pieces": self._log, "_event_names": np.array(list(self._event_codes),
                                                               dtype=object)}


def _accumulate(table: np.ndarray, flat: np.ndarray, weights: np.ndarray | None) -> None:
    """table.flat[flat] += weights (or 1): unbuffered adds for a few keys, a bincount over the
    whole table for many (a bincount costs the table's size, an add the number of keys)."""
    if len(flat) * 8 < table.size:
        np.add.at(table.reshape(-1), flat, 1.0 if weights is None else weights)
    else:
        table += np.bincount(flat, weights=weights, minlength=table.size).reshape(table.shape)
