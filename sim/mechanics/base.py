"""What every mechanic is: a parameter model with a `type:` name and a class with
`columns`, `setup`, `step` and the counters it records.

Mechanics talk to each other only through population columns (and today's event rows) and the
recorder; the engine runs them in stage order each day.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import simpy

from sim.metric import Metric
from sim.orders import count_orders
from sim.params import StrictModel, Window
from sim.population import Layout, Population, Stage
from sim.recorder import Recorder
from sim.variants import VariantParams

# Member prices: a share off every order that a loyalty mechanic grants, as (column holding each
# user's rate, event the order books it as). The loyalty mechanic only writes the rate (on
# joining or changing tier; zero on leaving); the purchase mechanic and `book_orders` take it off
# the order, so a refund returns what was paid after it and a refunded order nets to zero. Add a
# pair here for another member price.
RATE_DISCOUNTS: tuple[tuple[str, str], ...] = (
    ("tier_discount_rate", "tier_discount"),  # membership_tiers
    ("paid_discount_rate", "paid_discount"),  # paid_membership
    ("community_discount_rate", "community_discount"),  # community
)


def rate_discounts(pop: Population, rows: np.ndarray, values: np.ndarray,
                   *taken: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(event, yuan off) for each member price these users have, in RATE_DISCOUNTS order, each
    a share of the list value but within what the other discounts (`taken`) and those before it
    leave of the order; empty, at no cost, when no mechanic grants one."""
    out: list[tuple[str, np.ndarray]] = []
    room: np.ndarray | None = None
    for column, event in RATE_DISCOUNTS:
        if column in pop.columns:
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


class StageOrder(IntEnum):
    """The documented order of a simulated day."""

    ACQUISITION = 0
    FUNNEL = 1
    PURCHASE = 2
    VIRALITY = 3
    LOYALTY = 4
    CHURN = 5


class MechanicParams(StrictModel):
    """Fields every mechanic has. Subclasses add `type: Literal[...]` and their own numbers.

    `fixed_fields` names the numeric fields (dotted, from the mechanic; a section covers every
    field in it) the mechanic reads once for the whole market (`params.base`: a schedule, a
    cap, a fixed cost): an arm or persona `set` of one would be silently ignored, so the
    scenario check refuses it. `trait_fields` names those drawn once per user at set-up (a
    purchase rate): an arm may set them only when its experiment starts on day 0, since a
    later switch could not change what every user already drew."""

    fixed_fields: ClassVar[frozenset[str]] = frozenset()
    trait_fields: ClassVar[frozenset[str]] = frozenset()

    window: Window | None = None

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        """What this mechanic needs from the other mechanics or the market, as (path, message)
        pairs located at its fields; `scenario` is the validated sim.scenario.Scenario. The
        scenario check asks every mechanic, so each keeps its own rules; most need nothing."""
        return []


P = TypeVar("P", bound=MechanicParams)


@dataclass
class Context:
    """What the engine hands a mechanic: the shared state and the mechanic's own random stream."""

    population: Population
    recorder: Recorder
    rng: np.random.Generator
    env: simpy.Environment
    days: int
    market_size: int
    layout: Layout


