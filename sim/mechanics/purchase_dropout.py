"""Purchases with dropout: the BG/NBD story in daily steps.

Each user draws once a purchase rate lambda ~ Gamma(shape r, rate alpha) per `time_unit_days`
and a dropout probability ~ Beta(a, b). While alive, the user buys each day with probability
min(1, lambda / time_unit_days) (link `clip`, the reference model) or 1 - exp(-lambda /
time_unit_days) (link `poisson`); right after a purchase the user churns for good with the
dropout probability. Order values are Gamma(shape, scale) for everyone, or Gamma-Gamma (p, q,
v): each user's rate nu ~ Gamma(q, rate v), each order ~ Gamma(p, rate nu).

With `purchase_on_acquisition: true` the acquisition is itself the first order and no dropout
follows it (Fader, Hardie & Lee 2005), so fitted BG/NBD and Gamma-Gamma parameters from
standard customer-lifetime tools can be used as they are.

Daily Bernoulli trials are drawn as geometric gaps to the next purchase, so a day costs one
comparison over the schedule plus work on that day's buyers only.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim import orders
from sim.buying import NEVER, geometric_gap
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import ORDER, LedgerLine, Metric, col
from sim.orders import (
    ORDER_EVENTS,
    count_orders,
    member_discounts,
    publish_orders,
    record_first_orders,
)
from sim.population import Stage
from sim.purchase_settings import (
    Checkout,
    Dropout,
    FirstOrder,
    OrderValue,
    PurchaseRate,
    SpendCoupon,
)


class PurchaseDropoutParams(MechanicParams):
    type: Literal["purchase_dropout"] = "purchase_dropout"
    trait_fields = frozenset({  # drawn once per user at set-up
        "purchase_rate", "dropout", "order_value.q", "order_value.v",
        "spend_coupon.conversion_lift"})
    purchase_rate: PurchaseRate
    dropout: Dropout
    order_value: OrderValue
    purchase_on_acquisition: bool = Field(
        False, description="The acquisition is itself an order (BG/NBD convention)."
    )
    first_order: FirstOrder | None = Field(
        None, description="New users first wait for a first order at this rate, then buy at "
        "their own rate (BG/NBD after the first order); omit to buy at their rate from day one.")
    checkout: Checkout | None = Field(None, description="Cart abandonment and reminders.")
    spend_coupon: SpendCoupon | None = Field(None, description="A store-wide 满减 coupon.")
    cogs_ratio: float = Field(0.0, ge=0.0, le=1.0,
                              description="Cost of goods as a share of the list price.")
    refund_rate: float = Field(0.0, ge=0.0, le=1.0,
                               description="Share of orders refunded in full (goods returned).")

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        if self.first_order is not None and self.purchase_on_acquisition:
            return [(("mechanics", name, "first_order"), "first_order and "
                     "purchase_on_acquisition: true contradict each other; the acquisition "
                     "cannot both be and wait for a first order")]
        return []


METRICS: tuple[Metric, ...] = (
    Metric("carts_abandoned", "carts", "flow",
           "Checkouts left unpaid.",
           ("cart_abandoned",), compute=lambda c: c["cart_abandoned"], zh="弃单数", good="down"),
    Metric("reminders_sent", "messages", "flow",
           "Unpaid-order reminders sent (one per one-time subscription consent).",
           ("reminder_sent",), compute=lambda c: c["reminder_sent"], zh="催付提醒"),
    Metric("recovered_orders", "orders", "flow",
           "Abandoned carts paid after a reminder.",
           ("recovered",), compute=lambda c: c["recovered"], zh="挽回订单"),
    Metric("coupon_cost", "yuan", "flow",
           "Money off orders from coupons (满减 and reminder coupons).",
           ORDER, compute=lambda c: col(c, "coupon_amount"), zh="优惠券成本", good="down",
           ledger=LedgerLine("relative", 20)),
    Metric("gift_cost", "yuan", "flow",
           "Money off first orders from new-user gift packs, booked when redeemed.",
           ORDER, compute=lambda c: col(c, "gift_amount"), zh="新人礼包成本", good="down",
           ledger=LedgerLine("relative", 30), acquisition=True),
    Metric("referral_cost", "yuan", "flow",
           "Referral coupons used (referee's first order, referrer's next orders).",
           ORDER, compute=lambda c: col(c, "referral_reward_amount"),
           zh="老带新奖励成本", good="down",
           ledger=LedgerLine("relative", 40), acquisition=True),
)


class PurchaseDropout(Mechanic[PurchaseDropoutParams]):
    stage = StageOrder.PURCHASE
    metrics = METRICS
    events = (*ORDER_EVENTS, "coupon", "gift", "referral_reward", "refund", "cogs",
              "cart_abandoned", "reminder_sent", "recovered")
    sells = True
    emits = ("cart_abandoned",)
    uses_if_any = ("spend_rate", "gift_value", "first_order_boost", "crm_coupon_balance",
                   "coupon_balance")

    @classmethod
    def columns(cls, params: PurchaseDropoutParams) -> dict[str, np.dtype]:
        cols = {
            "purchase_prob": np.dtype(np.float64),
            "dropout_prob": np.dtype(np.float64),
            "next_purchase_day": np.dtype(np.int32),
        }
        if params.order_value.model == "gamma_gamma":
            cols["spend_rate"] = np.dtype(np.float64)
        return cols

    @classmethod
    def scratch_bytes_per_user(cls, params: PurchaseDropoutParams) -> int:
        return 3 * 8  # float64 temporaries while drawing the per-user attributes

    def setup(self) -> None:
        pop, arm, n = self.pop, self.pop.group, self.pop.size
        rate = self.params.for_rows
        unit = rate("purchase_rate.time_unit_days", arm)
        daily_rate = self.rng.gamma(
            rate("purchase_rate.r", arm), 1.0 / (rate("purchase_rate.alpha", arm) * unit), size=n
        )
        if self.params.base.purchase_rate.link == "clip":
            np.minimum(daily_rate, 1.0, out=pop["purchase_prob"])
        else:
            pop["purchase_prob"][:] = -np.expm1(-daily_rate)
        del daily_rate
        if self.params.base.spend_coupon is not None:
            lift = rate("spend_coupon.conversion_lift", arm)
            np.minimum(pop["purchase_prob"] * (1.0 + lift), 1.0, out=pop["purchase_prob"])
        pop["dropout_prob"][:] = self.rng.beta(rate("dropout.a", arm), rate("dropout.b", arm), n)
        if self.has("spend_rate"):
            pop["spend_rate"][:] = self.rng.gamma(
                rate("order_value.q", arm), 1.0 / rate("order_value.v", arm), size=n
            )
        pop["next_purchase_day"].fill(NEVER)
        orders.prepare(pop)

    def step(self, day: int) -> None:
        joined = self.pop.new_users(self.name)
        if len(joined) and self.params.base.purchase_on_acquisition:
            self._order(joined, day, dropout=False)
        elif len(joined):  # a gap of 1 means "today": the join day is the first day of trials
            self.pop["next_purchase_day"][joined] = day - 1 + self._gap(joined)
        due = self._due(day)
        if len(due):
            self._checkout(due, day)

    def idle(self, day: int) -> None:
        """No purchases while switched off; gaps are memoryless, so due users just redraw."""
        joined = self.pop.new_users(self.name)
        self.pop["next_purchase_day"][joined] = day + self._gap(joined)
        due = self._due(day)
        self.pop["next_purchase_day"][due] = day + self._gap(due)

    def restart(self, day: int, changed: np.ndarray, before: object) -> None:
        """Alive users of changed groups draw their pending checkout again from the start day
        (gaps are geometric, so a redraw is exact): a new first-order rate acts at once."""
        pop = self.pop
        rows = np.flatnonzero(changed[pop.group] & (pop.stage == Stage.ALIVE))
        due = pop["next_purchase_day"][rows]
        rows = rows[(due >= day) & (due != NEVER)]
        pop["next_purchase_day"][rows] = day - 1 + self._gap(rows)

    def _due(self, day: int) -> np.ndarray:
        due = np.flatnonzero(self.pop["next_purchase_day"] == day)
        return due[self.pop.stage[due] == Stage.ALIVE]

    def _checkout(self, rows: np.ndarray, day: int) -> None:
        """Checkouts become orders, or abandoned carts that a reminder may still recover."""
        checkout = self.params.base.checkout
        if checkout is None:
            self._order(rows, day, dropout=True)
            return
        rec, group = self.ctx.recorder, self.pop.group[rows]
        left = self.rng.random(len(rows)) < self.params.for_rows("checkout.cart_abandonment", group)
        paid, abandoned = rows[~left], rows[left]
        rec.event("cart_abandoned", day, abandoned)
        self.publish("cart_abandoned", abandoned)  # automations' unpaid-order trigger
        recovered = np.empty(0, dtype=rows.dtype)
        won_back = np.zeros(len(abandoned), dtype=bool)
        if checkout.reminder is not None and len(abandoned):
            g = self.pop.group[abandoned]
            consent = self.rng.random(len(abandoned)) < self.params.for_rows(
                "checkout.reminder.consent_prob", g)
            reminded = np.flatnonzero(consent)  # one consent, one message: never more sends
            rec.event("reminder_sent", day, abandoned[reminded])
            back = self.rng.random(len(reminded)) < self.params.for_rows(
                "checkout.reminder.recovery_rate", g[reminded])
            won_back[reminded[back]] = True
            recovered = abandoned[won_back]
            rec.event("recovered", day, recovered)
        lost = abandoned[~won_back]
        self.pop["next_purchase_day"][lost] = day + self._gap(lost)  # try again another day
        orders = np.concatenate([paid, recovered])
        extra = np.zeros(len(orders))
        if len(recovered):
            extra[len(paid):] = self.params.for_rows("checkout.reminder.coupon",
                                                     self.pop.group[recovered])
        self._order(orders, day, dropout=True, extra_discount=extra)

    def _order(self, rows: np.ndarray, day: int, *, dropout: bool,
               extra_discount: np.ndarray | None = None) -> None:
        """Book orders: value, discounts, refunds and cost of goods, then dropout and the next
        checkout. Money identity per order: value = paid + coupon + gift + referral coupon +
        member prices (points, redeemed later by the points mechanic, skip refunded orders).
        Each discount is computed only when something can grant it (the common path is lean)."""
        pop, rec, base = self.pop, self.ctx.recorder, self.params.base
        values = self._order_values(rows)
        goods_cost = None
        if pop.supply is not None:  # a catalogue prices the basket; a stock-out can lose it
            rows, values, goods_cost, extra_discount = self._fulfil(rows, values, day,
                                                                    extra_discount)
        elif base.spend_coupon is not None:
            values = self._top_up(rows, values)
        zeros = np.zeros(len(rows))
        coupon = zeros if extra_discount is None else extra_discount.copy()
        if base.spend_coupon is not None:
            coupon = self._spend_coupon(rows, values, coupon)
        if coupon is not zeros:
            coupon = np.minimum(coupon, values)
        first = count_orders(pop, rec, rows, day)  # rows are distinct: one checkout each
        coupon, gift, referral = self._held_discounts(rows, values, coupon, first, zeros)
        # member prices (e.g. the tier discount): booked here, not by the loyalty mechanic that
        # grants them, so the refund below returns only what was paid (member prices: sim/orders.py)
        member = member_discounts(pop, rows, values, coupon, gift, referral)
        paid = values - coupon - gift - referral - sum(off for _, off in member)
        rec.event("order", day, rows, values)
        record_first_orders(pop, rec, day, rows[first], values[first])
        for name, amount in (("coupon", coupon), ("gift", gift), ("referral_reward", referral),
                             *member):
            if amount is not zeros:
                given = amount > 0
                rec.event(name, day, rows[given], amount[given])
        self._refund_and_cost(rows, values, paid, goods_cost, day)
        publish_orders(pop, rows, values, paid, first)  # paid: points redeem within it
        self._next_checkout(rows, first, day, dropout)

    def _held_discounts(self, rows: np.ndarray, values: np.ndarray, coupon: np.ndarray,
                        first: np.ndarray, zeros: np.ndarray,
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What buyers hold comes off in this order: the new-user gift (first orders), coupons
        automations sent (added to `coupon`), referral coupons; each within what is left.
        `zeros` stands for "nothing here" (not booked), as in `_order`."""
        pop = self.pop
        gift = referral = zeros
        if self.has("gift_value"):
            gift = np.zeros(len(rows))
            gift[first] = np.minimum(pop["gift_value"][rows[first]], (values - coupon)[first])
            pop["gift_value"][rows[first]] = 0.0
        if self.has("crm_coupon_balance"):  # coupons sent by automations
            crm = np.minimum(pop["crm_coupon_balance"][rows], values - coupon - gift)
            pop["crm_coupon_balance"][rows] -= crm.astype(np.float32)
            coupon = coupon + crm
        if self.has("coupon_balance"):  # referral coupons held by the buyer
            referral = np.minimum(pop["coupon_balance"][rows], values - coupon - gift)
            pop["coupon_balance"][rows] -= referral.astype(np.float32)
        return coupon, gift, referral

    def _refund_and_cost(self, rows: np.ndarray, values: np.ndarray, paid: np.ndarray,
                         goods_cost: np.ndarray | None, day: int) -> None:
        """Refunds return what was paid (no points on them); cost of goods of kept orders."""
        pop, rec, base = self.pop, self.ctx.recorder, self.params.base
        kept, values_kept = rows, values
        if self.params.varies("refund_rate") or base.refund_rate > 0:
            refunded = self.rng.random(len(rows)) < self.params.for_rows("refund_rate",
                                                                         pop.group[rows])
            rec.event("refund", day, rows[refunded], paid[refunded])
            self.publish("refunded", rows[refunded])  # points are neither earned nor spent on them
            kept, values_kept = rows[~refunded], values[~refunded]
            goods_cost = None if goods_cost is None else goods_cost[~refunded]
        if goods_cost is not None:
            rec.event("cogs", day, kept, goods_cost)
        elif self.params.varies("cogs_ratio") or base.cogs_ratio > 0:
            cogs = self.params.for_rows("cogs_ratio", pop.group[kept]) * values_kept
            rec.event("cogs", day, kept, cogs)

    def _next_checkout(self, rows: np.ndarray, first: np.ndarray, day: int,
                       dropout: bool) -> None:
        """Dropout after an order, then the next checkout of those who stay."""
        pop, base = self.pop, self.params.base
        if dropout:  # the first order of a first_order scenario is a birth, not a repeat
            at_risk = rows if base.first_order is None else rows[~first]
            leaving = self.rng.random(len(at_risk)) < pop["dropout_prob"][at_risk]
            gone = at_risk[leaving]
            pop["next_purchase_day"][gone] = NEVER
            pop.churn(gone)
            rows = at_risk[~leaving] if base.first_order is None else \
                rows[pop.stage[rows] == Stage.ALIVE]
        pop["next_purchase_day"][rows] = day + self._gap(rows)

    def _fulfil(self, rows: np.ndarray, values: np.ndarray, day: int,
                extra: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray | None]:
        """The catalogue's SKU group prices each order, a spend coupon may top it up, and the
        group costs the final value; orders a stock-out loses are not booked and their buyers
        try again another day (memoryless, like a lost cart)."""
        top_up = self._top_up if self.params.base.spend_coupon is not None else None
        sold, values, cogs = self.pop.supply.fulfil(rows, values, day, priced=True,
                                                    top_up=top_up)
        lost = rows[~sold]
        self.pop["next_purchase_day"][lost] = day + self._gap(lost)
        return rows[sold], values[sold], cogs[sold], None if extra is None else extra[sold]

    def _top_up(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """满减: orders just below the threshold may be topped up to it. Runs before a
        catalogue costs the order, so cost of goods and stock see the topped-up basket."""
        group = self.pop.group[rows]
        get = self.params.for_rows
        threshold = np.broadcast_to(get("spend_coupon.threshold", group), values.shape)
        near = (values < threshold) & (values >= threshold * (1 - get("spend_coupon.top_up_band",
                                                                      group)))
        top_up = near & (self.rng.random(len(rows)) < get("spend_coupon.top_up_prob", group))
        return np.where(top_up, threshold, values)

    def _spend_coupon(self, rows: np.ndarray, values: np.ndarray,
                      coupon: np.ndarray) -> np.ndarray:
        """Eligible (topped-up) orders that use the coupon get the discount (on top of any
        reminder coupon)."""
        group = self.pop.group[rows]
        get = self.params.for_rows
        uses = (values >= get("spend_coupon.threshold", group)) & (
            self.rng.random(len(rows)) < get("spend_coupon.redemption", group))
        return coupon + np.where(uses, get("spend_coupon.discount", group), 0.0)

    def _order_values(self, rows: np.ndarray) -> np.ndarray:
        value, arm = self.params.base.order_value, self.pop.group[rows]
        if value.model == "gamma":
            return self.rng.gamma(
                self.params.for_rows("order_value.shape", arm),
                self.params.for_rows("order_value.scale", arm),
                size=len(rows),
            )
        shape = self.params.for_rows("order_value.p", arm)
        return self.rng.gamma(shape, 1.0 / self.pop["spend_rate"][rows], size=len(rows))

    def _gap(self, rows: np.ndarray) -> np.ndarray:
        """Days until the next checkout: Geometric(prob) >= 1, capped past the horizon. Users
        still waiting for a first order use the first-order rate (and their gift's boost)."""
        prob = self.pop["purchase_prob"][rows]
        if self.params.base.first_order is not None:
            waiting = self.pop["purchase_count"][rows] == 0
            p30 = self.params.for_rows("first_order.within_30_days", self.pop.group[rows])
            first = -np.expm1(np.log1p(-np.minimum(p30, 1 - 1e-12)) / 30.0)
            if self.has("first_order_boost"):
                first = np.minimum(1.0, first * (1.0 + self.pop["first_order_boost"][rows]))
            prob = np.where(waiting, first, prob)
        return geometric_gap(self.rng, prob, self.ctx.days)

