"""Bargains (砍价, "help me cut the price"): friends' help drives an item's price to the floor.

Initiators: each alive user starts a bargain on a day with `start_prob` (the count is drawn,
then the initiators are sampled). The initiator shares the bargain card with Zipf
(`reach_exponent`) friends along the graph (capped at `max_reach`; friends reached twice count
once; churned friends are out). Each reached friend helps with `help_prob`, on a day drawn
uniformly within the window of ceil(`window_hours` / 24) days; a helper who is not yet a user
registers to help (WeChat login) and is credited to the bargain channel. The bargain completes
on the day its `helpers_required`-th helper arrives (later helpers are not needed): the
initiator orders the item at `floor_price` and the item's cost `item_cost` is booked as
`bargain_cost`. Short of helpers at the deadline, it fails (no order). When the mechanic's window
ends, pending bargains fail. With a catalogue whose stock runs out, a completion whose order the
stock refuses fails too (no order, no item cost), so started = completed + failed + pending.

With d distinct friends reached, a bargain completes with P(Binomial(d, help_prob) >= m); the
test checks the completions against the sum of these over the logged bargains (`bargain_invite`
is one event per friend reached).

Each helper cuts (item_value - floor_price) / m: the schedule is deterministic and the number of
helpers is shown up front, as WeChat's 2020 rules require. `random_cut` splits the cuts at random
(uniform shares of the total) and `disclose_helpers: false` hides the count; both exist so the
compliance check can flag them (WX-SHARE: no uncertain payoff, state how many friends).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim import orders
from sim.compliance import finding
from sim.errors import Problem
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.mechanics.group_buy import book_distinct
from sim.metric import LedgerLine, Metric, col
from sim.orders import ORDER_EVENTS
from sim.population import Stage
from sim.sharing import share


class BargainParams(MechanicParams):
    type: Literal["bargain"] = "bargain"
    item_value: float = Field(45.0, gt=0.0, description="Price shown before any cut, yuan "
                              "(default aov_mean 45, domain-facts §8).")
    floor_price: float = Field(0.0, ge=0.0, description="Price once every required helper has "
                               "cut, yuan (0 = free, as in Pinduoduo's Price Chop [BLOG]).")
    item_cost: float = Field(27.0, ge=0.0, description="What the item costs the merchant, yuan, "
                             "booked as bargain_cost on completion (ASSUMPTION: 60% of value).")
    helpers_required: int = Field(10, ge=1, le=1000,
                                  description="Helpers needed (m), shown to the initiator "
                                  "(ASSUMPTION 3-50; disclosure rule [OFFICIAL] WeChat 2020).")
    window_hours: float = Field(24.0, gt=0.0, le=720.0,
                                description="Time to gather the helpers, hours, rounded up to "
                                "whole days (24 h at Pinduoduo [BLOG]; 24-72 h in SaaS "
                                "templates [VENDOR]).")
    start_prob: float = Field(0.002, ge=0.0, le=1.0,
                              description="Daily probability an alive user starts a bargain "
                              "(ASSUMPTION).")
    help_prob: float = Field(0.2, ge=0.0, le=1.0,
                             description="Probability a reached friend helps (ASSUMPTION; "
                             "blogs claim success below 20% but cite nothing usable).")
    reach_exponent: float = Field(1.5, gt=1.0, description="Zipf exponent of friends one "
                                  "share reaches (ASSUMPTION: heavier-tailed than a referral "
                                  "share, bargain cards are posted to groups).")
    max_reach: int = Field(100, ge=1, description="Most friends one share reaches "
                           "(SaaS caps such as 50 helpers [VENDOR]).")
    random_cut: bool = Field(False, description="Random cut amounts (an uncertain payoff, "
                             "banned by WeChat's 2020 rules: WX-SHARE). Default deterministic.")
    disclose_helpers: bool = Field(True, description="Whether the number of helpers needed is "
                                   "shown up front (required by WeChat's 2020 rules: WX-SHARE).")
    channel: str = Field("bargain", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel helpers who register are credited to.")

    @model_validator(mode="after")
    def _floor_below_value(self) -> BargainParams:
        if self.floor_price >= self.item_value:
            raise ValueError(f"floor_price ({self.floor_price:g}) must be below item_value "
                             f"({self.item_value:g}); otherwise there is nothing to cut")
        return self


_EMPTY_I = np.empty(0, dtype=np.int64)


METRICS: tuple[Metric, ...] = (
    Metric("bargain_starts", "bargains", "flow",
           "Bargains (砍价) started.",
           ("bargain_started",), compute=lambda c: c["bargain_started"], zh="砍价发起"),
    Metric("bargain_completions", "bargains", "flow",
           "Bargains whose required helpers all helped in time (item ordered at the floor).",
           ("bargain_completed",), compute=lambda c: c["bargain_completed"], zh="砍价成功"),
    Metric("bargain_completion_rate", "share", "ratio",
           "bargain_completions / bargain_starts (bargains still open at the horizon count as not "
           "completed).",
           ("bargain_started", "bargain_completed"), numerator="bargain_completions",
           denominator="bargain_starts", zh="砍价成功率"),
    Metric("bargain_cost", "yuan", "flow",
           "Cost of the items given away by completed bargains.",
           ("bargain_cost",), compute=lambda c: col(c, "bargain_cost_amount"), zh="砍价成本",
           good="down", ledger=LedgerLine("relative", 200), acquisition=True),
)


# --- platform rules and law it must keep (sim/compliance.py runs them) ---------------------


def _terms(scenario: Any, name: str, params: Any) -> list[Problem]:
    """WeChat's 2020 rules: a bargain states how many friends it needs, with no random payoff."""
    out = []
    if not params.disclose_helpers:
        out.append(finding(
            scenario, ("mechanics", name, "disclose_helpers"), "WX-SHARE",
            "a bargain must state up front how many friends are needed (WeChat 2020 "
            f"sharing rules); show the {params.helpers_required} helpers required",
            zh="砍价须在发起时就写明需要几位好友助力（微信 2020 年分享规则）；请向用户展示需 "
            f"{params.helpers_required} 位好友助力"))
    if params.random_cut:
        out.append(finding(
            scenario, ("mechanics", name, "random_cut"), "WX-SHARE",
            "random per-friend cuts are an uncertain payoff used to drive sharing (WeChat "
            "2020 sharing rules); use the deterministic schedule",
            zh="每位好友随机砍掉的金额是以不确定收益驱动分享（微信 2020 年分享规则）；请改用"
            "确定的砍价金额表"))
    return out


