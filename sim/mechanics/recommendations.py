"""Personalised recommendations (千人千面): a conversion lift that grows with what the recommender
knows about a user, limited for users it knows nothing about (cold start).

A user's history is h = orders + floor(opens / `opens_per_order`) (opens counted from the day
the mechanic starts; without `opens_per_order`, orders only). The relative lift of the daily
purchase probability is
    lift(h) = max(cold_lift, max_lift x min(1, h / warm_up_orders)),
so a user without history gets the popularity-based `cold_lift` and the lift rises linearly to
`max_lift` once the history reaches `warm_up_orders`. Users who refuse personalisation (PIPL
Art. 24 requires the option, domain-facts §3.7; `non_personalized_share` of users) keep the
cold lift for good.

The lift works through the purchase mechanic's columns: `purchase_prob` (the repeat-purchase
probability) is multiplied by (1 + new) / (1 + old) whenever a user's lift changes (capped at
1), and the first-order rate multiplier `first_order_boost` starts at the cold lift (a new-user
gift multiplies it by its own factor, so (1 + boost) = (1 + gift lift)(1 + lift) stays exact
when the lift changes). Lifts, refusals and settled users live in population columns
(`rec_lift`, `rec_flags`). When an experiment switches the parameters on its start day, one
pass recomputes every affected user's lift from the history so far with the arm's values
(refusals move to the arm's share), counts those now fully known as warmed, and redraws the
next checkout of buyers whose lift changed. A buyer whose lift changed after today's
order has the next checkout redrawn at once with the new probability (gaps are geometric, so a
redraw from today is exact); a user whose lift changed through opens only gets it from the next
checkout draw.
Cost: a recommender subscription of `monthly_cost` yuan plus `cost_per_user_month` per alive
user (alive at the start of the billing day), booked every 30 days from day 0 (channel event
`recommender_cost`). Users reaching full
personalisation are counted as `rec_warmed`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim.buying import NEVER, geometric_gap
from sim.calendar import MONTH
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.population import Stage

REFUSED, SETTLED = 1, 2  # bits of `rec_flags`: refuses personalisation; lift can no longer move
LIFT_PATHS = ("cold_lift", "max_lift", "warm_up_orders", "non_personalized_share")


class RecommendationsParams(MechanicParams):
    type: Literal["recommendations"] = "recommendations"
    fixed_fields = frozenset({  # one value for the whole market
        "cost_per_user_month", "monthly_cost", "opens_per_order"})
    scaled_fields = frozenset({"monthly_cost"})
    max_lift: float = Field(0.15, ge=0.0, le=2.0, description="Relative lift of the daily "
                            "purchase probability for a fully known user (ASSUMPTION 0.03-0.30: "
                            "recommender lifts of a few % to ~30% are reported; no mini-program "
                            "figure in domain-facts).")
    warm_up_orders: float = Field(3.0, gt=0.0, description="History at which the lift is full "
                                  "(ASSUMPTION 1-10 orders).")
    cold_lift: float = Field(0.02, ge=0.0, le=2.0, description="Lift for users without history "
                             "(popularity-based recommendations; ASSUMPTION 0-0.05).")
    opens_per_order: int | None = Field(None, ge=1, le=1000, description="Opens that teach "
                                        "the recommender as much as one order (ASSUMPTION 5-50); "
                                        "omit for orders only.")
    non_personalized_share: float = Field(0.05, ge=0.0, le=1.0, description="Share of users "
                                          "who choose the non-personalised option PIPL Art. 24 "
                                          "requires (ASSUMPTION 0.01-0.2); they keep cold_lift.")
    monthly_cost: float = Field(0.0, ge=0.0, description="Yuan per 30 days for a recommender "
                                "subscription (a fixed cost; ASSUMPTION 0-20,000).")
    cost_per_user_month: float = Field(0.0, ge=0.0, description="Yuan per alive user per 30 "
                                       "days (usage-priced engines; ASSUMPTION 0-0.05).")

    @model_validator(mode="after")
    def _cold_below_full(self) -> RecommendationsParams:
        if self.cold_lift > self.max_lift:
            raise ValueError(f"cold_lift ({self.cold_lift:g}) must not exceed max_lift "
                             f"({self.max_lift:g}): users without history cannot gain more "
                             "than fully known ones")
        return self

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        if "purchase_dropout" not in scenario.mechanic_types:
            return [(("mechanics", name, "type"), "recommendations lift the purchase "
                     "probability and need a `purchase_dropout` mechanic")]
        return []


def lift(history: np.ndarray, max_lift: float | np.ndarray, warm_up: float | np.ndarray,
         cold: float | np.ndarray) -> np.ndarray:
    """Relative purchase lift for a history: max(cold, max_lift x min(1, h / warm_up))."""
    return np.maximum(cold, max_lift * np.minimum(1.0, np.asarray(history) / warm_up))


METRICS: tuple[Metric, ...] = (
    Metric("recommender_cost", "yuan", "flow",
           "Recommender subscription and per-user fees, booked every 30 days.",
           ("recommender_cost",), compute=lambda c: col(c, "recommender_cost"), zh="推荐系统成本",
           good="down", group="Recommendations", ledger=LedgerLine("relative", 280)),
    Metric("rec_warmed_users", "users", "flow",
           "Users whose history reached full personalisation that day.",
           ("rec_warmed",), compute=lambda c: c["rec_warmed"], zh="个性化推荐成熟用户",
           group="Recommendations"),
)


class Recommendations(Mechanic[RecommendationsParams]):
    stage = StageOrder.LOYALTY
    substage = 1  # after activity (today's opens), before automations and tiers
    metrics = METRICS
    report = ReportSection("operations")
    reads_if_any = ("ordered", "opened")
    uses_if_any = ("purchase_prob", "next_purchase_day", "purchase_count", "rec_opens")
    events = ("rec_warmed",)
    channel_events = ("recommender_cost",)

    @classmethod
    def columns(cls, params: RecommendationsParams) -> dict[str, np.dtype]:
        cols = {"rec_lift": np.dtype(np.float32), "first_order_boost": np.dtype(np.float32),
                "rec_flags": np.dtype(np.uint8)}
        if params.opens_per_order is not None:
            cols["rec_opens"] = np.dtype(np.int16)
        return cols

    @classmethod
    def scratch_bytes_per_user(cls, params: RecommendationsParams) -> int:
        """Set-up draws one float32 per user and a float32 per-user factor."""
        return 8

    def _per_group(self, path: str) -> np.ndarray:
        """A parameter's value for each group, as float32 (indexed by `pop.group`, so no
        float64 array of the market's size is made)."""
        return np.broadcast_to(self.params.get(path), (self.pop.n_groups,)).astype(np.float32)

    def setup(self) -> None:
        pop = self.pop
        cold = self._per_group("cold_lift")
        share = self._per_group("non_personalized_share")
        flags = pop["rec_flags"]
        flags[:] = self.rng.random(pop.size, dtype=np.float32) < share[pop.group]  # REFUSED
        # users whose lift can no longer change (refusing, or at the full lift) are skipped
        settled = (flags == REFUSED) | (self._per_group("max_lift") <= cold)[pop.group]
        np.bitwise_or(flags, SETTLED, out=flags, where=settled)
        del settled
        factor = (1.0 + cold)[pop.group]  # every history is empty: the lift is the cold lift
        pop["rec_lift"][:] = cold[pop.group]
        boost = pop["first_order_boost"]
        boost += 1.0
        boost *= factor
        boost -= 1.0
        if self.has("purchase_prob"):
            np.multiply(pop["purchase_prob"], factor, out=pop["purchase_prob"])
            np.minimum(pop["purchase_prob"], 1.0, out=pop["purchase_prob"])
        self.lifted_with = self.params  # the parameters the lifts were computed with
        self.ctx.env.process(self._bill())

    def _bill(self) -> Iterator:
        """The subscription, paid at the start of every 30 days."""
        while True:
            now = int(self.ctx.env.now)
            if now < self.ctx.days:
                alive = float(self.pop.count(Stage.ALIVE).sum())
                base = self.params.base
                fee = base.monthly_cost + base.cost_per_user_month * alive
                self.ctx.recorder.channel_event("recommender_cost", now, 0, fee)
            yield self.ctx.env.timeout(MONTH)

    def step(self, day: int) -> None:
        pop, base = self.pop, self.params.base
        if self.params is not self.lifted_with:
            self._restart(day)
        flags = pop["rec_flags"]
        buyers = self.today("ordered")
        parts = [buyers[(flags[buyers] & SETTLED) == 0]]
        if base.opens_per_order is not None:
            opened = self.today("opened")  # distinct: one open a day (activity)
            opens = pop["rec_opens"][opened] + 1  # one a day at most: an int16 cannot overflow
            pop["rec_opens"][opened] = opens
            step = opened[opens % base.opens_per_order == 0]  # history grows by one order
            parts.append(step[(flags[step] & SETTLED) == 0])
        rows = pop.distinct(np.concatenate(parts).astype(np.int32))
        changed = self._relift(rows, day)
        self._redraw(changed[pop.among(changed, buyers)], day)

    def _redraw(self, rows: np.ndarray, day: int) -> None:
        """Alive buyers whose lift changed draw their pending checkout again at the new
        probability (gaps are geometric: a redraw from today is exact)."""
        pop = self.pop
        if not len(rows) or not self.has("next_purchase_day"):
            return
        due = pop["next_purchase_day"][rows]
        again = rows[(pop.stage[rows] == Stage.ALIVE) & (pop["purchase_count"][rows] > 0)
                     & (due > day) & (due != NEVER)]
        pop["next_purchase_day"][again] = day + geometric_gap(
            self.rng, pop["purchase_prob"][again], self.ctx.days)

    def _restart(self, day: int) -> None:
        """The experiment's start day switched the parameters (the engine swaps them; before,
        every user had the control's): one pass over the users of groups whose values
        changed, once. Refusals move to the new share (exactly: a refuser keeps refusing with
        new/old, a non-refuser starts with (new - old) / (1 - old)), lifts are recomputed
        from the histories so far, users now at the full lift count as warmed, and buyers whose
        lift changed draw their next checkout again."""
        pop, before = self.pop, self.lifted_with
        self.lifted_with = self.params
        old_values = {p: np.broadcast_to(before.get(p), (pop.n_groups,)) for p in LIFT_PATHS}
        new_values = {p: np.broadcast_to(self.params.get(p), (pop.n_groups,)) for p in LIFT_PATHS}
        differs = np.zeros(pop.n_groups, dtype=bool)
        for path in LIFT_PATHS:
            differs |= old_values[path] != new_values[path]
        if not differs.any():
            return
        rows = np.flatnonzero(differs[pop.group])
        group = pop.group[rows]
        flags = pop["rec_flags"]
        refused = (flags[rows] & REFUSED) != 0
        was = old_values["non_personalized_share"][group]
        now = new_values["non_personalized_share"][group]
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.where(was > 0, np.minimum(now / was, 1.0), 1.0)
            start = np.where(was < 1, np.maximum(now - was, 0.0) / (1.0 - was), 1.0)
        u = self.rng.random(len(rows))
        refused = np.where(refused, u < keep, u < start)
        history = pop["purchase_count"][rows].astype(np.float64) if self.has("purchase_count") \
            else np.zeros(len(rows))
        if self.has("rec_opens"):
            history = history + pop["rec_opens"][rows] // self.params.base.opens_per_order
        cold = new_values["cold_lift"][group]
        full = new_values["max_lift"][group].astype(np.float32)
        new = np.where(refused, cold, lift(history, new_values["max_lift"][group],
                                           new_values["warm_up_orders"][group], cold))
        new = new.astype(np.float32)
        old = pop["rec_lift"][rows]
        at_full = new >= full
        flags[rows] = np.where(refused, REFUSED, 0) | np.where(refused | at_full, SETTLED, 0)
        self.ctx.recorder.event("rec_warmed", day, rows[~refused & at_full & (old < full)])
        moved = new != old
        rows, new, old = rows[moved], new[moved], old[moved]
        self._apply(rows, new, old)
        self._redraw(rows, day)

    def _apply(self, rows: np.ndarray, new: np.ndarray, old: np.ndarray) -> None:
        """Lifts change from old to new: the purchase probability and the first-order boost
        are multiplied by (1 + new) / (1 + old)."""
        pop = self.pop
        ratio = (1.0 + new.astype(np.float64)) / (1.0 + old)
        if self.has("purchase_prob"):
            pop["purchase_prob"][rows] = np.minimum(pop["purchase_prob"][rows] * ratio, 1.0)
        pop["first_order_boost"][rows] = (1.0 + pop["first_order_boost"][rows]) * ratio - 1.0
        pop["rec_lift"][rows] = new

    def _relift(self, rows: np.ndarray, day: int) -> np.ndarray:
        """New lifts from the users' histories; returns the rows whose lift changed."""
        pop, get = self.pop, self.params.for_rows
        group = pop.group[rows]
        history = pop["purchase_count"][rows].astype(np.float64) if self.has("purchase_count") \
            else np.zeros(len(rows))
        if self.has("rec_opens"):
            history = history + pop["rec_opens"][rows] // self.params.base.opens_per_order
        cold = get("cold_lift", group)
        new = lift(history, get("max_lift", group), get("warm_up_orders", group), cold)
        new = new.astype(np.float32)  # settled (refusing or fully known) users never get here
        old = pop["rec_lift"][rows]
        moved = new != old
        rows, new, old = rows[moved], new[moved], old[moved]
        if not len(rows):
            return rows
        self._apply(rows, new, old)
        full = np.broadcast_to(get("max_lift", pop.group[rows]), rows.shape).astype(np.float32)
        warmed = rows[(new >= full) & (old < full)]
        pop["rec_flags"][warmed] |= SETTLED
        self.ctx.recorder.event("rec_warmed", day, warmed)
        return rows