class Mechanic(Generic[P]):
    stage: ClassVar[StageOrder]
    substage: ClassVar[int] = 0  # order within a stage when it matters (funnel before gift)
    events: ClassVar[tuple[str, ...]] = ()  # user events it records (count and amount per cell)
    channel_events: ClassVar[tuple[str, ...]] = ()  # costs with no user, per channel
    stocks: ClassVar[tuple[str, ...]] = ()  # levels it records at the end of each day
    metrics: ClassVar[tuple[Metric, ...]] = ()  # the metrics computed from what it records

    def __init__(self, name: str, params: VariantParams[P], ctx: Context) -> None:
        self.name = name
        self.params = params
        self.ctx = ctx
        self.pop = ctx.population
        self.rng = ctx.rng
        self.active = True

    @classmethod
    def columns(cls, params: P) -> dict[str, np.dtype]:
        """Population columns this mechanic needs (name -> dtype); shared names must agree."""
        return {}

    needs_graph: ClassVar[bool] = False  # shares travel along friendships

    @classmethod
    def channels(cls, params: P) -> list[str]:
        """Acquisition channels this mechanic credits new users to."""
        return []

    @classmethod
    def scratch_bytes_per_user(cls, params: P) -> int:
        """Temporary memory per user during set-up, for the memory estimate."""
        return 0

    def setup(self) -> None:
        """Draw per-user attributes and start any SimPy processes. Runs before day 0."""

    def bring(self, rows: np.ndarray, day: int, channel: int, campaign: int = -1) -> None:
        """Acquisition channels call this: record the visits, then let them arrive (register at
        once, or through the funnel when the scenario has one)."""
        rows = rows[self.pop.stage[rows] == Stage.POTENTIAL]
        self.ctx.recorder.event("visit", day, rows, channel=channel)
        self.pop.arrive(rows, day, channel, campaign)

    def targeted_groups(self, personas: list[str]) -> np.ndarray:
        """Parameter groups (arm x persona) whose persona is in `personas` (all if empty)."""
        layout = self.ctx.layout
        groups = np.arange(layout.n_groups)
        if not personas:
            return groups
        wanted = [layout.personas.index(p) for p in personas]
        return groups[np.isin(groups % len(layout.personas), wanted)]

    def share(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One share from each row, along the friendship graph: min(Zipf(reach_exponent),
        max_reach) draws, times (1 + the user's `share_reach_bonus`) when a mechanic keeps that
        column (community KOCs reach more friends), at most the user's friends. Returns
        (sharer, friend) pairs. For mechanics whose parameters have `reach_exponent` and
        `max_reach` (both may differ by arm and persona)."""
        group = self.pop.group[rows]
        exponent = self.params.for_rows("reach_exponent", group)
        reach = np.minimum(self.rng.zipf(exponent, size=len(rows)),
                           self.params.for_rows("max_reach", group)).astype(np.int64)
        if "share_reach_bonus" in self.pop.columns:
            bonus = self.pop["share_reach_bonus"][rows]
            reach = np.rint(reach * (1.0 + bonus.astype(np.float64))).astype(np.int64)
        return self.pop.graph.friends_of(rows, reach, self.rng)

    def rescale_buying(self, rows: np.ndarray, purchase_factor: np.ndarray | float,
                       dropout_factor: np.ndarray | float, day: int) -> None:
        """Multiply the rows' daily purchase probability and their dropout probability after an
        order (a perk's effect, or its undoing), and redraw the next checkout of alive buyers
        at the new rate. The columns keep the product uncapped, so undoing a lift by dividing
        by its factor restores the value exactly; where they are used they act as at most 1
        (`geometric_gap` caps the purchase probability; a draw below a dropout probability
        above 1 always churns). Purchase gaps are memoryless, so a redraw keeps the
        distribution exact; users still waiting for a first order keep their draw (the purchase
        mechanic may give them a first-order rate)."""
        pop = self.pop
        if not len(rows):
            return
        if "dropout_prob" in pop.columns:
            pop["dropout_prob"][rows] = pop["dropout_prob"][rows] * dropout_factor
        if "purchase_prob" not in pop.columns:
            return
        pop["purchase_prob"][rows] = pop["purchase_prob"][rows] * purchase_factor
        if "next_purchase_day" in pop.columns and "purchase_count" in pop.columns:
            from sim.mechanics.purchase_dropout import geometric_gap

            due = pop["next_purchase_day"][rows]
            redraw = rows[(pop.stage[rows] == Stage.ALIVE) & (pop["purchase_count"][rows] > 0)
                          & (due > day) & (due <= self.ctx.days + day + 1)]
            gap = geometric_gap(self.rng, pop["purchase_prob"][redraw], self.ctx.days)
            pop["next_purchase_day"][redraw] = day + gap

    def book_orders(self, rows: np.ndarray, day: int, values: np.ndarray,
                    cogs_ratio: float | np.ndarray = 0.0,
                    taken: np.ndarray | None = None) -> Booked:
        """Book orders placed outside the purchase mechanic (live streams, group buys,
        bargains): the order and first-order events, member prices (RATE_DISCOUNTS) within what
        the caller's own money off the order (`taken`, e.g. a flash sale, booked by the caller)
        leaves, cost of goods, the users' order counts. Every mechanic that sells goes through
        here or the purchase mechanic. A catalogue with stock may refuse a sale: callers book
        their own events (refunds, per-mechanic order counts) for `sold` rows only, and refund
        exactly `paid`."""
        cogs = np.broadcast_to(np.asarray(cogs_ratio, dtype=float), values.shape)
        off = np.zeros(len(rows)) if taken is None else np.asarray(taken, dtype=float)
        supply = self.pop.supply
        if supply is None:
            first, paid = self._book(rows, day, values, cogs, off)
            return Booked(np.ones(len(rows), dtype=bool), first, paid)
        sold = supply.fulfil(rows, values, day, priced=False)[0]  # prices and costs: the caller's
        first, paid = np.zeros(len(rows), dtype=bool), np.zeros(len(rows))
        first[sold], paid[sold] = self._book(rows[sold], day, values[sold], cogs[sold], off[sold])
        return Booked(sold, first, paid)

    def _book(self, rows: np.ndarray, day: int, values: np.ndarray, cogs_ratio: np.ndarray,
              taken: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first-order flags, yuan paid) of orders that are sold."""
        pop, rec = self.pop, self.ctx.recorder
        first = count_orders(pop, rec, rows, day)
        rec.event("order", day, rows, values)
        rec.event("first_order", day, rows[first], values[first])
        paid = values - taken
        for event, off in rate_discounts(pop, rows, values, taken):  # member prices
            rec.event(event, day, rows[off > 0], off[off > 0])
            paid = paid - off
        cogs = cogs_ratio * values
        if np.any(cogs > 0):
            rec.event("cogs", day, rows, cogs)
        pop.emit_values("ordered", rows, values)
        pop.emit_values("paid", rows, paid)  # aligned with `ordered`: points redeem within it
        pop.emit("first_ordered", rows[first])
        return first, paid

    def step(self, day: int) -> None:
        """One day's work while the mechanic is switched on."""
        raise NotImplementedError

    def idle(self, day: int) -> None:
        """One day while switched off (outside its window); most mechanics do nothing."""

    def restart(self, day: int, changed: np.ndarray, before: VariantParams[P]) -> None:
        """The experiment's start day (before day `day`'s step) switched the values of the
        groups flagged in `changed` (`before`: the values until now). A mechanic that drew
        something per user from a rate (a pending checkout, an open) draws it again for those
        users here, so the arm's values act from the start day; one-off grants made before it
        (a gift on joining) stay. Values drawn once per user at set-up cannot follow: they are
        `trait_fields`, which an arm may only set when the test starts on day 0."""

    def moved(self, rows: np.ndarray, old_cells: np.ndarray, new_cells: np.ndarray) -> None:
        """The engine moved these users to other counter cells (an experiment's start day with
        eligibility new_users puts users acquired before it in the control arm). Mechanics that
        keep running totals per cell move the users' share of them; the rest do nothing."""

    def finish(self) -> dict[str, np.ndarray]:
        """End-of-run tables that are not daily series (e.g. a referral-tree depth histogram)."""
        return {}
