"""Community groups (社群): WeChat groups of at most 500, filled by invitation, with perks, KOCs
and an operating cost.

Invitation: every `invite_every_days` (a SimPy process marks the day, at the end of days
invite_every_days - 1, 2 * invite_every_days - 1, ...) each alive user not in a group who is in
the `audience` (named segments, e.g. `active` for invitation by activity or `high_value` for
invitation by value; empty = every alive user) is invited with `invite_prob` (booked as
`community_invite`) and accepts with `accept_prob` (above 40 members WeChat makes invitees
accept, WX-GROUP §3.4), joining as `community_join`.
Groups: joiners take the free seats of open groups first (lowest group first; a churned member
frees a seat), then open new groups of `group_cap` seats (at most 500, WeChat's cap): without
churn there are exactly ceil(members / group_cap) groups. A group belongs, for counting and
cost, to the counter cell of the member who opened it; groups with no member left are not
counted and cost nothing.
Perks and effect: a member price of `member_discount` off every order (`community_discount`,
money off the order: the mechanic writes each member's rate, `community_discount_rate`, on
joining and clears it on leaving; the order path, sim/orders.py, takes it off the order before
any refund); joining multiplies the daily purchase probability by (1 + `purchase_lift`)
and the dropout probability after an order by (1 - `dropout_cut`)
(see `sim.buying.rescale_buying`). Members stay until they churn.
KOCs: `koc_after_days` after joining, a member still in the group becomes a KOC (key opinion
consumer, flagged in the `koc` column) with `koc_share` (a SimPy timeout per day's joiners). A
KOC's shares (referral, group buy, bargain) reach (1 + `koc_reach_bonus`) times as many friends:
the mechanic writes the `share_reach_bonus` column that `Mechanic.share` reads.
Operating cost: on the last day of each 30-day month (days 29, 59, ...) each group with members
costs `operating_cost_per_group_month` (staff time, tools, group events; `community_operating`,
booked on the group's opener).
Members who churn are counted as `community_member_churn`, so churn per member-day can be
compared with churn of the other users (metrics `community_churn_rate`, `other_churn_rate`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from sim.buying import rescale_buying
from sim.calendar import MONTH, period_ends
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.mechanics.segments import AUDIENCE_COLUMNS, Audience, audience_mask, segments_needed
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.population import Stage, add_count

WECHAT_GROUP_CAP = 500  # domain-facts §3.4 WX-GROUP, §8 wechat_group_cap


class CommunityParams(MechanicParams):
    type: Literal["community"] = "community"
    fixed_fields = frozenset({  # one value for the whole market
        "group_cap", "invite_every_days", "koc_after_days"})
    group_cap: int = Field(WECHAT_GROUP_CAP, ge=2, description="Members per group: at most "
                           "500, WeChat's cap (WX-GROUP §3.4, consistent BLOG sources).")
    audience: list[Audience] = Field(
        default_factory=lambda: ["high_value", "potential"],
        description="Segments invited (any of them): by value (high_value, high_spend) or by "
        "activity (active); empty = every alive user. RFM/spend segments need `segments`.")
    invite_every_days: int = Field(7, ge=1, le=365, description="Days between invitation "
                                   "rounds (ASSUMPTION: weekly).")
    invite_prob: float = Field(0.2, ge=0.0, le=1.0, description="Chance an eligible user is "
                               "invited in a round (ASSUMPTION 0.05-0.5).")
    accept_prob: float = Field(0.3, ge=0.0, le=1.0, description="Chance an invitee accepts "
                               "(ASSUMPTION 0.1-0.6; community conversion not found, §4.5).")
    member_discount: float = Field(0.03, ge=0.0, lt=1.0, description="Group price: share off "
                                   "every member order (ASSUMPTION 0-0.10).")
    purchase_lift: float = Field(0.15, ge=0.0, description="Relative lift of the daily purchase "
                                 "probability of members (ASSUMPTION 0-0.5).")
    dropout_cut: float = Field(0.15, ge=0.0, lt=1.0, description="Relative cut of members' "
                               "dropout probability after an order (ASSUMPTION 0-0.4).")
    koc_share: float = Field(0.02, ge=0.0, le=1.0, description="Share of members who become "
                             "KOCs (ASSUMPTION 0.01-0.05: 5-25 per 500-member group).")
    koc_after_days: int = Field(30, ge=0, le=365, description="Days in a group before a member "
                                "can emerge as a KOC (ASSUMPTION).")
    koc_reach_bonus: float = Field(1.0, ge=0.0, le=20.0, description="Extra share reach of a "
                                   "KOC: friends reached x (1 + bonus) (ASSUMPTION 0.5-3).")
    operating_cost_per_group_month: float = Field(
        300.0, ge=0.0, description="Yuan a month per group: staff time, tools, events "
        "(ASSUMPTION 0-2,000).")

    @field_validator("group_cap")
    @classmethod
    def _wechat_cap(cls, cap: int) -> int:
        if cap > WECHAT_GROUP_CAP:
            raise ValueError(f"group_cap {cap} is above WeChat's limit of {WECHAT_GROUP_CAP} "
                             "members per group (WX-GROUP, domain-facts §3.4); use at most "
                             f"{WECHAT_GROUP_CAP}")
        return cap

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        return segments_needed(scenario.mechanic_types, self.audience,
                               ("mechanics", name, "audience"))


METRICS: tuple[Metric, ...] = (
    Metric("community_members", "users", "stock",
           "Alive members of community groups.",
           ("community_members",), compute=lambda c: c["community_members"], zh="社群成员",
           group="Community groups vs other users"),
    Metric("community_groups", "communities", "stock",
           "Community groups with members (at most 500 each).",
           ("community_groups",), compute=lambda c: c["community_groups"], zh="社群数",
           group="Community groups vs other users"),
    Metric("kocs", "users", "stock",
           "Alive KOCs emerged in community groups.",
           ("kocs",), compute=lambda c: c["kocs"], zh="社群 KOC"),
    Metric("community_invites", "users", "flow",
           "Invitations to a community group.",
           ("community_invite",), compute=lambda c: c["community_invite"], zh="入群邀请"),
    Metric("community_joins", "users", "flow",
           "Invitees who joined a group.",
           ("community_join",), compute=lambda c: c["community_join"], zh="入群人数"),
    Metric("community_discounts", "yuan", "flow",
           "Money off orders from group prices.",
           ("community_discount",), compute=lambda c: col(c, "community_discount_amount"),
           zh="群专享价优惠", good="down", ledger=LedgerLine("relative", 70)),
    Metric("community_operating_cost", "yuan", "flow",
           "Monthly operating cost of the groups, booked on each month's last day.",
           ("community_operating",), compute=lambda c: col(c, "community_operating_amount"),
           zh="社群运营成本", good="down", ledger=LedgerLine("relative", 250)),
    Metric("community_member_churns", "users", "flow",
           "Community members who churned for good.",
           ("community_member_churn",), compute=lambda c: c["community_member_churn"],
           zh="社群成员流失",
           good="down"),
    Metric("community_churn_rate", "share", "ratio",
           "Community members who churn per member-day: community_member_churns / "
           "community_members (over the horizon: churns / member-days). Compare with "
           "other_churn_rate.",
           ("community_member_churn", "community_members"), numerator="community_member_churns",
           denominator="community_members", zh="社群成员流失率", good="down",
           group="Community groups vs other users"),
    Metric("other_users", "users", "stock",
           "Alive users not in a community group: alive_users - community_members.",
           ("alive_users", "community_members"), compute=lambda c: c["alive_users"] -
           c["community_members"], zh="非社群用户", group="Community groups vs other users"),
    Metric("other_user_churns", "users", "flow",
           "Users not in a community group who churned: churned_users - community_member_churns.",
           ("churned", "community_member_churn"), compute=lambda c: c["churned"] -
           c["community_member_churn"], zh="非社群用户流失", good="down"),
    Metric("other_churn_rate", "share", "ratio",
           "Churn per user-day of users not in a community group: other_user_churns / "
           "other_users.",
           ("churned", "community_member_churn", "alive_users", "community_members"),
           numerator="other_user_churns", denominator="other_users",
           zh="非社群用户流失率", good="down",
           group="Community groups vs other users"),
)


class Community(Mechanic[CommunityParams]):
    stage = StageOrder.LOYALTY
    substage = 6  # after segments (today's recomputation) and the other perks
    metrics = METRICS
    report = ReportSection("operations")
    member_price = ("community_discount_rate", "community_discount")
    uses_if_any = AUDIENCE_COLUMNS
    events = ("community_invite", "community_join", "community_discount", "community_operating",
              "community_member_churn", "koc_emerged")
    stocks = ("community_members", "community_groups", "kocs")

    @classmethod
    def columns(cls, params: CommunityParams) -> dict[str, np.dtype]:
        return {"community_group": np.dtype(np.int32), "koc": np.dtype(np.int8),
                "share_reach_bonus": np.dtype(np.float32),
                "community_discount_rate": np.dtype(np.float32)}

    def setup(self) -> None:
        self.pop["community_group"].fill(-1)
        self.cap = self.params.base.group_cap
        self.fill = np.zeros(0, dtype=np.int64)  # members per group
        self.opener = np.zeros(0, dtype=np.int64)  # the row that opened each group
        cells = self.ctx.layout.n_cells
        self.members = np.zeros(cells)  # alive members per cell
        self.koc_count = np.zeros(cells)  # alive KOCs per cell
        self.emerging: list[np.ndarray] = []  # joiners whose KOC day is today
        self.priced_with = self.params  # the parameters members' rates were written with

    def step(self, day: int) -> None:
        """Invitation rounds on the last day of each invite_every_days period; the operating
        cost of each 30-day month on its last day (29, 59, ...)."""
        self._leave(self.today("churned"), day)
        self._reprice()
        if period_ends(day, MONTH):
            self._operating_cost(day)
        if period_ends(day, self.params.base.invite_every_days):
            self._invite(day)
        self._kocs(day)
        self._stocks(day)

    def idle(self, day: int) -> None:
        """Switched off: no invitations; the groups still exist, keep their perks and cost."""
        self._leave(self.today("churned"), day)
        self._reprice()
        self._kocs(day)
        if period_ends(day, MONTH):
            self._operating_cost(day)
        self._stocks(day)

    def moved(self, rows: np.ndarray, old_cells: np.ndarray, new_cells: np.ndarray) -> None:
        """Members and KOCs counted in one cell are counted in their new one (a group's cell
        is its opener's, read when counted, so groups follow by themselves)."""
        pop = self.pop
        member = pop["community_group"][rows] >= 0
        koc = member & (pop["koc"][rows] == 1)
        for totals, who in ((self.members, member), (self.koc_count, koc)):
            np.subtract.at(totals, old_cells[who].astype(np.int64), 1.0)
            np.add.at(totals, new_cells[who].astype(np.int64), 1.0)

    def _leave(self, churned: np.ndarray, day: int) -> None:
        """Members who churned for good leave their group (their seat is free again)."""
        pop = self.pop
        gone = churned[pop["community_group"][churned] >= 0]
        if not len(gone):
            return
        self.ctx.recorder.event("community_member_churn", day, gone)
        cells = pop.cell[gone].astype(np.int64)
        np.subtract.at(self.members, cells, 1.0)
        np.subtract.at(self.koc_count, cells[pop["koc"][gone] == 1], 1.0)
        add_count(self.fill, pop["community_group"][gone].astype(np.int64), -1)
        pop["community_group"][gone] = -1
        pop["community_discount_rate"][gone] = 0.0

    def _reprice(self) -> None:
        """When an experiment switches the parameters (its start day), members' rates follow:
        one pass over the members, once. (Member prices are taken off orders when they are
        booked.)"""
        if self.params is self.priced_with:
            return
        self.priced_with = self.params
        members = np.flatnonzero(self.pop["community_group"] >= 0)
        self.pop["community_discount_rate"][members] = self.params.for_rows(
            "member_discount", self.pop.group[members])

    def _invite(self, day: int) -> None:
        pop, rec = self.pop, self.ctx.recorder
        rows = np.flatnonzero((pop.stage == Stage.ALIVE) & (pop["community_group"] < 0))
        rows = rows[audience_mask(self, rows, self.params.base.audience, day)]
        group = pop.group[rows]
        invited = rows[self.rng.random(len(rows)) < self.params.for_rows("invite_prob", group)]
        rec.event("community_invite", day, invited)
        accepts = self.rng.random(len(invited)) < self.params.for_rows(
            "accept_prob", pop.group[invited])
        joined = invited[accepts]
        rec.event("community_join", day, joined)
        self._seat(joined)
        pop["community_discount_rate"][joined] = self.params.for_rows("member_discount",
                                                                      pop.group[joined])
        self.members += np.bincount(pop.cell[joined], minlength=len(self.members))
        g = pop.group[joined]
        rescale_buying(self.pop, self.rng, joined, 1.0 + self.params.for_rows("purchase_lift", g),
                       1.0 - self.params.for_rows("dropout_cut", g), day, self.ctx.days)
        self._schedule_kocs(joined)

    def _schedule_kocs(self, joined: np.ndarray) -> None:
        """Today's joiners may become KOCs koc_after_days from now: a SimPy timeout whose
        callback queues them. A timeout made during the day is due before the daily process's
        own next timeout, so it is seen by that day's step (a process started now would
        first run after the day ends and be a day late for a delay of 1)."""
        if not len(joined):
            return
        delay = self.params.base.koc_after_days
        if delay == 0:
            self.emerging.append(joined)
            return
        self.ctx.env.timeout(delay).callbacks.append(
            lambda _event, rows=joined: self.emerging.append(rows))

    def _seat(self, joined: np.ndarray) -> None:
        """Free seats of open groups first (lowest group first), then new groups."""
        if not len(joined):
            return
        free = self.cap - self.fill
        seats = np.repeat(np.arange(len(self.fill)), free)[: len(joined)]
        extra = len(joined) - len(seats)
        opened = -(-extra // self.cap)
        new_groups = len(self.fill) + np.arange(extra) // self.cap
        where = np.concatenate([seats, new_groups]).astype(np.int64)
        first_of_new = joined[len(seats)::self.cap][:opened]
        self.fill = np.concatenate([self.fill, np.zeros(opened, dtype=np.int64)])
        self.opener = np.concatenate([self.opener, first_of_new.astype(np.int64)])
        add_count(self.fill, where)
        self.pop["community_group"][joined] = where

    def _kocs(self, day: int) -> None:
        """Members who joined koc_after_days ago: still in a group, each becomes a KOC with
        koc_share."""
        if not self.emerging:
            return
        pop = self.pop
        rows = np.concatenate(self.emerging)
        self.emerging.clear()
        rows = rows[(pop["community_group"][rows] >= 0) & (pop["koc"][rows] == 0)]
        share = self.params.for_rows("koc_share", pop.group[rows])
        kocs = rows[self.rng.random(len(rows)) < share]
        pop["koc"][kocs] = 1
        pop["share_reach_bonus"][kocs] = self.params.for_rows("koc_reach_bonus", pop.group[kocs])
        self.koc_count += np.bincount(pop.cell[kocs], minlength=len(self.koc_count))
        self.ctx.recorder.event("koc_emerged", day, kocs)

    def _operating_cost(self, day: int) -> None:
        """Each group with members costs a month of operation, booked on its opener."""
        running = np.flatnonzero(self.fill > 0)
        openers = self.opener[running]
        cost = np.broadcast_to(self.params.for_rows("operating_cost_per_group_month",
                                                    self.pop.group[openers]), openers.shape)
        self.ctx.recorder.event("community_operating", day, openers, cost)

    def _stocks(self, day: int) -> None:
        rec = self.ctx.recorder
        running = self.opener[self.fill > 0]
        groups = np.bincount(self.pop.cell[running], minlength=len(self.members)).astype(float)
        rec.stock("community_members", day, self.members)
        rec.stock("community_groups", day, groups)
        rec.stock("kocs", day, self.koc_count)

    def finish(self) -> dict[str, np.ndarray]:
        """Members of each group at the end (group order), so the cap can be checked."""
        return {"group_sizes": self.fill.astype(float)}
