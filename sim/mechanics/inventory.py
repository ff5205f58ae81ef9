"""Inventory and fulfilment: stock per SKU group of the catalogue, replenished with a supplier
lead time; stock-outs lose or back-order sales and dampen sharing; shipping time and defects
feed churn; logistics and holding costs go to the ledger.

Stock is in units, one unit per order (a unit is one order's basket of that group). Each order
the catalogue prices is taken from the shelf of its SKU group while stock lasts (orders of a
day are served in the order they are placed). Short of stock, with `stockout: lost_sales` the
sale is lost (the buyer tries again another day); with `backorder` a share `backorder_accept`
of the buyers wait (the order is booked and ships when stock arrives, oldest first) and the
rest are lost.

Replenishment, reviewed at the end of each day from the inventory position
(on hand + on order - back-orders):
- `reorder_point` (s, Q): when the position is at or below s, order enough multiples of Q to
  lift it above s. s = mean daily demand x L + safety stock unless given; Q = mean daily
  demand x order_cover_days unless given.
- `periodic_review` (R, S): every `review_days` (a SimPy process marks the day), order S -
  position. S = mean daily demand x (R + L) + safety stock unless given.
- `none`: no replenishment (the initial stock is all there is).
Mean and standard deviation of daily demand (units asked for, sold or not) come from the last
`demand_window_days`. Safety stock is `safety_stock` if given, otherwise z x sigma_d x sqrt(L)
(sqrt(R + L) for periodic review), the textbook formula (domain-facts §6, z = 1.65 for a 95%
cycle service level). Each order arrives after a supplier lead time drawn per order (fixed,
Gamma or lognormal with the given mean and coefficient of variation, rounded to whole days,
at least 1): a SimPy timeout whose callback puts the units on the shelf at the start of that
day and ships waiting back-orders first.

While a group is out of stock, sharing is dampened: a user's share probability is multiplied
by 1 - sharing_damping x min(1, sum over out-of-stock groups of the persona's demand share x
weight), weight `hero_weight` for hero groups and 1 otherwise. Conversion is dampened by the
lost sales themselves (the demand for a missing group does not convert that day).

Shipping: each shipped order takes 1 + Poisson(mean_days - 1) days in transit; it is late when
the wait for stock plus the transit exceeds `promised_days`, and defective with
`defect_rate`. Each late or defective order multiplies the buyer's dropout probability after
later orders by (1 + late_dropout_lift) or (1 + defect_dropout_lift), capped at 1 (applied at
dispatch: the next order is almost always after the delivery).

Money: `shipped` events carry the logistics cost per order (ledger line logistics_cost) and the
market pays holding_cost_per_unit_day for every unit on the shelf at the end of each day (a
market-level line, holding_cost, with no user: whole-market view only, like ad spend). Stock
levels and flows are market-level too (arms share one warehouse); per SKU group daily tables
are in the run's extras (`<name>.received`, `.shipped`, `.on_hand`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.mechanics.catalogue import Catalogue
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.supply import LeadTime, Shipping, order_quantities


class InventoryParams(MechanicParams):
    type: Literal["inventory"] = "inventory"
    fixed_fields = frozenset({  # one value for the whole market
        "demand_window_days", "hero_weight", "holding_cost_per_unit_day", "initial_stock",
        "lead_time", "order_cover_days", "order_quantity", "order_up_to", "reorder_point",
        "review_days", "safety_stock", "service_z", "sharing_damping"})
    scaled_fields = frozenset({"initial_stock", "initial_stock_by_group.*", "safety_stock",
                               "order_quantity", "order_up_to", "reorder_point"})
    policy: Literal["reorder_point", "periodic_review", "none"] = Field(
        "reorder_point", description="(s, Q) reorder point, (R, S) periodic review or none.")
    reorder_point: float | None = Field(None, ge=0.0, description="s, units; omit for mean "
                                        "daily demand x lead time + safety stock.")
    order_quantity: float | None = Field(None, gt=0.0, description="Q, units; omit for mean "
                                         "daily demand x order_cover_days.")
    order_cover_days: float = Field(14.0, gt=0.0, description="Days of demand one order "
                                    "covers when order_quantity is omitted (ASSUMPTION).")
    review_days: int = Field(7, ge=1, description="R: days between periodic reviews.")
    order_up_to: float | None = Field(None, ge=0.0, description="S, units; omit for mean "
                                      "daily demand x (R + L) + safety stock.")
    safety_stock: float | None = Field(None, ge=0.0, description="Units; omit for z x sigma_d "
                                       "x sqrt(L) (§6, textbook).")
    service_z: float = Field(1.65, ge=0.0, description="z of the safety stock (1.65 = 95% "
                             "cycle service level, §6).")
    demand_window_days: int = Field(28, ge=2, description="Days of demand history behind the "
                                    "mean and sigma of daily demand.")
    initial_stock: int = Field(1000, ge=0, description="Units on the shelf of every SKU group "
                               "on day 0.")
    initial_stock_by_group: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="Day-0 units (0 or more) of named SKU groups, "
        "instead of initial_stock.")
    lead_time: LeadTime = Field(default_factory=LeadTime)
    stockout: Literal["lost_sales", "backorder"] = Field(
        "lost_sales", description="What a sale short of stock becomes.")
    backorder_accept: float = Field(0.6, ge=0.0, le=1.0, description="Share of buyers who "
                                    "wait for a back-order (the rest are lost; ASSUMPTION).")
    sharing_damping: float = Field(0.5, ge=0.0, le=1.0, description="Most a stock-out of "
                                   "everything a persona wants cuts sharing (ASSUMPTION).")
    hero_weight: float = Field(2.0, ge=0.0, description="Weight of a hero group's stock-out "
                               "in the sharing damping (ASSUMPTION).")
    holding_cost_per_unit_day: float = Field(
        0.04, ge=0.0, description="Yuan per unit on the shelf per day (ASSUMPTION: a 20-30% a "
        "year carrying cost on a ~60-yuan unit cost).")
    shipping: Shipping = Field(default_factory=Shipping)

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        catalogues = [p for p in scenario.mechanics.values() if p.type == "catalogue"]
        return inventory_problems(self, name, [g.name for g in catalogues[0].sku_groups]
                                  if catalogues else None)


def inventory_problems(params: InventoryParams, name: str,
                       catalogue: list[str] | None) -> list[tuple[tuple, str]]:
    """An inventory keeps the catalogue's SKU groups: it needs one, and names only its groups."""
    if catalogue is None:
        return [(("mechanics", name, "type"),
                 "inventory keeps stock of a catalogue's SKU groups: add a `catalogue` mechanic")]
    return [(("mechanics", name, "initial_stock_by_group", group),
             f"unknown SKU group {group!r}; expected one of: {', '.join(catalogue)}")
            for group in params.initial_stock_by_group if group not in catalogue]


