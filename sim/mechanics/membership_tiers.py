"""Membership tiers (e.g. regular, silver, gold): spend thresholds over a period, benefits with
a cost and an effect, downgrades.

A user's tier is the highest whose `threshold` the user's spend in the current period (orders
not refunded) reaches:
upgrades happen at the order that crosses a threshold. Every `period_days` (a SimPy process
marks the day) each user is requalified on the period that just ended (keeping a tier needs its
spend again: a user below it is downgraded) and the period's spend starts again from zero.

Benefits of a tier, each with its cost booked as an event:
- `discount`: share off every order (`tier_discount`, money off the order). The tier mechanic
  only writes each user's rate (`tier_discount_rate`); the purchase mechanic and `book_orders`
  take it off the order and book it, so a refunded order returns what was paid after it;
- `free_shipping_per_month`: shipping paid by the store on that many orders a month
  (`tier_shipping`, `shipping_cost` yuan each: the carrier's cost; 0 when an inventory
  mechanic books every shipped order's carrier cost as `logistics_cost`, so a parcel is paid
  once; the count still says how many orders shipped free);
- `birthday_gift`: yuan of gift on the user's birthday (`tier_birthday_gift`);
- `points_multiplier`: points earned per yuan (the points mechanic reads `points_bonus`);
- `purchase_lift` and `dropout_cut`: the tier's effect on behaviour. Entering a tier multiplies
  the user's daily purchase probability by (1 + lift) and the dropout probability after each
  order by (1 - cut), relative to the base tier (undone on a downgrade).
The stocks `tier_<k>_users` are the alive users in tier k = 1.. (tier 0 is the base tier).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.orders import perk_shipping_cost
from sim.params import StrictModel
from sim.population import Stage

MAX_TIERS = 5


class Tier(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Tier name.")
    threshold: float = Field(ge=0.0, description="Yuan spent in the period to reach it; the "
                             "first tier has 0 (every user).")
    discount: float = Field(0.0, ge=0.0, lt=1.0, description="Share off every order.")
    free_shipping_per_month: int = Field(0, ge=0, le=31,
                                         description="Orders a month shipped free.")
    shipping_cost: float = Field(6.0, ge=0.0, description="Yuan the store pays the carrier "
                                 "per free shipping (ASSUMPTION 4-10); not booked when an "
                                 "inventory mechanic models logistics (its logistics_cost is "
                                 "that parcel's cost already: docs/model.md, Money).")
    birthday_gift: float = Field(0.0, ge=0.0, description="Yuan of gift on the birthday.")
    points_multiplier: float = Field(1.0, ge=1.0, description="Points per yuan multiplier "
                                     "(Ulta 1 / 1.25 / 1.5, §4.2).")
    purchase_lift: float = Field(0.0, ge=0.0, description="Relative lift of the daily "
                                 "purchase probability in this tier (ASSUMPTION).")
    dropout_cut: float = Field(0.0, ge=0.0, lt=1.0, description="Relative cut of the dropout "
                               "probability after each order (ASSUMPTION).")


class MembershipTiersParams(MechanicParams):
    type: Literal["membership_tiers"] = "membership_tiers"
    fixed_fields = frozenset({"period_days"})  # one value for the whole market
    period_days: int = Field(365, ge=7, le=3650, description="Qualification period (a year).")
    tiers: list[Tier] = Field(min_length=2, max_length=MAX_TIERS,
                              description="Tiers from the base tier up; thresholds increasing.")

    @field_validator("tiers")
    @classmethod
    def _increasing(cls, tiers: list[Tier]) -> list[Tier]:
        if tiers[0].threshold != 0:
            raise ValueError(f"the first tier ({tiers[0].name}) must have threshold 0: "
                             "every user is in a tier")
        for low, high in pairwise(tiers):
            if high.threshold <= low.threshold:
                raise ValueError(f"tier thresholds must increase: {high.name} "
                                 f"({high.threshold:g}) is not above {low.name} "
                                 f"({low.threshold:g})")
        return tiers


TIER_ZH = ("一级会员", "二级会员", "三级会员", "四级会员")
METRICS: tuple[Metric, ...] = (
    *[Metric(f"tier_{k}_users", "users", "stock", f"Alive users in tier {k} (0 = base).",
             (f"tier_{k}_users",), compute=lambda c, k=k: c[f"tier_{k}_users"],
             zh=TIER_ZH[k - 1], group="Membership tiers") for k in range(1, 5)],
    Metric("tier_benefit_cost", "yuan", "flow",
           "Tier discounts + free shipping + birthday gifts.",
           ("tier_upgrade",), compute=lambda c: col(c, "tier_discount_amount") + col(c,
           "tier_shipping_amount") + col(c, "tier_birthday_gift_amount"), zh="会员权益成本"),
    Metric("tier_discounts", "yuan", "flow",
           "Money off orders from tier discounts.",
           ("tier_discount",), compute=lambda c: col(c, "tier_discount_amount"), zh="会员折扣",
           good="down", ledger=LedgerLine("relative", 50)),
    Metric("tier_perk_cost", "yuan", "flow",
           "Tier free shipping and birthday gifts.",
           ("tier_shipping",), compute=lambda c: col(c, "tier_shipping_amount") + col(c,
           "tier_birthday_gift_amount"), zh="会员福利成本（包邮、生日礼）", good="down",
           ledger=LedgerLine("relative", 230)),
)


class MembershipTiers(Mechanic[MembershipTiersParams]):
    stage = StageOrder.LOYALTY
    substage = 3
    metrics = METRICS
    report = ReportSection("operations")
    member_price = ("tier_discount_rate", "tier_discount")
    reads = ("ordered",)  # spend qualifies for tiers
    reads_if_any = ("refunded",)
    uses_if_any = ("purchase_prob", "dropout_prob")
    events = ("tier_upgrade", "tier_downgrade", "tier_discount", "tier_shipping",
              "tier_birthday_gift")
    stocks = tuple(f"tier_{k}_users" for k in range(1, MAX_TIERS))

    @classmethod
    def columns(cls, params: MembershipTiersParams) -> dict[str, np.dtype]:
        return {"tier": np.dtype(np.int8), "tier_spend": np.dtype(np.float32),
                "ship_month": np.dtype(np.int16), "ship_used": np.dtype(np.int8),
                "points_bonus": np.dtype(np.float32),
                "tier_discount_rate": np.dtype(np.float32)}

    def setup(self) -> None:
        tiers = self.params.base.tiers
        self.threshold = np.array([t.threshold for t in tiers])
        self.discount = np.array([t.discount for t in tiers])
        self.shipping = np.array([t.free_shipping_per_month for t in tiers])
        self.ship_cost = np.array([t.shipping_cost for t in tiers])
        self.birthday = np.array([t.birthday_gift for t in tiers])
        self.bonus = np.array([t.points_multiplier - 1.0 for t in tiers], dtype=np.float32)
        self.lift = np.array([t.purchase_lift for t in tiers])
        self.cut = np.array([t.dropout_cut for t in tiers])
        self.pop["ship_month"].fill(-1)
        self.pop["tier_discount_rate"].fill(self.discount[0])  # everyone starts in tier 0
        self.pop["points_bonus"].fill(self.bonus[0])
        self.counts = np.zeros((len(tiers), self.ctx.layout.n_cells))  # alive users by tier
        self.due = False
        self.ctx.env.process(self._periods())

    def _periods(self) -> Iterator:
        while True:
            yield self.ctx.env.timeout(self.params.base.period_days)
            self.due = True

    def step(self, day: int) -> None:
        pop, rec = self.pop, self.ctx.recorder
        self._leave(self.today("churned"))
        if self.due:
            self.due = False
            self._requalify(day)
        rows, values = self.today("ordered"), self.today_values("ordered")
        if len(rows):
            tier = pop["tier"][rows].astype(np.int64)
            self._ship(rows, tier, day)  # (discounts were booked with the orders)
            if len(self.today("refunded")):  # refunded orders do not qualify
                values = np.where(pop.among(rows, self.today("refunded")), 0.0, values)
            np.add.at(pop["tier_spend"], rows, values.astype(np.float32))
            buyers = pop.distinct(rows)
            new = self._tier_of(pop["tier_spend"][buyers])
            up = new > pop["tier"][buyers]
            rec.event("tier_upgrade", day, buyers[up])
            self._move(buyers[up], new[up])
        self._birthdays(day)
        for k in range(1, len(self.threshold)):
            rec.stock(f"tier_{k}_users", day, self.counts[k])

    def idle(self, day: int) -> None:
        self._leave(self.today("churned"))
        self.due = False

    def _tier_of(self, spend: np.ndarray) -> np.ndarray:
        return (np.searchsorted(self.threshold, spend, side="right") - 1).astype(np.int8)

    def _ship(self, rows: np.ndarray, tier: np.ndarray, day: int) -> None:
        """Free shipping on the first orders of each 30-day month, up to the tier's number."""
        pop = self.pop
        month = day // 30
        has = self.shipping[tier] > 0
        rows, tier = rows[has], tier[has]
        if not len(rows):
            return
        rows, first = np.unique(rows, return_index=True)  # one free shipping per user a day
        tier = tier[first]
        stale = pop["ship_month"][rows] != month
        pop["ship_used"][rows[stale]] = 0
        pop["ship_month"][rows] = month
        free = pop["ship_used"][rows] < self.shipping[tier]
        pop["ship_used"][rows[free]] += 1
        self.ctx.recorder.event("tier_shipping", day, rows[free],
                                perk_shipping_cost(pop, self.ship_cost[tier[free]]))

    def _birthdays(self, day: int) -> None:
        """Users born on this day of the year (row mod 365) in a tier with a gift."""
        pop = self.pop
        rows = np.arange(day % 365, pop.size, 365)
        tier = pop["tier"][rows].astype(np.int64)
        rows, tier = rows[(tier > 0) & (pop.stage[rows] == Stage.ALIVE)], tier[
            (tier > 0) & (pop.stage[rows] == Stage.ALIVE)]
        gift = self.birthday[tier]
        self.ctx.recorder.event("tier_birthday_gift", day, rows[gift > 0], gift[gift > 0])

    def _requalify(self, day: int) -> None:
        """Period end: everyone's tier from the period's spend; spend restarts."""
        pop = self.pop
        members = np.flatnonzero((pop["tier"] > 0) | (pop["tier_spend"] > 0))
        new = self._tier_of(pop["tier_spend"][members])
        down = new < pop["tier"][members]
        self.ctx.recorder.event("tier_downgrade", day, members[down])
        self._move(members[down], new[down])
        pop["tier_spend"][members] = 0.0

    def _move(self, rows: np.ndarray, new: np.ndarray) -> None:
        """Change tiers: effects relative to the old tier, the alive counts per tier."""
        if not len(rows):
            return
        pop = self.pop
        old = pop["tier"][rows].astype(np.int64)
        new = new.astype(np.int64)
        if self.has("purchase_prob") and np.any(self.lift > 0):
            ratio = (1.0 + self.lift[new]) / (1.0 + self.lift[old])
            pop["purchase_prob"][rows] = np.minimum(pop["purchase_prob"][rows] * ratio, 1.0)
        if self.has("dropout_prob") and np.any(self.cut > 0):
            pop["dropout_prob"][rows] *= (1.0 - self.cut[new]) / (1.0 - self.cut[old])
        pop["tier"][rows] = new
        pop["points_bonus"][rows] = self.bonus[new]
        pop["tier_discount_rate"][rows] = self.discount[new]
        alive = pop.stage[rows] == Stage.ALIVE
        cells = pop.cell[rows[alive]].astype(np.int64)
        np.add.at(self.counts, (old[alive], cells), -1.0)
        np.add.at(self.counts, (new[alive], cells), 1.0)

    def moved(self, rows: np.ndarray, old_cells: np.ndarray, new_cells: np.ndarray) -> None:
        """Alive users counted in a tier of one cell are counted in their new cell."""
        alive = self.pop.stage[rows] == Stage.ALIVE
        tier = self.pop["tier"][rows[alive]].astype(np.int64)
        np.add.at(self.counts, (tier, old_cells[alive].astype(np.int64)), -1.0)
        np.add.at(self.counts, (tier, new_cells[alive].astype(np.int64)), 1.0)

    def _leave(self, churned: np.ndarray) -> None:
        tier = self.pop["tier"][churned].astype(np.int64)
        np.add.at(self.counts, (tier, self.pop.cell[churned].astype(np.int64)), -1.0)
