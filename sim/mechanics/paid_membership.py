"""Paid membership (付费会员, e.g. JD PLUS): a fee per period, perks, renewals, an effect on spend.

Offers: every `offer_every_days` (a SimPy process marks the day, at the end of days
offer_every_days - 1, 2 * offer_every_days - 1, ...: after a segments recomputation on the same
schedule) every alive non-member is offered the membership once and takes it with the uptake
probability of its segment (`uptake`: one probability per named segment, see
sim/mechanics/segments.py; a user in several segments takes the largest; users in none are not
offered), times (fee / reference_fee)^(-fee_elasticity): the uptakes are those at the reference
fee, and a dearer membership sells less. Joining pays `fee` (booked as `paid_fee`: income, it
adds to net revenue).

Perks while a member, each booked as an event with its cost:
- member prices: `member_discount` share off every order (`paid_discount`, money off the
  order). The mechanic only writes each member's rate (`paid_discount_rate`, set on joining,
  zero on a lapse); the purchase mechanic and `book_orders` take it off the order before any
  refund (member prices in sim/orders.py), so a refunded member order returns what was paid;
- free shipping on the first `free_shipping_per_month` orders of each 30-day month
  (`paid_shipping`, `shipping_cost` yuan each: the carrier's cost the store pays; 0 when an
  inventory mechanic books the carrier cost of every shipped order as `logistics_cost`, so the
  same parcel is not paid twice; the count still says how many orders shipped free).

Renewal: `period_days` after joining (a SimPy timeout per day's joiners) a member renews, paying
the fee again, with `renewal_prob`, or with `low_use_renewal_prob` if the member placed fewer
than `low_use_orders` orders in the period (members who used few perks renew less; refunded
orders count neither here nor for free shipping, as for tiers and points); otherwise
the membership lapses. A member who churned for good lapses at the period end.

Effect: joining multiplies the member's daily purchase probability by (1 + `purchase_lift`) and
the dropout probability after each order by (1 - `dropout_cut`); a lapse divides them back (the
factors applied are kept per user, so arms that change the parameters mid-run undo exactly what
they did). Because purchase gaps are memoryless, a buyer's next checkout is redrawn at the new
rate on the day the rate changes (see `sim.buying.rescale_buying`).
The stock `paid_members` counts alive members.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from sim.buying import rescale_buying
from sim.calendar import period_ends
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.mechanics.segments import (
    AUDIENCE_COLUMNS,
    SEGMENTED,
    audience_mask,
    segments_needed,
)
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.orders import perk_shipping_cost
from sim.params import StrictModel
from sim.population import Stage, add_count

PERIODS = {30: "monthly", 90: "quarterly", 365: "annual"}


class Uptake(StrictModel):
    """Probability that a user of a segment who is offered the membership takes it (one offer
    per offer day). A user in several segments takes the largest; 0 = not offered."""

    high_value: float = Field(0.05, ge=0.0, le=1.0, description="Recent, frequent, big buyers "
                              "(ASSUMPTION 0.02-0.15 per offer; JD PLUS holds ~4.4% of active "
                              "buyers, §4.4 DERIVED).")
    potential: float = Field(0.01, ge=0.0, le=1.0, description="Recent buyers, not yet high "
                             "value (ASSUMPTION 0.005-0.05 per offer).")
    at_risk: float = Field(0.0, ge=0.0, le=1.0, description="Lapsing big buyers (ASSUMPTION).")
    lost: float = Field(0.0, ge=0.0, le=1.0, description="Lapsed small buyers (ASSUMPTION).")
    high_spend: float = Field(0.0, ge=0.0, le=1.0, description="Top spenders (ASSUMPTION).")
    low_spend: float = Field(0.0, ge=0.0, le=1.0, description="Other buyers (ASSUMPTION).")
    active: float = Field(0.0, ge=0.0, le=1.0, description="Alive, opened recently, not new "
                          "(ASSUMPTION).")
    new: float = Field(0.0, ge=0.0, le=1.0, description="Acquired in the last 7 days (ASSUMPTION).")
    dormant: float = Field(0.0, ge=0.0, le=1.0, description="No open for 14 days (ASSUMPTION).")
    buyer: float = Field(0.0, ge=0.0, le=1.0, description="Any user with an order (ASSUMPTION).")
    non_buyer: float = Field(0.0, ge=0.0, le=1.0, description="Users who never ordered "
                             "(ASSUMPTION).")


class PaidMembershipParams(MechanicParams):
    type: Literal["paid_membership"] = "paid_membership"
    fixed_fields = frozenset({"offer_every_days", "period_days"})  # one value for the whole market
    fee: float = Field(99.0, ge=0.0, description="Yuan per period (ASSUMPTION 30-300 a year; "
                       "Pinduoduo's card price not found, §4.4).")
    reference_fee: float = Field(99.0, gt=0.0, description="Fee at which `uptake` holds.")
    fee_elasticity: float = Field(1.0, ge=0.0, description="Uptake x (fee / reference_fee)^"
                                  "(-elasticity): 1 keeps fee revenue per offer flat "
                                  "(ASSUMPTION 0.5-2; no measured figure, §4.4).")
    period_days: int = Field(365, description="Days a fee pays for: 30 (monthly card), 90 "
                             "(quarterly) or 365 (annual).")
    offer_every_days: int = Field(30, ge=1, le=365, description="Days between offers to "
                                  "non-members (ASSUMPTION: a monthly campaign).")
    uptake: Uptake = Field(default_factory=Uptake, description="Take-up probability per "
                           "offer, by segment (RFM/spend segments need a `segments` mechanic).")
    renewal_prob: float = Field(0.8, ge=0.0, le=1.0, description="Chance a member renews at the "
                                "period end (JD PLUS near 80% FILING; Amazon Prime 91% after "
                                "year 1 VENDOR, §4.4).")
    low_use_orders: int = Field(2, ge=0, description="Members with fewer orders than this in "
                                "the period renew with low_use_renewal_prob (0 = never).")
    low_use_renewal_prob: float = Field(0.5, ge=0.0, le=1.0, description="Renewal chance of a "
                                        "member who used few perks (ASSUMPTION 0.3-0.7).")
    member_discount: float = Field(0.05, ge=0.0, lt=1.0, description="Member price: share off "
                                   "every order (ASSUMPTION 0.03-0.10).")
    free_shipping_per_month: int = Field(4, ge=0, le=31, description="Orders a month shipped "
                                         "free (JD PLUS gives monthly shipping coupons; "
                                         "number ASSUMPTION 2-10).")
    shipping_cost: float = Field(6.0, ge=0.0, description="Yuan the store pays the carrier "
                                 "per free shipping (ASSUMPTION 4-10); not booked when an "
                                 "inventory mechanic models logistics (its logistics_cost is "
                                 "that parcel's cost already: docs/model.md, Money).")
    purchase_lift: float = Field(0.3, ge=0.0, description="Relative lift of the daily purchase "
                                 "probability while a member (ASSUMPTION 0.1-1.2; JD claims "
                                 "+120% frequency after joining, selection included, §4.4).")
    dropout_cut: float = Field(0.2, ge=0.0, lt=1.0, description="Relative cut of the dropout "
                               "probability after each order while a member (ASSUMPTION 0-0.5).")

    @field_validator("period_days")
    @classmethod
    def _known_period(cls, days: int) -> int:
        if days not in PERIODS:
            choices = ", ".join(f"{d} ({name})" for d, name in PERIODS.items())
            raise ValueError(f"period_days must be one of {choices}; got {days}")
        return days

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        offered = [s for s in sorted(SEGMENTED) if getattr(self.uptake, s) > 0]
        return segments_needed(scenario.mechanic_types, offered, ("mechanics", name, "uptake"),
                               by_name=True)


UPTAKE_SEGMENTS = tuple(Uptake.model_fields)


METRICS: tuple[Metric, ...] = (
    Metric("paid_members", "users", "stock",
           "Alive paid members at the end of the day.",
           ("paid_members",), compute=lambda c: c["paid_members"], zh="付费会员",
           group="Paid membership"),
    Metric("new_paid_members", "users", "flow",
           "Users who took a paid-membership offer.",
           ("paid_join",), compute=lambda c: c["paid_join"],
           zh="新开付费会员", group="Paid membership"),
    Metric("paid_renewals", "users", "flow",
           "Paid memberships renewed at a period end.",
           ("paid_renewal",), compute=lambda c: c["paid_renewal"], zh="付费会员续费",
           group="Paid membership"),
    Metric("paid_lapses", "users", "flow",
           "Paid memberships not renewed at a period end (members who churned lapse too).",
           ("paid_lapse",), compute=lambda c: c["paid_lapse"], zh="付费会员未续费",
           group="Paid membership"),
    Metric("paid_periods_ended", "users", "flow",
           "Paid memberships at a period end: paid_renewals + paid_lapses.",
           ("paid_renewal", "paid_lapse"), compute=lambda c: c["paid_renewal"] + c["paid_lapse"],
           zh="付费会员到期"),
    Metric("paid_renewal_rate", "share", "ratio",
           "paid_renewals / paid_periods_ended.",
           ("paid_renewal", "paid_lapse"), numerator="paid_renewals",
           denominator="paid_periods_ended", zh="续费率", group="Paid membership"),
    Metric("membership_fees", "yuan", "flow",
           "Paid-membership fees on joining and renewing: income, it adds to net revenue.",
           ("paid_fee",), compute=lambda c: col(c, "paid_fee_amount"), zh="会员费收入",
           group="Paid membership", ledger=LedgerLine("income", 110)),
    Metric("member_discounts", "yuan", "flow",
           "Money off orders from paid-member prices.",
           ("paid_discount",), compute=lambda c: col(c, "paid_discount_amount"), zh="会员价优惠",
           good="down", ledger=LedgerLine("relative", 60)),
    Metric("member_perk_cost", "yuan", "flow",
           "Free shipping given to paid members.",
           ("paid_shipping",), compute=lambda c: col(c, "paid_shipping_amount"), zh="会员包邮成本",
           good="down", ledger=LedgerLine("relative", 240)),
)


class PaidMembership(Mechanic[PaidMembershipParams]):
    stage = StageOrder.LOYALTY
    substage = 5  # after segments (today's recomputation), tiers and points
    metrics = METRICS
    report = ReportSection("operations")
    member_price = ("paid_discount_rate", "paid_discount")
    reads_if_any = ("ordered", "refunded")
    uses_if_any = AUDIENCE_COLUMNS
    events = ("paid_join", "paid_renewal", "paid_lapse", "paid_fee", "paid_discount",
              "paid_shipping")
    stocks = ("paid_members",)

    @classmethod
    def columns(cls, params: PaidMembershipParams) -> dict[str, np.dtype]:
        return {"paid_member": np.dtype(np.int8), "paid_orders": np.dtype(np.int16),
                "paid_ship_month": np.dtype(np.int16), "paid_ship_used": np.dtype(np.int8),
                "paid_purchase_factor": np.dtype(np.float32),
                "paid_dropout_factor": np.dtype(np.float32),
                "paid_discount_rate": np.dtype(np.float32)}

    def setup(self) -> None:
        self.pop["paid_ship_month"].fill(-1)
        self.members = np.zeros(self.ctx.layout.n_cells)  # alive members per cell
        self.ending: list[np.ndarray] = []  # members whose period ends today
        self.priced_with = self.params  # the parameters members' rates were written with

    def step(self, day: int) -> None:
        self._leave(self.today("churned"))
        self._reprice()
        self._perks(day)
        self._renewals(day)
        if period_ends(day, self.params.base.offer_every_days):  # offers end each period
            self._offer(day)
        self.ctx.recorder.stock("paid_members", day, self.members)

    def idle(self, day: int) -> None:
        """Switched off: no offers, but members keep their perks and periods run out as paid
        (a membership sold is a promise)."""
        self._leave(self.today("churned"))
        self._reprice()
        self._perks(day)
        self._renewals(day, renew=False)
        self.ctx.recorder.stock("paid_members", day, self.members)

    def moved(self, rows: np.ndarray, old_cells: np.ndarray, new_cells: np.ndarray) -> None:
        """Alive members counted in one cell are counted in their new one."""
        member = (self.pop["paid_member"][rows] == 1) & (self.pop.stage[rows] == Stage.ALIVE)
        np.subtract.at(self.members, old_cells[member].astype(np.int64), 1.0)
        np.add.at(self.members, new_cells[member].astype(np.int64), 1.0)

    def _leave(self, churned: np.ndarray) -> None:
        """Members who churned today leave the alive count (they lapse at the period end)."""
        gone = churned[self.pop["paid_member"][churned] == 1]
        np.subtract.at(self.members, self.pop.cell[gone].astype(np.int64), 1.0)

    def _reprice(self) -> None:
        """When an experiment switches the parameters (its start day), members' rates follow:
        one pass over the members, once."""
        if self.params is self.priced_with:
            return
        self.priced_with = self.params
        members = np.flatnonzero(self.pop["paid_member"] == 1)
        self.pop["paid_discount_rate"][members] = self.params.for_rows(
            "member_discount", self.pop.group[members])

    def _perks(self, day: int) -> None:
        """Count members' orders and ship some free (member prices were taken off the orders
        when they were booked). Refunded orders count for neither, as for tiers and points
        (a user with a refunded order that day: the whole day's orders, rare)."""
        pop = self.pop
        rows = self.today("ordered")
        rows = rows[pop["paid_member"][rows] == 1]
        refunded = self.today("refunded")
        if len(rows) and len(refunded):
            rows = rows[~pop.among(rows, refunded)]
        if not len(rows):
            return
        add_count(pop["paid_orders"], rows)
        self._ship(rows, day)

    def _ship(self, rows: np.ndarray, day: int) -> None:
        """Free shipping on a member's first orders of each 30-day month (one a day)."""
        pop = self.pop
        rows = np.unique(rows)
        allowed = self.params.for_rows("free_shipping_per_month", pop.group[rows])
        month = day // 30
        stale = pop["paid_ship_month"][rows] != month
        pop["paid_ship_used"][rows[stale]] = 0
        pop["paid_ship_month"][rows] = month
        free = pop["paid_ship_used"][rows] < allowed
        rows = rows[free]
        pop["paid_ship_used"][rows] += 1
        cost = np.broadcast_to(self.params.for_rows("shipping_cost", pop.group[rows]), rows.shape)
        self.ctx.recorder.event("paid_shipping", day, rows, perk_shipping_cost(pop, cost))

    def _offer(self, day: int) -> None:
        """Every alive non-member in an offered segment takes the offer with its uptake."""
        pop = self.pop
        offered = [s for s in UPTAKE_SEGMENTS if self.params.varies(f"uptake.{s}")
                   or getattr(self.params.base.uptake, s) > 0]
        if not offered:
            return
        rows = np.flatnonzero((pop.stage == Stage.ALIVE) & (pop["paid_member"] == 0))
        prob = np.zeros(len(rows))
        for segment in offered:
            inside = audience_mask(self, rows, [segment], day)
            chance = self.params.for_rows(f"uptake.{segment}", pop.group[rows])
            prob = np.where(inside, np.maximum(prob, chance), prob)
        group = pop.group[rows]
        with np.errstate(divide="ignore"):
            price = (self.params.for_rows("fee", group)
                     / self.params.for_rows("reference_fee", group)
                     ) ** -self.params.for_rows("fee_elasticity", group)
        with np.errstate(divide="ignore", invalid="ignore"):  # a free membership: price inf
            chance = np.where(prob > 0, np.minimum(prob * price, 1.0), 0.0)
        takers = rows[self.rng.random(len(rows)) < chance]
        self.ctx.recorder.event("paid_join", day, takers)
        self._start(takers, day)
        self._enter(takers, day)

    def _start(self, rows: np.ndarray, day: int) -> None:
        """A paid period begins: the fee, a clean order count, the period's end scheduled."""
        if not len(rows):
            return
        fee = np.broadcast_to(self.params.for_rows("fee", self.pop.group[rows]), rows.shape)
        self.ctx.recorder.event("paid_fee", day, rows, fee)
        self.pop["paid_orders"][rows] = 0
        # the period's end: a SimPy timeout whose callback queues the rows for that day's step
        self.ctx.env.timeout(self.params.base.period_days).callbacks.append(
            lambda _event, rows=rows: self.ending.append(rows))

    def _enter(self, rows: np.ndarray, day: int) -> None:
        pop = self.pop
        group = pop.group[rows]
        buy = (1.0 + self.params.for_rows("purchase_lift", group)) * np.ones(len(rows))
        stay = (1.0 - self.params.for_rows("dropout_cut", group)) * np.ones(len(rows))
        pop["paid_member"][rows] = 1
        pop["paid_discount_rate"][rows] = self.params.for_rows("member_discount", group)
        pop["paid_purchase_factor"][rows] = buy
        pop["paid_dropout_factor"][rows] = stay
        np.add.at(self.members, pop.cell[rows].astype(np.int64), 1.0)
        rescale_buying(self.pop, self.rng, rows, buy, stay, day, self.ctx.days)

    def _renewals(self, day: int, renew: bool = True) -> None:
        """Period ends today: alive members renew with their probability; the rest lapse."""
        if not self.ending:
            return
        pop, rec = self.pop, self.ctx.recorder
        rows = np.concatenate(self.ending)
        self.ending = []
        alive = pop.stage[rows] == Stage.ALIVE
        group = pop.group[rows]
        low = pop["paid_orders"][rows] < self.params.for_rows("low_use_orders", group)
        chance = np.where(low, self.params.for_rows("low_use_renewal_prob", group),
                          self.params.for_rows("renewal_prob", group))
        stays = alive & (self.rng.random(len(rows)) < chance) & renew
        renewed, lapsed = rows[stays], rows[~stays]
        rec.event("paid_renewal", day, renewed)
        self._start(renewed, day)
        rec.event("paid_lapse", day, lapsed)
        self._exit(lapsed, day)

    def _exit(self, rows: np.ndarray, day: int) -> None:
        """A lapse undoes the factors the membership applied."""
        pop = self.pop
        alive = rows[pop.stage[rows] == Stage.ALIVE]
        np.subtract.at(self.members, pop.cell[alive].astype(np.int64), 1.0)
        buy = 1.0 / pop["paid_purchase_factor"][alive].astype(np.float64)
        stay = 1.0 / pop["paid_dropout_factor"][alive].astype(np.float64)
        rescale_buying(self.pop, self.rng, alive, buy, stay, day, self.ctx.days)
        pop["paid_member"][rows] = 0
        pop["paid_discount_rate"][rows] = 0.0
