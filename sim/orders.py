"""The order path every seller shares: counts, first orders, the 30-day repurchase, member
prices, and what a booking tells the other mechanics.

Whatever books an order (the purchase mechanic's checkout, group buys, bargains, live streams)
calls `count_orders`, so every order feeds every order metric (first_purchases,
repurchases_30d, ...) in the same way, whichever mechanic sold it. Sellers other than the
purchase mechanic book through `book_orders`. A mechanic that sells declares `sells = True`: it
owns ORDER_COLUMNS, may record ORDER_EVENTS and publishes the same-day ORDER_SIGNALS
(`ordered` and `paid` with each order's value and what was paid, `first_ordered`, and
`refunded` for orders paid back), which loyalty and virality mechanics read.

Member prices are a share off every order that a loyalty mechanic grants; the mechanic
declares `member_price = (rate column, event)` and only writes each user's rate. The engine
lists them (`Population.member_prices`, in stage order) and the booking takes each off the
order, within what the seller's own money off leaves, so a refund returns what was paid after
it and a refunded order nets to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.metric import ORDER, LedgerLine, Metric, col
from sim.population import Population, add_count
from sim.recorder import Recorder

# Columns every seller declares (shared names agree): orders so far and the first order's day.
ORDER_COLUMNS: dict[str, np.dtype] = {"purchase_count": np.dtype(np.int32),
                                      "first_order_day": np.dtype(np.int16)}
# Events every seller may record through `count_orders` and its own booking.
ORDER_EVENTS = ("order", "first_order", "base_first_order", "repurchase_30d")
# Same-day signals of the order path (Population.emit): rows, and for `ordered` and `paid` a value
# per row, aligned (points redeem within what was paid).
ORDER_SIGNALS = ("ordered", "paid", "first_ordered", "refunded")
REPURCHASE_DAYS = 30  # a second order within this many days of the first is a quick repurchase

# The metrics of orders, whichever mechanic sold them.
METRICS: tuple[Metric, ...] = (
    Metric("purchases", "orders", "flow",
           "Orders placed that day by every path (checkout, group buys, bargains, live streams): "
           "a user may place more than one a day through different paths.",
           ("order",), compute=lambda c: c["order"], zh="订单量", headline=True),
    Metric("first_purchases", "orders", "flow",
           "Orders that were the user's first in the run: new buyers' first orders, and an "
           "existing base's first orders in the run (won_first_purchases leaves those out).",
           ("first_order",), compute=lambda c: c["first_order"], zh="首单量"),
    Metric("won_first_purchases", "orders", "flow",
           "First orders of users the run won (new buyers, 新客): first_purchases minus those "
           "of an existing base (seed_users with existing: true), whose users bought before "
           "the run. CAC's denominator.",
           ("first_order",), compute=lambda c: c["first_order"] - col(c, "base_first_order"),
           zh="新客首单量"),
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
           ("repurchase_30d",), compute=lambda c: c["repurchase_30d"], zh="30日复购单数"),
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
    rank = _rank_in_batch(pop, rows)
    before = count[rows] + rank
    first = before == 0
    pop["first_order_day"][rows[first]] = day
    second = rows[before == 1]
    first_day = pop["first_order_day"][second].astype(np.int64)
    quick = (first_day >= 0) & (day - first_day <= REPURCHASE_DAYS)
    second, first_day = second[quick], first_day[quick]
    recorder.events_on_days("repurchase_30d", first_day, second)
    if isinstance(rank, int):  # distinct rows: one write each, no unbuffered add needed
        count[rows] = before + 1
    else:
        add_count(count, rows)
    return first


def record_first_orders(pop: Population, recorder: Recorder, day: int, rows: np.ndarray,
                        values: np.ndarray) -> None:
    """`first_order` for each of these first orders, and `base_first_order` for those of an
    existing base's users (not new buyers: `won_first_purchases`)."""
    recorder.event("first_order", day, rows, values)
    if pop.base_channel_ids is not None and len(rows):
        base = np.isin(pop.channel[rows], pop.base_channel_ids)
        recorder.event("base_first_order", day, rows[base], values[base])


def _rank_in_batch(pop: Population, rows: np.ndarray) -> np.ndarray | int:
    """How many earlier entries of `rows` are the same user (0 when all are distinct, the
    common case: ascending rows, as a due scan gives, are distinct at a glance; others are
    checked in O(n) by `Population.distinct`)."""
    if len(rows) < 2 or (rows[1:] > rows[:-1]).all() or len(pop.distinct(rows)) == len(rows):
        return 0
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    lengths = np.diff(np.r_[starts, len(rows)])
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows)) - np.repeat(starts, lengths)
    return rank