METRICS: tuple[Metric, ...] = (
    Metric("units_demanded", "units", "flow",
           "Orders that reached the stock check (one unit each), sold or not.",
           ("stock_demand",), compute=lambda c: c["stock_demand"], zh="需求件数"),
    Metric("units_filled", "units", "flow",
           "Orders served from the shelf at once.",
           ("stock_filled",), compute=lambda c: c["stock_filled"], zh="现货满足件数"),
    Metric("fill_rate", "share", "ratio",
           "units_filled / units_demanded: the share of demand served from stock at once.",
           ("stock_demand", "stock_filled"), numerator="units_filled", denominator="units_demanded",
           zh="现货满足率", group="Stock and service", headline=True),
    Metric("lost_sales", "orders", "flow",
           "Orders lost to a stock-out.",
           ("lost_sale",), compute=lambda c: c["lost_sale"], zh="缺货流失订单", good="down",
           group="Stock and service"),
    Metric("lost_sales_value", "yuan", "flow",
           "List value of orders lost to a stock-out.",
           ("lost_sale",), compute=lambda c: c["lost_sale_amount"], zh="缺货流失金额", good="down",
           group="Stock and service"),
    Metric("backorders", "orders", "flow",
           "Orders booked short of stock, shipped when stock arrives.",
           ("backorder",), compute=lambda c: c["backorder"], zh="缺货待发订单", good="down",
           group="Stock and service"),
    Metric("shipments", "orders", "flow",
           "Orders shipped (back-orders on the day they ship).",
           ("shipped",), compute=lambda c: c["shipped"], zh="发货订单"),
    Metric("late_deliveries", "orders", "flow",
           "Shipped orders delivered later than promised.",
           ("late_delivery",), compute=lambda c: c["late_delivery"], zh="延迟送达", good="down",
           group="Stock and service"),
    Metric("defects", "orders", "flow",
           "Shipped orders with an after-sales complaint.",
           ("defect",), compute=lambda c: c["defect"], zh="售后问题订单", good="down"),
    Metric("logistics_cost", "yuan", "flow",
           "Parcel and packing cost of shipped orders.",
           ("shipped",), compute=lambda c: col(c, "shipped_amount"), zh="物流成本", good="down",
           group="Stock and service", ledger=LedgerLine("relative", 290)),
    Metric("logistics_cost_per_order", "yuan/order", "ratio",
           "logistics_cost / shipments.",
           ("shipped",), numerator="logistics_cost", denominator="shipments", zh="单均物流成本",
           good="down", group="Stock and service"),
    Metric("holding_cost", "yuan", "flow",
           "Cost of holding the units in stock at the end of each day (market level: whole-market "
           "view only).",
           ("holding_cost",), compute=lambda c: col(c, "holding_cost"),
           zh="库存持有成本", good="down",
           group="Stock and service", ledger=LedgerLine("relative", 300)),
    Metric("units_in_stock", "units", "stock",
           "Units on the shelf at the end of the day, all SKU groups (market level).",
           ("units_in_stock",), compute=lambda c: c["units_in_stock"], zh="库存件数",
           group="Stock and service"),
    Metric("backlog_units", "units", "stock",
           "Back-orders waiting for stock at the end of the day (market level).",
           ("backlog_units",), compute=lambda c: c["backlog_units"], zh="待发件数", good="down"),
    Metric("units_received", "units", "flow",
           "Units received from suppliers.",
           ("stock_received",), compute=lambda c: c["stock_received"], zh="到货件数",
           group="Stock and service"),
    Metric("units_shipped", "units", "flow",
           "Units that left the shelf (orders shipped).",
           ("stock_shipped",), compute=lambda c: c["stock_shipped"], zh="出库件数",
           group="Stock and service"),
    Metric("stockout_days", "group-days", "flow",
           "SKU groups on sale with no stock at the end of the day, summed over days.",
           ("stockout_groups",), compute=lambda c: c["stockout_groups"], zh="缺货天数（品类·天）",
           good="down", group="Stock and service"),
    Metric("stock_unit_years", "unit-years", "flow",
           "units_in_stock / 365: the stock held, in unit-years (the denominator of "
           "inventory_turnover).",
           ("units_in_stock",), compute=lambda c: c["units_in_stock"] / 365.0, zh="库存件·年"),
    Metric("inventory_turnover", "turns/year", "ratio",
           "units_shipped / stock_unit_years (over the horizon: units shipped per unit of average "
           "stock, per year).",
           ("stock_shipped", "units_in_stock"), numerator="units_shipped",
           denominator="stock_unit_years", zh="库存周转率", group="Stock and service"),
    Metric("days_of_cover", "days", "ratio",
           "units_in_stock / units_shipped (over the horizon: mean stock over mean daily "
           "shipments).",
           ("stock_shipped", "units_in_stock"), numerator="units_in_stock",
           denominator="units_shipped", zh="库存可售天数", group="Stock and service"),
)


