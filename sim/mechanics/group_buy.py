"""Group buying (拼团): a user opens a group at the team price; it ships only if it fills in time.

Openers: each alive user opens a group on a day with `open_prob` (the count is drawn, then the
openers are sampled). The opener pays `price` * `group_price_ratio` and shares the group card
with Zipf(`reach_exponent`) friends along the graph; each reached friend joins with
`friend_join_prob` (a friend who is not yet a user registers to pay and is credited to the
group-buy channel). Strangers join from the group square (拼团广场): Poisson(`public_join_rate`)
alive users per open group per day. A group needs `group_size` - 1 joiners within
ceil(`window_hours` / 24) days, counting its opening day. It ships as soon as it is full: one
order per member at the team price (cost of goods `cogs_ratio`). A group still short at its
deadline fails and everyone is refunded: no order is booked (Pinduoduo, Youzan: automatic refund).
When the mechanic's window ends, every open group fails (the campaign ended first).

With public joiners only, a group succeeds with P(Poisson(rate * days) >= size - 1): the test
checks exactly that. `simulated_fill` (模拟成团) fills groups short at the deadline with virtual
users, so the real members' orders ship; it is a compliance risk (WX-EXTLINK: false group
buying) and the compliance check flags it.

Events: group_opened and group_succeeded / group_failed on the opener (amounts: the group's
value; the money refunded), group_joined per joiner, group_order per member order (its value),
group_filled on the opener (virtual seats). With a catalogue whose stock runs out, a member's
order the stock refuses is not booked and not counted as a group_order (the group still
counts as succeeded: it filled).

Open groups are a small table (id, opener, deadline, joiners needed and so far, team price) plus
a table of members; everything is vectorised over groups and members.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim import orders
from sim.compliance import finding
from sim.errors import Problem
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import Metric
from sim.orders import ORDER_EVENTS, book_orders
from sim.population import Stage, add_count
from sim.sharing import share


class GroupBuyParams(MechanicParams):
    type: Literal["group_buy"] = "group_buy"
    price: float = Field(45.0, gt=0.0, description="Solo price of the item, yuan (PDD 2020 AOV "
                         "≈43.5 [DERIVED]; default aov_mean 45, domain-facts §8).")
    group_price_ratio: float = Field(0.85, gt=0.0, le=1.0,
                                     description="Team price / solo price (SaaS templates: "
                                     "2-person groups 8-9折, 3-5-person 7-8折 [BLOG]; 0.5-0.95).")
    group_size: int = Field(2, ge=2, le=100, description="Members a group needs, opener "
                            "included (at least 2 [BLOG admin5.com]; 2-5 in practice).")
    window_hours: float = Field(24.0, gt=0.0, le=720.0,
                                description="Validity of a group (拼团有效期), hours, rounded up "
                                "to whole days (24 h at Pinduoduo [BLOG]; configurable 2-72 h, "
                                "Youzan [VENDOR]).")
    open_prob: float = Field(0.005, ge=0.0, le=1.0,
                             description="Daily probability an alive user opens a group "
                             "(ASSUMPTION; no credible source).")
    friend_join_prob: float = Field(0.1, ge=0.0, le=1.0,
                                    description="Probability a friend reached by the opener's "
                                    "share joins, registering first if not yet a user "
                                    "(ASSUMPTION; §8 suggests ≈60% of groups fill).")
    reach_exponent: float = Field(2.0, gt=1.0, description="Zipf exponent of friends one share "
                                  "reaches (Zipf(2): 61% reach one friend, Amplifinity [VENDOR]).")
    max_reach: int = Field(50, ge=1, description="Most friends one share reaches.")
    public_join_rate: float = Field(0.3, ge=0.0, le=1000.0,
                                    description="Strangers joining from the group square per "
                                    "open group per day, Poisson mean (ASSUMPTION).")
    cogs_ratio: float = Field(0.0, ge=0.0, le=1.0,
                              description="Cost of goods as a share of the team price.")
    simulated_fill: bool = Field(False, description="模拟成团: groups short at the deadline are "
                                 "filled with virtual users and ship (CRMEB, tigshop [VENDOR]). "
                                 "A compliance risk: WeChat bans false group buying "
                                 "(WX-EXTLINK).")
    live_only: bool = Field(False, description="Reserved for the live-stream mechanic: groups "
                            "are opened only by today's live viewers (rows it emits as "
                            "`live_viewer`); without such a mechanic no group opens.")
    active_days: list[int] = Field(default_factory=list,
                                   description="Days on which new groups open (groups already "
                                   "open still fill); empty = every day the mechanic is on.")
    channel: str = Field("group_buy", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel friends who register to join are credited to.")

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        if self.live_only and "live_stream" not in scenario.mechanic_types:
            return [(("mechanics", name, "live_only"), "live_only: true opens groups among "
                     "live viewers and needs a `live_stream` mechanic")]
        return []


_EMPTY_I = np.empty(0, dtype=np.int64)


METRICS: tuple[Metric, ...] = (
    Metric("group_opens", "groups", "flow",
           "Group buys (拼团) opened.",
           ("group_opened",), compute=lambda c: c["group_opened"], zh="开团数"),
    Metric("group_successes", "groups", "flow",
           "Group buys that filled (or were filled virtually) and shipped, on that day.",
           ("group_succeeded",), compute=lambda c: c["group_succeeded"], zh="成团数"),
    Metric("group_success_rate", "share", "ratio",
           "Groups that shipped / groups opened (成团率; groups still open at the horizon count as "
           "not shipped).",
           ("group_opened", "group_succeeded"), numerator="group_successes",
           denominator="group_opens", zh="拼团成团率"),
    Metric("group_orders", "orders", "flow",
           "Orders booked by groups that shipped: one per real member, at the team price.",
           ("group_order",), compute=lambda c: c["group_order"], zh="拼团订单"),
)


# --- platform rules and law it must keep (sim/compliance.py runs them) ---------------------


def _simulated_fill(scenario: Any, name: str, params: Any) -> list[Problem]:
    """Filling groups with virtual users makes group buying false (模拟成团)."""
    if not params.simulated_fill:
        return []
    return [finding(scenario, ("mechanics", name, "simulated_fill"), "WX-EXTLINK",
                    "simulated fill (模拟成团) ships groups filled with virtual users: false "
                    "group buying is banned (WeChat external-link rules 2019; §3.2)",
                    zh="模拟成团用虚拟用户凑满拼团后发货，属于虚假拼团，已被禁止（《微信外部链接"
                    "内容管理规范》2019；§3.2）")]


class GroupBuy(Mechanic[GroupBuyParams]):
    stage = StageOrder.VIRALITY
    metrics = METRICS
    compliance = (_simulated_fill,)
    needs_graph = True
    events = ("group_opened", "group_joined", "group_succeeded", "group_failed", "group_filled",
              "group_order", *ORDER_EVENTS, "cogs")
    sells = True
    emits = ("shared",)
    reads_if_any = ("live_viewer",)

    @classmethod
    def channels(cls, params: GroupBuyParams) -> list[str]:
        return [params.channel]


    def setup(self) -> None:
        orders.prepare(self.pop)
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        self.days_open = set(self.params.base.active_days)
        self.next_id = 0
        # open groups, in id order
        self.gid = _EMPTY_I.copy()
        self.opener = np.empty(0, dtype=np.int32)
        self.deadline = np.empty(0, dtype=np.int32)
        self.need = np.empty(0, dtype=np.int32)  # joiners needed (size - 1)
        self.joined = np.empty(0, dtype=np.int32)
        self.unit = np.empty(0, dtype=np.float64)  # team price each member pays
        # members other than the opener
        self.m_gid = _EMPTY_I.copy()
        self.m_row = np.empty(0, dtype=np.int32)

    # --- the day ------------------------------------------------------------------------------
    def step(self, day: int) -> None:
        gids, openers = self._open(day)
        f_gid, f_row = self._friend_joiners(gids, openers)
        p_gid, p_row = self._public_joiners()
        self._join(np.concatenate([f_gid, p_gid]), np.concatenate([f_row, p_row]), day)
        full = self.joined >= self.need
        expired = ~full & (self.deadline <= day)
        if self.params.base.simulated_fill:
            self._succeed(full | expired, day, filled=expired)
        else:
            self._succeed(full, day)
            self._fail(expired, day)
        self._drop(full | expired)

    def idle(self, day: int) -> None:
        """The campaign ended: open groups fail and are refunded."""
        if len(self.gid):
            everyone = np.ones(len(self.gid), dtype=bool)
            self._fail(everyone, day)
            self._drop(everyone)

    # --- opening ------------------------------------------------------------------------------
    def _open(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        pop, base = self.pop, self.params.base
        if self.days_open and day not in self.days_open:
            return _EMPTY_I, np.empty(0, dtype=np.int32)
        most = float(np.max(self.params.get("open_prob")))
        if most <= 0:
            return _EMPTY_I, np.empty(0, dtype=np.int32)
        if base.live_only:
            viewers = pop.distinct(self.today("live_viewer"))
            viewers = viewers[pop.stage[viewers] == Stage.ALIVE]
            chance = self.params.for_rows("open_prob", pop.group[viewers])
            rows = viewers[self.rng.random(len(viewers)) < chance]
        else:
            alive = int(pop.count(Stage.ALIVE).sum())
            rows = pop.draw_alive(int(self.rng.binomial(alive, most)), self.rng)
            if self.params.varies("open_prob"):  # thin to each user's own probability
                chance = self.params.for_rows("open_prob", pop.group[rows]) / most
                rows = rows[self.rng.random(len(rows)) < chance]
        rows = rows.astype(np.int32)
        groups = pop.group[rows]
        get = self.params.for_rows
        days = np.ceil(np.asarray(get("window_hours", groups)) / 24.0 - 1e-9).astype(np.int32)
        gids = np.arange(self.next_id, self.next_id + len(rows), dtype=np.int64)
        self.next_id += len(rows)
        self.gid = np.concatenate([self.gid, gids])
        self.opener = np.concatenate([self.opener, rows])
        self.deadline = np.concatenate([self.deadline,
                                        day + np.broadcast_to(days, rows.shape) - 1])
        need = np.broadcast_to(np.asarray(get("group_size", groups)) - 1, rows.shape)
        self.need = np.concatenate([self.need, need.astype(np.int32)])
        self.joined = np.concatenate([self.joined, np.zeros(len(rows), dtype=np.int32)])
        unit = np.asarray(get("price", groups)) * np.asarray(get("group_price_ratio", groups))
        self.unit = np.concatenate([self.unit, np.broadcast_to(unit, rows.shape)])
        self.ctx.recorder.event("group_opened", day, rows)
        return gids, rows

    # --- joining ------------------------------------------------------------------------------
    def _friend_joiners(self, gids: np.ndarray, openers: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The opener shares once; reached friends (users or not, never churned) join."""
        pop = self.pop
        most = float(np.max(self.params.get("friend_join_prob")))
        if not len(openers) or most <= 0:
            return _EMPTY_I, np.empty(0, dtype=np.int32)
        sharer, friend = share(self, openers)
        self.publish("shared", openers)  # e.g. points for sharing
        chance = self.params.for_rows("friend_join_prob", pop.group[sharer])
        keep = (pop.stage[friend] != Stage.CHURNED) & (self.rng.random(len(friend)) < chance)
        sharer, friend = sharer[keep], friend[keep]
        order = np.argsort(openers, kind="stable")  # openers are distinct: map sharer -> group
        at = order[np.searchsorted(openers[order], sharer)]
        return gids[at], friend.astype(np.int32)

    def _public_joiners(self) -> tuple[np.ndarray, np.ndarray]:
        """Poisson(rate) strangers per open group, drawn among alive users."""
        if not len(self.gid):
            return _EMPTY_I, np.empty(0, dtype=np.int32)
        rate = self.params.for_rows("public_join_rate", self.pop.group[self.opener])
        counts = self.rng.poisson(np.broadcast_to(rate, self.gid.shape))
        rows = self.pop.draw_alive(int(counts.sum()), self.rng)
        return np.repeat(self.gid, counts)[: len(rows)], rows.astype(np.int32)

    def _join(self, gid: np.ndarray, row: np.ndarray, day: int) -> None:
        """Candidates join in random order until each group is full; the opener and existing
        members cannot join twice; friends who are not users register to join."""
        if not len(gid):
            return
        pos = np.searchsorted(self.gid, gid)
        size = np.int64(self.pop.size)
        key = gid * size + row
        ok = (row != self.opener[pos]) & ~np.isin(key, self.m_gid * size + self.m_row)
        shuffle = self.rng.permutation(int(ok.sum()))
        gid, row, pos, key = gid[ok][shuffle], row[ok][shuffle], pos[ok][shuffle], key[ok][shuffle]
        _, first = np.unique(key, return_index=True)
        first.sort()
        gid, row, pos = gid[first], row[first], pos[first]
        order = np.argsort(gid, kind="stable")  # random order within each group
        gid, row, pos = gid[order], row[order], pos[order]
        starts = np.searchsorted(gid, gid)  # first index of each group's run
        rank = np.arange(len(gid)) - starts
        keep = rank < (self.need[pos] - self.joined[pos])
        gid, row, pos = gid[keep], row[keep], pos[keep]
        newcomers = row[self.pop.stage[row] == Stage.POTENTIAL]
        newcomers = self.pop.distinct(newcomers)
        rec = self.ctx.recorder
        rec.event("visit", day, newcomers, channel=self.channel)
        self.pop.acquire(newcomers, day, self.channel)
        rec.event("group_joined", day, row)
        self.m_gid = np.concatenate([self.m_gid, gid])
        self.m_row = np.concatenate([self.m_row, row])
        add_count(self.joined, pos)

    # --- outcomes -----------------------------------------------------------------------------
    def _succeed(self, done: np.ndarray, day: int, filled: np.ndarray | None = None) -> None:
        """Full (or virtually filled) groups ship: one order per real member at the team price."""
        if not done.any():
            return
        rec = self.ctx.recorder
        members = np.isin(self.m_gid, self.gid[done])
        mpos = np.searchsorted(self.gid, self.m_gid[members])
        rows = np.concatenate([self.opener[done], self.m_row[members]])
        values = np.concatenate([self.unit[done], self.unit[mpos]])
        cogs = np.asarray(self.params.for_rows("cogs_ratio", self.pop.group[rows]))
        sold = book_distinct(self, rows, day, values, cogs)
        rec.event("group_order", day, rows[sold], values[sold])  # a stock-out refuses some
        rec.event("group_succeeded", day, self.opener[done],
                  self.unit[done] * (self.joined[done] + 1))
        if filled is not None and filled.any():
            rec.event("group_filled", day, self.opener[filled],
                      (self.need[filled] - self.joined[filled]).astype(float))

    def _fail(self, gone: np.ndarray, day: int) -> None:
        """Short at the deadline: no order; the amount is what the members get back."""
        if not gone.any():
            return
        self.ctx.recorder.event("group_failed", day, self.opener[gone],
                                self.unit[gone] * (self.joined[gone] + 1))

    def _drop(self, gone: np.ndarray) -> None:
        """Resolved groups leave the tables."""
        if not gone.any():
            return
        keep_members = ~np.isin(self.m_gid, self.gid[gone])
        self.m_gid, self.m_row = self.m_gid[keep_members], self.m_row[keep_members]
        keep = ~gone
        self.gid, self.opener, self.deadline = self.gid[keep], self.opener[keep], \
            self.deadline[keep]
        self.need, self.joined, self.unit = self.need[keep], self.joined[keep], self.unit[keep]


def book_distinct(mech: Mechanic, rows: np.ndarray, day: int, values: np.ndarray,
                  cogs_ratio: float | np.ndarray) -> np.ndarray:
    """Book orders in batches of distinct users (a user in two groups that ship the same day
    places two orders, and first-order detection needs each user once per batch). Returns
    which orders were sold (a catalogue's stock-out may refuse some: nothing is booked for
    them)."""
    cogs = np.broadcast_to(np.asarray(cogs_ratio, dtype=float), values.shape)
    sold = np.zeros(len(rows), dtype=bool)
    left = np.arange(len(rows))
    while len(left):
        once = mech.pop.first_seen(rows[left])
        batch = left[once]
        sold[batch] = book_orders(mech.pop, mech.ctx.recorder, rows[batch], day, values[batch],
                                  cogs[batch]).sold
        left = left[~once]
    return sold

