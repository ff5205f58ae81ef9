"""Daily opens (DAU) apart from purchases, engagement that decays, and lifecycle states.

After an open, a user opens again s days later with hazard h(s) = max(floor, open_prob *
decay^(s-1)): engagement fades with time since the last visit, and the floor lets long-dormant
users come back. Registering and ordering are opens too. The next open is drawn at each open by
inverting the cumulative hazard (one exponential draw per open, no per-user daily work).

Lifecycle state of every alive user, each day (exactly one):
- new: acquired in the last 7 days;
- dormant: no open for `dormant_after_days` days or more (a reactivation is an open after that);
- active: the others.
With `churn_after_days`, a user with no open for that long churns for good.
WAU and MAU count users with an open in the last 7 and 30 days, from histograms of last-open
days kept up to date at each open, so nothing scans the whole market.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import Metric, ReportSection
from sim.population import Stage
from sim.sorted_search import SortedTable

NEW_DAYS = 7
GUIDE_SLICES = 32  # guide-table slices per gap (sim.sorted_search): 0.36 ms vs 0.97 for 45k opens


class ActivityParams(MechanicParams):
    type: Literal["activity"] = "activity"
    fixed_fields = frozenset({  # one value for the whole market
        "churn_after_days", "dormant_after_days"})
    open_prob: float = Field(
        0.30, ge=0.0, le=1.0,
        description="Probability of opening the day after an open (ASSUMPTION; tune so "
        "DAU/MAU lands near 0.10, e-commerce average, June.so).")
    decay: float = Field(0.85, gt=0.0, le=1.0,
                         description="Factor per extra day since the last open.")
    floor: float = Field(0.002, ge=0.0, le=1.0,
                         description="Daily open probability however long ago the last open.")
    dormant_after_days: int = Field(
        14, ge=NEW_DAYS, le=365, description="No open for this many days makes a user dormant.")
    churn_after_days: int | None = Field(
        None, ge=1, description="No open for this many days churns a user for good; omit for "
        "never (dormant users can always come back).")

    @model_validator(mode="after")
    def _churn_after_dormancy(self) -> ActivityParams:
        if self.churn_after_days is not None and self.churn_after_days <= self.dormant_after_days:
            raise ValueError("churn_after_days must be larger than dormant_after_days")
        return self


METRICS: tuple[Metric, ...] = (
    Metric("dau", "users", "stock",
           "Daily active users: users with an open that day (registering and ordering are opens).",
           ("open",), compute=lambda c: c["open"], zh="日活（DAU）"),
    Metric("wau", "users", "stock",
           "Users with an open in the last 7 days.",
           ("wau",), compute=lambda c: c["wau"], zh="周活（WAU）"),
    Metric("mau", "users", "stock",
           "Users with an open in the last 30 days.",
           ("mau",), compute=lambda c: c["mau"], zh="月活（MAU）"),
    Metric("dau_mau", "share", "ratio",
           "Stickiness: DAU / MAU (over the horizon: mean DAU over mean MAU).",
           ("open", "mau"), numerator="dau", denominator="mau",
           zh="粘性（日活/月活）", headline=True,
           health=True),
    Metric("new_state_users", "users", "stock",
           "Alive users acquired in the last 7 days (lifecycle state new).",
           ("new_state_users",), compute=lambda c: c["new_state_users"], zh="新用户（近7天）",
           group="Lifecycle states"),
    Metric("active_state_users", "users", "stock",
           "Alive users neither new nor dormant (lifecycle state active).",
           ("active_state_users",), compute=lambda c: c["active_state_users"], zh="活跃用户",
           group="Lifecycle states"),
    Metric("dormant_state_users", "users", "stock",
           "Alive users with no open for dormant_after_days (lifecycle state dormant).",
           ("dormant_state_users",), compute=lambda c: c["dormant_state_users"], zh="沉睡用户",
           good="down", group="Lifecycle states"),
    Metric("reactivated_users", "users", "flow",
           "Dormant users who opened again that day.",
           ("reactivated",), compute=lambda c: c["reactivated"], zh="唤醒用户",
           group="Lifecycle states"),
)


class Activity(Mechanic[ActivityParams]):
    stage = StageOrder.LOYALTY
    metrics = METRICS
    report = ReportSection("operations")
    emits = ("opened",)
    reads_if_any = ("ordered",)  # ordering is an open
    events = ("open", "became_dormant", "reactivated")
    stocks = ("wau", "mau", "new_state_users", "active_state_users", "dormant_state_users")

    @classmethod
    def columns(cls, params: ActivityParams) -> dict[str, np.dtype]:
        return {"last_open_day": np.dtype(np.int16), "next_open_day": np.dtype(np.int16)}

    def setup(self) -> None:
        days, cells = self.ctx.days, self.ctx.layout.n_cells
        self.n_cells = cells
        self.pop["last_open_day"].fill(-1)
        self.pop["next_open_day"].fill(-1)
        base = self.params.base  # who last opened n days ago, without a scan of the column
        self.last_opens = self.pop.day_index(
            "last_open_day", max(base.dormant_after_days, base.churn_after_days or 0))
        self.seen = np.zeros((days, cells), dtype=np.int64)  # all users by last-open day
        self.alive_seen = np.zeros((days, cells), dtype=np.int64)  # alive users, same
        self.alive_acquired = np.zeros((days, cells), dtype=np.int64)  # alive, by join day
        gaps = np.arange(1, days + 2, dtype=np.float64)
        get = self.params.get
        groups = self.pop.n_groups
        open_prob = np.broadcast_to(get("open_prob"), (groups,))[:, None]
        decay = np.broadcast_to(get("decay"), (groups,))[:, None]
        floor = np.broadcast_to(get("floor"), (groups,))[:, None]
        hazard = np.minimum(np.maximum(floor, open_prob * decay ** (gaps - 1)), 1.0)
        with np.errstate(divide="ignore"):
            cum_hazard = np.cumsum(-np.log1p(-hazard), axis=1)  # (groups, gaps)
        if (cum_hazard == cum_hazard[0]).all():  # personas that share the open habit
            cum_hazard = cum_hazard[:1]
        # a fine guide table: searched by every open, ~2.5x faster than np.searchsorted here
        self.gap_tables = [SortedTable(row, "left", GUIDE_SLICES) for row in cum_hazard]

    def step(self, day: int) -> None:
        pop, rec = self.pop, self.ctx.recorder
        n = self.params.base.dormant_after_days
        joined = pop.new_users(self.name)
        self.alive_acquired += self._histogram(pop.acquired_day[joined].astype(np.int64),
                                               pop.cell[joined].astype(np.int64))
        due = np.flatnonzero(pop["next_open_day"] == day)
        # registering, ordering and a scheduled open are all opens; churned users have no
        # scheduled open, and today's churners ordered today, so every candidate counts
        opened = pop.distinct_then(np.concatenate([joined, self.today("ordered")]), due)
        churned_today = self.today("churned")
        last = pop["last_open_day"][opened].astype(np.int64)
        cells = pop.cell[opened].astype(np.int64)
        was = last >= 0
        moved = self._histogram(last[was], cells[was])
        self.seen -= moved
        self.alive_seen -= moved
        today = np.bincount(cells, minlength=self.n_cells)
        self.seen[day] += today
        self.alive_seen[day] += today
        rec.event("open", day, opened, cells=cells)
        self.publish("opened", opened)  # e.g. recommendations learn from opens
        rec.event("reactivated", day, opened[was & (last <= day - n)])
        pop["last_open_day"][opened] = day
        self.last_opens.record(day, opened)
        still = opened[pop.stage[opened] == Stage.ALIVE]
        pop["next_open_day"][still] = np.minimum(day + self._gap(still), np.iinfo(np.int16).max)
        self._forget(churned_today)
        if day - n >= 0:
            crossing = self.last_opens.rows_with(day - n)
            rec.event("became_dormant", day, crossing[pop.stage[crossing] == Stage.ALIVE])
        churn_after = self.params.base.churn_after_days
        if churn_after is not None and day - churn_after >= 0:
            lapsed = self.last_opens.rows_with(day - churn_after)
            lapsed = lapsed[pop.stage[lapsed] == Stage.ALIVE]
            pop.churn(lapsed)
            self._forget(lapsed)
        self._stocks(day)

    def _forget(self, churned: np.ndarray) -> None:
        """Churned users leave the alive histograms (they stay in WAU/MAU while recent)."""
        pop = self.pop
        last = pop["last_open_day"][churned].astype(np.int64)
        cells = pop.cell[churned].astype(np.int64)
        ok = last >= 0
        self.alive_seen -= self._histogram(last[ok], cells[ok])
        self.alive_acquired -= self._histogram(pop.acquired_day[churned].astype(np.int64), cells)
        pop["next_open_day"][churned] = -1

    def _histogram(self, days: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Counts by (day, cell), shaped like the histograms."""
        shape = self.seen.shape
        flat = days * shape[1] + cells
        return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)

    def _gap(self, rows: np.ndarray) -> np.ndarray:
        """Days to the next open: first s with cumulative hazard >= an Exp(1) draw."""
        draws = self.rng.exponential(size=len(rows))
        if len(self.gap_tables) == 1:
            return self.gap_tables[0].search(draws) + 1
        gaps = np.empty(len(rows), dtype=np.int64)
        groups = self.pop.group[rows]
        for g in np.unique(groups):
            pick = groups == g
            gaps[pick] = self.gap_tables[g].search(draws[pick]) + 1
        return gaps

    def _stocks(self, day: int) -> None:
        rec, n = self.ctx.recorder, self.params.base.dormant_after_days
        alive = self.pop.count(Stage.ALIVE)
        new = self.alive_acquired[max(0, day - NEW_DAYS + 1): day + 1].sum(axis=0)
        dormant = self.alive_seen[: max(0, day - n + 1)].sum(axis=0)
        rec.stock("wau", day, self.seen[max(0, day - 6): day + 1].sum(axis=0))
        rec.stock("mau", day, self.seen[max(0, day - 29): day + 1].sum(axis=0))
        rec.stock("new_state_users", day, new)
        rec.stock("dormant_state_users", day, dormant)
        rec.stock("active_state_users", day, alive - new - dormant)
