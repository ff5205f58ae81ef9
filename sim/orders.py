"""The order path every seller shares: order counts, first orders and the 30-day repurchase.

Whatever books an order (the purchase mechanic's checkout, group buys, bargains, live streams)
calls `count_orders`, so every order feeds every order metric (first_purchases,
repurchases_30d, ...) in the same way, whichever mechanic sold it.
"""

from __future__ import annotations

import numpy as np

from sim.metric import ORDER, LedgerLine, Metric, col
from sim.population import Population
from sim.recorder import Recorder

# Columns every seller declares (shared names agree): orders so far and the first order's day.
ORDER_COLUMNS: dict[str, np.dtype] = {"purchase_count": np.dtype(np.int32),
                                      "first_order_day": np.dtype(np.int16)}
# Events every seller may record through `count_orders` and its own booking.
ORDER_EVENTS = ("order", "first_order", "repurchase_30d")
REPURCHASE_DAYS = 30  # a second order within this many days of the first is a quick repurchase

# The metrics of orders, whichever mechanic sold them.
METRICS: tuple[Metric, ...] = (
    Metric("purchases", "orders", "flow",
           "Orders placed that day by every path (checkout, group buys, bargains, live streams): "
           "a user may place more than one a day through different paths.",
           ("order",), compute=lambda c: c["order"], zh="订单量", headline=True),
    Metric("first_purchases", "orders", "flow",
           "Orders that were the user's first ever (new buyers).",
           ("first_order",), compute=lambda c: c["first_order"], zh="首单量"),
    Metric("repeat_purchases", "orders", "flow",
           "Orders that were not the user's first: purchases - first_purchases.",
           ("order", "first_order"), compute=lambda c: c["order"] - c["first_order"],
           zh="复购订单量",
           headline=True),
    Metric("buyers", "users", "stock",
           "Users with at least one order so far (cumulative first_purchases).",
           ("first_order",), compute=lambda c: c["first_order"].cumsum(), zh="累计购买用户",
           headline=True),
    Metric("repurchase_rate_30d", "share", "ratio",
           "Share of first orders followed by a second order within 30 days (counted on the first "
           "order's day; the last 30 days are left out of the horizon value).",
           ("repurchase_30d", "first_order"), numerator="repurchases_30d",
           denominator="first_purchases", mature_after=30, zh="30日复购率"),
    Metric("repurchases_30d", "orders", "flow",
           "Second orders within 30 days of the first, on the first order's day.",
           ("repurchase_30d",), compute=lambda c: c["repurchase_30d"], zh="30日复购首单用户"),
    Metric("gmv", "yuan", "flow",
           "Gross merchandise value: list value of the orders, before discounts and refunds.",
           ("order_amount",), compute=lambda c: c["order_amount"],
           zh="GMV（成交额）", headline=True,
           health=True, ledger=LedgerLine("absolute", 10)),
    Metric("aov", "yuan/order", "ratio",
           "Average order value: gmv / purchases (over the horizon: sums first).",
           ORDER, numerator="gmv", denominator="purchases", zh="客单价", headline=True),
    Metric("refunds", "yuan", "flow",
           "Money paid back on refunded orders: what was paid after the discounts booked with the "
           "order (coupons, gifts, referral coupons, tier discounts).",
           ORDER, compute=lambda c: col(c, "refund_amount"), zh="退款", good="down",
           ledger=LedgerLine("relative", 90)),
    Metric("cogs", "yuan", "flow",
           "Cost of goods of orders not refunded.",
           ORDER, compute=lambda c: col(c, "cogs_amount"), zh="商品成本", good="down",
           ledger=LedgerLine("relative", 130)),
)


def prepare(pop: Population) -> None:
    """Before day 0: nobody has a first order yet (every seller calls it; harmless twice)."""
    pop["first_order_day"].fill(-1)


def count_orders(pop: Population, recorder: Recorder, rows: np.ndarray, day: int) -> np.ndarray:
    """Count today's orders by `rows` (one order per entry; a user may appear more than once)
    and return which of them is the user's first ever. A second order within
    REPURCHASE_DAYS of the first is recorded as `repurchase_30d` on the first order's day, so
    the repurchase rate is a ratio of events of the same days."""
    count = pop["purchase_count"]
    before = count[rows] + _rank_in_batch(pop, rows)
    first = before == 0
    pop["first_order_day"][rows[first]] = day
    second = rows[before == 1]
    first_day = pop["first_order_day"][second].astype(np.int64)
    quick = (first_day >= 0) & (day - first_day <= REPURCHASE_DAYS)
    second, first_day = second[quick], first_day[quick]
    for d in np.unique(first_day):
        recorder.event("repurchase_30d", int(d), second[first_day == d])
    np.add.at(count, rows, 1)
    return first


def _rank_in_batch(pop: Population, rows: np.ndarray) -> np.ndarray | int:
    """How many earlier entries of `rows` are the same user (0 when all are distinct, the
    common case, found in O(n) by `Population.distinct`)."""
    if len(pop.distinct(rows)) == len(rows):
        return 0
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    lengths = np.diff(np.r_[starts, len(rows)])
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows)) - np.repeat(starts, lengths)
    return rank