class Inventory(Mechanic[InventoryParams]):
    stage = StageOrder.CHURN  # the day's review runs after every sale of the day
    metrics = METRICS
    report = ReportSection("inventory", tiles=("units_in_stock", "fill_rate", "stockout_days",
                                          "days_of_cover", "inventory_turnover"))
    uses_if_any = ("dropout_prob",)
    records = ("deliveries",)  # one row per supplier delivery: a log, not an average
    events = ("stock_demand", "stock_filled", "lost_sale", "backorder", "shipped",
              "late_delivery", "defect")
    channel_events = ("holding_cost", "stock_received", "stock_shipped", "units_in_stock",
                      "backlog_units", "stockout_groups")

    def setup(self) -> None:
        supply = self.pop.supply
        assert isinstance(supply, Catalogue), "the scenario check requires a catalogue"
        self.catalogue = supply
        supply.stock = self
        base, days = self.params.base, self.ctx.days
        k = len(supply.names)
        self.k = k
        self.on_hand = np.array([base.initial_stock_by_group.get(g, base.initial_stock)
                                 for g in supply.names], dtype=np.int64)
        self.on_order = np.zeros(k, dtype=np.int64)
        self.tables = {t: np.zeros((days, k)) for t in (
            "demand", "filled", "lost", "backordered", "received", "shipped", "ordered",
            "on_hand", "backlog")}
        self.deliveries: list[tuple[int, int, int, int]] = []  # (order day, arrival, group, qty)
        self.b_row = np.empty(0, dtype=np.int64)  # back-orders, oldest first
        self.b_sku = np.empty(0, dtype=np.int64)
        self.b_day = np.empty(0, dtype=np.int64)
        self.review_due = False
        if base.policy == "periodic_review":
            self.ctx.env.process(self._reviews())

    # --- sales ------------------------------------------------------------------------------
    def take(self, rows: np.ndarray, sku: np.ndarray, values: np.ndarray,
             day: int) -> np.ndarray:
        """Serve orders from the shelf; short of stock, lose or back-order them."""
        rec, t = self.ctx.recorder, self.tables
        n = len(rows)
        counts = np.bincount(sku, minlength=self.k)
        if (counts <= self.on_hand).all():  # the common day: everything is on the shelf
            filled = np.ones(n, dtype=bool)
        else:  # each order's place in its group's queue decides
            order = np.argsort(sku, kind="stable")
            rank = np.empty(n, dtype=np.int64)
            rank[order] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
            filled = rank < self.on_hand[sku]
        shipped = np.bincount(sku[filled], minlength=self.k)
        self.on_hand -= shipped
        t["demand"][day] += counts
        t["filled"][day] += shipped
        t["shipped"][day] += shipped
        rec.event("stock_demand", day, rows)
        rec.event("stock_filled", day, rows[filled])
        short = ~filled
        if self.params.base.stockout == "backorder" and short.any():
            accept = self.params.for_rows("backorder_accept", self.pop.group[rows])
            wait = short & (self.rng.random(n) < accept)
            self.b_row = np.concatenate([self.b_row, rows[wait]])
            self.b_sku = np.concatenate([self.b_sku, sku[wait]])
            self.b_day = np.concatenate([self.b_day, np.full(int(wait.sum()), day)])
            t["backordered"][day] += np.bincount(sku[wait], minlength=self.k)
            rec.event("backorder", day, rows[wait])
            lost = short & ~wait
        else:
            lost = short
        t["lost"][day] += np.bincount(sku[lost], minlength=self.k)
        rec.event("lost_sale", day, rows[lost], values[lost])
        self._dispatch(rows[filled], np.zeros(int(filled.sum()), dtype=np.int64), day)
        return ~lost

    def share_factor(self, rows: np.ndarray, shares: np.ndarray) -> np.ndarray | float:
        out = self.on_hand <= 0
        if not out.any():
            return 1.0
        base = self.params.base
        weight = np.where(self.catalogue.hero, base.hero_weight, 1.0) * out
        damp = base.sharing_damping * np.minimum(shares @ weight, 1.0)
        return 1.0 - damp[self.pop.persona[rows]]

    def _dispatch(self, rows: np.ndarray, waited: np.ndarray, day: int) -> None:
        """Ship orders: logistics cost, transit time, lateness and defects (which raise the
        buyers' dropout probability)."""
        if not len(rows):
            return
        pop, rec, get = self.pop, self.ctx.recorder, self.params.for_rows
        group = pop.group[rows]
        rec.event("shipped", day, rows, get("shipping.logistics_cost_per_order", group))
        transit = 1 + self.rng.poisson(np.asarray(get("shipping.mean_days", group)) - 1.0,
                                       size=len(rows))
        late = waited + transit > get("shipping.promised_days", group)
        defect = self.rng.random(len(rows)) < get("shipping.defect_rate", group)
        rec.event("late_delivery", day, rows[late])
        rec.event("defect", day, rows[defect])
        if not self.has("dropout_prob"):
            return
        for hit, lift in ((late, "shipping.late_dropout_lift"),
                          (defect, "shipping.defect_dropout_lift")):
            who = rows[hit]
            rise = 1.0 + np.broadcast_to(get(lift, pop.group[who]), who.shape)
            pop["dropout_prob"][who] = np.minimum(pop["dropout_prob"][who] * rise, 1.0)

    # --- replenishment ------------------------------------------------------------------------
    def _reviews(self) -> Iterator:
        while True:
            yield self.ctx.env.timeout(self.params.base.review_days)
            self.review_due = True

    def _demand_stats(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        window = self.tables["demand"][max(0, day + 1 - self.params.base.demand_window_days):
                                       day + 1]
        return window.mean(axis=0), window.std(axis=0)

    def _replenish(self, day: int) -> None:
        base = self.params.base
        if base.policy == "none" or (base.policy == "periodic_review" and not self.review_due):
            return
        self.review_due = False
        mean, sigma = self._demand_stats(day)
        backlog = np.bincount(self.b_sku, minlength=self.k)
        qty = order_quantities(base, mean, sigma, self.on_hand + self.on_order - backlog)
        for g in np.flatnonzero(qty > 0):  # a handful of SKU groups, not users
            self._order(int(g), int(qty[g]), day)

    def _order(self, group: int, qty: int, day: int) -> None:
        """A purchase order to the supplier: the units arrive after the lead time."""
        lead = self.params.base.lead_time.draw(self.rng)
        self.on_order[group] += qty
        self.tables["ordered"][day, group] += qty
        self.deliveries.append((day, day + lead, group, qty))
        arrival = self.ctx.env.timeout(lead)
        arrival.callbacks.append(lambda _, g=group, q=qty: self._receive(g, q))

    def _receive(self, group: int, qty: int) -> None:
        """Units arrive at the start of a day: back-orders of the group ship first, oldest
        first."""
        day = int(self.ctx.env.now)
        self.on_order[group] -= qty
        self.on_hand[group] += qty
        self.tables["received"][day, group] += qty
        waiting = np.flatnonzero(self.b_sku == group)[: self.on_hand[group]]
        if not len(waiting):
            return
        self.on_hand[group] -= len(waiting)
        self.tables["shipped"][day, group] += len(waiting)
        rows, since = self.b_row[waiting], self.b_day[waiting]
        keep = np.ones(len(self.b_row), dtype=bool)
        keep[waiting] = False
        self.b_row, self.b_sku, self.b_day = self.b_row[keep], self.b_sku[keep], \
            self.b_day[keep]
        self._dispatch(rows, day - since, day)

    # --- the day's end ------------------------------------------------------------------------
    def step(self, day: int) -> None:
        self._replenish(day)
        self._record(day)

    def idle(self, day: int) -> None:
        self._record(day)

    def _record(self, day: int) -> None:
        rec, t = self.ctx.recorder, self.tables
        t["on_hand"][day] = self.on_hand
        t["backlog"][day] = np.bincount(self.b_sku, minlength=self.k)
        on_sale = self.catalogue.shares.max(axis=0) > 0
        units = float(self.on_hand.sum())
        rec.channel_event("units_in_stock", day, 0, units)
        rec.channel_event("backlog_units", day, 0, float(t["backlog"][day].sum()))
        rec.channel_event("stockout_groups", day, 0,
                          float(((self.on_hand <= 0) & on_sale).sum()))
        rec.channel_event("stock_received", day, 0, float(t["received"][day].sum()))
        rec.channel_event("stock_shipped", day, 0, float(t["shipped"][day].sum()))
        rec.channel_event("holding_cost", day, 0,
                          units * self.params.base.holding_cost_per_unit_day)

    def finish(self) -> dict[str, np.ndarray]:
        """Daily tables per SKU group (days x groups) and the supplier deliveries
        (order day, arrival day, group, units)."""
        out = {name: table.copy() for name, table in self.tables.items()}
        out["deliveries"] = np.array(self.deliveries, dtype=np.float64).reshape(-1, 4)
        return out