def member_discounts(pop: Population, rows: np.ndarray, values: np.ndarray,
                     *taken: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(event, yuan off) for each member price these users have, in `pop.member_prices` order,
    each a share of the list value but within what the other discounts (`taken`) and those
    before it leave of the order; empty, at no cost, when no mechanic grants one."""
    out: list[tuple[str, np.ndarray]] = []
    room: np.ndarray | None = None
    for column, event in pop.member_prices:
        room = np.maximum(values - sum(taken), 0.0) if room is None else room
        off = np.minimum(pop[column][rows] * values, room)
        room = room - off
        out.append((event, off))
    return out


def perk_shipping_cost(pop: Population, cost: np.ndarray | float) -> np.ndarray | float:
    """What a free-shipping perk costs the store per order: the carrier's cost (`cost`) when
    nothing else books it, 0 when an inventory mechanic books every shipped order's carrier
    cost as logistics_cost. GMV holds no shipping fees (the store ships free, 包邮), so the
    customer's saving is not a separate line either: one parcel, one cost (docs/model.md)."""
    if pop.supply is not None and pop.supply.logistics:
        return np.zeros_like(np.asarray(cost, dtype=float))
    return cost


@dataclass(frozen=True)
class Booked:
    """What `book_orders` did with each order it was given (arrays aligned with its rows)."""

    sold: np.ndarray  # booked (False: a stock-out refused the sale; nothing was booked)
    first: np.ndarray  # the user's first order
    paid: np.ndarray  # yuan the buyer paid: value - the caller's money off - member prices


def book_orders(pop: Population, recorder: Recorder, rows: np.ndarray, day: int,
                values: np.ndarray, cogs_ratio: float | np.ndarray = 0.0,
                taken: np.ndarray | None = None) -> Booked:
    """Book orders placed outside the purchase mechanic (live streams, group buys, bargains):
    the order and first-order events, member prices within what the caller's own money off
    the order (`taken`, e.g. a flash sale, booked by the caller) leaves, cost of goods, the
    users' order counts, and the order signals. A catalogue with stock may refuse a sale:
    callers book their own events (refunds, per-mechanic order counts) for `sold` rows only,
    and refund exactly `paid`."""
    cogs = np.broadcast_to(np.asarray(cogs_ratio, dtype=float), values.shape)
    off = np.zeros(len(rows)) if taken is None else np.asarray(taken, dtype=float)
    if pop.supply is None:
        first, paid = _book(pop, recorder, rows, day, values, cogs, off)
        return Booked(np.ones(len(rows), dtype=bool), first, paid)
    sold = pop.supply.fulfil(rows, values, day, priced=False)[0]  # prices and costs: the caller's
    first, paid = np.zeros(len(rows), dtype=bool), np.zeros(len(rows))
    first[sold], paid[sold] = _book(pop, recorder, rows[sold], day, values[sold], cogs[sold],
                                    off[sold])
    return Booked(sold, first, paid)


def _book(pop: Population, recorder: Recorder, rows: np.ndarray, day: int, values: np.ndarray,
          cogs_ratio: np.ndarray, taken: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first-order flags, yuan paid) of orders that are sold."""
    first = count_orders(pop, recorder, rows, day)
    recorder.event("order", day, rows, values)
    record_first_orders(pop, recorder, day, rows[first], values[first])
    paid = values - taken
    for event, off in member_discounts(pop, rows, values, taken):
        recorder.event(event, day, rows[off > 0], off[off > 0])
        paid = paid - off
    cogs = cogs_ratio * values
    if np.any(cogs > 0):
        recorder.event("cogs", day, rows, cogs)
    publish_orders(pop, rows, values, paid, first)
    return first, paid


def publish_orders(pop: Population, rows: np.ndarray, values: np.ndarray, paid: np.ndarray,
                   first: np.ndarray) -> None:
    """Tell the day's later stages about these orders: `ordered` (with each order's value),
    `paid` (what each buyer paid, aligned) and `first_ordered`."""
    pop.emit_values("ordered", rows, values)
    pop.emit_values("paid", rows, paid)
    pop.emit("first_ordered", rows[first])