class Bargain(Mechanic[BargainParams]):
    stage = StageOrder.VIRALITY
    metrics = METRICS
    compliance = (_terms,)
    needs_graph = True
    events = ("bargain_started", "bargain_invite", "bargain_helper", "bargain_completed",
              "bargain_failed", "bargain_cost", *ORDER_EVENTS, "cogs")
    sells = True
    emits = ("shared",)

    @classmethod
    def channels(cls, params: BargainParams) -> list[str]:
        return [params.channel]


    def setup(self) -> None:
        orders.prepare(self.pop)
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        self.next_id = 0
        # pending bargains, in id order: initiator, the day they resolve, whether they complete
        self.bid = _EMPTY_I.copy()
        self.initiator = np.empty(0, dtype=np.int32)
        self.resolve_day = np.empty(0, dtype=np.int32)
        self.completes = np.empty(0, dtype=bool)
        # helpers still to arrive: bargain id, row, day, cut (yuan)
        self.h_bid = _EMPTY_I.copy()
        self.h_row = np.empty(0, dtype=np.int32)
        self.h_day = np.empty(0, dtype=np.int32)
        self.h_cut = np.empty(0, dtype=np.float64)

    def step(self, day: int) -> None:
        self._start(day)
        self._arrivals(day)
        self._resolve(day, self.resolve_day <= day)

    def idle(self, day: int) -> None:
        """The campaign ended: pending bargains fail, helpers still to come stay away."""
        self.h_bid, self.h_row = self.h_bid[:0], self.h_row[:0]
        self.h_day, self.h_cut = self.h_day[:0], self.h_cut[:0]
        self.completes[:] = False
        self._resolve(day, np.ones(len(self.bid), dtype=bool))

    # --- starting: who helps and when is drawn at once ----------------------------------------
    def _start(self, day: int) -> None:
        pop, get = self.pop, self.params.for_rows
        rows = self._initiators()
        if not len(rows):
            return
        self.ctx.recorder.event("bargain_started", day, rows)
        bids = np.arange(self.next_id, self.next_id + len(rows), dtype=np.int64)
        self.next_id += len(rows)
        groups = pop.group[rows]
        days = np.broadcast_to(np.ceil(np.asarray(get("window_hours", groups)) / 24.0 - 1e-9),
                               rows.shape).astype(np.int32)
        need = np.broadcast_to(get("helpers_required", groups), rows.shape).astype(np.int64)
        at, friend, arrive = self._helpers(rows, groups, days, day)
        # the first m helpers (by arrival day, ties at random) are the ones that count
        tie = self.rng.random(len(at))
        order = np.lexsort((tie, arrive, at))
        at, friend, arrive = at[order], friend[order], arrive[order]
        rank = np.arange(len(at)) - np.searchsorted(at, at)
        keep = rank < need[at]
        at, friend, arrive, rank = at[keep], friend[keep], arrive[keep], rank[keep]
        got = np.bincount(at, minlength=len(rows))
        completes = got >= need
        last = np.full(len(rows), -1, dtype=np.int32)
        last[at[rank == need[at] - 1]] = arrive[rank == need[at] - 1]
        resolve = np.where(completes, last, day + days - 1).astype(np.int32)
        cut = self._cuts(groups, at, need, got)
        self.bid = np.concatenate([self.bid, bids])
        self.initiator = np.concatenate([self.initiator, rows])
        self.resolve_day = np.concatenate([self.resolve_day, resolve])
        self.completes = np.concatenate([self.completes, completes])
        self.h_bid = np.concatenate([self.h_bid, bids[at]])
        self.h_row = np.concatenate([self.h_row, friend.astype(np.int32)])
        self.h_day = np.concatenate([self.h_day, arrive])
        self.h_cut = np.concatenate([self.h_cut, cut])

    def _initiators(self) -> np.ndarray:
        """Today's initiators: Binomial(alive, the largest start_prob) drawn uniformly, thinned
        to each group's own probability."""
        pop = self.pop
        most = float(np.max(self.params.get("start_prob")))
        if most <= 0:
            return np.empty(0, dtype=np.int32)
        alive = int(pop.count(Stage.ALIVE).sum())
        rows = pop.draw_alive(int(self.rng.binomial(alive, most)), self.rng).astype(np.int32)
        if self.params.varies("start_prob"):
            start = self.params.for_rows("start_prob", pop.group[rows])
            rows = rows[self.rng.random(len(rows)) < start / most]
        return rows

    def _helpers(self, rows: np.ndarray, groups: np.ndarray, days: np.ndarray,
                 day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each initiator shares; friends reached (once per bargain) help with `help_prob` on a
        uniform day of the window: (bargain index, friend, arrival day) per helper."""
        pop = self.pop
        sharer, friend = share(self, rows)
        self.publish("shared", rows)  # e.g. points for sharing
        order = np.argsort(rows, kind="stable")  # initiators are distinct: map sharer -> bargain
        at = order[np.searchsorted(rows[order], sharer)]
        reached = pop.stage[friend] != Stage.CHURNED
        at, friend = at[reached], friend[reached]
        _, first = np.unique(at * np.int64(pop.size) + friend, return_index=True)
        at, friend = at[first], friend[first]  # each friend reached once per bargain
        self.ctx.recorder.event("bargain_invite", day, rows[at])
        helps = self.rng.random(len(friend)) < self.params.for_rows("help_prob", groups[at])
        at, friend = at[helps], friend[helps]
        arrive = day + (self.rng.random(len(at)) * days[at]).astype(np.int32)
        return at, friend, arrive

    def _cuts(self, groups: np.ndarray, at: np.ndarray, need: np.ndarray,
              got: np.ndarray) -> np.ndarray:
        """Each counted helper's cut of item_value - floor_price: equal, or a uniform random
        split of the total over the m cuts."""
        get = self.params.for_rows
        total = np.broadcast_to(np.asarray(get("item_value", groups))
                                - np.asarray(get("floor_price", groups)), groups.shape)
        if not self.params.base.random_cut:
            return total[at] / need[at]
        draw = self.rng.exponential(size=len(at))
        rest = self.rng.gamma(np.maximum(need - got, 1), size=len(groups)) * (need > got)
        return total[at] * draw / (np.bincount(at, draw, minlength=len(groups)) + rest)[at]

    # --- each day: helpers arrive, bargains resolve -------------------------------------------
    def _arrivals(self, day: int) -> None:
        due = self.h_day <= day
        if not due.any():
            return
        rows, cut = self.h_row[due], self.h_cut[due]
        newcomers = self.pop.distinct(rows[self.pop.stage[rows] == Stage.POTENTIAL])
        rec = self.ctx.recorder
        rec.event("visit", day, newcomers, channel=self.channel)
        self.pop.acquire(newcomers, day, self.channel)
        rec.event("bargain_helper", day, rows, cut)
        keep = ~due
        self.h_bid, self.h_row = self.h_bid[keep], self.h_row[keep]
        self.h_day, self.h_cut = self.h_day[keep], self.h_cut[keep]

    def _resolve(self, day: int, due: np.ndarray) -> None:
        if not due.any():
            return
        rec, get, pop = self.ctx.recorder, self.params.for_rows, self.pop
        won = due & self.completes
        rows = self.initiator[won]
        groups = pop.group[rows]
        floor = np.broadcast_to(np.asarray(get("floor_price", groups), float), rows.shape)
        sold = book_distinct(self, rows, day, floor.copy(), 0.0)
        cut = np.broadcast_to(np.asarray(get("item_value", groups)) - floor, rows.shape)
        cost = np.broadcast_to(np.asarray(get("item_cost", groups), float), rows.shape)
        rec.event("bargain_completed", day, rows[sold], cut[sold])
        rec.event("bargain_cost", day, rows[sold], cost[sold])
        # short of helpers, or out of stock when the helpers were all there: no item, no cost
        rec.event("bargain_failed", day, np.concatenate([self.initiator[due & ~self.completes],
                                                         rows[~sold]]))
        keep = ~due
        self.bid, self.initiator = self.bid[keep], self.initiator[keep]
        self.resolve_day, self.completes = self.resolve_day[keep], self.completes[keep]
